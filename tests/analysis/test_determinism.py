"""The analysis must not depend on the process's hash seed: sets and dicts of strings iterate in
a different order under each PYTHONHASHSEED, and a tie broken by that order once made evidence
spans differ between two runs of the same code on the same comment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ANALYSE_TRAIN_ROWS = r"""
import json, sys
from pathlib import Path
from survey_app.analysis import PromisedItem, analyze_comment

root = Path(sys.argv[1])
campaigns = json.loads((root / "evaluation" / "promises.json").read_text())
items = {
    key: [PromisedItem(kind=i["kind"], label=i["label"], aliases=tuple(i.get("aliases", ()))) for i in c["items"]]
    for key, c in campaigns.items()
}
out = []
for name in ("nl.jsonl", "en.jsonl"):
    for line in (root / "evaluation" / "train" / name).read_text().splitlines()[:300]:
        row = json.loads(line)
        result = analyze_comment(row["text"], score=row["score"], promised_items=items[row["campaign"]])
        out.append([row["id"], result.language, sorted(result.keywords),
                    [[f.category, f.item.label if f.item else None, list(f.span)] for f in result.findings],
                    [[m.item.label if m.item else m.matched_text, list(m.span)] for m in result.item_mentions]])
print(json.dumps(out))
"""


def analyse_with_seed(seed: str) -> list:
    environment = {**os.environ, "PYTHONHASHSEED": seed}
    completed = subprocess.run(
        [sys.executable, "-c", ANALYSE_TRAIN_ROWS, str(ROOT)],
        capture_output=True, text=True, env=environment, cwd=ROOT, timeout=300, check=True,
    )
    return json.loads(completed.stdout)


def test_findings_spans_and_mentions_are_the_same_under_every_hash_seed():
    first, second = analyse_with_seed("1"), analyse_with_seed("2")
    assert len(first) == 600
    differing = [a[0] for a, b in zip(first, second, strict=True) if a != b]
    assert differing == []
