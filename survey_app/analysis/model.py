"""Apply the exported linear text model (TF-IDF n-grams + logistic regression) without scikit-learn.

evaluation/train_model.py fits the model on the train split and writes model.json; this module
rebuilds the same features in plain Python and scores them with numpy, so scikit-learn is a
training-time dependency only.
"""

from __future__ import annotations

import functools
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
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)


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

    @functools.cached_property
    def idf_list(self) -> list[float]:
        return [float(v) for v in self.idf]

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the L2-normalized TF-IDF vector of one text as (global indices, values)."""
        found: list[int] = []
        lowered = text.lower()
        if self.analyzer == "char_wb":
            # char_wb n-grams never cross a word boundary, so each word's in-vocabulary n-grams
            # can be cached: customers use the same few hundred words over and over.
            for word in lowered.split():
                found.extend(self._word_ngrams(word))
        else:
            found = self._word_terms(lowered)
        if not found:
            return _EMPTY_INDICES, _EMPTY_VALUES
        # Counter and scalar maths beat numpy's per-call overhead on a few hundred n-grams.
        counts = Counter(found)
        idf = self.idf_list
        if self.sublinear_tf:
            values = [
                (_SUBLINEAR[count] if count < len(_SUBLINEAR) else 1.0 + math.log(count)) * idf[index]
                for index, count in counts.items()
            ]
        else:
            values = [count * idf[index] for index, count in counts.items()]
        norm = math.sqrt(sum(v * v for v in values))
        offset = self.offset
        return (np.fromiter((index + offset for index in counts), dtype=np.int64, count=len(counts)),
                np.asarray(values, dtype=np.float64) / norm)

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
        vocabulary = self.vocabulary
        found = []
        for n in range(low, high + 1):
            for i in range(len(words) - n + 1):
                index = vocabulary.get(" ".join(words[i:i + n]))
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
        logits = self.intercepts.copy()
        for vectorizer in self.vectorizers:
            indices, values = vectorizer.features(text)
            if len(indices):
                logits += values @ self.weights[indices]
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        return dict(zip(self.labels, (float(p) for p in probabilities)))


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
    chosen = model or load_model()
    return [chosen.predict(text, language) for text in texts]
