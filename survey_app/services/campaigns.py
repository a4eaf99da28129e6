"""Campaigns and their promised items: validation shared by the dashboard forms and the
import-campaigns command, and the writes that keep them consistent."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from survey_app.extensions import db
from survey_app.models import CAMPAIGN_STATUSES, CHANNELS, ITEM_KINDS, LANGUAGES, Campaign, PromisedItem

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
# Control characters (newlines included) are refused in anything that may reach a mail header.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")
ALIAS_SEPARATOR = "|"

CAMPAIGN_FIELDS = ("key", "name", "channel", "sent_at", "promise", "language", "status",
                   "conversion_window_hours", "invitation_cap", "email_subject", "email_sender")
ITEM_FIELDS = ("kind", "label", "aliases", "city", "address", "promised_value", "url")
LIMITS = {"key": 80, "name": 200, "promise": 2000, "email_subject": 200, "email_sender": 254,
          "label": 200, "city": 100, "address": 300, "promised_value": 100, "url": 2000, "alias": 200}


class CampaignError(ValueError):
    """Campaign data that cannot be stored; `problems` lists every reason with where it was found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ItemData:
    kind: str
    label: str
    aliases: list[str] = field(default_factory=list)
    city: str | None = None
    address: str | None = None
    promised_value: str | None = None
    url: str | None = None


@dataclass
class CampaignData:
    key: str
    name: str
    promise: str
    language: str = "nl"
    channel: str = "email"
    status: str = "active"
    sent_at: datetime | None = None
    conversion_window_hours: int = 72
    invitation_cap: int | None = None
    email_subject: str | None = None
    email_sender: str | None = None
    items: list[ItemData] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    items_created: int
    items_updated: int


def parse_timestamp(value: str) -> datetime:
    """Read an ISO 8601 time; one without an offset is taken as Amsterdam time."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_ZONE)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def validate_campaign(raw: Mapping[str, Any], where: str = "") -> tuple[CampaignData | None, list[str]]:
    """Check one campaign's fields and items; return the data or the problems found."""
    prefix = f"{where}: " if where else ""
    problems: list[str] = []

    def problem(message: str) -> None:
        problems.append(prefix + message)

    values = {name: _text(raw.get(name)) for name in CAMPAIGN_FIELDS}
    for name, limit in LIMITS.items():
        if name in values and values[name] and len(values[name]) > limit:
            problem(f"{name} is longer than {limit} characters")
    key = (values["key"] or "").lower()
    if not key:
        problem("key is missing")
    elif not KEY_PATTERN.match(key):
        problem(f"key {key!r} may only hold lower-case letters, digits, '.', '_' and '-'")
    for required in ("name", "promise"):
        if not values[required]:
            problem(f"{required} is missing")
    for name, allowed in (("language", LANGUAGES), ("channel", CHANNELS), ("status", CAMPAIGN_STATUSES)):
        if values[name] and values[name].lower() not in allowed:
            problem(f"{name} must be one of {', '.join(allowed)}, not {values[name]!r}")
    for name in ("email_subject", "email_sender", "name"):
        if values[name] and CONTROL_CHARACTERS.search(values[name]):
            problem(f"{name} may not contain line breaks or control characters")
    sent_at = None
    if values["sent_at"]:
        try:
            sent_at = parse_timestamp(values["sent_at"])
        except ValueError:
            problem(f"sent_at {values['sent_at']!r} is not an ISO 8601 time such as 2026-03-01T09:00:00+01:00")
    window = _integer(values["conversion_window_hours"], "conversion_window_hours", 1, 2160, problem)
    cap = _integer(values["invitation_cap"], "invitation_cap", 1, 10_000_000, problem)

    items = []
    labels: set[str] = set()
    for number, raw_item in enumerate(raw.get("items") or [], start=1):
        item_where = raw_item.get("_where") or f"{prefix}item {number}"
        item, item_problems = validate_item(raw_item, item_where)
        problems.extend(item_problems)
        if item is not None:
            if item.label.casefold() in labels:
                problems.append(f"{item_where}: label {item.label!r} appears twice in this campaign")
            labels.add(item.label.casefold())
            items.append(item)
    if problems:
        return None, problems
    return CampaignData(
        key=key,
        name=values["name"] or "",
        promise=values["promise"] or "",
        language=(values["language"] or "nl").lower(),
        channel=(values["channel"] or "email").lower(),
        status=(values["status"] or "active").lower(),
        sent_at=sent_at,
        conversion_window_hours=window or 72,
        invitation_cap=cap,
        email_subject=values["email_subject"],
        email_sender=values["email_sender"],
        items=items,
    ), []


def _integer(value: str | None, name: str, low: int, high: int, problem: Any) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value):
        problem(f"{name} must be a whole number, not {value!r}")
        return None
    number = int(value)
    if not low <= number <= high:
        problem(f"{name} must be between {low} and {high}")
        return None
    return number


def validate_item(raw: Mapping[str, Any], where: str) -> tuple[ItemData | None, list[str]]:
    """Check one promised item; return it or the problems found."""
    problems = []
    values = {name: _text(raw.get(name)) for name in ITEM_FIELDS if name != "aliases"}
    aliases_raw = raw.get("aliases") or []
    if isinstance(aliases_raw, str):
        aliases_raw = aliases_raw.split(ALIAS_SEPARATOR)
    aliases = list(dict.fromkeys(a for a in (_text(alias) for alias in aliases_raw) if a))
    kind = (values["kind"] or "").lower()
    if kind not in ITEM_KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(ITEM_KINDS)}, not {values['kind']!r}")
    if not values["label"]:
        problems.append(f"{where}: label is missing")
    for name, value in values.items():
        if value and name in LIMITS and len(value) > LIMITS[name]:
            problems.append(f"{where}: {name} is longer than {LIMITS[name]} characters")
    for alias in aliases:
        if len(alias) > LIMITS["alias"]:
            problems.append(f"{where}: alias {alias[:20]!r}... is longer than {LIMITS['alias']} characters")
    if values["url"] and not re.match(r"^https?://", values["url"], re.IGNORECASE):
        problems.append(f"{where}: url must start with http:// or https://")
    if problems:
        return None, problems
    return ItemData(kind=kind, label=values["label"] or "", aliases=aliases, city=values["city"],
                    address=values["address"], promised_value=values["promised_value"], url=values["url"]), []


