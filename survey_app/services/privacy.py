"""Privacy by design (AVG/GDPR): erasure on request, the access export, the retention purge, and
the suppression list that keeps an erased person from ever being invited again.

Erasure blanks what identifies a person (email, external id, first name, free-text comments, raw
event payloads and clicked URLs, outbox copies of emails) and keeps what is anonymous (scores,
finding categories, item links, event types and times), so campaign figures stay true. A keyed
hash of the address (and of the external id) goes onto the suppression list; ingestion and
eligibility consult it. See docs/privacy.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import String, bindparam, cast, delete, exists, func, literal, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from survey_app.database import start_write
from survey_app.services import import_rejects
from survey_app.extensions import db
from survey_app.models import (
    AuditEvent,
    CampaignEvent,
    CampaignVerdict,
    Customer,
    Invitation,
    ReminderLink,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
    Suppression,
    utcnow,
)
from survey_app.services.tokens import hash_token

log = logging.getLogger(__name__)

DEFAULT_COMMENT_DAYS = 365
DEFAULT_NONRESPONDENT_DAYS = 180
REASON_ERASED = "erased"
REASON_ERASED_ID = "erased-external-id"
ACTION_ERASED = "customer.erased"
ACTION_EXPORTED = "customer.exported"
ACTION_PURGED = "retention.purged"
# Unanswered invitations that may still be sent: erasure cancels them.
UNSENT_STATES = ("pending", "sending")
# Keeps IN lists well under SQLite's bound-parameter limit.
BATCH = 500
# Addresses inside an outbox file, found without knowing how the mail module names files.
_ADDRESS = re.compile(rb"[^\s@<>()\[\]\",;:]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}")
# Natural-key event ids are an unkeyed hash of the campaign, the customer id or email, and the
# time: a guessed address could be confirmed against them, so erasure replaces them.
NATURAL_KEY_PREFIX = "nk-"
ERASED_KEY_PREFIX = "nk-erased-"


class PrivacyError(ValueError):
    """A privacy request that cannot be carried out as asked; the message is safe to show."""


class CustomerNotFound(LookupError):
    """No stored customer matches the email or external id given."""


# --- the suppression list ---------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """Return an address in the form its hash is taken of: trimmed and lower-cased."""
    return email.strip().lower()


def suppression_key() -> bytes:
    """Return the key of the suppression hashes: SUPPRESSION_KEY, else SECRET_KEY."""
    key = current_app.config.get("SUPPRESSION_KEY") or current_app.config["SECRET_KEY"]
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def email_hash(email: str, key: bytes | None = None) -> str:
    """Return HMAC-SHA256(key, trimmed lower-cased email) as hex."""
    key = suppression_key() if key is None else key
    return hmac.new(key, normalize_email(email).encode("utf-8"), hashlib.sha256).hexdigest()


def external_id_hash(external_id: str, key: bytes | None = None) -> str:
    """Return the keyed hash under which an erased external id is suppressed.

    The prefix keeps it apart from email hashes: an address cannot contain ":" (ingestion
    refuses it), so no email hashes to the same value.
    """
    key = suppression_key() if key is None else key
    return hmac.new(key, f"external-id:{external_id.strip(' ')}".encode(), hashlib.sha256).hexdigest()


def suppressed_among(hashes: Iterable[str]) -> set[str]:
    """Return which of these hashes are on the suppression list (read in the caller's transaction)."""
    wanted = sorted(set(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start : start + BATCH]
        found.update(db.session.execute(select(Suppression.email_hash).where(Suppression.email_hash.in_(batch))).scalars())
    return found


def is_suppressed(email: str) -> bool:
    """Tell whether an address must never be invited again."""
    return bool(suppressed_among([email_hash(email)]))


def _add_suppressions(rows: dict[str, str]) -> int:
    """Insert hash -> reason rows that are missing; return how many were new."""
    if not rows:
        return 0
    known = suppressed_among(rows)
    new = [{"email_hash": digest, "reason": reason, "created_at": utcnow()} for digest, reason in sorted(rows.items())
           if digest not in known]
    if not new:
        return 0
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # A concurrent erasure of the same person may have added the row since we looked.
    db.session.execute(insert(Suppression.__table__).on_conflict_do_nothing(index_elements=["email_hash"]), new)
    return len(new)


# --- settings --------------------------------------------------------------------------------


def _days_setting(name: str, default: int) -> int | None:
    """Return a retention period in days, or None to keep forever (0 or None).

    The value was checked at start-up (survey_app.config.refuse_unusable_settings).
    """
    value = current_app.config.get(name, default)
    return None if not value else int(value)


@dataclass(frozen=True)
class RetentionPolicy:
    """The retention periods in force and what the suppression list and audit trail hold."""

    comment_days: int | None
    nonrespondent_days: int | None
    suppressed: int
    erasures: int
    last_purge_at: datetime | None
    last_purge: dict[str, Any]
    dedicated_key: bool


def retention_policy() -> RetentionPolicy:
    """Return the policy in force, for the dashboard."""
    suppressed = db.session.execute(
        select(func.count()).select_from(Suppression).where(Suppression.reason != REASON_ERASED_ID)
    ).scalar_one()
    erasures = db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == ACTION_ERASED)
    ).scalar_one()
    last = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == ACTION_PURGED).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    return RetentionPolicy(
        comment_days=_days_setting("RETENTION_COMMENT_DAYS", DEFAULT_COMMENT_DAYS),
        nonrespondent_days=_days_setting("RETENTION_NONRESPONDENT_DAYS", DEFAULT_NONRESPONDENT_DAYS),
        suppressed=suppressed,
        erasures=erasures,
        last_purge_at=last.occurred_at if last else None,
        last_purge=dict(last.details or {}) if last else {},
        dedicated_key=bool(current_app.config.get("SUPPRESSION_KEY")),
    )


