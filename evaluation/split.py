"""Validate newly written labelled comments and file them into the train split.

Writers put batches into evaluation/_incoming/*.jsonl and run this script:

    python evaluation/split.py

Every row is validated (known campaign and labels, score range, `broken_promise` consistent with
`findings`, a well-formed id not used in either split) and nothing is filed if any row is invalid.

Why new rows go to train only: the held-out split was frozen on 2026-11-23 at the rows it had then.
The quality targets are measured on it before and after the round of rule and model work that
started that day, and those figures only compare if both runs score exactly the same rows. Rows
written from round 2 on are therefore filed into train, where they serve tuning and training, and
never into held-out. `split_of` is kept because it documents (and still reproduces) how the rows
filed before the freeze were divided: held-out when sha256(id) mod 100 < 40, else train.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATEGORIES = {
    "closed_location", "offer_not_honoured", "out_of_stock", "price_mismatch",
    "link_or_site_broken", "wrong_information", "other",
}
HELDOUT_PERCENT = 40
HELDOUT_FROZEN_ON = "2026-11-23"
# The id's prefix names the file a row lives in, so code-switched (`mixed`) rows take the prefix
# of the language they mostly use.
ID_PATTERN = re.compile(r"(nl|en)-\d{4,}")


def split_of(row_id: str) -> str:
    """The split a row filed before HELDOUT_FROZEN_ON went to; new rows all go to train."""
    bucket = int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 100
    return "heldout" if bucket < HELDOUT_PERCENT else "train"


def validate(row: dict, campaigns: dict, where: str) -> list[str]:
    errors = []
    for key in ("id", "campaign", "language", "score", "text", "broken_promise", "findings", "mentions", "tags"):
        if key not in row:
            errors.append(f"{where}: missing {key!r}")
    if errors:
        return errors
    if not isinstance(row["id"], str) or not ID_PATTERN.fullmatch(row["id"]):
        errors.append(f"{where}: id must look like nl-1234 or en-1234")
    campaign = campaigns.get(row["campaign"])
    if campaign is None:
        return errors + [f"{where}: unknown campaign {row['campaign']!r}"]
    labels = {item["label"] for item in campaign["items"]}
    if row["language"] not in ("nl", "en", "mixed"):
        errors.append(f"{where}: language must be nl, en or mixed")
    if row["score"] is not None and not (isinstance(row["score"], int) and not isinstance(row["score"], bool)
                                         and 0 <= row["score"] <= 10):
        errors.append(f"{where}: score must be null or an integer 0..10")
    if not isinstance(row["text"], str) or not row["text"].strip():
        errors.append(f"{where}: empty text")
    for key in ("findings", "mentions", "tags"):
        if not isinstance(row[key], list):
            errors.append(f"{where}: {key} must be a list")
    if errors:
        return errors
    if row["broken_promise"] != bool(row["findings"]):
        errors.append(f"{where}: broken_promise must be true exactly when there are findings")
    for finding in row["findings"]:
        if finding.get("category") not in CATEGORIES:
            errors.append(f"{where}: unknown category {finding.get('category')!r}")
        if finding.get("item") is not None and finding["item"] not in labels:
            errors.append(f"{where}: finding item {finding['item']!r} is not a label of {row['campaign']}")
        elif finding.get("item") is not None and finding["item"] not in row["mentions"]:
            # The conventions: a finding's item is one the text names, so it is a mention too.
            errors.append(f"{where}: finding item {finding['item']!r} is missing from mentions")
    for label in row["mentions"]:
        if label not in labels:
            errors.append(f"{where}: mention {label!r} is not a label of {row['campaign']}")
    if not all(isinstance(tag, str) for tag in row["tags"]):
        errors.append(f"{where}: tags must be strings")
    return errors


def load_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def filed_ids() -> set[str]:
    """Ids already in either split: a new row may reuse none of them (held-out ids included)."""
    ids: set[str] = set()
    for split in ("train", "heldout"):
        for path in (HERE / split).glob("*.jsonl"):
            ids |= load_ids(path)
    return ids


def main() -> int:
    campaigns = json.loads((HERE / "promises.json").read_text(encoding="utf-8"))
    incoming = sorted((HERE / "_incoming").glob("*.jsonl"))
    if not incoming:
        print("nothing in evaluation/_incoming/")
        return 0
    taken = filed_ids()
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
            row_id = row.get("id")
            if isinstance(row_id, str):
                # A reused id is an error, not a silent skip: the row would otherwise be lost.
                if row_id in taken:
                    errors.append(f"{where}: id {row_id!r} is already used (in train, held-out or this batch)")
                taken.add(row_id)
            rows.append(row)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"{len(errors)} problem(s); nothing was filed", file=sys.stderr)
        return 1
    # Held-out is frozen (see the module docstring): every new row goes to train.
    filed: dict[str, int] = {}
    for row in rows:
        language = row["id"].split("-", 1)[0]
        target = HERE / "train" / f"{language}.jsonl"
        target.parent.mkdir(exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        filed[target.name] = filed.get(target.name, 0) + 1
    for path in incoming:
        path.unlink()
    per_file = ", ".join(f"{name} {count}" for name, count in sorted(filed.items()))
    print(f"filed into train: {len(rows)} ({per_file}); held-out frozen since {HELDOUT_FROZEN_ON}, unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
