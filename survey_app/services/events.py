"""The ingestion core shared by the CSV import and the webhook: validate raw ESP events one by
one, then store the valid ones in sets, idempotently.

Validation is cheap and pure (precompiled regexes, ``datetime.fromisoformat``, dictionary
lookups against a `Catalog` of campaigns loaded once). Storage works per chunk in one short
transaction: customers are upserted by external id, events are inserted with
``INSERT ... ON CONFLICT (source, provider_event_id) DO NOTHING``, and bounces and
unsubscribes update the customer. The format is documented in docs/ingestion.md.

Events of a suppressed person (an erased customer: their address or external id is on the
suppression list, see survey_app.services.privacy) are accepted and dropped: they are counted
as `suppressed`, nothing of them is stored, and no customer is created for them again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from survey_app.database import begin_write
from survey_app.models import (
    EVENT_TYPES,
    Campaign,
    CampaignEvent,
    Customer,
    PromisedItem,
    Suppression,
    UTCDateTime,
    utcnow,
)

# The fields of one raw event, as CSV columns and as webhook JSON keys.
FIELDS = (
    "provider_event_id",
    "campaign",
    "customer_id",
    "email",
    "language",
    "event_type",
    "occurred_at",
    "clicked",
)
REQUIRED_FIELDS = ("campaign", "event_type", "occurred_at")

# The column sizes of the schema: a longer value is rejected, never truncated.
MAX_LENGTHS = {
    "provider_event_id": 200,
    "campaign": 80,
    "customer_id": 200,
    "email": 254,
    "language": 10,
    "event_type": 60,
    "occurred_at": 60,
    "clicked": 2000,
}
MAX_SOURCE_LENGTH = 80
SOURCE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")

DEFAULT_TIMEZONE = "Europe/Amsterdam"
NATURAL_KEY_PREFIX = "nk-"

# Event type names, compared after lower-casing and turning spaces and hyphens into "_".
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    **{name: name for name in EVENT_TYPES},
    "send": "sent",
    "delivered": "sent",
    "delivery": "sent",
    "received_email": "sent",
    "open": "opened",
    "opens": "opened",
    "opened_email": "opened",
    "email_opened": "opened",
    "unique_open": "opened",
    "click": "clicked",
    "clicks": "clicked",
    "clicked_email": "clicked",
    "email_clicked": "clicked",
    "unique_click": "clicked",
    "convert": "converted",
    "conversion": "converted",
    "purchase": "converted",
    "purchased": "converted",
    "order": "converted",
    "ordered": "converted",
    "placed_order": "converted",
    "booking": "converted",
    "booked": "converted",
    "bounce": "bounced",
    "hard_bounce": "bounced",
    "hardbounce": "bounced",
    "bounced_email": "bounced",
    "unsubscribe": "unsubscribed",
    "unsub": "unsubscribed",
    "unsubscribed_email": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "spamreport": "unsubscribed",
    "spam_report": "unsubscribed",
    "spam": "unsubscribed",
    "complaint": "unsubscribed",
    "marked_email_as_spam": "unsubscribed",
}

_SEPARATORS = re.compile(r"[\s\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f\"<>(),;:\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_EPOCH = re.compile(r"\d{9,10}(?:\.\d{1,6})?")
_DUTCH_DATE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|(?:javascript|data|vbscript|mailto|file):", re.IGNORECASE)
_MIN_YEAR, _MAX_YEAR = 1990, 2100
# One encoder, built once: json.dumps with options builds a new one per call.
_encode_payload = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def event_type_key(name: str) -> str:
    """Return an event type name in the form the synonym table uses."""
    return _SEPARATORS.sub("_", name.strip().casefold())


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why one field of one event was refused."""

    field: str
    reason: str

    def __str__(self) -> str:
        return self.reason


class ValidEvent(NamedTuple):
    """One validated event, ready to store (a tuple, so chunks pickle compactly)."""

    provider_event_id: str
    campaign_id: int
    customer_external_id: str
    email: str | None
    language: str | None
    type: str
    occurred_at: datetime
    clicked_item_id: int | None
    clicked_url: str | None
    payload_json: str


@dataclass(frozen=True, slots=True)
class CampaignRef:
    """What validation needs to know about one campaign: its id and its items' names and URLs."""

    id: int
    key: str
    items_by_name: dict[str, int]
    items_by_url: dict[str, int]