# --- scrubbing, shared by erasure and purge --------------------------------------------------


@dataclass
class ScrubCounts:
    """What one scrub changed; only counts, so it can go into the audit trail."""

    customers: int = 0
    responses: int = 0
    comments: int = 0
    events: int = 0
    invitations_cancelled: int = 0
    invitations_revoked: int = 0
    verdicts: int = 0
    campaigns: set[int] = field(default_factory=set)

    def as_details(self) -> dict[str, int]:
        return {
            "customers": self.customers,
            "responses": self.responses,
            "comments": self.comments,
            "events": self.events,
            "invitations_cancelled": self.invitations_cancelled,
            "invitations_revoked": self.invitations_revoked,
            "verdicts": self.verdicts,
        }


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start : start + BATCH])


def _anonymise_responses(response_ids: Sequence[int], counts: ScrubCounts) -> None:
    """Blank the comments and everything derived from their text; keep scores and categories.

    The revision is left alone on purpose: a bumped revision would make `analyze` re-read the
    empty text and drop the findings, and with them the campaign's figures.
    """
    texts: set[str] = set()
    for batch in _chunks(response_ids):
        rows = db.session.execute(
            select(Response.id, Response.comment, Invitation.campaign_id)
            .join(Invitation, Invitation.id == Response.invitation_id)
            .where(Response.id.in_(batch))
        ).all()
        counts.responses += len(rows)
        counts.campaigns.update(row.campaign_id for row in rows)
        texts.update(row.comment for row in rows if row.comment)
        counts.comments += sum(1 for row in rows if row.comment)
        db.session.execute(
            update(Response)
            .where(Response.id.in_(batch), Response.comment_erased_at.is_(None))
            .values(comment="", comment_erased_at=utcnow())
        )
        analyses = select(ResponseAnalysis.id).where(ResponseAnalysis.response_id.in_(batch))
        # Keywords are lemmas of the comment; spans point into text that no longer exists.
        db.session.execute(update(ResponseAnalysis).where(ResponseAnalysis.response_id.in_(batch)).values(keywords=[]))
        for model in (ResponseFinding, ResponseItemMention):
            db.session.execute(
                update(model).where(model.analysis_id.in_(analyses), or_(model.span_start != 0, model.span_end != 0))
                .values(span_start=0, span_end=0)
            )
    if texts:
        _scrub_verdicts(counts.campaigns, texts, counts)


