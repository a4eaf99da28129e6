"""Train the broken-promise text model and its combiner on the TRAIN split; export both.

TF-IDF over character 3-5-grams (inside words) plus word 1-2-grams, one logistic regression per
label (broken_promise and each category), fitted on evaluation/train/*.jsonl only. The weights
go to survey_app/analysis/data/model.json, which the library applies with numpy alone.

The combiner (survey_app/analysis/data/combiner.json) decides which categories to report from
the rule confidences, the model's probabilities and the NPS group. It is fitted on the model's
OUT-OF-FOLD probabilities (each row scored by a model that never saw it), so it learns how far
the model can be trusted on unseen text rather than on its own training rows.

    python evaluation/train_model.py            # cross-validate on train, then fit and export
    python evaluation/train_model.py --cv-only  # only print the cross-validation table

The held-out split is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from survey_app.analysis import CATEGORIES, PromisedItem, analyze_comment  # noqa: E402
from survey_app.analysis.detector import (  # noqa: E402
    COMBINER_FILE,
    DetectorConfig,
    combiner_feature_names,
    combiner_features,
    combiner_from_dict,
    rule_candidates,
)
from survey_app.analysis.items import find_mentions  # noqa: E402
from survey_app.analysis.language import detect_language  # noqa: E402
from survey_app.analysis.model import model_from_dict, model_input  # noqa: E402
from survey_app.analysis.text import normalize, tokenize  # noqa: E402

OUTPUT = ROOT / "survey_app" / "analysis" / "data" / "model.json"
COMBINER_OUTPUT = ROOT / "survey_app" / "analysis" / "data" / COMBINER_FILE
LABELS = ("broken_promise", *CATEGORIES)
WORD_PATTERN = r"(?u)\b\w\w+\b"
SEED = 20240601


def load_train() -> list[dict[str, Any]]:
    rows = []
    for path in sorted((ROOT / "evaluation" / "train").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def load_items() -> dict[str, list[PromisedItem]]:
    campaigns = json.loads((ROOT / "evaluation" / "promises.json").read_text(encoding="utf-8"))
    return {
        name: [PromisedItem(kind=i["kind"], label=i["label"], aliases=tuple(i.get("aliases", ())),
                            city=i.get("city"), promised_value=i.get("promised_value"))
               for i in campaign["items"]]
        for name, campaign in campaigns.items()
    }


def model_text(row: dict[str, Any]) -> str:
    """Build the model input exactly as the library does at run time."""
    normalized = normalize(row["text"])
    language = detect_language(normalized.text, fallback=row["language"] if row["language"] in ("nl", "en") else None)
    tokens = tokenize(normalized, language)
    return model_input(normalized.text, [t.lemma for t in tokens if t.is_word])


def targets(rows: list[dict[str, Any]]) -> np.ndarray:
    y = np.zeros((len(rows), len(LABELS)), dtype=int)
    for r, row in enumerate(rows):
        y[r, 0] = int(row["broken_promise"])
        for finding in row["findings"]:
            y[r, LABELS.index(finding["category"])] = 1
    return y


def fit_estimators(
    texts: list[str], y: np.ndarray, c: float, min_df: int,
    char_ngrams: tuple[int, int] = (3, 5), word_ngrams: tuple[int, int] = (1, 2),
) -> tuple[TfidfVectorizer, TfidfVectorizer, list[LogisticRegression | None]]:
    """Fit the two vectorizers and one classifier per label (None for a label never seen)."""
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams, min_df=min_df, sublinear_tf=True,
                           lowercase=True)
    word = TfidfVectorizer(analyzer="word", ngram_range=word_ngrams, min_df=min_df, sublinear_tf=True,
                           lowercase=True, token_pattern=WORD_PATTERN)
    from scipy.sparse import hstack

    x = hstack([char.fit_transform(texts), word.fit_transform(texts)]).tocsr()
    classifiers: list[LogisticRegression | None] = []
    for column in range(y.shape[1]):
        target = y[:, column]
        if target.sum() == 0 or target.sum() == len(target):
            classifiers.append(None)
            continue
        classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=SEED)
        classifier.fit(x, target)
        classifiers.append(classifier)
    return char, word, classifiers


def export(
    char: TfidfVectorizer, word: TfidfVectorizer, classifiers: list[LogisticRegression | None],
    labels: tuple[str, ...], prune: float, note: str,
) -> dict[str, Any]:
    """Write fitted estimators in the format survey_app.analysis.model reads."""
    weights: dict[str, list[list[float]]] = {}
    intercepts: dict[str, float] = {}
    for label, classifier in zip(labels, classifiers, strict=True):
        if classifier is None:
            weights[label] = []
            intercepts[label] = -10.0
            continue
        coef = classifier.coef_[0]
        # Drop near-zero weights: they change no decision and would only bloat the file.
        keep = np.flatnonzero(np.abs(coef) >= prune)
        weights[label] = [[int(i), round(float(coef[i]), 6)] for i in keep]
        intercepts[label] = round(float(classifier.intercept_[0]), 6)
    vectorizers = []
    for vectorizer in (char, word):
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        vectorizers.append({
            "analyzer": vectorizer.analyzer,
            "ngram_range": list(vectorizer.ngram_range),
            "sublinear_tf": True,
            "token_pattern": WORD_PATTERN if vectorizer.analyzer == "word" else None,
            "terms": terms,
            "idf": [round(float(v), 6) for v in vectorizer.idf_],
        })
    return {
        "format": 1,
        "trained_on": note,
        "labels": list(labels),
        "vectorizers": vectorizers,
        "weights": weights,
        "intercepts": intercepts,
        "language_prefix": False,
    }


def fit(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Fit on labelled rows with the command line's parameters and return the exportable dict."""
    texts = [model_text(row) for row in rows]
    char_ngrams, word_ngrams = tuple(args.char_ngrams), tuple(args.word_ngrams)
    char, word, classifiers = fit_estimators(texts, targets(rows), args.C, args.min_df, char_ngrams, word_ngrams)
    exported = export(char, word, classifiers, LABELS, args.prune, f"evaluation/train ({len(rows)} rows)")
    exported["params"] = {"C": args.C, "min_df": args.min_df, "prune": args.prune,
                          "char_ngrams": list(char_ngrams), "word_ngrams": list(word_ngrams)}
    return exported


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def analyse(
    rows: list[dict[str, Any]], items: dict[str, list[PromisedItem]], config: DetectorConfig
) -> list[Any]:
    """Analyse each row as the app would, with the given detector settings."""
    return [analyze_comment(row["text"], score=row["score"],
                            language=row["language"] if row["language"] in ("nl", "en") else None,
                            promised_items=items[row["campaign"]], config=config)
            for row in rows]


