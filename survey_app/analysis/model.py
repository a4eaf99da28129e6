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
import string
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataFileError
from .resources import has_data_file, read_json

MODEL_FILE = "model.json"
_EMPTY_INDICES = np.zeros(0, dtype=np.int64)
# The array module's code for numpy's intp: index bytes built without numpy's per-call cost.
_INDEX_TYPECODE = np.dtype(np.intp).char
# Below and above every term index: predict() counts runs of equal indices between them.
_SENTINEL_TERMS = (-1, int(np.iinfo(np.intp).max))
_SENTINEL_BYTES = array(_INDEX_TYPECODE, _SENTINEL_TERMS).tobytes()
# 1 + log(count) for the small counts almost every n-gram has.
_SUBLINEAR = [0.0] + [1.0 + math.log(count) for count in range(1, 64)]
_SUBLINEAR_ARRAY = np.asarray(_SUBLINEAR, dtype=np.float64)
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)
# The followers of a word that starts no bigram term, and of a chunk without words (shared,
# never changed).
_NO_FOLLOWERS: Mapping[str, bytes] = {}
# scikit-learn's default token pattern, the one evaluation/train_model.py uses.
_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# ASCII punctuation, none of it a word character of that pattern (\w is str.isalnum() and "_").
_NON_WORD_PUNCTUATION = string.punctuation.replace("_", "")


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
    _chunk_cache: dict[str, tuple[tuple[int, ...], tuple[int, ...], str | None, str | None]] = field(
        default_factory=dict, compare=False, repr=False)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the L2-normalized TF-IDF vector of one text as (global indices, values)."""
        counts = self.term_counts(text.lower())
        if not counts:
            return _EMPTY_INDICES, _EMPTY_VALUES
        indices = np.fromiter(counts, dtype=np.intp, count=len(counts))
        values = _term_frequencies(list(counts.values()), self.sublinear_tf) * self.idf[indices - self.offset]
        values /= math.sqrt(float(values @ values))
        return indices, values

    def term_counts(self, lowered: str, chunks: Sequence[str] | None = None) -> Counter[int]:
        """Count the in-vocabulary terms of lowercased text, by global feature index.

        `chunks` is lowered.split(), when the caller has it already (several vectorizers read
        the same text).
        """
        if chunks is None:
            chunks = lowered.split()
        if self.analyzer == "char_wb":
            # char_wb n-grams never cross a word boundary, so each word's in-vocabulary n-grams
            # are cached: customers use the same few hundred words over and over.
            cache = self._cache
            ngrams = self._word_ngrams
            found = [ids if (ids := cache.get(word)) is not None else ngrams(word) for word in chunks]
            return Counter(itertools.chain.from_iterable(found))
        if self._chunked_words:
            return Counter(self._word_terms_by_chunk(chunks))
        return Counter(self._word_terms(lowered))

    def occurrences(self, lowered: str, chunks: Sequence[str]) -> Iterable[int]:
        """Return the global indices of every in-vocabulary term occurrence, repeats included."""
        if self.analyzer == "char_wb":
            cache = self._cache
            ngrams = self._word_ngrams
            return itertools.chain.from_iterable(
                [ids if (ids := cache.get(word)) is not None else ngrams(word) for word in chunks])
        if self._chunked_words:
            return self._word_terms_by_chunk(chunks)
        return self._word_terms(lowered)

    @functools.cached_property
    def _chunked_words(self) -> bool:
        """Whether word terms can be found chunk by chunk (see _word_terms_by_chunk)."""
        return (self.analyzer == "word" and self.token_pattern is not None
                and self.token_pattern.pattern == _DEFAULT_TOKEN_PATTERN
                and self.ngram_range[0] in (1, 2) and self.ngram_range[1] <= 2)

    def _word_terms_by_chunk(self, chunks: Sequence[str]) -> list[int]:
        """Return what _word_terms returns, from per-chunk results cached across comments.

        The default token pattern never matches whitespace, so the words of a text are the
        words of its whitespace-separated chunks one after the other; only a bigram across two
        chunks is looked up per comment. Unigrams come first, then bigrams in text order, as in
        _word_terms (predict_many sums the terms in this order).
        """
        cache = self._chunk_cache
        places = self._ngram_places.get(2) if self.ngram_range[1] == 2 else None
        unigrams: list[int] = []
        bigrams: list[int] = []
        previous: str | None = None
        for chunk in chunks:
            record = cache.get(chunk)
            if record is None:
                record = self._chunk_record(chunk)
            chunk_unigrams, chunk_bigrams, head, tail = record
            if head is None:
                continue
            unigrams += chunk_unigrams
            if places is not None:
                if previous is not None and previous in places[0] and head in places[1]:
                    index = self._global_vocabulary.get(f"{previous} {head}")
                    if index is not None:
                        bigrams.append(index)
                bigrams += chunk_bigrams
            previous = tail
        if self.ngram_range[0] == 1:
            unigrams += bigrams
            return unigrams
        return bigrams

    def _chunk_record(
        self, chunk: str, remember: bool = True
    ) -> tuple[tuple[int, ...], tuple[int, ...], str | None, str | None]:
        """Return a chunk's unigram and inner bigram indices, and its first and last word."""
        assert self.token_pattern is not None
        core = chunk.strip(_NON_WORD_PUNCTUATION)
        if core.isalnum() or not core:
            # The usual chunk, a run of word characters in punctuation ("(7)", "dicht,"): that
            # run is its one word (when it has two characters), found without the regex engine,
            # which costs more, and much more when its code has left the CPU caches.
            words = [core] if len(core) > 1 else []
        else:
            words = self.token_pattern.findall(chunk)
        get = self._global_vocabulary.get
        # Lists, not generators, into tuple(): cheaper for a chunk's one or two words; most
        # chunks are one word, so no pair at all.
        unigrams = tuple([index for index in map(get, words) if index is not None])
        bigrams = tuple([index for index in map(get, [f"{a} {b}" for a, b in zip(words, words[1:])])
                         if index is not None]) if len(words) > 1 else ()
        record = (unigrams, bigrams, words[0] if words else None, words[-1] if words else None)
        if remember and len(self._chunk_cache) < 200_000:
            self._chunk_cache[chunk] = record
        return record

    def _word_ngrams(self, word: str) -> tuple[int, ...]:
        cached = self._cache.get(word)
        if cached is None:
            cached = self._ngrams_of(word)
            if len(self._cache) < 200_000:
                self._cache[word] = cached
        return cached

    def _ngrams_of(self, word: str) -> tuple[int, ...]:
        # Same as scikit-learn's char_wb: n-grams of the space-padded word, shortest first.
        low, high = self.ngram_range
        padded = f" {word} "
        get, offset = self.vocabulary.get, self.offset
        closed = self._substring_closed
        found = []
        # Whether the n-gram at each place was a term, for the n-grams one longer.
        known: list[bool] = []
        for n in range(low, high + 1):
            if len(padded) < n:
                break
            shorter, known = known, []
            for i in range(len(padded) - n + 1):
                # In a substring-closed vocabulary an n-gram can only be a term when both the
                # (n-1)-grams in it are: many longer n-grams of a new word need no lookup.
                possible = n == low or not closed or shorter[i] and shorter[i + 1]
                index = get(padded[i:i + n]) if possible else None
                known.append(index is not None)
                if index is not None:
                    found.append(index + offset)
            if closed and known.count(True) < 2:
                # Then no two n-grams side by side are terms, so no longer n-gram is one.
                break
        return tuple(found)

    @functools.cached_property
    def _substring_closed(self) -> bool:
        """Whether every n-gram term longer than the shortest has both its (n-1)-grams as terms.

        True of any vocabulary chosen by document frequency (a substring occurs wherever its
        string does); checked rather than assumed, since an exported model may be pruned.
        """
        low = self.ngram_range[0]
        vocabulary = self.vocabulary
        return all(len(term) <= low or term[:-1] in vocabulary and term[1:] in vocabulary for term in vocabulary)

    def _word_terms(self, text: str) -> list[int]:
        assert self.token_pattern is not None
        low, high = self.ngram_range
        words = self.token_pattern.findall(text)
        get = self._global_vocabulary.get
        found = [index for index in map(get, words) if index is not None] if low == 1 else []
        for n in range(max(low, 2), high + 1):
            # Only windows whose every word can stand at its place in some vocabulary n-gram
            # are joined and looked up: most word pairs of a comment are in no vocabulary.
            places = self._ngram_places.get(n)
            if places is None:
                continue
            if n == 2:
                first, second = places
                terms = [f"{a} {b}" for a, b in zip(words, words[1:]) if a in first and b in second]
            else:
                windows = [words[i:i + n] for i in range(len(words) - n + 1)]
                terms = [
                    " ".join(window) for window in windows
                    if all(word in place for word, place in zip(window, places))
                ]
            found += [index for index in map(get, terms) if index is not None]
        return found

    @functools.cached_property
    def _global_vocabulary(self) -> dict[str, int]:
        """Term -> global feature index (the vocabulary's own index plus this block's offset)."""
        return {term: index + self.offset for term, index in self.vocabulary.items()}

    @functools.cached_property
    def _ngram_places(self) -> dict[int, tuple[frozenset[str], ...]]:
        """For each n > 1, the words that occur at each place of the vocabulary's n-word terms."""
        places: dict[int, list[set[str]]] = {}
        for term in self.vocabulary:
            words = term.split(" ")
            if len(words) > 1:
                for place, word in zip(places.setdefault(len(words), [set() for _ in words]), words):
                    place.add(word)
        return {n: tuple(frozenset(place) for place in sets) for n, sets in places.items()}


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
        chunks = lowered.split()
        if self._chunk_layout is not None:
            terms = self._chunk_occurrences(chunks)
        else:
            terms = np.fromiter(itertools.chain(_SENTINEL_TERMS, *[
                vectorizer.occurrences(lowered, chunks) for vectorizer in self.vectorizers]), dtype=np.intp)
        if terms.size == len(_SENTINEL_TERMS):
            return dict(zip(self.labels, map(_sigmoid, self._intercepts)))
        # Every block in one vectorized pass (each block is L2-normalized on its own): a comment
        # has a few hundred n-gram occurrences, too few to amortize many small numpy calls.
        # Sorting the occurrences groups each term's repeats and keeps the blocks apart (a
        # block's indices all follow the previous block's), so counting them is a few array
        # steps rather than a Counter and converting its keys and values one by one.
        terms.sort()
        # Sorted, the sentinels come first and last: every term differs from the one before
        # where it starts its run of repeats, and the last sentinel from the last term, so the
        # gaps between the positions of these differences are the counts.
        following = terms[1:]
        bounds = (following != terms[:-1]).nonzero()[0]
        firsts = bounds[:-1]
        unique = following.take(firsts)
        counts = bounds[1:] - firsts
        values = self._count_weights(unique, counts)
        values *= self._idf.take(unique)
        low = 0
        for high in (*unique.searchsorted(self._block_starts).tolist(), len(unique)):
            if high > low:
                segment = values[low:high]
                # ndarray.dot() runs the same BLAS routine as `@` with less dispatch.
                segment /= math.sqrt(segment.dot(segment))
                low = high
        # take() rather than fancy indexing: several times cheaper on a few hundred rows.
        logits = values.dot(self.weights.take(unique, axis=0)).tolist()
        try:
            # _sigmoid's arithmetic inline: eight Python calls cost more than the arithmetic.
            return {label: 1.0 / (1.0 + math.exp(-(intercept + logit)))
                    for label, intercept, logit in zip(self.labels, self._intercepts, logits)}
        except OverflowError:
            return {label: _sigmoid(intercept + logit)
                    for label, intercept, logit in zip(self.labels, self._intercepts, logits)}

    @functools.cached_property
    def _chunk_layout(self) -> tuple[tuple[_Vectorizer, ...], _Vectorizer | None] | None:
        """The char_wb vectorizers and the word vectorizer, when every block reads chunk by chunk.

        None (read each block on its own) for two word vectorizers or a word vectorizer whose
        terms cannot be found chunk by chunk.
        """
        chars = tuple(vectorizer for vectorizer in self.vectorizers if vectorizer.analyzer == "char_wb")
        words = tuple(vectorizer for vectorizer in self.vectorizers if vectorizer.analyzer != "char_wb")
        if len(words) > 1 or not all(vectorizer._chunked_words for vectorizer in words):
            return None
        return chars, words[0] if words else None

    def _chunk_occurrences(self, chunks: Sequence[str]) -> np.ndarray:
        """Return every block's term occurrences in chunks, and _SENTINEL_TERMS (see predict()),
        from one cached record per chunk.

        One lookup per whitespace chunk gives all the term indices inside it, of every block,
        as the bytes of an index array; a word bigram across two chunks comes from the words
        that can follow the chunk's last word, as bytes too (a small dict per word, rather than
        a cache keyed by word pairs: no pair is built or hashed, and far less memory is read
        per comment). One join then builds the array: cheaper than concatenating an array per
        chunk, which also reads each array's header and dtype (the order of the indices does
        not matter: predict() sorts them).
        """
        cache = self._chunk_terms
        found = [record if (record := cache.get(chunk)) is not None else self._chunk_terms_of(chunk)
                 for chunk in chunks]
        parts = [record[0] for record in found]
        parts.append(_SENTINEL_BYTES)
        if self._crosses_chunks:
            # Chunks without a word ("|", "-") do not break a bigram: "dicht | dicht".
            worded = [record for record in found if record[1] is not None]
            for before, after in zip(worded, worded[1:]):
                term = before[2].get(after[1])
                if term is not None:
                    parts.append(term)
        # A bytearray, so that predict() can sort the array in place.
        return np.frombuffer(bytearray(b"".join(parts)), dtype=np.intp)

    @functools.cached_property
    def _followers(self) -> dict[str, dict[str, bytes]]:
        """For each word that starts a word bigram term, the words that end one after it, with
        the bigram's index bytes."""
        layout = self._chunk_layout
        followers: dict[str, dict[str, bytes]] = {}
        if layout is None or layout[1] is None or layout[1].ngram_range[1] != 2:
            return followers
        for term, index in layout[1]._global_vocabulary.items():
            before, space, after = term.partition(" ")
            if space:
                followers.setdefault(before, {})[after] = array(_INDEX_TYPECODE, [index]).tobytes()
        return followers

    @functools.cached_property
    def _crosses_chunks(self) -> bool:
        """Whether a word bigram can span two chunks (a word vectorizer with bigrams in its vocabulary)."""
        return bool(self._followers)

    def _chunk_terms_of(self, chunk: str) -> tuple[bytes, str | None, Mapping[str, bytes]]:
        """Return the term indices inside one chunk, of every block (an intp array's bytes), its
        first word, and the words that make a bigram term after its last word (see _followers)."""
        layout = self._chunk_layout
        assert layout is not None
        chars, word = layout
        terms: list[int] = []
        for vectorizer in chars:
            terms += vectorizer._ngrams_of(chunk)
        head, followers = None, _NO_FOLLOWERS
        if word is not None:
            unigrams, bigrams, head, tail = word._chunk_record(chunk, remember=False)
            if word.ngram_range[0] == 1:
                terms += unigrams
            terms += bigrams
            if tail is not None:
                followers = self._followers.get(tail, _NO_FOLLOWERS)
        record = (array(_INDEX_TYPECODE, terms).tobytes(), head, followers)
        if len(self._chunk_terms) < 200_000:
            self._chunk_terms[chunk] = record
        return record

    @functools.cached_property
    def _chunk_terms(self) -> dict[str, tuple[bytes, str | None, Mapping[str, bytes]]]:
        """The per-chunk records of _chunk_terms_of (bounded, like the vectorizers' word caches)."""
        return {}

    def _count_weights(self, unique: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Return the term-frequency factor of each count, for the terms `unique` (sorted)."""
        if self._uniform_tf:
            return self._uniform_frequencies(counts)
        # Blocks that weigh counts differently: each block by its own vectorizer.
        bounds = [0, *unique.searchsorted(self._block_starts).tolist(), len(unique)]
        return np.concatenate([
            _term_frequencies(counts[low:high].tolist(), vectorizer.sublinear_tf) if high > low else _EMPTY_VALUES
            for vectorizer, low, high in zip(self.vectorizers, bounds, bounds[1:])
        ])

    def predict_many(self, texts: Sequence[str], language: str) -> list[dict[str, float]]:
        """Return a probability per label for each text, scoring them all in one pass."""
        if len(texts) < 2:
            return [self.predict(text, language) for text in texts]
        # One segment per (text, block) that has terms; numpy then runs once for the batch
        # instead of a dozen small calls per text (the detector scores every clause).
        segments: list[Counter[int]] = []
        segment_rows: list[int] = []
        for row, text in enumerate(texts):
            lowered = (f"{language} {text}" if self.language_prefix else text).lower()
            for vectorizer in self.vectorizers:
                counts = vectorizer.term_counts(lowered)
                if counts:
                    segments.append(counts)
                    segment_rows.append(row)
        logits = np.tile(self.intercepts, (len(texts), 1))
        if segments:
            sizes = [len(counts) for counts in segments]
            indices = np.fromiter(itertools.chain.from_iterable(segments), dtype=np.intp, count=sum(sizes))
            rows = self._weights_and_idf.take(indices, axis=0)
            values = self._frequencies(segments) * rows[:, -1]
            starts = np.asarray(list(itertools.accumulate(sizes[:-1], initial=0)), dtype=np.intp)
            values /= np.repeat(np.sqrt(np.add.reduceat(values * values, starts)), sizes)
            per_segment = np.add.reduceat(values[:, None] * rows[:, :-1], starts, axis=0)
            rows = sorted(set(segment_rows))
            first_segment = [segment_rows.index(row) for row in rows]
            logits[rows] += np.add.reduceat(per_segment, first_segment, axis=0)
        return [
            dict(zip(self.labels, map(_sigmoid, row))) for row in logits.tolist()
        ]

    def _frequencies(self, blocks: Sequence[Counter[int]]) -> np.ndarray:
        """Return the term-frequency factor of every counted term, block after block."""
        if self._uniform_tf:
            total = sum(map(len, blocks))
            counts = np.fromiter(itertools.chain.from_iterable(block.values() for block in blocks),
                                 dtype=np.intp, count=total)
            return self._uniform_frequencies(counts)
        # Blocks that weigh counts differently: look each block's vectorizer up by its indices.
        return np.concatenate([
            _term_frequencies(list(block.values()), self._vectorizer_of(next(iter(block))).sublinear_tf)
            for block in blocks if block
        ])

    def _uniform_frequencies(self, counts: np.ndarray) -> np.ndarray:
        """Return the term-frequency factor of counts when every block weighs counts alike."""
        if not self.vectorizers[0].sublinear_tf:
            return counts.astype(np.float64)
        try:
            # The table covers the small counts of almost every term; take() raises on a
            # larger one, which spares scanning every count for the largest first.
            return _SUBLINEAR_ARRAY.take(counts)
        except IndexError:
            return _term_frequencies(counts.tolist(), True)

    def _vectorizer_of(self, index: int) -> _Vectorizer:
        return next(v for v in reversed(self.vectorizers) if v.offset <= index)

    @functools.cached_property
    def _idf(self) -> np.ndarray:
        """Every feature's idf, block after block."""
        return np.concatenate([vectorizer.idf for vectorizer in self.vectorizers])

    @functools.cached_property
    def _block_starts(self) -> np.ndarray:
        """The first global index of every block but the first."""
        return np.asarray([vectorizer.offset for vectorizer in self.vectorizers[1:]], dtype=np.intp)

    @functools.cached_property
    def _uniform_tf(self) -> bool:
        return len({vectorizer.sublinear_tf for vectorizer in self.vectorizers}) == 1

    @functools.cached_property
    def _weights_and_idf(self) -> np.ndarray:
        """Each feature's weights and, in the last column, its idf: one row fetch per term."""
        idf = np.concatenate([vectorizer.idf for vectorizer in self.vectorizers])
        return np.ascontiguousarray(np.hstack([self.weights, idf[:, None]]))

    @functools.cached_property
    def _intercepts(self) -> list[float]:
        return [float(value) for value in self.intercepts]


def _sigmoid(logit: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-logit))
    except OverflowError:  # numpy's exp would give inf here, and the probability 0.0
        return 0.0


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