def _without_texts(value: Any, texts: set[str]) -> tuple[Any, bool]:
    """Return a JSON value without any quote of the given texts, and whether anything went."""
    if isinstance(value, str):
        return ("", True) if value in texts else (value, False)
    if isinstance(value, list):
        kept, changed = [], False
        for entry in value:
            if isinstance(entry, dict) and (entry.get("text") in texts or entry.get("excerpt") in texts):
                changed = True
                continue
            new, entry_changed = _without_texts(entry, texts)
            kept.append(new)
            changed = changed or entry_changed
        return kept, changed
    if isinstance(value, dict):
        result, changed = {}, False
        for key, entry in value.items():
            result[key], entry_changed = _without_texts(entry, texts)
            changed = changed or entry_changed
        return result, changed
    return value, False


def _scrub_verdicts(campaign_ids: Iterable[int], texts: set[str], counts: ScrubCounts) -> None:
    """Remove the evidence quotes of anonymised comments from every stored verdict, old ones too."""
    for batch in _chunks(sorted(campaign_ids)):
        for verdict in db.session.execute(
            select(CampaignVerdict).where(CampaignVerdict.campaign_id.in_(batch))
        ).scalars():
            details, changed = _without_texts(verdict.details or {}, texts)
            if changed:
                verdict.details = details
                counts.verdicts += 1
    db.session.flush()


def _scrub_customers(customer_ids: Sequence[int], now: datetime, counts: ScrubCounts) -> None:
    """Remove every personal value of these customers, keeping the anonymous rows behind the figures."""
    if not customer_ids:
        return
    for batch in _chunks(customer_ids):
        response_ids = db.session.execute(
            select(Response.id).join(Invitation, Invitation.id == Response.invitation_id)
            .where(Invitation.customer_id.in_(batch)).order_by(Response.id)
        ).scalars().all()
        _anonymise_responses(response_ids, counts)
        events = db.session.execute(
            update(CampaignEvent).where(CampaignEvent.customer_id.in_(batch)).values(payload=null(), clicked_url=None)
        )
        counts.events += max(events.rowcount or 0, 0)
        db.session.execute(
            update(CampaignEvent)
            .where(
                CampaignEvent.customer_id.in_(batch),
                CampaignEvent.provider_event_id.startswith(NATURAL_KEY_PREFIX, autoescape=True),
                ~CampaignEvent.provider_event_id.startswith(ERASED_KEY_PREFIX, autoescape=True),
            )
            .values(provider_event_id=literal(ERASED_KEY_PREFIX) + cast(CampaignEvent.id, String))
        )
        cancelled = db.session.execute(
            update(Invitation)
            .where(Invitation.customer_id.in_(batch), Invitation.state.in_(UNSENT_STATES))
            .values(state="cancelled", claimed_by=None, claimed_at=None)
        )
        counts.invitations_cancelled += max(cancelled.rowcount or 0, 0)
        invitation_ids = db.session.execute(
            select(Invitation.id).where(Invitation.customer_id.in_(batch)).order_by(Invitation.id)
        ).scalars().all()
        if invitation_ids:
            # A fresh hash of a token nobody holds: the emailed link stops working, the row stays.
            db.session.execute(
                update(Invitation.__table__)
                .where(Invitation.__table__.c.id == bindparam("i_id"))
                .values(token_hash=bindparam("i_hash"), failure_reason=None),
                [{"i_id": invitation_id, "i_hash": hash_token(secrets.token_urlsafe(32))} for invitation_id in invitation_ids],
            )
            # The reminders' links die with it.
            db.session.execute(delete(ReminderLink).where(ReminderLink.invitation_id.in_(invitation_ids)))
            counts.invitations_revoked += len(invitation_ids)
        customers = db.session.execute(
            update(Customer)
            .where(Customer.id.in_(batch))
            .values(email=None, external_id=None, first_name=None,
                    erased_at=func.coalesce(Customer.erased_at, now), updated_at=now)
        )
        counts.customers += max(customers.rowcount or 0, 0)