def score(rows: list[dict[str, Any]], results: list[Any], skip_absent: bool = False) -> dict[str, float]:
    """Return F1 per label, macro-F1 over categories and item accuracy, as bench/analysis_quality.py.

    Item accuracy: a labelled mention counts when it is found, a labelled finding item when a
    finding of the same category names it. `skip_absent` leaves categories no row is labelled
    with out of macro-F1, as the benchmark does (for pooled predictions; the per-fold figures
    keep every category, as they always did).
    """
    counts = {label: [0, 0, 0] for label in LABELS}
    support = dict.fromkeys(LABELS, 0)
    item_hits = item_total = 0
    for row, result in zip(rows, results, strict=True):
        gold = {f["category"] for f in row["findings"]}
        predicted = set(result.categories)
        pairs = [("broken_promise", bool(gold), bool(predicted))]
        pairs += [(c, c in gold, c in predicted) for c in CATEGORIES]
        for label, g, p in pairs:
            counts[label][0] += g and p
            counts[label][1] += p and not g
            counts[label][2] += g and not p
            support[label] += g
        found = {m.item.label for m in result.item_mentions if m.item is not None}
        named = {(f.category, f.item.label) for f in result.findings if f.item is not None}
        item_total += len(row["mentions"]) + sum(1 for f in row["findings"] if f["item"] is not None)
        item_hits += sum(1 for label in row["mentions"] if label in found)
        item_hits += sum(1 for f in row["findings"] if f["item"] is not None and (f["category"], f["item"]) in named)
    scores = {label: f1(*counts[label]) for label in LABELS}
    scores["items"] = item_hits / item_total if item_total else 0.0
    kept = [c for c in CATEGORIES if support[c] or not skip_absent]
    scores["macro"] = sum(scores[c] for c in kept) / len(kept) if kept else 0.0
    return scores