class Catalog:
    """The campaigns events may name, loaded once per import or webhook batch."""

    def __init__(self, campaigns: Mapping[str, CampaignRef]) -> None:
        self.campaigns = dict(campaigns)

    @classmethod
    def load(cls, session: Session, keys: Iterable[str] | None = None) -> Catalog:
        """Load the campaigns (all, or those with the given keys) and their promised items."""
        query = select(Campaign.id, Campaign.key)
        if keys is not None:
            wanted = sorted({key for key in keys if key})
            if not wanted:
                return cls({})
            query = query.where(Campaign.key.in_(wanted))
        rows = session.execute(query).all()
        by_id = {row.id: CampaignRef(row.id, row.key, {}, {}) for row in rows}
        if by_id:
            items = session.execute(
                select(PromisedItem.id, PromisedItem.campaign_id, PromisedItem.label, PromisedItem.aliases, PromisedItem.url)
                .where(PromisedItem.campaign_id.in_(list(by_id)))
                .order_by(PromisedItem.position, PromisedItem.id)
            ).all()
            for item in items:
                ref = by_id[item.campaign_id]
                for name in [item.label, *(item.aliases or [])]:
                    ref.items_by_name.setdefault(name.strip().casefold(), item.id)
                if item.url:
                    ref.items_by_url.setdefault(item.url, item.id)
        return cls({ref.key: ref for ref in by_id.values()})


def short(value: str, limit: int = 60) -> str:
    """Quote a value for an error message, cut to a readable length."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_occurred_at(value: str, zone: ZoneInfo) -> datetime | str:
    """Return the moment as an aware UTC datetime, or the reason it is not one."""
    try:
        if _EPOCH.fullmatch(value):
            moment = datetime.fromtimestamp(float(value), UTC)
        elif match := _DUTCH_DATE.fullmatch(value):
            day, month, year, hour, minute, second = match.groups()
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone
            ).astimezone(UTC)
        else:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                return f"date {short(value)} has no UTC offset (add one, e.g. +01:00 or Z)"
            moment = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return f"unparseable date {short(value)}"
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        return f"date {short(value)} is out of range ({_MIN_YEAR}-{_MAX_YEAR})"
    return moment


def natural_key(campaign: str, customer_id: str, event_type: str, occurred_at: datetime, clicked: str) -> str:
    """Return the provider event id for an event that has none: nk- + SHA-256 of its natural key."""
    key = json.dumps(
        [campaign, customer_id, event_type, occurred_at.astimezone(UTC).isoformat(), clicked],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return NATURAL_KEY_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def text_value(raw: Mapping[str, Any], name: str) -> str | None:
    """Return a field as stripped text, None when empty; numbers become text, anything else raises."""
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip(" ")
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(name)


class EventValidator:
    """Validates raw events against a catalog; reusable for any number of events."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        default_zone: str = DEFAULT_TIMEZONE,
        extra_event_types: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.zone = ZoneInfo(default_zone)
        self.event_types = dict(EVENT_TYPE_SYNONYMS)
        for name, canonical in (extra_event_types or {}).items():
            self.event_types[event_type_key(name)] = canonical

    def validate(self, raw: Mapping[str, Any], payload: Any) -> ValidEvent | list[FieldError]:
        """Return the event ready to store, or every reason it is invalid (one per field)."""
        errors: list[FieldError] = []
        values: dict[str, str | None] = {}
        get = raw.get
        for name in FIELDS:
            value = get(name)
            if value.__class__ is str:  # the common case, inlined: this runs a million times an import
                value = value.strip(" ") or None
            elif value is not None:
                try:
                    value = text_value(raw, name)
                except TypeError:
                    errors.append(FieldError(name, f"{name} must be a string"))
                    continue
            if value is not None:
                if len(value) > MAX_LENGTHS[name]:
                    errors.append(FieldError(name, f"{name} is longer than {MAX_LENGTHS[name]} characters"))
                    continue
                if name != "clicked" and _CONTROL.search(value):
                    errors.append(FieldError(name, f"{name} contains a control character or line break"))
                    continue
            values[name] = value
        failed = {error.field for error in errors}
        for name in REQUIRED_FIELDS:
            if name not in failed and values.get(name) is None:
                errors.append(FieldError(name, f"{name} is required"))

        email = values.get("email")
        if email is not None:
            if _EMAIL.fullmatch(email):
                email = email.lower()
            else:
                errors.append(FieldError("email", f"invalid email address {short(email)}"))
                email = None
        customer_id = values.get("customer_id")
        if customer_id is None and "customer_id" not in failed:
            # Exports keyed by address (Mailchimp and the like): the address is the customer id.
            if email is not None:
                customer_id = email
            elif "email" not in failed:
                errors.append(FieldError("customer_id", "customer_id is required (or an email to use as the id)"))

        language = values.get("language")
        if language is not None:
            language = language[:2].lower() if len(language) == 2 or language[2:3] in ("-", "_") else language
            if language not in ("nl", "en"):
                errors.append(FieldError("language", f"unknown language {short(values['language'] or '')} (use nl or en)"))
                language = None

        event_type = None
        if (type_name := values.get("event_type")) is not None:
            event_type = self.event_types.get(event_type_key(type_name))
            if event_type is None:
                errors.append(FieldError("event_type", f"unknown event type {short(type_name)}"))

        occurred_at = None
        if (when := values.get("occurred_at")) is not None:
            parsed = parse_occurred_at(when, self.zone)
            if isinstance(parsed, str):
                errors.append(FieldError("occurred_at", parsed))
            else:
                occurred_at = parsed

        campaign = None
        if (campaign_key := values.get("campaign")) is not None:
            campaign = self.catalog.campaigns.get(campaign_key)
            if campaign is None:
                errors.append(FieldError("campaign", f"unknown campaign {short(campaign_key)}"))

        clicked = values.get("clicked")
        clicked_item_id = clicked_url = None
        if clicked is not None and "clicked" not in failed:
            if _URL_SCHEME.match(clicked):
                parts = urlsplit(clicked)
                if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                    errors.append(FieldError("clicked", f"clicked URL {short(clicked)} is not an http(s) URL"))
                elif _CONTROL.search(clicked) or " " in clicked:
                    errors.append(FieldError("clicked", "clicked URL contains a space, control character or line break"))
                else:
                    clicked_url = clicked
                    if campaign is not None:
                        clicked_item_id = campaign.items_by_url.get(clicked)
            elif _CONTROL.search(clicked):
                errors.append(FieldError("clicked", "clicked contains a control character or line break"))
            elif campaign is not None:
                clicked_item_id = campaign.items_by_name.get(clicked.casefold())
                if clicked_item_id is None:
                    errors.append(
                        FieldError("clicked", f"unknown promised item {short(clicked)} for campaign {short(campaign.key)}")
                    )

        if errors:
            return errors
        assert campaign is not None and event_type is not None and occurred_at is not None and customer_id is not None
        provider_event_id = values.get("provider_event_id") or natural_key(
            campaign.key, customer_id, event_type, occurred_at, clicked or ""
        )
        return ValidEvent(
            provider_event_id,
            campaign.id,
            customer_id,
            email,
            language,
            event_type,
            occurred_at,
            clicked_item_id,
            clicked_url,
            _encode_payload(payload),
        )


