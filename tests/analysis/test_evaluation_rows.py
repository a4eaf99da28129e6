"""The labelled TRAIN rows follow the row format and conventions that evaluation/split.py checks.
(The held-out rows are read only by bench/analysis_quality.py; this test leaves them alone.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

EVALUATION = Path(__file__).resolve().parents[2] / "evaluation"


def load_split_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("evaluation_split", EVALUATION / "split.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_train_row_passes_the_checks_new_rows_must_pass() -> None:
    split = load_split_module()
    campaigns = json.loads((EVALUATION / "promises.json").read_text(encoding="utf-8"))
    errors = []
    for path in sorted((EVALUATION / "train").glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                errors += split.validate(json.loads(line), campaigns, f"{path.name}:{number}")
    assert errors == []


def test_a_finding_item_the_mentions_leave_out_is_refused() -> None:
    split = load_split_module()
    campaigns = json.loads((EVALUATION / "promises.json").read_text(encoding="utf-8"))
    campaign, spec = next(iter(campaigns.items()))
    label = spec["items"][0]["label"]
    row = {"id": "nl-999999", "campaign": campaign, "language": "nl", "score": 2, "text": "dicht",
           "broken_promise": True, "findings": [{"category": "closed_location", "item": label}],
           "mentions": [], "tags": []}
    assert any("missing from mentions" in error for error in split.validate(row, campaigns, "row"))
    row["mentions"] = [label]
    assert split.validate(row, campaigns, "row") == []
