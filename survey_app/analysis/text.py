"""Normalize, tokenize, lemmatize and split comments, keeping offsets into the original text.

Nothing here uses NLTK: its corpora are not available offline, so TextBlob's tokenizers crash.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .resources import load_json
from .types import Span

# Apostrophe look-alikes customers type on phones; NFKC leaves them alone.
_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'", "\u02bc": "'"}
_DASHES = {"\u2013": "-", "\u2014": "-", "\u2212": "-"}
# Printable ASCII but the backtick, with single spaces inside: NFKC and the maps above leave
# it alone and its spaces need no collapsing, so answers that need the slow path (one curly
# apostrophe, an emoji, a euro sign) copy these runs whole instead of character by character.
_PLAIN_RUN = re.compile(r"[!-_a-~]+(?: [!-_a-~]+)*")


@dataclass(frozen=True)
class NormalizedText:
    """NFKC text with collapsed whitespace, and where each of its characters came from."""

    original: str
    text: str
    # Per character of `text`: where it starts and ends in `original` (ranges when the text
    # needed no change: most answers, and a range costs nothing to build).
    starts: Sequence[int]
    ends: Sequence[int]

    def original_span(self, start: int, end: int) -> Span:
        """Map a [start, end) span of the normalized text back to the original text."""
        if not self.text or end <= start:
            position = self.starts[start] if start < len(self.starts) else len(self.original)
            return (position, position)
        return (self.starts[start], self.ends[end - 1])


def normalize(text: str) -> NormalizedText:
    """Return NFKC text with single spaces, remembering each character's original offsets."""
    if text.isascii() and "`" not in text and " ".join(text.split()) == text:
        # Most answers: plain ASCII, single spaces. NFKC changes nothing, offsets are identity.
        # (Rejoining the split words tests "only single spaces between words" several times
        # faster than a regular expression does.)
        return NormalizedText(text, text, range(len(text)), range(1, len(text) + 1))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    length = len(text)
    while i < length:
        plain = _PLAIN_RUN.match(text, i)
        if plain is not None:
            j = plain.end()
            if j < length and unicodedata.combining(text[j]):
                j -= 1  # the run's last character composes with the marks after it
                if j > i and text[j - 1] == " ":
                    j -= 1  # and a space before it is left to the whitespace rules
            if j > i:
                # Copied whole: one item of `out` for the run, one offset per character.
                out.append(text[i:j])
                starts.extend(range(i, j))
                ends.extend(range(i + 1, j + 1))
                i = j
                continue
        j = i + 1
        # Keep a base character together with its combining marks so NFKC can compose them.
        while j < length and unicodedata.combining(text[j]):
            j += 1
        chunk = text[i:j]
        if chunk.isspace():
            while j < length and text[j].isspace():
                j += 1
            if out and out[-1] != " ":
                out.append(" ")
                starts.append(i)
                ends.append(j)
            i = j
            continue
        normalized = unicodedata.normalize("NFKC", chunk)
        for char in normalized:
            char = _APOSTROPHES.get(char, _DASHES.get(char, char))
            if char.isspace():
                char = " "
                if out and out[-1] == " ":
                    continue
            out.append(char)
            starts.append(i)
            ends.append(j)
        i = j
    while out and out[-1] == " ":
        out.pop()
        starts.pop()
        ends.pop()
    return NormalizedText(text, "".join(out), tuple(starts), tuple(ends))


# Word: letters/digits with inner apostrophes, dots in abbreviations (C.S.), hyphens, and
# prices/percentages (€89, 89,-, 20%, 1+1). Emoji and other symbols become their own tokens.
_TOKEN_RE = re.compile(
    r"""
    (?P<money>[€$£]\s?\d+(?:[.,]\d+)?(?:,-)?|\d+(?:[.,]\d+)?\s?(?:,-|%|€|euro\b|eur\b))
    |(?P<number>\d+(?:[.,:]\d+)+(?![^\W_]))
    |(?P<abbr>(?:[^\W\d_]\.){2,})
    |(?P<word>[^\W_]+(?:['\-+][^\W_]+)*)
    |(?P<punct>[.!?;:,()"\-/&]+)
    |(?P<symbol>[^\w\s])
    """,
    re.VERBOSE,
)

