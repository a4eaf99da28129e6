"""Measure broken-promise detection and item matching on the labelled comments.

Prints precision, recall and F1 per category and for the binary broken-promise label, macro-F1
over categories, and item-matching accuracy, for survey_app.analysis and two baselines computed
in the same run: lexicon sentiment < 0 (binary only) and a plain keyword list.

    python bench/analysis_quality.py                 # the held-out split: report, do not tune
    python bench/analysis_quality.py --split train   # for development
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from survey_app.analysis import CATEGORIES, PromisedItem, analyze_comment  # noqa: E402

TARGETS = {"binary_f1": 0.90, "macro_f1": 0.80, "item_accuracy": 0.95}

# The keyword baseline: what a first attempt with a word list looks like (no lemmas, no
# negation, no context).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "closed_location": ("dicht", "gesloten", "closed", "shut"),
    "offer_not_honoured": ("werkt niet", "werkte niet", "geen korting", "didn't work", "not work", "not valid", "ongeldig"),
    "out_of_stock": ("uitverkocht", "voorraad", "sold out", "out of stock"),
    "price_mismatch": ("duurder", "andere prijs", "higher", "more expensive"),
    "link_or_site_broken": ("404", "error", "link werkt", "link werkte", "broken link", "crash"),
    "wrong_information": ("klopte niet", "klopt niet", "verkeerd", "wrong", "incorrect"),
    "other": (),
}


def load_rows(split: str) -> list[dict]:
    rows = []
    for path in sorted((ROOT / "evaluation" / split).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_items() -> dict[str, list[PromisedItem]]:
    campaigns = json.loads((ROOT / "evaluation" / "promises.json").read_text(encoding="utf-8"))
    return {
        name: [
            PromisedItem(
                kind=raw["kind"], label=raw["label"], aliases=tuple(raw.get("aliases", ())),
                city=raw.get("city"), promised_value=raw.get("promised_value"),
            )
            for raw in campaign["items"]
        ]
        for name, campaign in campaigns.items()
    }


def prf(pairs: Iterable[tuple[bool, bool]]) -> tuple[float, float, float, int]:
    tp = fp = fn = support = 0
    for gold, predicted in pairs:
        support += gold
        tp += gold and predicted
        fp += predicted and not gold
        fn += gold and not predicted
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, support


def gold_categories(row: dict) -> set[str]:
    return {finding["category"] for finding in row["findings"]}


def keyword_categories(text: str) -> set[str]:
    lower = text.lower()
    return {category for category, words in KEYWORDS.items() if any(word in lower for word in words)}


def sentiment_baseline() -> Callable[[str, str], float]:
    from textblob.en.sentiments import PatternAnalyzer as English
    from textblob_nl import PatternAnalyzer as Dutch

    english, dutch = English(), Dutch()

    def polarity(text: str, language: str) -> float:
        analyzer = english if language == "en" else dutch
        return float(analyzer.analyze(text)[0])

    return polarity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout")
    parser.add_argument("--no-model", action="store_true", help="rules only")
    parser.add_argument("--errors", action="store_true",
                        help="list misclassified rows (refused on the held-out split)")
    args = parser.parse_args()
    if args.errors and args.split == "heldout":
        parser.error("the held-out split is for reporting only; inspect errors on --split train")
    rows = load_rows(args.split)
    if not rows:
        print(f"no labelled rows in evaluation/{args.split}/")
        return 1
    items = load_items()
    from survey_app.analysis.detector import DetectorConfig

    config = DetectorConfig(use_model=not args.no_model)
    polarity = sentiment_baseline()
    started = time.perf_counter()
    results = [
        analyze_comment(row["text"], score=row["score"],
                        language=row["language"] if row["language"] in ("nl", "en") else None,
                        promised_items=items[row["campaign"]], config=config)
        for row in rows
    ]
    elapsed = time.perf_counter() - started

    systems: dict[str, list[set[str]]] = {
        "survey_app.analysis": [set(result.categories) for result in results],
        "keyword list": [keyword_categories(row["text"]) for row in rows],
    }
    sentiment_binary = [
        polarity(row["text"], row["language"] if row["language"] in ("nl", "en") else result.language) < 0
        for row, result in zip(rows, results)
    ]
    gold = [gold_categories(row) for row in rows]

    print(f"split: {args.split}, {len(rows)} labelled comments "
          f"({sum(1 for g in gold if g)} with a broken promise), analysed in {elapsed:.2f} s")
    print()
    header = f"{'label':<22}{'support':>8}" + "".join(f"{name:>30}" for name in (*systems, "sentiment < 0"))
    print(header)
    print(f"{'':<30}" + "".join(f"{'P     R     F1':>30}" for _ in range(len(systems) + 1)))
    summary: dict[str, dict[str, float]] = {name: {} for name in (*systems, "sentiment < 0")}
    binary_row = f"{'broken_promise':<22}{sum(1 for g in gold if g):>8}"
    for name, predicted in systems.items():
        p, r, f, _ = prf((bool(g), bool(pred)) for g, pred in zip(gold, predicted))
        summary[name]["binary_f1"] = f
        binary_row += f"{p:>20.2f}{r:>5.2f}{f:>5.2f}"
    p, r, f, _ = prf((bool(g), pred) for g, pred in zip(gold, sentiment_binary))
    summary["sentiment < 0"]["binary_f1"] = f
    binary_row += f"{p:>20.2f}{r:>5.2f}{f:>5.2f}"
    print(binary_row)
    f1s: dict[str, list[float]] = {name: [] for name in systems}
    for category in CATEGORIES:
        support = sum(1 for g in gold if category in g)
        line = f"{category:<22}{support:>8}"
        for name, predicted in systems.items():
            p, r, f, _ = prf((category in g, category in pred) for g, pred in zip(gold, predicted))
            if support:
                f1s[name].append(f)
            line += f"{p:>20.2f}{r:>5.2f}{f:>5.2f}"
        line += f"{'-':>30}"
        print(line)
    line = f"{'macro-F1 (categories)':<30}"
    for name in systems:
        macro = sum(f1s[name]) / len(f1s[name]) if f1s[name] else 0.0
        summary[name]["macro_f1"] = macro
        line += f"{macro:>30.2f}"
    print(line + f"{'-':>30}")

    # Item matching: every labelled mention must be found, and every labelled finding item must
    # be named by a finding of the same category.
    mention_total = mention_hit = finding_total = finding_hit = predicted_mentions = spurious = 0
    # The finding items whose category was reported: how often the item was then the right one
    # (the rest of the finding-item misses are category or detection errors, not item matching).
    category_found = category_found_hit = 0
    for row, result in zip(rows, results):
        found_labels = {m.item.label for m in result.item_mentions if m.item is not None}
        predicted_mentions += len(found_labels)
        spurious += len(found_labels - set(row["mentions"]))
        for label in row["mentions"]:
            mention_total += 1
            mention_hit += label in found_labels
        named = {(f.category, f.item.label) for f in result.findings if f.item is not None}
        for finding in row["findings"]:
            if finding["item"] is not None:
                finding_total += 1
                hit = (finding["category"], finding["item"]) in named
                finding_hit += hit
                if finding["category"] in result.categories:
                    category_found += 1
                    category_found_hit += hit
    total = mention_total + finding_total
    accuracy = (mention_hit + finding_hit) / total if total else 0.0
    summary["survey_app.analysis"]["item_accuracy"] = accuracy
    print()
    print(f"item matching accuracy: {accuracy:.3f} "
          f"(mentions {mention_hit}/{mention_total}, finding items {finding_hit}/{finding_total}); "
          f"mention precision {1 - spurious / predicted_mentions if predicted_mentions else 0:.3f} "
          f"({spurious} of {predicted_mentions} predicted mentions not labelled)")
    print(f"  finding items whose category was reported: item right in {category_found_hit}/{category_found}; "
          f"the other {finding_total - category_found} finding items had their category missed")
    print()
    ours = summary["survey_app.analysis"]
    for key, target in TARGETS.items():
        status = "met" if ours.get(key, 0.0) >= target else "NOT met"
        print(f"target {key} >= {target:.2f}: {ours.get(key, 0.0):.3f} {status}")

    if args.errors:
        print()
        for row, result, g in zip(rows, results, gold):
            predicted = set(result.categories)
            if predicted != g:
                print(f"{row['id']} score={row['score']} gold={sorted(g)} got={sorted(predicted)} "
                      f"src={[f.source for f in result.findings]} | {row['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
