"""Decide whether a comment is Dutch or English.

The detector is restricted to nl and en: an unrestricted one calls short Dutch answers German
or Afrikaans. One- and two-word answers ("prima", "ok") are too short to tell, so the survey's
language wins there; with nothing known at all the default is Dutch, the language of most
campaigns and of most answers.
"""

from __future__ import annotations

import functools
import re

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


def _clear_from_function_words(words: list[str]) -> str | None:
    """Return a language when its function words alone settle it ("de", "het" vs "the", "and").

    Most answers are settled this way, which spares loading and running the statistical
    detector; anything mixed or unclear still goes to py3langid.
    """
    # A language is clear when it has two or more function words and every other has none
    # (with a tie at the top the runner-up has as many, so no language is clear). Counted
    # in one pass with a per-word memo: this runs on every comment, and lowering each word
    # and counting once per language cost several times more than the lookups.
    known = _FUNCTION_WORD_OF
    found: dict[str, int] = {}
    for word in words:
        owners = known.get(word)
        if owners is None:
            owners = _function_word_owners(word)
        for language in owners:
            found[language] = found.get(language, 0) + 1
    if len(found) != 1:
        return None
    ((language, count),) = found.items()
    return language if count >= 2 else None


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


def check_language(language: str | None) -> str | None:
    """Return the language argument if it is supported, raise InvalidInputError otherwise."""
    if language is None or language in LANGUAGES:
        return language
    raise InvalidInputError(f"language must be one of {LANGUAGES} or None, not {language!r}")


def detect_language(text: str, fallback: str | None = None) -> str:
    """Return "nl" or "en" for a comment, trusting fallback for very short or unclear text."""
    fallback = check_language(fallback)
    words = _WORD_RE.findall(text)
    if not words:
        return fallback or DEFAULT_LANGUAGE
    clear = _clear_from_function_words(words)
    if clear is not None and (fallback is None or len(words) >= MIN_WORDS):
        return clear
    if fallback is not None and len(words) < MIN_WORDS:
        return fallback  # whatever py3langid would say, too short to overrule the survey's language
    guess, confidence = _identifier().classify(text)
    if fallback is not None and (len(words) < MIN_WORDS or confidence < MIN_CONFIDENCE):
        return fallback
    return guess if guess in LANGUAGES else (fallback or DEFAULT_LANGUAGE)