_SENTENCE_END = frozenset(".!?")
_WORD_KINDS = frozenset({"word", "abbr"})
BACKWARD_SCOPE = 3
FORWARD_SCOPE = 6


class _TokenFields(NamedTuple):
    text: str
    lower: str
    lemma: str
    kind: str
    start: int
    end: int
    sentence: int
    clause: int
    negated: bool = False
    # Whether the token is a word (or an abbreviation such as "C.S."): derived from kind, and
    # stored because rules, items and the detector ask it of every token several times.
    is_word: bool = False


class Token(_TokenFields):
    """One token of the normalized text, with its lemma and position in sentence and clause."""

    # A NamedTuple rather than a frozen dataclass: tokens are created by the thousand and a
    # tuple is several times cheaper to build.

    __slots__ = ()

    def __new__(
        cls, text: str, lower: str, lemma: str, kind: str, start: int, end: int, sentence: int, clause: int,
        negated: bool = False,
    ) -> Token:
        return tuple.__new__(cls, (text, lower, lemma, kind, start, end, sentence, clause, negated,
                                   kind in _WORD_KINDS))

    def __getnewargs__(self) -> tuple[object, ...]:
        return tuple(self)[:9]  # what __new__ takes: is_word follows from kind


@functools.cache
def _lexicon(language: str) -> dict[str, object]:
    return load_json(f"lexicon_{language}.json")  # type: ignore[no-any-return]


def lemmatize(word: str, language: str) -> str:
    """Return the simplemma lemma of a lowercase word, with the library's own overrides."""
    overrides = _word_tables(language)[0]
    if word in overrides:
        return str(overrides[word])
    if not word[:1].isalpha():
        return word  # "12345", "3x": simplemma has no lemma for them
    return _simplemma_lemma(word, language)


@functools.lru_cache(maxsize=131072)
def _simplemma_lemma(word: str, language: str) -> str:
    # Cached: simplemma is slow on a new word. Only this step is: the overrides and numbers
    # lemmatize settles first cost a lookup, and a number, new in most comments that have one,
    # would only add an entry nothing asks for again.
    import simplemma  # imported on first use: loading it is a noticeable share of start-up

    return simplemma.lemmatize(word, lang=language).lower()


def _raw_tokens(text: str) -> list[tuple[str, str, int, int]]:
    found = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "symbol"
        found.append((match.group(), kind, match.start(), match.end()))
    return found


def negators(language: str) -> dict[str, str]:
    """Return the negation words of a language and their scope ("clause", "forward", "np")."""
    value = _lexicon(language)["negators"]
    assert isinstance(value, dict)
    return value


@functools.lru_cache(maxsize=65536)
def is_negator(lower: str, language: str) -> str | None:
    """Return the scope of a negation word, or None when the word does not negate."""
    return _negation_scope(lower, negators(language), language)


def _negation_scope(lower: str, table: dict[str, str], language: str) -> str | None:
    if lower in table:
        return table[lower]
    if language == "en" and (lower.endswith("n't") or lower in _EN_CONTRACTED):
        return "forward"
    return None


_EN_CONTRACTED = frozenset(
    {"didnt", "doesnt", "dont", "wasnt", "werent", "isnt", "arent", "cant", "couldnt", "wont",
     "wouldnt", "hasnt", "havent", "hadnt", "shouldnt", "aint"}
)

# What tokenize needs to know about one surface form of one kind: its lowercase form, lemma,
# final kind (a symbol may be an emoji), whether it is a word, whether it starts a new clause
# ("maar", "but"), its negation scope, and for punctuation whether it can end a sentence or a
# clause.
_Surface = tuple[str, str, str, bool, bool, str | None, bool, bool]
_CLAUSE_PUNCTUATION = frozenset(",;:()-/\"")
# Per-language memo of _describe; bounded so odd input cannot grow it without limit.
_SURFACES: dict[str, dict[tuple[str, str], _Surface]] = {}
_SURFACE_LIMIT = 200_000
_new_tuple = tuple.__new__