def save_campaign(data: CampaignData, campaign: Campaign | None = None) -> Campaign:
    """Create a campaign, or update the given one, with its fields (items are managed apart)."""
    campaign = campaign or Campaign()
    for name in CAMPAIGN_FIELDS:
        setattr(campaign, name, getattr(data, name))
    db.session.add(campaign)
    _commit(f"a campaign with key {data.key!r} exists already")
    return campaign


def save_item(campaign: Campaign, data: ItemData, item: PromisedItem | None = None) -> PromisedItem:
    """Add a promised item to a campaign, or update one of its items."""
    if item is None:
        item = PromisedItem(campaign=campaign, position=len(campaign.items))
    _apply_item(item, data)
    db.session.add(item)
    _commit(f"this campaign already has an item labelled {data.label!r}")
    return item


def _commit(conflict: str) -> None:
    """Commit, turning a uniqueness conflict into a CampaignError that names it."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise CampaignError([conflict]) from None


def delete_item(item: PromisedItem) -> None:
    """Remove a promised item; analyses that named it keep their finding without the link."""
    db.session.delete(item)
    db.session.commit()


def _apply_item(item: PromisedItem, data: ItemData) -> None:
    for name in ITEM_FIELDS:
        setattr(item, name, getattr(data, name))


def import_campaigns(raw_campaigns: Iterable[tuple[str, Mapping[str, Any]]]) -> ImportSummary:
    """Create or update campaigns (by key) and their items (by label), all or nothing.

    Items already stored but absent from the import are kept: an import adds and corrects,
    it never silently deletes what analyses may refer to.
    """
    valid: list[CampaignData] = []
    problems: list[str] = []
    keys: set[str] = set()
    for where, raw in raw_campaigns:
        data, found = validate_campaign(raw, where)
        problems.extend(found)
        if data is not None:
            if data.key in keys:
                problems.append(f"{where}: campaign {data.key!r} appears twice")
            keys.add(data.key)
            valid.append(data)
    if problems:
        raise CampaignError(problems)
    if not valid:
        raise CampaignError(["the file holds no campaigns"])

    existing = {c.key: c for c in db.session.execute(select(Campaign).where(Campaign.key.in_(keys))).scalars()}
    counts = {"created": 0, "updated": 0, "items_created": 0, "items_updated": 0}
    for data in valid:
        campaign = existing.get(data.key)
        counts["updated" if campaign else "created"] += 1
        campaign = campaign or Campaign()
        for name in CAMPAIGN_FIELDS:
            setattr(campaign, name, getattr(data, name))
        db.session.add(campaign)
        by_label = {item.label.casefold(): item for item in campaign.items}
        for item_data in data.items:
            item = by_label.get(item_data.label.casefold())
            counts["items_updated" if item else "items_created"] += 1
            if item is None:
                item = PromisedItem(position=len(campaign.items))
                campaign.items.append(item)
            _apply_item(item, item_data)
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise CampaignError([f"the database refused the import: {error.orig}"]) from None
    return ImportSummary(**counts)


def read_campaign_file(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Read campaigns from a .json or .csv file into (where, raw campaign) pairs."""
    raw = path.read_bytes().decode("utf-8-sig")
    if path.suffix.lower() == ".json":
        return read_campaign_json(raw)
    return read_campaign_csv(raw)


def read_campaign_json(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse the JSON format: a list of campaigns, or {"campaigns": [...]}, items nested."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CampaignError([f"not valid JSON: {error}"]) from None
    if isinstance(document, dict):
        document = document.get("campaigns")
    if not isinstance(document, list) or not all(isinstance(c, dict) for c in document):
        raise CampaignError(['expected a list of campaigns, or {"campaigns": [...]}'])
    return [(f"campaign {number}", campaign) for number, campaign in enumerate(document, start=1)]


def read_campaign_csv(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse the CSV format: one row per promised item, campaign columns repeated on each row."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None or "key" not in [name.strip() for name in reader.fieldnames]:
        raise CampaignError(["line 1: the header needs at least the columns key, name and promise"])
    campaigns: dict[str, tuple[str, dict[str, Any]]] = {}
    problems = []
    for row in reader:
        line = reader.line_num
        row = {(name or "").strip(): (value or "") for name, value in row.items()}
        key = row.get("key", "").strip().lower()
        fields = {name: row.get(name, "") for name in CAMPAIGN_FIELDS}
        if key not in campaigns:
            campaigns[key] = (f"line {line}", {**fields, "items": []})
        else:
            first = campaigns[key][1]
            for name in CAMPAIGN_FIELDS:
                if row.get(name, "").strip() and row[name].strip() != str(first[name]).strip():
                    problems.append(f"line {line}: {name} differs from the first row of campaign {key!r}")
        item = {name: row.get(f"item_{name}", "") for name in ITEM_FIELDS}
        if any(value.strip() for value in item.values()):
            campaigns[key][1]["items"].append({**item, "_where": f"line {line}"})
    if problems:
        raise CampaignError(problems)
    return list(campaigns.values())