# --- outbox files ----------------------------------------------------------------------------


def outbox_directory() -> Path | None:
    """Return the outbox folder, or None when it is not configured."""
    directory = current_app.config.get("MAIL_OUTBOX_DIR")
    return Path(directory) if directory else None


def _addresses_in(data: bytes) -> set[str]:
    """Return every address in an .eml file: raw text, and the decoded recipient headers."""
    found = {match.decode("utf-8", "replace").lower() for match in _ADDRESS.findall(data)}
    message = message_from_bytes(data, policy=policy.default)
    for header in ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To"):
        for _name, address in getaddresses([str(value) for value in message.get_all(header, [])]):
            if address:
                found.add(address.lower())
    return found


def outbox_files_for(addresses: Iterable[str]) -> list[Path]:
    """Return the outbox .eml files that mention any of these addresses."""
    wanted = {normalize_email(address) for address in addresses if address}
    directory = outbox_directory()
    if not wanted or directory is None or not directory.is_dir():
        return []
    matches = []
    for path in sorted(directory.rglob("*.eml")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if _addresses_in(data) & wanted:
            matches.append(path)
    return matches


def _delete_files(paths: Iterable[Path]) -> int:
    deleted = 0
    for path in set(paths):
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


# --- erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did, in counts."""

    customers: int
    responses: int
    comments: int
    events: int
    invitations_cancelled: int
    invitations_revoked: int
    suppressions_added: int
    outbox_files: int
    campaigns: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return bool(self.customers or self.suppressions_added or self.outbox_files)


def _identifier(email: str | None, external_id: str | None) -> tuple[str | None, str | None]:
    email = normalize_email(email) if email and email.strip() else None
    external_id = external_id.strip(" ") if external_id and external_id.strip(" ") else None
    if (email is None) == (external_id is None):
        raise PrivacyError("give exactly one of an email address or an external id")
    if email is not None and ("@" not in email or any(character.isspace() for character in email)):
        raise PrivacyError("that is not an email address")
    return email, external_id


def _customers_matching(email: str | None, external_id: str | None, *, lock: bool = False) -> list[Customer]:
    query = select(Customer).order_by(Customer.id)
    if email is not None:
        # Email is not unique: one address can belong to several customer records.
        query = query.where(func.lower(func.trim(Customer.email)) == email)
    else:
        query = query.where(Customer.external_id == external_id)
    if lock:
        query = query.with_for_update()
    return list(db.session.execute(query).scalars())


@dataclass(frozen=True)
class ErasurePreview:
    """What an erasure would touch, shown before an admin confirms it."""

    customers: int
    responses: int
    events: int
    invitations: int
    already_suppressed: bool


def erasure_preview(*, email: str | None = None, external_id: str | None = None) -> ErasurePreview:
    """Count what erasing this person would touch, changing nothing."""
    email, external_id = _identifier(email, external_id)
    ids = [customer.id for customer in _customers_matching(email, external_id)]
    def count(query: Any) -> int:
        return db.session.execute(query).scalar_one() if ids else 0
    digest = email_hash(email) if email else external_id_hash(external_id or "")
    preview = ErasurePreview(
        customers=len(ids),
        responses=count(select(func.count(Response.id)).join(Invitation, Invitation.id == Response.invitation_id)
                        .where(Invitation.customer_id.in_(ids))),
        events=count(select(func.count(CampaignEvent.id)).where(CampaignEvent.customer_id.in_(ids))),
        invitations=count(select(func.count(Invitation.id)).where(Invitation.customer_id.in_(ids))),
        already_suppressed=bool(suppressed_among([digest])),
    )
    db.session.rollback()
    return preview


def erase_customer(
    *,
    email: str | None = None,
    external_id: str | None = None,
    actor_id: int | None = None,
    actor_label: str = "cli",
) -> ErasureResult:
    """Erase a person's personal data, suppress their address, and record the erasure.

    All database changes happen in one transaction; outbox files are deleted after the commit,
    so a failed erasure leaves them for the retry. Running it again changes nothing.
    """
    email, external_id = _identifier(email, external_id)
    key = suppression_key()
    now = utcnow()
    start_write(db.session)
    try:
        customers = _customers_matching(email, external_id, lock=True)
        addresses = {normalize_email(c.email) for c in customers if c.email and c.email.strip()}
        external_ids = {c.external_id for c in customers if c.external_id}
        if email:
            addresses.add(email)
        if external_id:
            external_ids.add(external_id)
        suppress = {email_hash(address, key): REASON_ERASED for address in addresses}
        suppress.update({external_id_hash(xid, key): REASON_ERASED_ID for xid in external_ids})
        outbox_before = outbox_files_for(addresses)
        totals = ScrubCounts()
        for customer in customers:
            counts = ScrubCounts()
            _scrub_customers([customer.id], now, counts)
            totals.campaigns |= counts.campaigns
            for name, value in counts.as_details().items():
                setattr(totals, name, getattr(totals, name) + value)
            db.session.add(AuditEvent(
                actor_id=actor_id, actor_label=actor_label[:254], action=ACTION_ERASED,
                subject_type="customer", subject_id=customer.id,
                details={**counts.as_details(), "outbox_files": len(outbox_before),
                         "matched_by": "email" if email else "external_id"},
            ))
        added = _add_suppressions(suppress)
        # Kept upload rejects may hold the address in any column; they are a convenience, so
        # all go rather than a search through them.
        import_rejects.delete_all()
        if not customers and (added or outbox_before):
            # Nobody stored under this identifier, but the request still blocks future imports.
            db.session.add(AuditEvent(
                actor_id=actor_id, actor_label=actor_label[:254], action=ACTION_ERASED, subject_type="customer",
                subject_id=None,
                details={"customers": 0, "suppressions_added": added, "outbox_files": len(outbox_before),
                         "matched_by": "email" if email else "external_id"},
            ))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    # After the commit no sender can read the address any more, so a second scan finds every copy.
    deleted = _delete_files([*outbox_before, *outbox_files_for(addresses)])
    _refresh_verdicts(totals.campaigns)
    result = ErasureResult(
        customers=totals.customers, responses=totals.responses, comments=totals.comments, events=totals.events,
        invitations_cancelled=totals.invitations_cancelled, invitations_revoked=totals.invitations_revoked,
        suppressions_added=added, outbox_files=deleted, campaigns=tuple(sorted(totals.campaigns)),
    )
    log.info("erasure: %d customer records, %d comments, %d outbox files", result.customers, result.comments, deleted)
    return result


def _refresh_verdicts(campaign_ids: Iterable[int]) -> None:
    """Store a fresh verdict for each campaign, so the current one quotes no erased comment."""
    from survey_app.services.analysis import recompute_verdict

    for campaign_id in sorted(campaign_ids):
        recompute_verdict(campaign_id)


# --- access ----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def export_customer(
    *, email: str | None = None, external_id: str | None = None, actor_id: int | None = None, actor_label: str = "cli"
) -> dict[str, Any]:
    """Return everything stored about a person as JSON-ready data, and record the request."""
    email, external_id = _identifier(email, external_id)
    start_write(db.session)
    try:
        customers = _customers_matching(email, external_id)
        if not customers:
            raise CustomerNotFound("no stored customer matches that identifier")
        digests = [email_hash(c.email) for c in customers if c.email]
        document: dict[str, Any] = {
            "exported_at": _iso(utcnow()),
            "suppressed": bool(suppressed_among(digests)),
            "customers": [_customer_document(customer) for customer in customers],
        }
        for customer, entry in zip(customers, document["customers"], strict=True):
            db.session.add(AuditEvent(
                actor_id=actor_id, actor_label=actor_label[:254], action=ACTION_EXPORTED, subject_type="customer",
                subject_id=customer.id,
                details={"events": len(entry["events"]), "invitations": len(entry["invitations"])},
            ))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return document