@functools.cache
def _word_tables(language: str) -> tuple[dict[str, str], dict[str, str], frozenset[str]]:
    """Return a language's lemma overrides, negators and clause-breaking words."""
    lexicon = _lexicon(language)
    overrides, clause_breaks = lexicon["lemma_overrides"], lexicon["clause_breaks"]
    assert isinstance(overrides, dict) and isinstance(clause_breaks, list)
    return overrides, negators(language), frozenset(clause_breaks)


def _describe(surface: str, kind: str, language: str) -> _Surface:
    # Runs once per new surface form (its answer is remembered in _SURFACES), so it reads the
    # language's tables directly rather than through is_negator's cache: a new word would only
    # add an entry that nothing asks for again.
    negation, clause_breaks = _word_tables(language)[1:]
    lower = surface.lower()
    if kind == "symbol" and _is_emoji(surface):
        kind = "emoji"
    is_word = kind in _WORD_KINDS
    if kind in ("money", "number"):
        lemma = lower.replace(" ", "")
    elif is_word:
        lemma = lemmatize(lower, language)
    else:
        lemma = lower
    return (
        lower, lemma, kind, is_word,
        is_word and lower in clause_breaks,
        _negation_scope(lower, negation, language) if is_word else None,
        kind == "punct" and any(char in _SENTENCE_END for char in surface),
        kind == "punct" and any(char in _CLAUSE_PUNCTUATION for char in surface),
    )


# Tokenize reads the text segment by segment, with each segment's tokens remembered (per
# language, bounded). A token match never spans a space unless the space follows a digit or a
# currency sign ("€ 89", "89 euro", "20 %"), and no pattern looks behind: so splitting at the
# other spaces gives segments whose matches are those of the whole text, shifted. Sentence and
# clause breaks inside a segment depend on the segment alone too (a segment ends at a space or
# at the end of the text), so they are remembered relative to the segment's start.
# The pattern starts with the space itself and only then looks back at the character before
# it: a leading literal lets the regex engine jump from space to space, several times faster
# than trying a lookbehind at every character.
_SEGMENT_SPLIT = re.compile(r" (?<=[^\d€$£] )").split


# One token of a segment: its text, lower, lemma, kind, start, end, sentence, clause and
# is_word, with offsets, sentence and clause numbers counted from the segment's start.
_SegmentToken = tuple[str, str, str, str, int, int, int, int, bool]
# The tokens of one segment, with everything but the segment's position worked out:
#   its tokens;
#   (position among the segment's tokens, scope) of each negation word;
#   how many sentences and clauses end in the segment;
#   whether its first token starts a clause ("maar"): counted in its tokens, but not when it
#   is the text's first token.
# A plain tuple rather than a NamedTuple: tokenize unpacks one per segment of every comment,
# and unpacking an exact tuple is cheaper than reading five named fields.
_Segment = tuple[tuple[_SegmentToken, ...], tuple[tuple[int, str], ...], int, int, bool]


