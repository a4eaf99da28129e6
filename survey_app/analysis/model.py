"""Apply the exported linear text model (TF-IDF n-grams + logistic regression) without scikit-learn.

evaluation/train_model.py fits the model on the train split and writes model.json; this module
rebuilds the same features in plain Python and scores them with numpy, so scikit-learn is a
training-time dependency only.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataFileError
from .resources import has_data_file, read_json

MODEL_FILE = "model.json"
_EMPTY_INDICES = np.zeros(0, dtype=np.int64)
# 1 + log(count) for the small counts almost every n-gram has.
_SUBLINEAR = [0.0] + [1.0 + math.log(count) for count in range(1, 64)]
_SUBLINEAR_ARRAY = np.asarray(_SUBLINEAR, dtype=np.float64)
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)


def _term_frequencies(counts: list[int], sublinear: bool) -> np.ndarray:
    """Return the term-frequency factor of each count (1 + log(count) when sublinear)."""
    tf = np.asarray(counts, dtype=np.intp)
    if not sublinear:
        return tf.astype(np.float64)
    if max(counts) < len(_SUBLINEAR):
        return _SUBLINEAR_ARRAY[tf]
    return np.where(tf < len(_SUBLINEAR), _SUBLINEAR_ARRAY[np.minimum(tf, len(_SUBLINEAR) - 1)], 1.0 + np.log(tf))


@dataclass(frozen=True)
class _Vectorizer:
    analyzer: str
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int
    token_pattern: re.Pattern[str] | None
    _cache: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the L2-normalized TF-IDF vector of one text as (global indices, values)."""
        found = self._weighted(text.lower())
        return found if found is not None else (_EMPTY_INDICES, _EMPTY_VALUES)

    def _weighted(self, lowered: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Return (global indices, L2-normalized TF-IDF values) of lowercased text, or None."""
        found = self._terms(lowered)
        if not found:
            return None
        # Counting in C (Counter), then a handful of vectorized steps: a comment has a few
        # hundred n-grams, too few to amortize many numpy calls, too many for Python arithmetic.
        counts = Counter(found)
        size = len(counts)
        indices = np.fromiter(counts, dtype=np.intp, count=size)
        values = _term_frequencies(list(counts.values()), self.sublinear_tf) * self.idf[indices]
        values /= math.sqrt(float(values @ values))
        if self.offset:
            indices += self.offset
        return indices, values

    def _terms(self, lowered: str) -> list[int]:
        """Return the vocabulary indices (local to this block) of every term of lowercased text."""
        if self.analyzer == "char_wb":
            # char_wb n-grams never cross a word boundary, so each word's in-vocabulary n-grams
            # can be cached: customers use the same few hundred words over and over.
            found: list[int] = []
            ngrams = self._word_ngrams
            for word in lowered.split():
                found.extend(ngrams(word))
            return found
        return self._word_terms(lowered)

    def _word_ngrams(self, word: str) -> tuple[int, ...]:
        cached = self._cache.get(word)
        if cached is None:
            # Same as scikit-learn's char_wb: n-grams of the space-padded word.
            low, high = self.ngram_range
            padded = f" {word} "
            vocabulary = self.vocabulary
            found = []
            for n in range(low, high + 1):
                if len(padded) < n:
                    break
                for i in range(len(padded) - n + 1):
                    index = vocabulary.get(padded[i:i + n])
                    if index is not None:
                        found.append(index)
            cached = tuple(found)
            if len(self._cache) < 200_000:
                self._cache[word] = cached
        return cached

    def _word_terms(self, text: str) -> list[int]:
        assert self.token_pattern is not None
        low, high = self.ngram_range
        words = self.token_pattern.findall(text)
        get = self.vocabulary.get
        found = []
        for n in range(low, high + 1):
            if n == 1:
                terms = words
            elif n == 2:
                terms = [f"{a} {b}" for a, b in zip(words, words[1:])]
            else:
                terms = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
            for term in terms:
                index = get(term)
                if index is not None:
                    found.append(index)
        return found


@dataclass(frozen=True)
class LinearTextModel:
    """One-vs-rest logistic regression over concatenated TF-IDF blocks."""

    labels: tuple[str, ...]
    vectorizers: tuple[_Vectorizer, ...]
    weights: np.ndarray  # (features, labels)
    intercepts: np.ndarray  # (labels,)
    language_prefix: bool

    def predict(self, text: str, language: str) -> dict[str, float]:
        """Return a probability per label for one text."""
        if self.language_prefix:
            text = f"{language} {text}"
        lowered = text.lower()
        logits = self.intercepts.copy()
        for vectorizer in self.vectorizers:
            found = vectorizer._weighted(lowered)
            if found is not None:
                indices, values = found
                logits += values @ self.weights[indices]
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        return dict(zip(self.labels, probabilities.tolist()))


    def predict_many(self, texts: Sequence[str], language: str) -> list[dict[str, float]]:
        """Return a probability per label for each text, scoring them all in one pass."""
        if len(texts) < 2:
            return [self.predict(text, language) for text in texts]
        # One segment per (text, block) that has terms; numpy then runs once for the batch
        # instead of a dozen small calls per text (the detector scores every clause).
        indices: list[int] = []
        counts: list[int] = []
        factors: list[np.ndarray] = []  # only when the blocks weigh counts differently
        uniform = len({vectorizer.sublinear_tf for vectorizer in self.vectorizers}) == 1
        segment_sizes: list[int] = []
        segment_rows: list[int] = []
        for row, text in enumerate(texts):
            lowered = (f"{language} {text}" if self.language_prefix else text).lower()
            for vectorizer in self.vectorizers:
                found = vectorizer._terms(lowered)
                if found:
                    counted = Counter(found)
                    offset = vectorizer.offset
                    indices.extend([index + offset for index in counted] if offset else counted)
                    if uniform:
                        counts.extend(counted.values())
                    else:
                        factors.append(_term_frequencies(list(counted.values()), vectorizer.sublinear_tf))
                    segment_sizes.append(len(counted))
                    segment_rows.append(row)
        logits = np.tile(self.intercepts, (len(texts), 1))
        if indices:
            columns = np.asarray(indices, dtype=np.intp)
            if uniform:
                values = _term_frequencies(counts, self.vectorizers[0].sublinear_tf) * self._idf[columns]
            else:
                values = np.concatenate(factors) * self._idf[columns]
            starts = np.asarray(list(itertools.accumulate(segment_sizes[:-1], initial=0)), dtype=np.intp)
            norms = np.sqrt(np.add.reduceat(values * values, starts))
            values /= np.repeat(norms, segment_sizes)
            per_segment = np.add.reduceat(values[:, None] * self.weights[columns], starts, axis=0)
            rows = sorted(set(segment_rows))
            first_segment = [segment_rows.index(row) for row in rows]
            logits[rows] += np.add.reduceat(per_segment, first_segment, axis=0)
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        return [dict(zip(self.labels, row)) for row in probabilities.tolist()]

    @functools.cached_property
    def _idf(self) -> np.ndarray:
        return np.concatenate([vectorizer.idf for vectorizer in self.vectorizers])


def model_from_dict(data: dict[str, Any]) -> LinearTextModel:
    """Build a model from its exported form (as written by evaluation/train_model.py)."""
    try:
        vectorizers = []
        offset = 0
        for raw in data["vectorizers"]:
            terms = raw["terms"]
            pattern = raw.get("token_pattern")
            vectorizers.append(_Vectorizer(
                analyzer=raw["analyzer"],
                ngram_range=(int(raw["ngram_range"][0]), int(raw["ngram_range"][1])),
                sublinear_tf=bool(raw["sublinear_tf"]),
                vocabulary={term: index for index, term in enumerate(terms)},
                idf=np.asarray(raw["idf"], dtype=np.float64),
                offset=offset,
                token_pattern=re.compile(pattern) if pattern else None,
            ))
            offset += len(terms)
        labels = tuple(data["labels"])
        weights = np.zeros((offset, len(labels)), dtype=np.float64)
        for column, label in enumerate(labels):
            for index, weight in data["weights"][label]:
                weights[int(index), column] = float(weight)
        intercepts = np.asarray([data["intercepts"][label] for label in labels], dtype=np.float64)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataFileError(f"{MODEL_FILE} is malformed: {exc!r}") from exc
    return LinearTextModel(labels, tuple(vectorizers), weights, intercepts, bool(data.get("language_prefix", False)))


@functools.cache
def load_model() -> LinearTextModel:
    """Read the packaged model once per process."""
    # read_json, not load_json: the parsed JSON is only needed until the arrays are built.
    return model_from_dict(read_json(MODEL_FILE))


def model_input(text: str, lemmas: Sequence[str]) -> str:
    """Return what the model reads: the normalized text, then its lemmas ("werkte" -> "werken")."""
    return f"{text} | {' '.join(lemmas)}" if lemmas else text


@functools.cache
def model_available() -> bool:
    """Tell whether a trained model ships with the package."""
    return has_data_file(MODEL_FILE)


def predict(text: str, language: str, model: LinearTextModel | None = None) -> dict[str, float]:
    """Return the model's probability per label (broken_promise and each category)."""
    return (model or load_model()).predict(text, language)


def predict_many(texts: Sequence[str], language: str, model: LinearTextModel | None = None) -> list[dict[str, float]]:
    """Return the model's probabilities for several texts."""
    return (model or load_model()).predict_many(texts, language)