def _customer_document(customer: Customer) -> dict[str, Any]:
    events = db.session.execute(
        select(CampaignEvent).where(CampaignEvent.customer_id == customer.id).order_by(CampaignEvent.occurred_at, CampaignEvent.id)
    ).scalars()
    invitations = db.session.execute(
        select(Invitation).where(Invitation.customer_id == customer.id).order_by(Invitation.id)
    ).scalars()
    audit = db.session.execute(
        select(AuditEvent).where(AuditEvent.subject_type == "customer", AuditEvent.subject_id == customer.id)
        .order_by(AuditEvent.id)
    ).scalars()
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "language": customer.language,
        "created_at": _iso(customer.created_at),
        "updated_at": _iso(customer.updated_at),
        "opted_out_at": _iso(customer.opted_out_at),
        "bounced_at": _iso(customer.bounced_at),
        "last_invited_at": _iso(customer.last_invited_at),
        "erased_at": _iso(customer.erased_at),
        "events": [
            {
                "campaign": event.campaign.key, "type": event.type, "occurred_at": _iso(event.occurred_at),
                "source": event.source, "provider_event_id": event.provider_event_id,
                "clicked_item": event.clicked_item.label if event.clicked_item else None,
                "clicked_url": event.clicked_url, "payload": event.payload, "received_at": _iso(event.received_at),
            }
            for event in events
        ],
        "invitations": [_invitation_document(invitation) for invitation in invitations],
        "audit": [
            {"occurred_at": _iso(entry.occurred_at), "action": entry.action, "details": entry.details}
            for entry in audit
        ],
    }


