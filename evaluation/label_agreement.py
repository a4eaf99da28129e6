"""How consistently can the categories be applied? Train labels against a second labeller.

A second labeller labelled a random sample of 300 original-era train rows (see
evaluation/original_era_ids.txt) from the texts, promises.json and the labelling conventions
alone, without seeing the train labels: evaluation/agreement/second_labeller.jsonl. This prints
their agreement (Cohen's kappa, and F1 taking the train labels as truth, as the benchmarks do),
and, given the out-of-fold predictions of `train_model.py --dump-oof`, the detector's figures on
the same rows, so the detector can be read against a second reader rather than against 1.0.

    python evaluation/label_agreement.py
    python evaluation/train_model.py --cv-only --dump-oof /tmp/oof.jsonl
    python evaluation/label_agreement.py --oof /tmp/oof.jsonl

The held-out split is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from survey_app.analysis import CATEGORIES  # noqa: E402

SECOND = ROOT / "evaluation" / "agreement" / "second_labeller.jsonl"
Findings = list[dict[str, str | None]]


def read_findings(path: Path) -> dict[str, Findings]:
    """Return each row's findings from a JSON-lines file (train rows, the second labels, or a dump)."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["id"]] = row["predicted"] if "predicted" in row else row["findings"]
    return rows


def cohen_kappa(first: Sequence[bool], second: Sequence[bool]) -> float:
    """Return Cohen's kappa of two yes/no labellings: agreement beyond what chance would give."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    yes_first, yes_second = sum(first) / n, sum(second) / n
    chance = yes_first * yes_second + (1 - yes_first) * (1 - yes_second)
    return (observed - chance) / (1 - chance) if chance < 1 else 1.0


def f1(truth: Sequence[bool], predicted: Sequence[bool]) -> float:
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    wrong = sum(t != p for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def compare(title: str, truth: dict[str, Findings], other: dict[str, Findings], ids: list[str]) -> None:
    """Print how `other` agrees with `truth` on the rows `ids`."""
    print(f"\n{title} ({len(ids)} rows; F1 takes the first as truth)")
    broken_truth = [bool(truth[i]) for i in ids]
    broken_other = [bool(other[i]) for i in ids]
    print(f"  {'broken promise':<22} F1 {f1(broken_truth, broken_other):.3f}  kappa "
          f"{cohen_kappa(broken_truth, broken_other):.3f}")
    scores = []
    for category in CATEGORIES:
        in_truth = [category in {f["category"] for f in truth[i]} for i in ids]
        in_other = [category in {f["category"] for f in other[i]} for i in ids]
        if any(in_truth):
            scores.append(f1(in_truth, in_other))
            print(f"  {category:<22} F1 {scores[-1]:.3f}  kappa {cohen_kappa(in_truth, in_other):.3f}  "
                  f"({sum(in_truth)} vs {sum(in_other)} rows)")
    print(f"  {'macro-F1':<22}    {sum(scores) / len(scores):.3f}")
    named = [(f["item"], {g["item"] for g in other[i] if g["category"] == f["category"]})
             for i in ids for f in truth[i] if f["item"] is not None]
    same_category = [(item, found) for item, found in named if found]
    print(f"  finding items: {len(same_category)} of {len(named)} with the category found too; of those, "
          f"{sum(item in found for item, found in same_category)} name the same item")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oof", type=Path, help="out-of-fold predictions written by train_model.py --dump-oof")
    args = parser.parse_args()
    train = {**read_findings(ROOT / "evaluation/train/nl.jsonl"), **read_findings(ROOT / "evaluation/train/en.jsonl")}
    second = read_findings(SECOND)
    ids = list(second)
    compare("train labels vs second labeller", train, second, ids)
    if args.oof:
        detector = read_findings(args.oof)
        compare("train labels vs detector (out of fold)", train, detector, ids)
        compare("second labeller vs detector (out of fold)", second, detector, ids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