class Signals:
    """What the rules say about each row, and the row's model input (both fixed per row)."""

    def __init__(self, rows: list[dict[str, Any]], items: dict[str, list[PromisedItem]]) -> None:
        self.texts: list[str] = []
        self.languages: list[str] = []
        self.candidates: list[list[Any]] = []
        self.mentions: list[list[Any]] = []
        self.scores: list[int | None] = [row["score"] for row in rows]
        for row in rows:
            normalized = normalize(row["text"])
            language = detect_language(normalized.text,
                                       fallback=row["language"] if row["language"] in ("nl", "en") else None)
            tokens = tokenize(normalized, language)
            promised = items[row["campaign"]]
            mentions = find_mentions(normalized, tokens, promised) if promised else []
            self.texts.append(model_input(normalized.text, [t.lemma for t in tokens if t.is_word]))
            self.languages.append(language)
            self.candidates.append(rule_candidates(tokens, language, mentions, promised, row["score"]))
            self.mentions.append(mentions)

    def features(self, index: int, probabilities: dict[str, float]) -> np.ndarray:
        return combiner_features(self.candidates[index], probabilities, self.scores[index], self.mentions[index])


def out_of_fold_features(
    rows: list[dict[str, Any]], signals: Signals, folds: list[tuple[np.ndarray, np.ndarray]],
    args: argparse.Namespace,
) -> tuple[np.ndarray, list[Any]]:
    """Score every row with a model fitted on the other folds; return combiner inputs and the models."""
    features = np.zeros((len(rows), len(combiner_feature_names())))
    models = []
    for train_index, test_index in folds:
        model = model_from_dict(fit([rows[i] for i in train_index], args))
        models.append(model)
        for i in test_index:
            features[i] = signals.features(i, model.predict(signals.texts[i], signals.languages[i]))
    return features, models


def fit_combiner(
    features: np.ndarray, y: np.ndarray, c: float, threshold: float, category_threshold: float, sure: float = 0.7
) -> dict[str, Any]:
    """Fit one logistic regression per label on combiner inputs; return the exportable dict."""
    weights, intercepts = [], []
    for column in range(len(LABELS)):
        target = y[:, column]
        if target.sum() in (0, len(target)):
            weights.append([0.0] * features.shape[1])
            intercepts.append(-10.0 if target.sum() == 0 else 10.0)
            continue
        classifier = LogisticRegression(C=c, max_iter=2000, random_state=SEED)
        classifier.fit(features, target)
        weights.append([round(float(w), 6) for w in classifier.coef_[0]])
        intercepts.append(round(float(classifier.intercept_[0]), 6))
    return {
        "format": 1,
        "features": list(combiner_feature_names()),
        "labels": list(LABELS),
        "weights": weights,
        "intercepts": intercepts,
        "thresholds": [threshold] + [category_threshold] * len(CATEGORIES),
        "sure": sure,
        "params": {"C": c, "threshold": threshold, "category_threshold": category_threshold, "sure": sure},
    }


ORIGINAL_ERA_FILE = ROOT / "evaluation" / "original_era_ids.txt"