def _invitation_document(invitation: Invitation) -> dict[str, Any]:
    response = invitation.response
    document: dict[str, Any] = {
        "campaign": invitation.campaign.key, "state": invitation.state, "language": invitation.language,
        "created_at": _iso(invitation.created_at), "sent_at": _iso(invitation.sent_at),
        "opened_at": _iso(invitation.opened_at), "expires_at": _iso(invitation.expires_at),
        "reminders_sent": invitation.reminders_sent, "last_reminder_at": _iso(invitation.last_reminder_at),
        "response": None,
    }
    if response is not None:
        analysis = response.analysis
        document["response"] = {
            "score": response.score, "comment": response.comment, "language": response.language,
            "answered_at": _iso(response.answered_at), "updated_at": _iso(response.updated_at),
            "analysis": None if analysis is None else {
                "language": analysis.language, "polarity": analysis.polarity,
                "subjectivity": analysis.subjectivity, "broken_promise": analysis.broken_promise,
                "keywords": list(analysis.keywords or ()), "analyzed_at": _iso(analysis.analyzed_at),
                "findings": [
                    {"category": f.category, "item": f.promised_item.label if f.promised_item else None,
                     "span": [f.span_start, f.span_end], "confidence": f.confidence}
                    for f in analysis.findings
                ],
                "mentions": [
                    {"item": m.promised_item.label if m.promised_item else None, "city": m.city,
                     "span": [m.span_start, m.span_end]}
                    for m in analysis.mentions
                ],
            },
        }
    return document


# --- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeReport:
    """What a purge did, or with dry_run what it would do."""

    dry_run: bool
    comment_days: int | None
    nonrespondent_days: int | None
    comments: int
    customers: int
    events: int
    outbox_files: int
    # Upload rejects past their keeping period (services/import_rejects.py); not counted by a dry run.
    import_rejects: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.comments or self.customers or self.outbox_files or self.import_rejects)


def _old_comments(cutoff: datetime) -> list[int]:
    return list(db.session.execute(
        select(Response.id).where(Response.comment != "", Response.updated_at < cutoff).order_by(Response.id)
    ).scalars())


def _old_nonrespondents(cutoff: datetime) -> list[int]:
    """Return customers who never answered and whose last event and invitation are older than cutoff."""
    answered = exists().where(
        Invitation.customer_id == Customer.id, Response.invitation_id == Invitation.id
    )
    recent_event = exists().where(CampaignEvent.customer_id == Customer.id, CampaignEvent.occurred_at >= cutoff)
    recent_invitation = exists().where(
        Invitation.customer_id == Customer.id,
        or_(Invitation.created_at >= cutoff, Invitation.sent_at >= cutoff, Invitation.last_reminder_at >= cutoff),
    )
    any_activity = or_(
        exists().where(CampaignEvent.customer_id == Customer.id),
        exists().where(Invitation.customer_id == Customer.id),
    )
    return list(db.session.execute(
        select(Customer.id)
        .where(
            Customer.erased_at.is_(None), ~answered, ~recent_event, ~recent_invitation,
            # A customer with no activity at all dates from when it was stored.
            or_(any_activity, Customer.created_at < cutoff),
        )
        .order_by(Customer.id)
    ).scalars())