@dataclass
class StoreResult:
    """What storing a set of events did."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    # Events of suppressed (erased) people: accepted, and dropped without a trace.
    suppressed: int = 0

    def add(self, other: StoreResult) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.suppressed += other.suppressed


@dataclass
class _KnownCustomer:
    id: int
    has_email: bool
    has_language: bool


def _sqlite_datetime(moment: datetime) -> str:
    # The text form SQLAlchemy's SQLite DATETIME type writes ("2026-03-01 13:05:00.000000"),
    # so ORM reads and comparisons agree.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]


_EVENT_COLUMNS = (
    "campaign_id",
    "customer_id",
    "source",
    "provider_event_id",
    "type",
    "occurred_at",
    "clicked_item_id",
    "clicked_url",
    "payload",
    "received_at",
)
_PG_STAGING = "ingest_events_staging"
_customers = Customer.__table__
_FILL_EMPTY_CUSTOMER_FIELDS = (
    _customers.update()
    # Never refill an erased customer, even one a concurrent erasure blanked a moment ago.
    .where(_customers.c.id == bindparam("c_id"), _customers.c.erased_at.is_(None))
    .values(
        email=func.coalesce(_customers.c.email, bindparam("c_email")),
        language=func.coalesce(_customers.c.language, bindparam("c_language")),
        updated_at=bindparam("c_now", type_=UTCDateTime()),
    )
)


@dataclass
class EventWriter:
    """Stores validated events of one source, one short committed transaction per call.

    Customer ids are cached for the writer's lifetime (one import or one webhook batch), so an
    import of a million events looks each customer up once.
    """

    session: Session
    source: str
    customers: dict[str, _KnownCustomer] = field(default_factory=dict)
    # The suppression list's HMAC key; None reads it from the app configuration when needed.
    suppression_key: bytes | None = None

    def write(self, events: Sequence[ValidEvent]) -> StoreResult:
        """Store events in one transaction and commit; return how many were new."""
        result = StoreResult(received=len(events))
        if not events:
            return result
        begin_write(self.session)
        try:
            connection = self.session.connection()
            # Checked inside the write transaction, so an erasure that committed before it counts.
            kept = self._without_suppressed(connection, events)
            result.suppressed = len(events) - len(kept)
            events = kept
            if not events:
                self.session.commit()
                return result
            self._resolve_customers(connection, events)
            unique: dict[str, ValidEvent] = {}
            for event in events:
                unique.setdefault(event.provider_event_id, event)
            if connection.dialect.name == "postgresql":
                result.inserted = self._insert_events_postgresql(connection, unique.values())
            else:
                result.inserted = self._insert_events_sqlite(connection, unique.values())
            self._apply_customer_states(connection, events)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        result.duplicates = result.received - result.inserted - result.suppressed
        return result

    def _without_suppressed(self, connection: Connection, events: Sequence[ValidEvent]) -> Sequence[ValidEvent]:
        """Return the events whose person is not on the suppression list."""
        if connection.execute(select(Suppression.id).limit(1)).first() is None:
            return events  # the common case: nobody was ever erased, so no hashing at all
        from survey_app.services.privacy import email_hash, external_id_hash, suppression_key

        key = self.suppression_key if self.suppression_key is not None else suppression_key()
        hashes: dict[tuple[str, str | None], tuple[str, ...]] = {}
        for event in events:
            person = (event.customer_external_id, event.email)
            if person not in hashes:
                xid, email = person
                candidates = [external_id_hash(xid, key)]
                if email:
                    candidates.append(email_hash(email, key))
                if "@" in xid:  # exports keyed by address use it as the customer id
                    candidates.append(email_hash(xid, key))
                hashes[person] = tuple(candidates)
        wanted = sorted({digest for candidates in hashes.values() for digest in candidates})
        found: set[str] = set()
        column = Suppression.__table__.c.email_hash
        for start in range(0, len(wanted), 5000):
            found.update(connection.execute(select(column).where(column.in_(wanted[start : start + 5000]))).scalars())
        if not found:
            return events
        blocked = {person for person, candidates in hashes.items() if not found.isdisjoint(candidates)}
        return [event for event in events if (event.customer_external_id, event.email) not in blocked]

    def _resolve_customers(self, connection: Connection, events: Sequence[ValidEvent]) -> None:
        wanted: dict[str, list[str | None]] = {}
        for event in events:
            known = wanted.get(event.customer_external_id)
            if known is None:
                wanted[event.customer_external_id] = [event.email, event.language]
            else:
                known[0] = known[0] or event.email
                known[1] = known[1] or event.language
        missing = sorted(xid for xid in wanted if xid not in self.customers)
        self._load_customers(connection, missing)
        new = [xid for xid in missing if xid not in self.customers]
        if new:
            table = Customer.__table__
            insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            now = utcnow()
            connection.execute(
                insert(table).on_conflict_do_nothing(index_elements=["external_id"]),
                [
                    {"external_id": xid, "email": wanted[xid][0], "language": wanted[xid][1], "created_at": now, "updated_at": now}
                    for xid in new
                ],
            )
            # Read the ids back: a concurrent writer may have inserted some of these first.
            self._load_customers(connection, new)
        fills = []
        for xid, (email, language) in wanted.items():
            known = self.customers[xid]
            if (email and not known.has_email) or (language and not known.has_language):
                fills.append({"c_id": known.id, "c_email": email, "c_language": language})
                known.has_email = known.has_email or bool(email)
                known.has_language = known.has_language or bool(language)
        if fills:
            now = utcnow()
            for row in fills:
                row["c_now"] = now
            # Fill what is empty; an address or language already on file is never overwritten.
            connection.execute(_FILL_EMPTY_CUSTOMER_FIELDS, sorted(fills, key=lambda row: row["c_id"]))

    def _load_customers(self, connection: Connection, external_ids: list[str]) -> None:
        table = Customer.__table__
        for start in range(0, len(external_ids), 5000):
            batch = external_ids[start : start + 5000]
            rows = connection.execute(
                select(
                    table.c.id,
                    table.c.external_id,
                    table.c.email.is_not(None).label("has_email"),
                    table.c.language.is_not(None).label("has_language"),
                ).where(table.c.external_id.in_(batch))
            )
            for row in rows:
                self.customers[row.external_id] = _KnownCustomer(row.id, bool(row.has_email), bool(row.has_language))

    def _insert_events_sqlite(self, connection: Connection, events: Iterable[ValidEvent]) -> int:
        table = CampaignEvent.__table__
        statement = sqlite_insert(table).values({name: bindparam(name) for name in _EVENT_COLUMNS})
        compiled = statement.on_conflict_do_nothing(index_elements=["source", "provider_event_id"]).compile(
            dialect=connection.dialect
        )
        # values() keeps the column order, so rows can be built as plain tuples in that order.
        assert tuple(compiled.positiontup or ()) == _EVENT_COLUMNS
        received = _sqlite_datetime(utcnow())
        customers = self.customers
        source = self.source
        rows = [
            (campaign_id, customers[external_id].id, source, event_id, type_, _sqlite_datetime(occurred_at), item_id, url,
             payload, received)
            for event_id, campaign_id, external_id, _email, _language, type_, occurred_at, item_id, url, payload in events
        ]
        # Driver-level executemany of the dialect's compiled INSERT ... ON CONFLICT DO NOTHING:
        # the values are already in SQLite's storage form, so no per-row type processing.
        cursor = connection.exec_driver_sql(str(compiled), rows)
        return max(cursor.rowcount, 0)

    def _insert_events_postgresql(self, connection: Connection, events: Iterable[ValidEvent]) -> int:
        raw = connection.connection.driver_connection
        assert raw is not None
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGING} ("
            "campaign_id integer, customer_id bigint, provider_event_id text, type text,"
            " occurred_at timestamptz, clicked_item_id integer, clicked_url text, payload text"
            ") ON COMMIT DELETE ROWS"
        )
        customers = self.customers
        with raw.cursor() as cursor:
            with cursor.copy(
                f"COPY {_PG_STAGING} (campaign_id, customer_id, provider_event_id, type, occurred_at,"
                " clicked_item_id, clicked_url, payload) FROM STDIN"
            ) as copy:
                for event in events:
                    copy.write_row(
                        (
                            event.campaign_id,
                            customers[event.customer_external_id].id,
                            event.provider_event_id,
                            event.type,
                            event.occurred_at,
                            event.clicked_item_id,
                            event.clicked_url,
                            event.payload_json,
                        )
                    )
        # Sorted by the conflict key, so two transactions inserting overlapping batches take
        # their locks in the same order and cannot deadlock.
        cursor_result = connection.exec_driver_sql(
            "INSERT INTO campaign_events (campaign_id, customer_id, source, provider_event_id, type,"
            " occurred_at, clicked_item_id, clicked_url, payload, received_at)"
            " SELECT campaign_id, customer_id, %(source)s, provider_event_id, type, occurred_at,"
            " clicked_item_id, clicked_url, payload::jsonb, %(received)s"
            f" FROM {_PG_STAGING} ORDER BY provider_event_id"
            " ON CONFLICT (source, provider_event_id) DO NOTHING",
            {"source": self.source, "received": utcnow()},
        )
        return max(cursor_result.rowcount, 0)

    def _apply_customer_states(self, connection: Connection, events: Sequence[ValidEvent]) -> None:
        earliest: dict[str, dict[int, datetime]] = {"bounced_at": {}, "opted_out_at": {}}
        for event in events:
            column = "bounced_at" if event.type == "bounced" else "opted_out_at" if event.type == "unsubscribed" else None
            if column is None:
                continue
            customer_id = self.customers[event.customer_external_id].id
            seen = earliest[column].get(customer_id)
            if seen is None or event.occurred_at < seen:
                earliest[column][customer_id] = event.occurred_at
        table = Customer.__table__
        for column_name, moments in earliest.items():
            if not moments:
                continue
            column = table.c[column_name]
            moment = bindparam("s_at", type_=UTCDateTime())
            # The earliest bounce or unsubscribe wins, whatever order the events arrive in.
            statement = (
                table.update()
                .where(table.c.id == bindparam("s_id"), or_(column.is_(None), column > moment))
                .values({column_name: moment})
            )
            connection.execute(statement, [{"s_id": key, "s_at": moments[key]} for key in sorted(moments)])


def valid_source_name(name: str) -> bool:
    """Tell whether a name can be a source: letters, digits, dot, dash, underscore; 80 at most."""
    return bool(SOURCE_NAME_RE.fullmatch(name))
