"""Decide whether a comment is Dutch or English.

The detector is restricted to nl and en: an unrestricted one calls short Dutch answers German
or Afrikaans. One- and two-word answers ("prima", "ok") are too short to tell, so the survey's
language wins there; with nothing known at all the default is Dutch, the language of most
campaigns and of most answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from .errors import InvalidInputError
from .types import LANGUAGES

DEFAULT_LANGUAGE = "nl"
MIN_WORDS = 3
MIN_CONFIDENCE = 0.9

_WORD_RE = re.compile(r"[^\W\d_]{2,}")


class _Identifier:
    """py3langid restricted to Dutch and English, loaded on first use."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(list(LANGUAGES))

    def classify(self, text: str) -> tuple[str, float]:
        language, confidence = self._identifier.classify(text)
        return str(language), float(confidence)


@functools.cache
def _identifier() -> _Identifier:
    return _Identifier()


@functools.cache
def _function_words() -> dict[str, frozenset[str]]:
    from .resources import load_json

    words = {language: frozenset(load_json(f"lexicon_{language}.json")["stopwords"]) for language in LANGUAGES}
    shared = frozenset.intersection(*words.values())
    # Words that are also ordinary words of the other language ("door", "men") prove nothing.
    ambiguous = frozenset({"door", "men", "ben", "ge", "u", "die", "dan", "hoe", "na", "go", "am", "had"})
    return {language: stop - shared - ambiguous for language, stop in words.items()}


def _clear_from_function_words(text: str) -> tuple[int, str | None]:
    """Return how many words the text has, and a language when its function words alone settle
    it ("de", "het" vs "the", "and"), else None.

    Most answers are settled this way, which spares loading and running the statistical
    detector; anything mixed or unclear still goes to py3langid.
    """
    known = _PIECE_WORDS
    word_count = 0
    owners: list[str] = []
    for piece in text.split(" "):
        described = known.get(piece)
        if described is None:
            described = _piece_words(piece)
        piece_word_count, piece_owners = described
        word_count += piece_word_count
        if piece_owners:
            owners += piece_owners
    return word_count, _clear_language(owners)


def _owners_of(words: list[str]) -> list[str]:
    """Return the language of each function word among the words, in order."""
    # One lookup per word in a memo: lowering each word and testing it against every
    # language's list cost several times more.
    known = _FUNCTION_WORD_OF
    owners: list[str] = []
    for word in words:
        word_owners = known.get(word)
        if word_owners is None:
            word_owners = _function_word_owners(word)
        owners += word_owners
    return owners


def _clear_language(owners: Sequence[str]) -> str | None:
    """Return the language clear from the owners of a text's function words, one per word.

    A language is clear when it has two or more function words and every other has none
    (with a tie at the top the runner-up has as many, so no language is clear).
    """
    if len(owners) < 2:
        return None
    language = owners[0]
    return language if owners.count(language) == len(owners) else None


# Word as written -> the languages it is a function word of (usually none). Bounded like the
# other per-word caches.
_FUNCTION_WORD_OF: dict[str, tuple[str, ...]] = {}
_FUNCTION_WORD_LIMIT = 100_000


def _function_word_owners(word: str) -> tuple[str, ...]:
    lowered = word.lower()
    owners = tuple(language for language, stop in _function_words().items() if lowered in stop)
    if len(_FUNCTION_WORD_OF) < _FUNCTION_WORD_LIMIT:
        _FUNCTION_WORD_OF[word] = owners
    return owners


# What detect_language needs of one space-separated piece of a text: how many words it has
# and the owners of its function words (see _clear_language). A word never contains a space,
# so the pieces' words are the text's words; and most pieces recur from answer to answer, so
# one remembered lookup per piece replaces the word regex and a lookup per word. Bounded.
_PIECE_WORDS: dict[str, tuple[int, tuple[str, ...]]] = {}
_PIECE_LIMIT = 100_000


def _piece_words(piece: str) -> tuple[int, tuple[str, ...]]:
    words = _WORD_RE.findall(piece)
    described = (len(words), tuple(_owners_of(words)))
    if len(_PIECE_WORDS) < _PIECE_LIMIT:
        _PIECE_WORDS[piece] = described
    return described


def check_language(language: str | None) -> str | None:
    """Return the language argument if it is supported, raise InvalidInputError otherwise."""
    if language is None or language in LANGUAGES:
        return language
    raise InvalidInputError(f"language must be one of {LANGUAGES} or None, not {language!r}")


def detect_language(text: str, fallback: str | None = None) -> str:
    """Return "nl" or "en" for a comment, trusting fallback for very short or unclear text."""
    fallback = check_language(fallback)
    word_count, clear = _clear_from_function_words(text)
    if not word_count:
        return fallback or DEFAULT_LANGUAGE
    if clear is not None and (fallback is None or word_count >= MIN_WORDS):
        return clear
    if fallback is not None and word_count < MIN_WORDS:
        return fallback  # whatever py3langid would say, too short to overrule the survey's language
    guess, confidence = _identifier().classify(text)
    if fallback is not None and (word_count < MIN_WORDS or confidence < MIN_CONFIDENCE):
        return fallback
    return guess if guess in LANGUAGES else (fallback or DEFAULT_LANGUAGE)
