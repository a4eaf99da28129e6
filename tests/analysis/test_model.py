"""The pure-Python model runtime reproduces scikit-learn's probabilities exactly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from survey_app.analysis.model import load_model, model_from_dict, predict, predict_many

TRAIN_MODEL = Path(__file__).resolve().parents[2] / "evaluation" / "train_model.py"

TEXTS = [
    "De kortingscode werkte niet bij het afrekenen",
    "Alle vestigingen waren dicht | alle vestiging zijn dicht",
    "Prima service, snel geholpen",
    "The discount code didn't work at checkout",
    "Sold out on launch day, again",
    "Great staff, the car was clean",
    "link in de mail = 404",
    "Niks aan de hand, alles ging goed",
]
LABELS = [1, 1, 0, 1, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def train_model():  # type: ignore[no-untyped-def]
    # scikit-learn is a test dependency (setup.cfg), so a missing one is an error, not a skip.
    spec = importlib.util.spec_from_file_location("train_model_under_test", TRAIN_MODEL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_runtime_probabilities_equal_scikit_learn(train_model) -> None:  # type: ignore[no-untyped-def]
    from scipy.sparse import hstack

    y = np.array([[label, 1 - label] for label in LABELS])
    char, word, classifiers = train_model.fit_estimators(TEXTS, y, c=4.0, min_df=1)
    exported = train_model.export(char, word, classifiers, ("a", "b"), prune=0.0, note="test")
    model = model_from_dict(exported)
    probes = [*TEXTS, "de code werkte weer niet", "Totally unrelated words here", ""]
    x = hstack([char.transform(probes), word.transform(probes)]).tocsr()
    for row, text in enumerate(probes):
        ours = model.predict(text, "nl")
        for label, classifier in zip(("a", "b"), classifiers, strict=True):
            expected = classifier.predict_proba(x[row])[0, 1]
            # Weights are exported with six decimals.
            assert ours[label] == pytest.approx(expected, abs=1e-4), (text, label)


def test_packaged_model_covers_every_label() -> None:
    model = load_model()
    assert model.labels[0] == "broken_promise"
    assert len(model.labels) == 8
    probabilities = predict("De kortingscode werkte niet", "nl")
    assert set(probabilities) == set(model.labels)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())


def test_packaged_model_separates_an_obvious_failure_from_praise() -> None:
    failure = predict("de kortingscode werkte niet, toch verzendkosten betaald", "nl")["broken_promise"]
    praise = predict("super vriendelijk personeel, snel geholpen", "nl")["broken_promise"]
    assert failure > praise


def test_packaged_model_is_small() -> None:
    path = Path(__file__).resolve().parents[2] / "survey_app" / "analysis" / "data" / "model.json"
    assert path.stat().st_size < 5_000_000


def test_scoring_several_texts_at_once_equals_scoring_each() -> None:
    texts = ["De kortingscode werkte niet | de kortingscode werken niet", "", "!!", "sold out", "Sold out, sold OUT",
             "link in de mail = 404", "prima"]
    model = load_model()
    batch = predict_many(texts, "nl")
    assert len(batch) == len(texts)
    for text, together in zip(texts, batch, strict=True):
        alone = model.predict(text, "nl")
        assert together.keys() == alone.keys()
        assert all(together[label] == pytest.approx(alone[label], abs=1e-12) for label in alone), text


def _small_model(word_sublinear: bool) -> dict:  # type: ignore[type-arg]
    return {
        "labels": ["a", "b"],
        "vectorizers": [
            {"analyzer": "char_wb", "ngram_range": [3, 3], "sublinear_tf": True, "token_pattern": None,
             "terms": [" de", "de ", "cod", "ode"], "idf": [1.0, 1.5, 2.0, 2.5]},
            {"analyzer": "word", "ngram_range": [1, 2], "sublinear_tf": word_sublinear,
             "token_pattern": r"(?u)\b\w\w+\b", "terms": ["de", "code", "de code"], "idf": [1.0, 2.0, 3.0]},
        ],
        "weights": {"a": [[0, 0.5], [2, -1.0], [5, 2.0], [6, 1.5]], "b": [[1, 1.0], [4, -0.5]]},
        "intercepts": {"a": -0.2, "b": 0.1},
    }


@pytest.mark.parametrize("word_sublinear", [True, False])
def test_runtime_equals_a_hand_computed_tf_idf(word_sublinear: bool) -> None:
    import math

    model = model_from_dict(_small_model(word_sublinear))
    text = "de code de code de"
    # char_wb 3-grams of " de " and " code ": " de" x3, "de " x5 (also in "code"), "cod" x2, "ode" x2.
    # Words: de x3, code x2, "de code" x2.
    char = {0: (1 + math.log(3)) * 1.0, 1: (1 + math.log(5)) * 1.5, 2: (1 + math.log(2)) * 2.0,
            3: (1 + math.log(2)) * 2.5}
    tf = (lambda n: 1 + math.log(n)) if word_sublinear else (lambda n: float(n))
    word = {4: tf(3) * 1.0, 5: tf(2) * 2.0, 6: tf(2) * 3.0}
    features = {}
    for block in (char, word):
        norm = math.sqrt(sum(v * v for v in block.values()))
        features.update({k: v / norm for k, v in block.items()})
    weights = {"a": {0: 0.5, 2: -1.0, 5: 2.0, 6: 1.5}, "b": {1: 1.0, 4: -0.5}}
    intercepts = {"a": -0.2, "b": 0.1}
    for label in ("a", "b"):
        logit = intercepts[label] + sum(features[k] * w for k, w in weights[label].items())
        expected = 1 / (1 + math.exp(-logit))
        assert model.predict(text, "nl")[label] == pytest.approx(expected, abs=1e-12)
        assert model.predict_many([text, "", text], "nl")[2][label] == pytest.approx(expected, abs=1e-12)


def test_counts_beyond_the_precomputed_table_and_extreme_logits() -> None:
    import math

    data = _small_model(True)
    model = model_from_dict(data)
    text = " ".join(["code"] * 70)  # "code" 70 times: counts past the 1 + log(count) table
    # Char block: "de " x70 (idf 1.5), "cod" x70 (idf 2), "ode" x70 (idf 2.5); " co" is unknown.
    # Word block: "code" x70 (idf 2); "code code" is not in the vocabulary.
    char = {1: (1 + math.log(70)) * 1.5, 2: (1 + math.log(70)) * 2.0, 3: (1 + math.log(70)) * 2.5}
    word = {5: (1 + math.log(70)) * 2.0}
    logit = -0.2
    for block, weights in ((char, {2: -1.0}), (word, {5: 2.0})):
        norm = math.sqrt(sum(v * v for v in block.values()))
        logit += sum(block[k] / norm * w for k, w in weights.items())
    assert model.predict(text, "nl")["a"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-12)
    data["intercepts"] = {"a": -1000.0, "b": 1000.0}
    extreme = model_from_dict(data).predict("", "nl")
    assert extreme == {"a": 0.0, "b": 1.0}


def test_word_ngrams_of_every_length_are_found_and_only_in_order() -> None:
    import math

    # Word uni-, bi- and trigrams; the runtime skips windows whose words cannot form a term,
    # which must find exactly the terms a plain scan of every window finds.
    data = {
        "labels": ["a"],
        "vectorizers": [
            {"analyzer": "word", "ngram_range": [1, 3], "sublinear_tf": True, "token_pattern": r"(?u)\b\w\w+\b",
             "terms": ["code", "werkte niet", "code werkte niet", "niet code"], "idf": [1.0, 2.0, 3.0, 4.0]},
        ],
        "weights": {"a": [[0, 0.5], [1, 1.0], [2, 2.0], [3, -3.0]]},
        "intercepts": {"a": 0.0},
    }
    model = model_from_dict(data)

    def expected(counts: dict[int, int]) -> float:
        idf, weight = [1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, -3.0]
        values = {k: (1 + math.log(n)) * idf[k] for k, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values()))
        return 1 / (1 + math.exp(-sum(v / norm * weight[k] for k, v in values.items())))

    cases = {
        "de code werkte niet, de code werkte niet": {0: 2, 1: 2, 2: 2},
        "niet code werkte": {0: 1, 3: 1},  # the trigram's words, out of order: no trigram
        "werkte de code niet": {0: 1},
    }
    for text, counts in cases.items():
        assert model.predict(text, "nl")["a"] == pytest.approx(expected(counts), abs=1e-12), text


def test_extreme_logits_of_a_text_with_terms_give_zero_and_one() -> None:
    data = _small_model(True)
    data["intercepts"] = {"a": -1000.0, "b": 1000.0}
    # math.exp overflows on the first label: the probabilities are still 0 and 1, as numpy gives.
    assert model_from_dict(data).predict("de code", "nl") == {"a": 0.0, "b": 1.0}


def test_reading_chunk_by_chunk_equals_reading_each_block_over_the_whole_text() -> None:
    import dataclasses

    model = load_model()
    whole = dataclasses.replace(model)
    whole.__dict__["_chunk_layout"] = None  # the general path: each vectorizer over the whole text
    texts = [*TEXTS, "de | code", "sold out!! (again) - 2x", "Kortingscode werkte niet | kortingscode werken niet",
             "", "  ", "a", "link in de mail = 404 | link in de mail = 404"]
    for text in texts:
        assert model.predict(text, "nl") == pytest.approx(whole.predict(text, "nl"), abs=1e-12), text


def test_a_bigram_spans_a_chunk_without_words() -> None:
    # "de | code" has the words "de" and "code" next to each other, as scikit-learn reads it.
    model = model_from_dict(_small_model(True))
    assert model.predict("de | code", "nl") == pytest.approx(model.predict("de code", "nl"), abs=1e-12)
