"""analyze_comment: the one entry point that runs every layer on one answer."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from .detector import DEFAULT_CONFIG, DetectorConfig, detect
from .errors import InvalidInputError
from .items import find_mentions, mentioned_items
from .language import check_language, detect_language
from .resources import data_digest, load_json
from .sentiment import SentimentAnalyzer, sentence_sentiment
from .text import Token, normalize, tokenize
from .types import CommentAnalysis, PromisedItem

# Bump when the code's behaviour changes; data file changes show up in the digest on their own.
ENGINE_VERSION = "1"


@functools.cache
def analyzer_version() -> str:
    """Return the version string stored with each analysis; it changes with rules or model."""
    return f"{ENGINE_VERSION}+{data_digest()}"


def analyze_comment(
    text: str,
    score: int | None = None,
    language: str | None = None,
    promised_items: Sequence[PromisedItem] = (),
    *,
    sentiment_analyzer: SentimentAnalyzer | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> CommentAnalysis:
    """Analyse one survey answer: language, sentiment, broken promises, item mentions, keywords."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, not {type(text).__name__}")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10):
        raise InvalidInputError(f"score must be an integer 0..10 or None, not {score!r}")
    check_language(language)
    items = tuple(promised_items)
    normalized = normalize(text)
    detected = detect_language(normalized.text, fallback=language)
    tokens = tokenize(normalized, detected)
    sentences = _sentence_texts(normalized.text, tokens)
    sentiment = sentence_sentiment(sentences, detected, sentiment_analyzer)
    mentions = find_mentions(normalized, tokens, items) if items else []
    findings = detect(normalized, tokens, detected, mentions, items, score, config)
    return CommentAnalysis(
        text=text,
        language=detected,
        score=score,
        sentiment=sentiment,
        findings=findings,
        item_mentions=mentioned_items(mentions),
        keywords=comment_keywords(tokens, detected),
        analyzer_version=analyzer_version(),
    )


def _sentence_texts(text: str, tokens: Sequence[Token]) -> list[str]:
    if not tokens:
        return []
    first, last = tokens[0], tokens[-1]
    if first.sentence == last.sentence:
        # Sentence numbers never decrease: one sentence (most answers) needs no walk.
        return [text[first.start:last.end]]
    # For the others, cut where the number changes: cheaper than gathering each sentence's
    # bounds in a dict with a new list per token.
    texts: list[str] = []
    sentence, start, end = first.sentence, first.start, first.end
    for token in tokens:
        if token.sentence != sentence:
            texts.append(text[start:end])
            sentence, start = token.sentence, token.start
        end = token.end
    texts.append(text[start:end])
    return texts


@functools.cache
def _stop_words(language: str) -> frozenset[str]:
    lexicon = load_json(f"lexicon_{language}.json")
    # Stop lists contain the negators and words like "open" and "good": keep those.
    return frozenset(lexicon["stopwords"]) - _keep_words(language)


@functools.cache
def _keep_words(language: str) -> frozenset[str]:
    return frozenset(load_json(f"lexicon_{language}.json")["keep_words"])


def comment_keywords(tokens: Sequence[Token], language: str) -> tuple[str, ...]:
    """Return the comment's lemmas in order, without stop words, keeping negators."""
    known = _KEYWORD_OF.get(language)
    if known is None:
        known = _KEYWORD_OF.setdefault(language, {})
    seen: dict[str, None] = {}
    for token in tokens:
        if not token.is_word:
            continue
        # Whether a word is a keyword, and as which lemma, depends on its lowercase form and
        # lemma alone: remembered, one lookup per word instead of several set tests. Keyed by
        # the lowercase form (a string keeps its hash, a (lower, lemma) pair is hashed anew on
        # every lookup), with the lemma it was worked out for: tokenize gives each form one
        # lemma, but a caller's own tokens might not.
        lower, lemma = token.lower, token.lemma
        remembered = known.get(lower)
        if remembered is not None and remembered[0] == lemma:
            keyword = remembered[1]
        else:
            keyword = _keyword(lower, lemma, language)
            if len(known) < _KEYWORD_LIMIT:
                known[lower] = (lemma, keyword)
        if keyword is not None:
            seen.setdefault(keyword, None)
    return tuple(seen)


# Per language, a word's lowercase form to its lemma and the keyword they give (None: none).
# Bounded.
_KEYWORD_OF: dict[str, dict[str, tuple[str, str | None]]] = {}
_KEYWORD_LIMIT = 100_000


def _keyword(lower: str, lemma: str, language: str) -> str | None:
    """Return the keyword a word gives (its lemma, or itself when kept, "not" for n't), or None."""
    stop = _stop_words(language)
    if lower in _keep_words(language):
        lemma = lower
    elif lower.endswith("n't"):
        lemma = "not"
    if lemma in stop or lower in stop:
        return None
    if len(lemma) < 2 and not lemma.isdigit():
        return None
    return lemma