def purge(*, now: datetime | None = None, dry_run: bool = False, actor_label: str = "system") -> PurgeReport:
    """Apply the retention periods: anonymise old comments, erase long-silent non-respondents.

    Non-respondents are erased as on request (no address, external id or name; events kept
    anonymous, so funnel figures stay true) but not suppressed: they never asked to be. A
    second run finds nothing left to do.
    """
    now = utcnow() if now is None else now
    comment_days = _days_setting("RETENTION_COMMENT_DAYS", DEFAULT_COMMENT_DAYS)
    nonrespondent_days = _days_setting("RETENTION_NONRESPONDENT_DAYS", DEFAULT_NONRESPONDENT_DAYS)
    start_write(db.session)
    try:
        comment_ids = _old_comments(now - timedelta(days=comment_days)) if comment_days else []
        customer_ids = _old_nonrespondents(now - timedelta(days=nonrespondent_days)) if nonrespondent_days else []
        addresses: set[str] = set()
        for batch in _chunks(customer_ids):
            addresses.update(normalize_email(email) for email in db.session.execute(
                select(Customer.email).where(Customer.id.in_(batch), Customer.email.is_not(None))
            ).scalars())
        outbox = outbox_files_for(addresses)
        counts = ScrubCounts()
        events = 0
        rejects = 0
        if not dry_run:
            _anonymise_responses(comment_ids, counts)
            _scrub_customers(customer_ids, now, counts)
            events = counts.events
            rejects = import_rejects.delete_expired(now=now)
            if comment_ids or customer_ids or outbox:
                db.session.add(AuditEvent(
                    actor_label=actor_label, action=ACTION_PURGED, subject_type="retention", subject_id=None,
                    details={**counts.as_details(), "comments": len(comment_ids), "customers": len(customer_ids),
                             "outbox_files": len(outbox), "comment_days": comment_days,
                             "nonrespondent_days": nonrespondent_days},
                ))
            db.session.commit()
        else:
            if customer_ids:
                events = sum(
                    db.session.execute(
                        select(func.count(CampaignEvent.id)).where(CampaignEvent.customer_id.in_(batch))
                    ).scalar_one()
                    for batch in _chunks(customer_ids)
                )
            db.session.rollback()
    except BaseException:
        db.session.rollback()
        raise
    deleted = 0
    if not dry_run:
        deleted = _delete_files([*outbox, *outbox_files_for(addresses)])
        _refresh_verdicts(counts.campaigns if counts.verdicts else ())
    return PurgeReport(
        dry_run=dry_run, comment_days=comment_days, nonrespondent_days=nonrespondent_days,
        comments=len(comment_ids), customers=len(customer_ids), events=events,
        outbox_files=len(outbox) if dry_run else deleted, import_rejects=rejects,
    )


def suppressed_customer_ids(emails: dict[int, str | None]) -> set[int]:
    """Return the ids (of an id -> email mapping) whose address is on the suppression list."""
    key = suppression_key()
    hashes = {customer_id: email_hash(email, key) for customer_id, email in emails.items() if email}
    found = suppressed_among(hashes.values())
    return {customer_id for customer_id, digest in hashes.items() if digest in found}


__all__ = [
    "CustomerNotFound",
    "ErasurePreview",
    "ErasureResult",
    "PrivacyError",
    "PurgeReport",
    "RetentionPolicy",
    "email_hash",
    "erase_customer",
    "erasure_preview",
    "export_customer",
    "external_id_hash",
    "is_suppressed",
    "normalize_email",
    "outbox_files_for",
    "purge",
    "retention_policy",
    "suppressed_among",
    "suppressed_customer_ids",
    "suppression_key",
]
