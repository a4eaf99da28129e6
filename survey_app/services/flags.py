"""The researchers' flag workflow: acknowledge a flagged campaign, resolve it with a note.

A flag moves open -> acknowledged -> resolved (or straight from open to resolved), records who
moved it and when, and leaves an AuditEvent row per step. Resolved flags are never deleted: they
are the campaign's history of what was found and what was done about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import selectinload

from survey_app.database import start_write
from survey_app.extensions import db
from survey_app.models import AuditEvent, Campaign, CampaignVerdict, Flag, User, utcnow

MAX_NOTE_LENGTH = 2000


class FlagError(ValueError):
    """A flag cannot make the step asked for; the message says why, for the researcher."""


@dataclass(frozen=True)
class FlagEntry:
    flag: Flag
    campaign: Campaign
    reasons: list[str]


def open_flags() -> list[FlagEntry]:
    """Return every unresolved flag, open ones first, oldest first, with its verdict's reasons."""
    rows = db.session.execute(
        select(Flag, Campaign, CampaignVerdict.details)
        .join(Campaign, Campaign.id == Flag.campaign_id)
        .outerjoin(CampaignVerdict, CampaignVerdict.id == Flag.verdict_id)
        .where(Flag.state != "resolved")
        .options(selectinload(Flag.acknowledged_by))
        .order_by(case((Flag.state == "open", 0), else_=1), Flag.opened_at, Flag.id)
    ).all()
    return [
        FlagEntry(flag, campaign, [str(reason) for reason in (details or {}).get("reasons") or ()])
        for flag, campaign, details in rows
    ]


def _locked_flag(flag_id: int) -> Flag:
    # Both researchers pressing the button at once: the second waits and then sees the new state.
    flag = db.session.execute(
        select(Flag).where(Flag.id == flag_id).with_for_update()
    ).scalar_one_or_none()
    if flag is None:
        db.session.rollback()
        raise LookupError(f"no flag {flag_id}")
    return flag


def _actor(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        db.session.rollback()
        raise LookupError(f"no user {user_id}")
    return user


def _clean_note(note: str | None, required: bool) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise FlagError(f"Keep the note under {MAX_NOTE_LENGTH} characters.")
    if required and not text:
        raise FlagError("Say in a note what was done about it.")
    return text or None


def _audit(user: User, action: str, flag: Flag, from_state: str) -> None:
    db.session.add(AuditEvent(
        actor_id=user.id, actor_label=user.email, action=action, subject_type="flag", subject_id=flag.id,
        details={"campaign_id": flag.campaign_id, "from": from_state, "to": flag.state},
    ))


def acknowledge(flag_id: int, user_id: int, note: str | None = None) -> Flag:
    """Mark an open flag as seen by this user, now."""
    cleaned = _clean_note(note, required=False)
    start_write(db.session)
    flag = _locked_flag(flag_id)
    if flag.state != "open":
        db.session.rollback()
        raise FlagError(f"This flag is {flag.state} already.")
    user = _actor(user_id)
    flag.state = "acknowledged"
    flag.acknowledged_at = utcnow()
    flag.acknowledged_by_id = user.id
    if cleaned:
        flag.note = cleaned
    _audit(user, "flag.acknowledged", flag, "open")
    db.session.commit()
    return flag


def resolve(flag_id: int, user_id: int, note: str) -> Flag:
    """Close a flag with a note on what was done; an open flag counts as acknowledged too."""
    cleaned = _clean_note(note, required=True)
    start_write(db.session)
    flag = _locked_flag(flag_id)
    if flag.state == "resolved":
        db.session.rollback()
        raise FlagError("This flag is resolved already.")
    user = _actor(user_id)
    now = utcnow()
    previous = flag.state
    if flag.acknowledged_at is None:
        flag.acknowledged_at = now
        flag.acknowledged_by_id = user.id
    flag.state = "resolved"
    flag.resolved_at = now
    flag.resolved_by_id = user.id
    flag.note = cleaned
    _audit(user, "flag.resolved", flag, previous)
    db.session.commit()
    return flag


def audit_trail(flag_id: int) -> list[AuditEvent]:
    """Return the recorded steps of one flag, oldest first."""
    return list(db.session.execute(
        select(AuditEvent).where(AuditEvent.subject_type == "flag", AuditEvent.subject_id == flag_id)
        .order_by(AuditEvent.id)
    ).scalars())


def campaign_of(flag_id: int) -> int | None:
    """Return the id of the flag's campaign, or None when there is no such flag."""
    return db.session.execute(select(Flag.campaign_id).where(Flag.id == flag_id)).scalar_one_or_none()