def _segment(segment: str, surfaces: dict[tuple[str, str], _Surface], language: str) -> _Segment:
    """Tokenize one segment on its own (see _Segment)."""
    tokens: list[_SegmentToken] = []
    negators: list[tuple[int, str]] = []
    opens_clause = False
    sentence = 0
    clause = 0
    for position, match in enumerate(_TOKEN_RE.finditer(segment)):
        surface = match.group()
        kind = match.lastgroup or "symbol"
        key = (surface, kind)
        described = surfaces.get(key)
        if described is None:
            described = _describe(surface, kind, language)
            if len(surfaces) < _SURFACE_LIMIT:
                surfaces[key] = described
        lower, lemma, kind, is_word, breaks_clause, scope, may_end_sentence, splits_clause = described
        if breaks_clause:
            clause += 1
            if position == 0:
                opens_clause = True
        if scope is not None:
            negators.append((position, scope))
        start, end = match.span()
        tokens.append((surface, lower, lemma, kind, start, end, sentence, clause, is_word))
        if kind == "punct":
            # "89.99" and "C.S." never reach here (money and abbr tokens); a dot glued to the
            # next word ("site.nl") is not a sentence end either.
            if may_end_sentence and (end >= len(segment) or segment[end] == " "):
                sentence += 1
                clause += 1
            elif splits_clause:
                clause += 1
        elif kind == "emoji":
            # An emoji usually closes a thought the way a full stop does.
            clause += 1
    return (tuple(tokens), tuple(negators), sentence, clause, opens_clause)


_SEGMENT_MEMO: dict[str, dict[str, _Segment]] = {}
_SEGMENT_LIMIT = 200_000


def tokenize(normalized: NormalizedText, language: str) -> tuple[Token, ...]:
    """Split normalized text into tokens with lemmas, sentence and clause numbers and negation."""
    segments = _SEGMENT_MEMO.get(language)
    if segments is None:
        _lexicon(language)  # an unknown language fails here, before anything is cached
        segments = _SEGMENT_MEMO.setdefault(language, {})
    surfaces = _SURFACES.get(language)
    if surfaces is None:
        surfaces = _SURFACES.setdefault(language, {})
    sentence = 0
    clause = 0
    tokens: list[Token] = []
    negators_at: list[tuple[int, str]] = []
    offset = 0
    for segment in _SEGMENT_SPLIT(normalized.text):
        known = segments.get(segment)
        if known is None:
            known = _segment(segment, surfaces, language)
            if len(segments) < _SEGMENT_LIMIT:
                segments[segment] = known
        segment_tokens, segment_negators, segment_sentences, segment_clauses, opens_clause = known
        if opens_clause and not tokens:
            clause -= 1  # a clause word opening the text starts no new clause
        if segment_negators:
            negators_at += [(len(tokens) + position, scope) for position, scope in segment_negators]
        for surface, lower, lemma, kind, start, end, in_sentence, in_clause, is_word in segment_tokens:
            # A Token built as a plain tuple: Token's own __new__ is a Python call per token.
            tokens.append(_new_tuple(Token, (surface, lower, lemma, kind, start + offset, end + offset,
                                             sentence + in_sentence, clause + in_clause, False, is_word)))
        sentence += segment_sentences
        clause += segment_clauses
        offset += len(segment) + 1
    if negators_at:
        for index in _negated_positions(tokens, negators_at):
            # As _replace(negated=True), without its Python-level rebuild of every field.
            token = tokens[index]
            tokens[index] = _new_tuple(Token, (*token[:8], True, token[9]))
    return tuple(tokens)


def _is_emoji(symbol: str) -> bool:
    return unicodedata.category(symbol[0]) in ("So", "Sk") and ord(symbol[0]) > 0x2000


def _negated_positions(tokens: list[Token], negators_at: list[tuple[int, str]]) -> set[int]:
    """Return the positions a negation word reaches, given each negator's position and scope."""
    flagged: set[int] = set()
    count = len(tokens)
    for i, scope in negators_at:
        flagged.add(i)
        clause = tokens[i].clause
        # Scope never leaves the clause: clauses end at sentence ends, commas and "maar"/"but".
        # "clause" negators (Dutch "niet") also reach back to a verb before them ("de code
        # werkte niet"), but not further: "de gratis maand vind ik niet ok" negates "ok".
        if scope == "clause":
            span = range(max(0, i - BACKWARD_SCOPE), min(count, i + 1 + FORWARD_SCOPE))
        elif scope == "np":
            span = range(i + 1, min(count, i + 4))
        else:
            span = range(i + 1, min(count, i + 1 + FORWARD_SCOPE))
        flagged.update(j for j in span if tokens[j].clause == clause)
    return flagged

