"""Validate newly written labelled comments and file them into the train or held-out split.

Writers put batches into evaluation/_incoming/*.jsonl and run this script. Each row goes to
train/ or heldout/ by a hash of its id (40% held out), so the split is fixed before anyone
looks at a detector's output, and a row never moves between splits.

    python evaluation/split.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATEGORIES = {
    "closed_location", "offer_not_honoured", "out_of_stock", "price_mismatch",
    "link_or_site_broken", "wrong_information", "other",
}
HELDOUT_PERCENT = 40


def split_of(row_id: str) -> str:
    bucket = int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 100
    return "heldout" if bucket < HELDOUT_PERCENT else "train"


def validate(row: dict, campaigns: dict, where: str) -> list[str]:
    errors = []
    for key in ("id", "campaign", "language", "score", "text", "broken_promise", "findings", "mentions", "tags"):
        if key not in row:
            errors.append(f"{where}: missing {key!r}")
    if errors:
        return errors
    campaign = campaigns.get(row["campaign"])
    if campaign is None:
        return [f"{where}: unknown campaign {row['campaign']!r}"]
    labels = {item["label"] for item in campaign["items"]}
    if row["language"] not in ("nl", "en", "mixed"):
        errors.append(f"{where}: language must be nl, en or mixed")
    if row["score"] is not None and not (isinstance(row["score"], int) and 0 <= row["score"] <= 10):
        errors.append(f"{where}: score must be null or an integer 0..10")
    if not isinstance(row["text"], str) or not row["text"].strip():
        errors.append(f"{where}: empty text")
    if row["broken_promise"] != bool(row["findings"]):
        errors.append(f"{where}: broken_promise must be true exactly when there are findings")
    for finding in row["findings"]:
        if finding.get("category") not in CATEGORIES:
            errors.append(f"{where}: unknown category {finding.get('category')!r}")
        if finding.get("item") is not None and finding["item"] not in labels:
            errors.append(f"{where}: finding item {finding['item']!r} is not a label of {row['campaign']}")
    for label in row["mentions"]:
        if label not in labels:
            errors.append(f"{where}: mention {label!r} is not a label of {row['campaign']}")
    return errors


def load_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def main() -> int:
    campaigns = json.loads((HERE / "promises.json").read_text(encoding="utf-8"))
    incoming = sorted((HERE / "_incoming").glob("*.jsonl"))
    if not incoming:
        print("nothing in evaluation/_incoming/")
        return 0
    rows, errors = [], []
    for path in incoming:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: not JSON ({exc})")
                continue
            errors.extend(validate(row, campaigns, where))
            rows.append(row)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"{len(errors)} problem(s); nothing was filed", file=sys.stderr)
        return 1
    seen: set[str] = set()
    for split in ("train", "heldout"):
        for path in (HERE / split).glob("*.jsonl"):
            seen |= load_ids(path)
    counts = {"train": 0, "heldout": 0, "duplicate": 0}
    for row in rows:
        if row["id"] in seen:
            counts["duplicate"] += 1
            continue
        seen.add(row["id"])
        split = split_of(row["id"])
        language = row["id"].split("-", 1)[0]
        target = HERE / split / f"{language}.jsonl"
        target.parent.mkdir(exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[split] += 1
    for path in incoming:
        path.unlink()
    print(f"filed: train {counts['train']}, heldout {counts['heldout']}, duplicate ids skipped {counts['duplicate']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