def original_era_ids() -> frozenset[str]:
    """Ids of the train rows written before held-out was frozen (see original_era_ids.txt)."""
    if not ORIGINAL_ERA_FILE.exists():
        return frozenset()
    lines = ORIGINAL_ERA_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def cross_validate(
    rows: list[dict[str, Any]], items: dict[str, list[PromisedItem]], args: argparse.Namespace,
    signals: Signals | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Print rules-only, fixed-threshold and combiner F1 by 5-fold cross-validation within train.

    Each setting's figures are the mean over the 5 folds (all of train), and, pooled over the
    out-of-fold predictions of the original-era rows only (the ones written before held-out was
    frozen, from the same labelling batches), the same three figures again: the later rows were
    written against known weaknesses, so the all-train figures flatter the held-out ones. The
    original-era ones match held-out's distribution but are still flattered (the rules were
    written looking at these rows): compare settings with them, do not forecast held-out.

    Returns the out-of-fold combiner inputs of every row and the combiner thresholds that did best.
    The combiner of fold k is fitted on the other folds' out-of-fold inputs.
    """
    y = targets(rows)
    signals = signals or Signals(rows, items)
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(rows, y[:, 0]))
    features, models = out_of_fold_features(rows, signals, folds, args)
    grid = [(t, dt) for t in args.thresholds for dt in args.detractor_thresholds]
    totals: dict[Any, list[dict[str, float]]] = {"rules": []} | {g: [] for g in grid}
    combiner_grid = [(t, ct) for t in args.combiner_thresholds for ct in args.category_thresholds]
    totals |= {("combiner", *g): [] for g in combiner_grid}
    # Every row's out-of-fold analysis per setting, for the original-era figures and --dump-oof.
    predictions: dict[Any, list[Any]] = {key: [None] * len(rows) for key in totals}

    def run(key: Any, test_index: np.ndarray, config: DetectorConfig) -> None:
        test_rows = [rows[i] for i in test_index]
        results = analyse(test_rows, items, config)
        totals[key].append(score(test_rows, results))
        for i, result in zip(test_index, results, strict=True):
            predictions[key][i] = result

    for (train_index, test_index), model in zip(folds, models, strict=True):
        run("rules", test_index, DetectorConfig(use_model=False))
        for threshold, detractor_threshold in grid:
            run((threshold, detractor_threshold), test_index,
                DetectorConfig(model=model, model_threshold=threshold, detractor_threshold=detractor_threshold,
                               use_combiner=False))
        for threshold, category_threshold in combiner_grid:
            combiner = combiner_from_dict(fit_combiner(features[train_index], y[train_index],
                                                       args.combiner_C, threshold, category_threshold,
                                                       args.sure))
            run(("combiner", threshold, category_threshold), test_index, DetectorConfig(model=model, combiner=combiner))
    original = original_era_ids()
    era = [i for i, row in enumerate(rows) if row["id"] in original]
    era_rows = [rows[i] for i in era]
    print(f"5-fold cross-validation on train ({len(rows)} rows), C={args.C}, min_df={args.min_df}, "
          f"combiner C={args.combiner_C}")
    print(f"all train: mean over folds; original era: pooled out-of-fold predictions of the {len(era)} rows "
          f"in {ORIGINAL_ERA_FILE.relative_to(ROOT)}")
    print(f"{'':<32}{'---------- all train ----------':>30}{'-------- original era --------':>32}")
    print(f"{'setting':<32}{'binary F1':>10}{'macro F1':>10}{'items':>10}  {'binary F1':>10}{'macro F1':>10}{'items':>10}")
    best = (-1.0, combiner_grid[0])
    era_scores: dict[Any, dict[str, float]] = {}
    for key, runs in totals.items():
        if key == "rules":
            name = "rules only"
        elif key[0] == "combiner":
            name = f"combiner t={key[1]} category t={key[2]}"
        else:
            name = f"rules+model t={key[0]} t0-6={key[1]}"
        binary = sum(r["broken_promise"] for r in runs) / len(runs)
        macro = sum(r["macro"] for r in runs) / len(runs)
        items_accuracy = sum(r["items"] for r in runs) / len(runs)
        line = f"{name:<32}{binary:>10.3f}{macro:>10.3f}{items_accuracy:>10.3f}"
        if era:
            era_scores[key] = score(era_rows, [predictions[key][i] for i in era], skip_absent=True)
            e = era_scores[key]
            line += f"  {e['broken_promise']:>10.3f}{e['macro']:>10.3f}{e['items']:>10.3f}"
        print(line)
        if key != "rules" and key[0] == "combiner":
            best = max(best, (binary + macro + items_accuracy, key[1:]))
    # Per category for rules only and the setting exported, to see which categories hold macro-F1 back.
    chosen = ("combiner", *best[1])
    print(f"\nper-label F1 (mean over folds){'':<2}{'rules only':>12}{'combiner t=%s/%s' % best[1]:>22}"
          + (f"{'original era':>16}" if era else ""))
    for label in LABELS:
        rules_f1 = sum(r[label] for r in totals["rules"]) / len(totals["rules"])
        chosen_f1 = sum(r[label] for r in totals[chosen]) / len(totals[chosen])
        print(f"{label:<32}{rules_f1:>12.3f}{chosen_f1:>22.3f}"
              + (f"{era_scores[chosen][label]:>16.3f}" if era else ""))
    if args.dump_oof:
        dump_out_of_fold(Path(args.dump_oof), rows, predictions[chosen], original)
        print(f"\nwrote the exported setting's out-of-fold predictions to {args.dump_oof}")
    return features, best[1]


def dump_out_of_fold(path: Path, rows: list[dict[str, Any]], results: list[Any], original: frozenset[str]) -> None:
    """Write one JSON line per train row: its labels and what the out-of-fold detector said."""
    with path.open("w", encoding="utf-8") as out:
        for row, result in zip(rows, results, strict=True):
            out.write(json.dumps({
                "id": row["id"], "original_era": row["id"] in original, "score": row["score"],
                "campaign": row["campaign"], "text": row["text"],
                "gold": row["findings"], "mentions": row["mentions"],
                "predicted": [{"category": f.category, "item": f.item.label if f.item else None,
                               "source": f.source, "confidence": f.confidence} for f in result.findings],
                "found_mentions": sorted({m.item.label for m in result.item_mentions if m.item is not None}),
            }, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # C 16 and combiner C 3 beat 4 and 1 in 5-fold CV on train, at 1,729 and at 1,932 rows
    # (binary +0.006, macro +0.003 to +0.008); C 2, C 32 and min-df 1 did no better.
    parser.add_argument("--C", type=float, default=16.0, help="inverse regularisation strength")
    parser.add_argument("--min-df", type=int, default=2)
    # Weights below 0.05 change no decision measurably (5-fold CV) and only slow the first call.
    parser.add_argument("--prune", type=float, default=0.05)
    parser.add_argument("--char-ngrams", type=int, nargs=2, default=[3, 5], metavar=("MIN", "MAX"),
                        help="character n-gram lengths (within words)")
    parser.add_argument("--word-ngrams", type=int, nargs=2, default=[1, 2], metavar=("MIN", "MAX"),
                        help="word n-gram lengths")
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--dump-oof", metavar="PATH",
                        help="write the exported setting's out-of-fold prediction of every train row (JSON lines)")
    parser.add_argument("--no-cv", action="store_true",
                        help="skip cross-validation; the combiner keeps the thresholds packaged last")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.6, 0.7, 0.8],
                        help="model probability needed to add a finding")
    parser.add_argument("--detractor-thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7],
                        help="the same for answers with a score of 0 to 6")
    parser.add_argument("--combiner-C", type=float, default=3.0, help="the combiner's inverse regularisation")
    parser.add_argument("--combiner-thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.6],
                        help="combiner probability of any broken promise needed to report one")
    parser.add_argument("--category-thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5],
                        help="combiner probability needed to report a further category; the best pair is exported")
    parser.add_argument("--sure", type=float, default=0.7,
                        help="combiner probability of one category that reports it even when the binary head hesitates")
    args = parser.parse_args()
    rows = load_train()
    items = load_items()
    signals = Signals(rows, items)
    y = targets(rows)
    if args.no_cv:
        folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(rows, y[:, 0]))
        features, _models = out_of_fold_features(rows, signals, folds, args)
        # Without a cross-validation to choose them, keep the thresholds the last one chose.
        previous = json.loads(COMBINER_OUTPUT.read_text(encoding="utf-8")).get("params", {}) \
            if COMBINER_OUTPUT.exists() else {}
        thresholds = (previous.get("threshold", args.combiner_thresholds[0]),
                      previous.get("category_threshold", args.category_thresholds[0]))
    else:
        features, thresholds = cross_validate(rows, items, args, signals)
    if args.cv_only:
        return 0
    exported = fit(rows, args)
    OUTPUT.write_text(json.dumps(exported, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    size = OUTPUT.stat().st_size
    n_features = sum(len(v["terms"]) for v in exported["vectorizers"])
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({size / 1e6:.2f} MB, {n_features} features)")
    combiner = fit_combiner(features, y, args.combiner_C, *thresholds, args.sure)
    combiner["trained_on"] = f"out-of-fold model probabilities on evaluation/train ({len(rows)} rows)"
    COMBINER_OUTPUT.write_text(json.dumps(combiner, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {COMBINER_OUTPUT.relative_to(ROOT)} (thresholds {thresholds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
