"""Reminders: at most two, only to invitees who have not answered, REMINDER_DAYS after the
invitation (default 3 and 7); none after an answer, an opt-out, a bounce or expiry.

A reminder carries a link of its own: a fresh random token, whose hash goes into reminder_links
(committed before the hand-over), so the first email's link, never stored, need not be rebuilt;
every earlier link keeps working until the invitation expires. It has its own Message-ID,
threaded under the invitation's. Claims work as for invitations, on the
'sent' rows: claimed_by and claimed_at mark the run sending a reminder, reminders_sent and
last_reminder_at are committed right after the server accepted it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from survey_app import mail
from survey_app.extensions import db
from survey_app.models import MAX_REMINDERS, Customer, Invitation, Response, utcnow
from survey_app.services.invitations import (
    MailRow,
    RenderAhead,
    SendReport,
    Sender,
    Ledger,
    claim,
    new_run_id,
    release_dead_claims,
    sender_session,
    setting,
)

log = logging.getLogger(__name__)


def reminder_days() -> list[int]:
    """Return the configured reminder days ([] for none).

    The value was checked at start-up (survey_app.config.refuse_unusable_settings).
    """
    return list(setting("REMINDER_DAYS"))


def due_conditions(now: datetime, days: list[int]) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of invitations whose next reminder is due at `now`."""
    if not days:
        return [Invitation.id.is_(None)]  # matches nothing: reminders are switched off
    due_by_number = []
    for number, day in enumerate(days):
        condition = and_(Invitation.reminders_sent == number, Invitation.sent_at <= now - timedelta(days=day))
        if number:
            # A run that starts late sends one reminder, not both at once.
            gap = timedelta(days=day - days[number - 1])
            condition = and_(condition, or_(Invitation.last_reminder_at.is_(None),
                                            Invitation.last_reminder_at <= now - gap))
        due_by_number.append(condition)
    blocked = exists().where(
        Customer.id == Invitation.customer_id,
        or_(Customer.opted_out_at.is_not(None), Customer.bounced_at.is_not(None),
            Customer.erased_at.is_not(None), Customer.email.is_(None)),
    )
    answered = exists().where(Response.invitation_id == Invitation.id)
    return [
        Invitation.state == "sent",
        Invitation.sent_at.is_not(None),
        # A reminder that was refused for good stops the reminders of that invitation.
        Invitation.failure_reason.is_(None),
        Invitation.reminders_sent < len(days),
        Invitation.expires_at > now,
        or_(*due_by_number),
        ~answered,
        ~blocked,
    ]


def count_due(now: datetime | None = None) -> dict[int, int]:
    """Return how many reminders are due now, per reminder number (1 or 2)."""
    now = utcnow() if now is None else now
    rows = db.session.execute(
        select(Invitation.reminders_sent, func.count())
        .where(*due_conditions(now, reminder_days()))
        .group_by(Invitation.reminders_sent)
    ).all()
    return {number + 1: count for number, count in rows}


def send_claimed_reminders(
    run_id: str, ids: list[int], sender: Sender, days: list[int], progress: Callable[[int], None] | None = None
) -> SendReport:
    """Send the next reminder of each claimed invitation, committing each as it is accepted
    (together with the next message's delivery-started marker, see invitations.Ledger)."""
    rows = MailRow.load(ids)
    # Read again under the claim: an answer or opt-out may have arrived since the claim query.
    answered = set(db.session.execute(select(Response.invitation_id).where(Response.invitation_id.in_(ids))).scalars())
    db.session.rollback()
    with Ledger(run_id) as ledger:
        return _send_reminders(rows, answered, ledger, sender, days, progress)


def _send_reminders(
    rows: list[MailRow], answered: set[int], ledger: Ledger, sender: Sender, days: list[int],
    progress: Callable[[int], None] | None,
) -> SendReport:
    report = SendReport()
    remaining = [row.id for row in rows]
    ahead = RenderAhead(lambda row, token: sender.renderer.render(row, token, reminder=row.reminders_sent + 1))
    following = dict(zip((row.id for row in rows), [*rows[1:], None]))
    for row in rows:
        now = utcnow()
        remaining.remove(row.id)
        number = row.reminders_sent + 1
        reason = row.blocked_reason(now) or ("answered" if row.id in answered else None)
        if reason is None and number > len(days):
            reason = "no reminder left"
        if reason is not None:
            ledger.release([row.id], state=None)
            report.cancelled += 1
        else:
            try:
                token_hash, message = ahead.take(row)
                if not ledger.started(row, now, token_hash, reminder=True):
                    report.deferred += 1  # another run took it over and sends it
                    if progress:
                        progress(1)
                    continue
                sender.deliver(message, meanwhile=lambda: ahead.prepare(following[row.id]))
            except mail.PermanentMailError as error:
                ledger.finish(row.id, {"failure_reason": f"reminder {number} refused: {error.reason}"})
                report.failed += 1
                report.failures.append((row.id, error.reason))
            except mail.TransientMailError as error:
                ledger.release([row.id, *remaining], state=None)
                report.deferred += 1 + len(remaining)
                report.stopped = f"mail server unavailable: {error.reason}"
                return report
            except mail.MailConfigurationError as error:
                ledger.release([row.id, *remaining], state=None)
                report.deferred += 1 + len(remaining)
                report.stopped = error.reason
                return report
            else:
                ledger.finish(row.id, {"reminders_sent": number, "last_reminder_at": now}, commit=False)
                report.sent += 1
        if progress:
            progress(1)
    return report


def send_due_reminders(
    *,
    limit: int | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    now: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
) -> SendReport:
    """Claim and send the reminders due now, batch by batch, until none are left (or `limit`)."""
    days = reminder_days()
    run_id = run_id or new_run_id()
    batch_size = int(batch_size or setting("MAIL_BATCH_SIZE"))
    report = SendReport()
    if not days:
        return report
    release_dead_claims()
    with sender_session() as sender:
        while limit is None or report.handled < limit:
            size = batch_size if limit is None else min(batch_size, limit - report.handled)
            moment = now()
            conditions: list[Any] = due_conditions(moment, days)
            ids = claim(run_id, size, conditions, set_state=None, now=moment)
            if not ids:
                break
            report.add(send_claimed_reminders(run_id, ids, sender, days, progress))
            if report.stopped:
                break
    log.info("reminder run %s: %d sent, %d failed, %d skipped, %d deferred",
             run_id, report.sent, report.failed, report.cancelled, report.deferred)
    return report
