"""Signed webhook deliveries of events, and the sources that send them.

A source's secret is never stored: it is HMAC-SHA256(SECRET_KEY, "webhook-source:<name>:<salt>"),
so rotating SECRET_KEY rotates every webhook secret, and `rotate_source` issues a new salt
for one source. A delivery is authenticated over the raw request bytes before its body is
parsed; see docs/ingestion.md for the recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from survey_app.extensions import db
from survey_app.models import EventSource
from survey_app.services.events import (
    Catalog,
    EventValidator,
    EventWriter,
    StoreResult,
    ValidEvent,
    valid_source_name,
)

SOURCE_HEADER = "X-Survey-App-Source"
TIMESTAMP_HEADER = "X-Survey-App-Timestamp"
SIGNATURE_HEADER = "X-Survey-App-Signature"
SIGNATURE_PREFIX = "sha256="
DEFAULT_MAX_BATCH = 1000
DEFAULT_TOLERANCE_SECONDS = 300
_SALT_BYTES = 16


class SourceError(ValueError):
    """A source could not be created or changed as asked."""


class Unauthorized(Exception):
    """The delivery is not signed by an active source within the time window."""


class BadBatch(ValueError):
    """The body is not a batch of events: {"events": [...]}."""


class BatchTooLarge(ValueError):
    """The batch holds more events than the configured maximum."""


def derive_secret(secret_key: str | bytes, name: str, salt: str) -> str:
    """Return a source's webhook secret (hex) from the app key, its name and its salt."""
    key = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
    message = f"webhook-source:{name}:{salt}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the X-Survey-App-Signature value for a body sent at a timestamp."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def create_source(name: str, secret_key: str | bytes) -> str:
    """Create an active event source and return its secret, which is shown once."""
    if not valid_source_name(name):
        raise SourceError(f"invalid source name {name!r}: letters, digits, '.', '-', '_', at most 80")
    salt = secrets.token_hex(_SALT_BYTES)
    db.session.add(EventSource(name=name, secret_salt=salt, active=True))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise SourceError(f"a source named {name!r} exists already") from None
    return derive_secret(secret_key, name, salt)


def rotate_source(name: str, secret_key: str | bytes) -> str:
    """Give a source a new salt, which invalidates its old secret, and return the new secret."""
    source = db.session.execute(db.select(EventSource).filter_by(name=name)).scalar_one_or_none()
    if source is None:
        db.session.rollback()
        raise SourceError(f"no source named {name!r}")
    source.secret_salt = secrets.token_hex(_SALT_BYTES)
    salt = source.secret_salt
    db.session.commit()
    return derive_secret(secret_key, name, salt)


def verify_delivery(
    *,
    source_name: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    secret_key: str | bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Return the source name when the delivery is authentic and fresh, else raise Unauthorized."""
    for header, value in ((SOURCE_HEADER, source_name), (TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)):
        if not value:
            raise Unauthorized(f"missing {header} header")
    assert source_name is not None and timestamp is not None and signature is not None
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthorized(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise Unauthorized(f"{TIMESTAMP_HEADER} is more than {tolerance} seconds from our clock")
    source = None
    if valid_source_name(source_name):
        source = db.session.execute(
            db.select(EventSource.name, EventSource.secret_salt, EventSource.active).filter_by(name=source_name)
        ).one_or_none()
    db.session.rollback()  # end the read; storing starts its own write transaction
    # An unknown source costs the same HMAC as a known one and fails with the same message.
    salt = source.secret_salt if source is not None else secrets.token_hex(_SALT_BYTES)
    expected = sign(derive_secret(secret_key, source_name, salt), timestamp, body)
    matches = hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))
    if source is None or not source.active or not matches:
        raise Unauthorized("signature verification failed (unknown or inactive source, wrong secret, or altered body)")
    return str(source.name)


def parse_batch(body: bytes, max_batch: int = DEFAULT_MAX_BATCH) -> list[dict[str, Any]]:
    """Return the events of an authenticated body, or raise BadBatch / BatchTooLarge."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadBatch("the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise BadBatch('the body must be a JSON object {"events": [...]}')
    events = document["events"]
    if len(events) > max_batch:
        raise BatchTooLarge(f"the batch holds {len(events)} events; at most {max_batch} are accepted per request")
    return events


@dataclass
class BatchOutcome:
    """Either the counts of a stored batch, or per-event errors and nothing stored."""

    result: StoreResult | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def ingest_batch(source: str, events: list[Any], default_zone: str | None = None) -> BatchOutcome:
    """Validate a whole batch; store it in one transaction only when every event is valid."""
    session = db.session()
    keys = [event.get("campaign") for event in events if isinstance(event, dict) and isinstance(event.get("campaign"), str)]
    catalog = Catalog.load(session, [key.strip(" ") for key in keys])
    session.rollback()
    validator = EventValidator(catalog, **({"default_zone": default_zone} if default_zone else {}))
    outcome = BatchOutcome()
    valid: list[ValidEvent] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            outcome.errors.append({"index": index, "field": None, "reason": "an event must be a JSON object"})
            continue
        checked = validator.validate(event, event)
        if isinstance(checked, ValidEvent):
            valid.append(checked)
        else:
            outcome.errors.extend({"index": index, "field": error.field, "reason": error.reason} for error in checked)
    if outcome.errors:
        return outcome
    outcome.result = EventWriter(session, source).write(valid)
    return outcome
