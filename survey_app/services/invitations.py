"""Survey invitations: create them for the eligible customers of a campaign, email them exactly
once, and let a customer opt out of every survey in one click.

Exactly once, in short (docs/sending.md has the long version): a sending run claims a batch of
pending invitations in one transaction (state 'sending', claimed_by = the run), then commits each
invitation as 'sent' right after the mail server accepted it. Another run only takes 'sending'
rows whose claim is stale: the run that claimed them is a dead process on this host, or the claim
is older than MAIL_CLAIM_TIMEOUT_SECONDS. Such a row is sent again with the same Message-ID.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from typing import Any

from flask import current_app
from flask_babel import force_locale, format_date, get_timezone
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import escape
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from survey_app import mail
from survey_app.database import start_write
from survey_app.extensions import db
from survey_app.models import Campaign, Customer, Invitation, ReminderLink, Response, utcnow
from survey_app.services.eligibility import EligibilityReport, eligibility_report, eligible_customers
from survey_app.services.privacy import email_hash, suppressed_among
from survey_app.services.tokens import hash_token, new_token
from survey_app.slots import Slots

log = logging.getLogger(__name__)

# Settings this feature reads, with their defaults (each can be set like any other setting).
INSERT_CHUNK = 1000
UNSUBSCRIBE_SALT = "survey_app.unsubscribe"


def setting(name: str) -> Any:
    """Return a sending setting from the app config (defaults in default_settings.py)."""
    return current_app.config[name]


# --- tokens -------------------------------------------------------------------------------


# Survey tokens come from services/tokens.new_token, one fresh token per email; only their
# SHA-256 is stored, committed before the email is handed to the mail server (see
# Ledger.started), so every link that may have gone out resolves.


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(invitation_id: int) -> str:
    """Return the signed, hard-to-forge token of an invitation's unsubscribe link."""
    return str(_unsubscribe_serializer().dumps(invitation_id))


def unsubscribe_invitation_id(token: str) -> int | None:
    """Return the invitation id an unsubscribe token was signed for, or None when forged."""
    try:
        value = _unsubscribe_serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- creating invitations -----------------------------------------------------------------


@dataclass(frozen=True)
class InvitationPlan:
    """What send-invitations would do now: the eligibility counts and how many it would create."""

    report: EligibilityReport
    to_create: int
    pending: int


def pending_count(campaign_id: int | None = None) -> int:
    """Return how many invitations wait to be sent (including those of a stopped run)."""
    query = select(func.count()).select_from(Invitation).where(Invitation.state.in_(("pending", "sending")))
    if campaign_id is not None:
        query = query.where(Invitation.campaign_id == campaign_id)
    return db.session.execute(query).scalar_one()


def plan_invitations(campaign_id: int, *, limit: int | None = None, now: datetime | None = None) -> InvitationPlan:
    """Return what sending would do for a campaign, writing nothing."""
    report = eligibility_report(campaign_id, now=now)
    to_create = report.selected if limit is None else min(limit, report.selected)
    return InvitationPlan(report, to_create, pending_count(campaign_id))


def create_invitations(
    campaign_id: int, *, limit: int | None = None, now: datetime | None = None, seed: int = 0
) -> int:
    """Create pending invitations for the campaign's eligible customers; return how many.

    Safe to run twice at once: the campaign row is locked (BEGIN IMMEDIATE on SQLite, FOR UPDATE
    on PostgreSQL) before eligibility is read, so the second run sees the first one's invitations
    and the cap holds; ON CONFLICT DO NOTHING on (campaign, customer) backs that up.
    """
    now = utcnow() if now is None else now
    start_write(db.session)
    campaign = db.session.execute(
        select(Campaign.id, Campaign.language).where(Campaign.id == campaign_id).with_for_update()
    ).one()
    customers = eligible_customers(campaign_id, now=now, seed=seed)
    if limit is not None:
        customers = customers[: max(0, limit)]
    expires_at = now + timedelta(days=int(current_app.config["INVITATION_EXPIRY_DAYS"]))
    rows = [
        {
            "campaign_id": campaign_id,
            "customer_id": customer.id,
            # A hash of a token nobody holds (the column is NOT NULL UNIQUE): the emailed token
            # is made when the email is rendered, and its hash replaces this one.
            "token_hash": new_token()[1],
            "state": "pending",
            "language": customer.language or campaign.language,
            "created_at": now,
            "expires_at": expires_at,
            "reminders_sent": 0,
            "send_attempts": 0,
        }
        for customer in customers
    ]
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Invitation.__table__)
        .on_conflict_do_nothing(index_elements=["campaign_id", "customer_id"])
        .returning(Invitation.__table__.c.id)
    )
    connection = db.session.connection()
    created = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        # RETURNING counts the rows really inserted, on both databases, with executemany.
        created += len(connection.execute(statement, rows[start:start + INSERT_CHUNK]).all())
    db.session.commit()
    log.info("created %d invitations for campaign %s", created, campaign_id)
    return created


# --- rendering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MailRow:
    """Everything one email needs, read in one query with the claim."""

    id: int
    campaign_id: int
    customer_id: int
    created_at: datetime
    expires_at: datetime
    token_hash: str
    language: str | None
    reminders_sent: int
    send_attempts: int
    email: str | None
    first_name: str | None
    customer_language: str | None
    opted_out_at: datetime | None
    bounced_at: datetime | None
    erased_at: datetime | None
    subject: str | None
    sender: str | None
    campaign_language: str
    message_id: str | None
    # On the suppression list (an erased person's address): never email it, whatever else says.
    suppressed: bool = False

    @classmethod
    def columns(cls) -> list[Any]:
        return [
            Invitation.id, Invitation.campaign_id, Invitation.customer_id, Invitation.created_at,
            Invitation.expires_at, Invitation.token_hash, Invitation.language, Invitation.reminders_sent,
            Invitation.send_attempts, Customer.email, Customer.first_name, Customer.language.label("customer_language"),
            Customer.opted_out_at, Customer.bounced_at, Customer.erased_at, Campaign.email_subject.label("subject"),
            Campaign.email_sender.label("sender"), Campaign.language.label("campaign_language"), Invitation.message_id,
        ]

    @classmethod
    def load(cls, ids: Iterable[int]) -> list[MailRow]:
        rows = db.session.execute(
            select(*cls.columns())
            .join(Customer, Customer.id == Invitation.customer_id)
            .join(Campaign, Campaign.id == Invitation.campaign_id)
            .where(Invitation.id.in_(list(ids)))
            .order_by(Invitation.id)
        ).all()
        hashes = {row.id: email_hash(row.email) for row in rows if row.email}
        blocked = suppressed_among(hashes.values())
        return [cls(**row._asdict(), suppressed=hashes.get(row.id) in blocked) for row in rows]

    @cached_property
    def locale(self) -> str:
        language = self.language or self.customer_language or self.campaign_language
        return language if language in current_app.config["LANGUAGES"] else current_app.config["LANGUAGES"][0]

    def blocked_reason(self, now: datetime) -> str | None:
        """Return why this customer must not get this email now, or None."""
        if self.opted_out_at is not None:
            return "customer opted out"
        if self.bounced_at is not None:
            return "customer's address bounced"
        if self.erased_at is not None or not self.email:
            return "customer erased or without an address"
        if self.suppressed:
            return "address on the suppression list"
        if self.expires_at <= now:
            return "invitation expired"
        return None


def email_texts(expires_at: datetime, reminder: int) -> dict[str, str]:
    """Return the email's sentences in the current locale; the greeting keeps its %(name)s."""
    return {
        # Without variables gettext returns the translation as is: the name is filled in per email.
        "greeting_named": _("Hello %(name)s,"),
        "greeting": _("Hello,"),
        "reminder": _("We have not heard from you yet, so we ask once more.") if reminder else "",
        "intro": _(
            "You recently looked at one of our offers but did not book. Would you tell us why? "
            "It takes less than a minute."
        ),
        "question": _("How likely is it that you would recommend us to a friend or colleague?"),
        "low": _("Not at all likely"),
        "high": _("Extremely likely"),
        "next_step": _("Click a number; on the next page you can tell us why, and then send your answer."),
        "open_survey": _("Open the survey"),
        "why_we_ask": _("We ask because you looked at our offer but did not book. We keep only your score "
                        "and comment, use them to improve our offers, and delete them on request."),
        "expires": _("The link works until %(date)s.", date=format_date(expires_at, format="long")),
        "unsubscribe_intro": _("No more survey emails?"),
        "unsubscribe": _("Unsubscribe"),
        "privacy": _("Privacy"),
    }


def default_subject() -> str:
    """Return the subject used when a campaign sets none, in the current locale."""
    return _("A short question about our offer")


# What differs per recipient: rendered into an email's templates as stand-ins once per kind of
# email, and filled in per recipient in one pass.
RECIPIENT_SLOTS = Slots("greeting", "survey_url", "unsubscribe_url")


@dataclass(frozen=True)
class Skeleton:
    """One kind of email (language, reminder number, expiry day, subject) rendered once, with
    slots for the recipient's greeting and links."""

    subject: str
    greeting: str
    greeting_named: str
    text_parts: tuple[str, ...]  # literal text, slot name, literal text, ... (Slots.split)
    html_parts: tuple[str, ...]


class Renderer:
    """Turn a MailRow into a ready OutgoingMessage.

    Jinja, Babel and the date formatting run once per kind of email (Skeleton), not per
    recipient: per email only the greeting and the two links are filled in, escaped for the
    HTML part exactly as Jinja's autoescape would. bench/send_invitations.py measures it.
    """

    def __init__(self) -> None:
        config = current_app.config
        self.base_url = str(config["BASE_URL"]).rstrip("/")
        self.html = current_app.jinja_env.get_template("email/invitation.html")
        self.text = current_app.jinja_env.get_template("email/invitation.txt")
        self.default_sender = str(config["MAIL_DEFAULT_SENDER"])
        self.timezone = get_timezone()
        self.unsubscribe_serializer = _unsubscribe_serializer()
        self._senders: dict[str | None, Address] = {}
        self._skeletons: dict[tuple[str, int, date, str | None], Skeleton] = {}
        # The invitations of one creation run share one expiry moment: its day is looked up once.
        self._expiry_days: dict[datetime, date] = {}

    def skeleton(self, row: MailRow, reminder: int) -> Skeleton:
        """Return the email for the row's language, reminder number, expiry day and subject."""
        expiry_day = self._expiry_days.get(row.expires_at)
        if expiry_day is None:
            expiry_day = self._expiry_days[row.expires_at] = row.expires_at.astimezone(self.timezone).date()
        key = (row.locale, reminder, expiry_day, row.subject)
        if key not in self._skeletons:
            self._skeletons[key] = self._render_skeleton(row, reminder)
        return self._skeletons[key]

    def _render_skeleton(self, row: MailRow, reminder: int) -> Skeleton:
        with force_locale(row.locale):
            texts = email_texts(row.expires_at, reminder)
            subject = mail.clean_header_text(row.subject) or default_subject()
            if reminder:
                subject = _("Reminder: %(subject)s", subject=subject)
        survey_url = RECIPIENT_SLOTS.stand_in("survey_url")
        context = {
            "language": row.locale,
            "subject": subject,
            "texts": dict(texts, greeting=RECIPIENT_SLOTS.stand_in("greeting")),
            "reminder": reminder,
            "survey_url": survey_url,
            "score_links": [(score, f"{survey_url}?score={score}") for score in range(11)],
            "unsubscribe_url": RECIPIENT_SLOTS.stand_in("unsubscribe_url"),
            "privacy_url": f"{self.base_url}/privacy?lang={row.locale}",
        }
        return Skeleton(
            subject=subject,
            greeting=texts["greeting"],
            greeting_named=texts["greeting_named"],
            text_parts=RECIPIENT_SLOTS.split(self.text.render(context)),
            html_parts=RECIPIENT_SLOTS.split(self.html.render(context)),
        )

    def sender(self, configured: str | None) -> Address:
        if configured not in self._senders:
            self._senders[configured] = mail.sender_address(configured or self.default_sender)
        return self._senders[configured]

    def render(
        self, row: MailRow, token: str, *, reminder: int = 0, now: datetime | None = None
    ) -> mail.OutgoingMessage:
        """Render the invitation (reminder=0) or reminder 1 or 2 for one invitation, linking to `token`."""
        recipient = mail.recipient_address(row.first_name, row.email)
        sender = self.sender(row.sender)
        skeleton = self.skeleton(row, reminder)
        name = recipient.display_name  # cleaned of line breaks and control characters
        values = {
            "greeting": skeleton.greeting_named % {"name": name} if name else skeleton.greeting,
            "survey_url": f"{self.base_url}/s/{token}",
            "unsubscribe_url": f"{self.base_url}/u/{self.unsubscribe_serializer.dumps(row.id)}",
        }
        kind = "invitation" if reminder == 0 else f"reminder-{reminder}"
        return mail.build_message(
            sender=sender,
            recipient=recipient,
            subject=skeleton.subject,
            text=Slots.fill(skeleton.text_parts, values),
            html=Slots.fill(skeleton.html_parts, {slot: str(escape(value)) for slot, value in values.items()}),
            message_id=mail.message_id_for(row.id, kind, sender.domain),
            unsubscribe_url=values["unsubscribe_url"],
            date=now,
            references=mail.message_id_for(row.id, "invitation", sender.domain) if reminder else None,
            language=row.locale,
        )


# --- runs, claims and delivery ------------------------------------------------------------


def new_run_id() -> str:
    """Return an id naming this sending run: host, process and a random part."""
    return f"{socket.gethostname()[:40]}/{os.getpid()}/{secrets.token_hex(4)}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_local_runs(run_ids: Iterable[str]) -> list[str]:
    """Return the runs of this host whose process no longer exists."""
    host = socket.gethostname()[:40]
    dead = []
    for run_id in run_ids:
        parts = run_id.split("/")
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _process_alive(int(parts[1])):
            dead.append(run_id)
    return dead


def release_dead_claims() -> int:
    """Free the claims of runs on this host that died; return how many invitations were freed.

    Claims of other hosts are freed only by MAIL_CLAIM_TIMEOUT_SECONDS, since their processes
    cannot be checked from here.
    """
    claimants = db.session.execute(
        select(Invitation.claimed_by).where(Invitation.claimed_by.is_not(None)).distinct()
    ).scalars().all()
    db.session.rollback()
    dead = dead_local_runs(claimants)
    if not dead:
        return 0
    start_write(db.session)
    settle_interrupted(Invitation.claimed_by.in_(dead))
    freed = db.session.execute(
        update(Invitation).where(Invitation.claimed_by.in_(dead)).values(claimed_by=None, claimed_at=None)
    ).rowcount
    db.session.commit()
    log.warning("freed the claims of %d invitations held by %d stopped runs", freed, len(dead))
    return freed or 0


def claim(run_id: str, size: int, conditions: list[Any], *, set_state: str | None, now: datetime) -> list[int]:
    """Claim up to `size` invitations matching the conditions for this run, atomically.

    SQLite: BEGIN IMMEDIATE makes the select-then-update one writer at a time. PostgreSQL:
    FOR UPDATE SKIP LOCKED lets concurrent runs take disjoint rows without waiting.
    """
    start_write(db.session)
    stale = now - timedelta(seconds=float(setting("MAIL_CLAIM_TIMEOUT_SECONDS")))
    settle_interrupted(and_(Invitation.claimed_by.is_not(None), Invitation.claimed_at < stale))
    query = (
        select(Invitation.id)
        .where(*conditions, or_(Invitation.claimed_by.is_(None), Invitation.claimed_at < stale))
        .order_by(Invitation.id)
        .limit(size)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Invitation)
    ids = list(db.session.execute(query).scalars())
    if ids:
        values: dict[str, Any] = {"claimed_by": run_id, "claimed_at": now}
        if set_state:
            values["state"] = set_state
        db.session.execute(update(Invitation).where(Invitation.id.in_(ids)).values(**values))
    db.session.commit()
    return ids


@dataclass
class SendReport:
    """What a sending run did."""

    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    stopped: str | None = None
    failures: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.deferred += other.deferred
        self.failures += other.failures
        self.stopped = self.stopped or other.stopped

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.cancelled + self.deferred


class RateLimit:
    """At most N messages a minute (moving window), shared by all workers through the broker's Redis."""

    def __init__(self, per_minute: int | None, storage_url: str | None) -> None:
        self.item = None
        if not per_minute:
            return
        from limits import RateLimitItemPerMinute, storage, strategies

        self.item = RateLimitItemPerMinute(int(per_minute))
        url = storage_url if storage_url and storage_url.startswith(("redis://", "rediss://")) else "memory://"
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(url))

    def wait(self) -> None:
        """Block until one more message may go out."""
        if self.item is None:
            return
        while not self.limiter.hit(self.item, "survey_app-mail"):
            reset = self.limiter.get_window_stats(self.item, "survey_app-mail").reset_time
            time.sleep(min(60.0, max(0.05, reset - time.time())))


class Sender:
    """One delivery connection with the retry and rate-limit policy, for one run."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        config = current_app.config
        self.connection = mail.open_connection(config)
        self.renderer = Renderer()
        self.attempts = int(setting("MAIL_RETRY_ATTEMPTS"))
        self.base_delay = float(setting("MAIL_RETRY_BASE_SECONDS"))
        self.rate = RateLimit(setting("MAIL_RATE_LIMIT_PER_MINUTE"), config.get("BROKER_URL"))
        self.sleep = sleep

    def deliver(self, message: mail.OutgoingMessage, meanwhile: Callable[[], None] | None = None) -> int:
        """Send one message; return the tries it took. Raises mail.MailError subclasses.

        `meanwhile` runs while the server processes the message (mail.MailConnection).
        """
        self.rate.wait()
        return mail.send_with_retry(
            self.connection, message, attempts=self.attempts, base_delay=self.base_delay, sleep=self.sleep,
            meanwhile=meanwhile,
        )

    def close(self) -> None:
        self.connection.close()


class RenderAhead:
    """Render the next email while the current one is with the mail server.

    Rendering reads nothing and writes nothing, and a message's token hash is stored only when
    its delivery starts (Ledger.started), so a message rendered ahead and then not sent (the
    run stops, or the row is blocked when its turn comes) is simply dropped. A rendering error
    is raised when the row's turn comes, as if it had been rendered then.
    """

    def __init__(self, render: Callable[[MailRow, str], mail.OutgoingMessage]) -> None:
        self.render = render
        self.ready: dict[int, tuple[str, mail.OutgoingMessage] | Exception] = {}

    def prepare(self, row: MailRow | None) -> None:
        if row is None or row.id in self.ready or row.blocked_reason(utcnow()) is not None:
            return
        try:
            self.ready[row.id] = self._render(row)
        except Exception as error:  # noqa: BLE001 - kept for the row's turn, see the class doc
            self.ready[row.id] = error

    def take(self, row: MailRow) -> tuple[str, mail.OutgoingMessage]:
        """Return the token hash and the message for the row: rendered ahead, or now."""
        ready = self.ready.pop(row.id, None)
        if ready is None:
            return self._render(row)
        if isinstance(ready, Exception):
            raise ready
        return ready

    def _render(self, row: MailRow) -> tuple[str, mail.OutgoingMessage]:
        token, token_hash = new_token()
        return token_hash, self.render(row, token)


@contextmanager
def sender_session() -> Iterator[Sender]:
    """Open a Sender and close its connection however the run ends."""
    sender = Sender()
    try:
        yield sender
    finally:
        sender.close()


INTERRUPTED = (
    "delivery interrupted: the sending run stopped while the mail server had the message, "
    "so it may have been delivered; not sent again"
)


def settle_interrupted(claim_is_dead: Any) -> int:
    """Settle messages a dead run handed to the server without recording the outcome.

    Sending them again could deliver them twice, so a first email becomes `failed` with the
    reason and an in-flight reminder counts as sent. Runs inside the caller's write transaction.
    """
    interrupted = and_(claim_is_dead, Invitation.delivery_started_at.is_not(None))
    released = {"claimed_by": None, "claimed_at": None, "delivery_started_at": None}
    first = db.session.execute(
        update(Invitation).where(interrupted, Invitation.state == "sending")
        .values(state="failed", failure_reason=INTERRUPTED, send_attempts=Invitation.send_attempts + 1, **released)
    ).rowcount or 0
    reminders = db.session.execute(
        update(Invitation).where(interrupted, Invitation.state == "sent")
        .values(reminders_sent=Invitation.reminders_sent + 1, last_reminder_at=Invitation.delivery_started_at,
                **released)
    ).rowcount or 0
    if first or reminders:
        log.warning("settled %d interrupted first emails (failed, not resent) and %d interrupted reminders "
                    "(counted as sent)", first, reminders)
    return first + reminders


# The statements of the per-message commits, built once: rebuilding them per message cost more
# than executing them (bench/send_invitations.py).
_INVITATIONS = Invitation.__table__
_HELD = and_(_INVITATIONS.c.id == bindparam("held_id"), _INVITATIONS.c.claimed_by == bindparam("held_by"))
_MARK_STARTED = update(_INVITATIONS).where(_HELD).values(delivery_started_at=bindparam("started_at"))
_MARK_FIRST_EMAIL_STARTED = _MARK_STARTED.values(token_hash=bindparam("emailed_token_hash"))
_ADD_LINK = insert(ReminderLink.__table__)
_RECORD_SENT = update(_INVITATIONS).where(_HELD).values(
    state="sent", sent_at=bindparam("sent_at_value"), message_id=bindparam("message_id_value"),
    send_attempts=bindparam("attempts"), failure_reason=None, claimed_by=None, claimed_at=None,
    delivery_started_at=None,
)
_RECORD_INVITED = (
    update(Customer.__table__).where(Customer.__table__.c.id == bindparam("customer")).values(
        last_invited_at=bindparam("invited_at"), updated_at=bindparam("invited_at"))
)


class Ledger:
    """What a run writes while it sends a claimed batch, message by message, on a database
    connection of its own (Core, not the ORM session: its per-commit bookkeeping cost more than
    the writes, bench/send_invitations.py).

    Per message: the delivery-started marker with the emailed token's hash, committed before
    the hand-over (started), then the outcome (finish, sent). A success is not committed at
    once but with the next message's marker, or by close: one commit per message instead of
    two. Until then a crash leaves the message marked as handed over, so it is settled without
    being sent again: never twice. Every write is conditional on this run's claim. Use it as a
    context manager, and write nothing through the session meanwhile (on SQLite the session
    would wait for this connection's write lock).
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        # BEGIN IMMEDIATE on SQLite: wait for the write lock up front (database.begin_write).
        self.connection = db.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        self.transaction: Any = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.commit()  # the last outcome waits for a next message that will not come
        finally:
            self.connection.close()

    def _write(self) -> Any:
        if self.transaction is None:
            self.transaction = self.connection.begin()
        return self.connection

    def commit(self) -> None:
        transaction, self.transaction = self.transaction, None
        if transaction is not None:
            transaction.commit()

    def started(self, row: MailRow, now: datetime, token_hash: str, *, reminder: bool) -> bool:
        """Record, durably, that this run is about to hand the invitation's message to the
        server, with the hash of the token it carries; return whether this run still holds it.

        One commit for both: a crash right after it leaves a link that resolves (and a marker
        that keeps the message from going out twice); a crash before it leaves nothing sent.
        """
        connection = self._write()
        held = {"held_id": row.id, "held_by": self.run_id, "started_at": now}
        if reminder:
            held_rows = connection.execute(_MARK_STARTED, held).rowcount
        else:
            held_rows = connection.execute(
                _MARK_FIRST_EMAIL_STARTED, {**held, "emailed_token_hash": token_hash}
            ).rowcount
        if held_rows:
            links = []
            if reminder:
                links.append(token_hash)
            elif row.send_attempts:
                # An earlier attempt at this first email failed, perhaps after the server had the
                # message (a connection lost before its reply): its link keeps working.
                links.append(row.token_hash)
            if links:
                connection.execute(_ADD_LINK, [
                    {"invitation_id": row.id, "token_hash": link, "created_at": now} for link in links
                ])
        self.commit()
        if not held_rows:
            log.error("invitation %s was taken over by another run before this one sent it", row.id)
        return bool(held_rows)

    def finish(self, invitation_id: int, values: dict[str, Any], *, commit: bool = True) -> bool:
        """Record an invitation's outcome if this run still holds it; return whether it did."""
        result = self._write().execute(
            update(_INVITATIONS)
            .where(_INVITATIONS.c.id == invitation_id, _INVITATIONS.c.claimed_by == self.run_id)
            .values(claimed_by=None, claimed_at=None, delivery_started_at=None, **values)
        )
        if commit:
            self.commit()
        if not result.rowcount:
            log.error("invitation %s was taken over by another run while this one sent it", invitation_id)
        return bool(result.rowcount)

    def sent(self, row: MailRow, now: datetime, message_id: str, attempts: int) -> None:
        """Record a first email the server accepted (and the customer's last invitation), uncommitted."""
        connection = self._write()
        held = connection.execute(_RECORD_SENT, {
            "held_id": row.id, "held_by": self.run_id, "sent_at_value": now, "message_id_value": message_id,
            "attempts": attempts,
        }).rowcount
        if held:
            connection.execute(_RECORD_INVITED, {"customer": row.customer_id, "invited_at": now})
        else:
            log.error("invitation %s was taken over by another run while this one sent it", row.id)

    def release(self, ids: Iterable[int], *, state: str | None) -> None:
        """Give back this run's claims on these invitations (state: what 'sending' rows return to)."""
        ids = list(ids)
        if ids:
            values: dict[str, Any] = {"claimed_by": None, "claimed_at": None, "delivery_started_at": None}
            if state:
                values["state"] = state
            self._write().execute(
                update(_INVITATIONS)
                .where(_INVITATIONS.c.id.in_(ids), _INVITATIONS.c.claimed_by == self.run_id).values(**values)
            )
        self.commit()


def send_claimed_invitations(
    run_id: str, ids: list[int], sender: Sender, progress: Callable[[int], None] | None = None
) -> SendReport:
    """Send the first email of each claimed invitation, committing each outcome as it happens
    (a success together with the next message's delivery-started marker, see Ledger)."""
    rows = MailRow.load(ids)
    db.session.rollback()  # end the read: SQLite must not hold a snapshot during the sends
    with Ledger(run_id) as ledger:
        return _send_first_emails(rows, ledger, sender, progress)


def _send_first_emails(
    rows: list[MailRow], ledger: Ledger, sender: Sender, progress: Callable[[int], None] | None
) -> SendReport:
    report = SendReport()
    remaining = [row.id for row in rows]
    max_attempts = int(setting("MAIL_MAX_SEND_ATTEMPTS"))
    ahead = RenderAhead(sender.renderer.render)
    following = dict(zip((row.id for row in rows), [*rows[1:], None]))
    for row in rows:
        now = utcnow()
        remaining.remove(row.id)
        reason = row.blocked_reason(now)
        if reason is not None:
            ledger.finish(row.id, {"state": "cancelled", "failure_reason": reason})
            report.cancelled += 1
        else:
            try:
                token_hash, message = ahead.take(row)
                if not ledger.started(row, now, token_hash, reminder=False):
                    report.deferred += 1  # another run took it over and sends it
                    if progress:
                        progress(1)
                    continue
                tries = sender.deliver(message, meanwhile=lambda: ahead.prepare(following[row.id]))
            except mail.PermanentMailError as error:
                ledger.finish(row.id, {"state": "failed", "failure_reason": error.reason,
                                       "send_attempts": row.send_attempts + 1})
                report.failed += 1
                report.failures.append((row.id, error.reason))
                log.warning("invitation %s to %s refused: %s", row.id, mail.mask_email(row.email), error.reason)
            except mail.TransientMailError as error:
                attempts = row.send_attempts + sender.attempts
                state = "failed" if attempts >= max_attempts else "pending"
                ledger.finish(row.id, {"state": state, "failure_reason": f"transient: {error.reason}",
                                       "send_attempts": attempts})
                report.failed += state == "failed"
                report.deferred += state == "pending"
                report.stopped = f"mail server unavailable: {error.reason}"
                ledger.release(remaining, state="pending")
                report.deferred += len(remaining)
                if progress:
                    progress(1 + len(remaining))
                return report
            except mail.MailConfigurationError as error:
                ledger.release([row.id, *remaining], state="pending")
                report.deferred += 1 + len(remaining)
                report.stopped = error.reason
                return report
            else:
                ledger.sent(row, now, message.message_id, row.send_attempts + tries)
                report.sent += 1
        if progress:
            progress(1)
    return report


def send_pending(
    *,
    campaign_id: int | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    run_id: str | None = None,
) -> SendReport:
    """Claim and send pending invitations batch by batch until none are left (or `limit`)."""
    run_id = run_id or new_run_id()
    batch_size = int(batch_size or setting("MAIL_BATCH_SIZE"))
    report = SendReport()
    release_dead_claims()
    conditions: list[Any] = [Invitation.state.in_(("pending", "sending"))]
    if campaign_id is not None:
        conditions.append(Invitation.campaign_id == campaign_id)
    with sender_session() as sender:
        while limit is None or report.handled < limit:
            size = batch_size if limit is None else min(batch_size, limit - report.handled)
            ids = claim(run_id, size, conditions, set_state="sending", now=utcnow())
            if not ids:
                break
            report.add(send_claimed_invitations(run_id, ids, sender, progress))
            if report.stopped:
                break
    log.info("run %s: %d sent, %d failed, %d cancelled, %d deferred",
             run_id, report.sent, report.failed, report.cancelled, report.deferred)
    return report


# --- unsubscribe --------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeLink:
    """The invitation behind an unsubscribe link, and whether its customer opted out already."""

    invitation_id: int
    customer_id: int
    language: str
    opted_out: bool


def find_unsubscribe(token: str) -> UnsubscribeLink | None:
    """Return the unsubscribe link's invitation, or None for a forged or unknown token."""
    if len(token) > 200:
        return None
    invitation_id = unsubscribe_invitation_id(token)
    if invitation_id is None:
        return None
    row = db.session.execute(
        select(Invitation.id, Invitation.customer_id, Invitation.language, Customer.language.label("customer_language"),
               Customer.opted_out_at, Campaign.language.label("campaign_language"))
        .join(Customer, Customer.id == Invitation.customer_id)
        .join(Campaign, Campaign.id == Invitation.campaign_id)
        .where(Invitation.id == invitation_id)
    ).one_or_none()
    if row is None:
        return None
    language = row.language or row.customer_language or row.campaign_language
    return UnsubscribeLink(row.id, row.customer_id, language, row.opted_out_at is not None)


def opt_out(customer_id: int, *, now: datetime | None = None) -> bool:
    """Opt a customer out of all surveys and cancel the invitations not yet sent; return True if new."""
    now = utcnow() if now is None else now
    start_write(db.session)
    changed = db.session.execute(
        update(Customer).where(Customer.id == customer_id, Customer.opted_out_at.is_(None)).values(opted_out_at=now)
    ).rowcount
    db.session.execute(
        update(Invitation)
        .where(Invitation.customer_id == customer_id, Invitation.state == "pending", Invitation.claimed_by.is_(None))
        .values(state="cancelled", failure_reason="customer opted out")
    )
    db.session.commit()
    if changed:
        log.info("customer %s opted out of surveys", customer_id)
    return bool(changed)


# --- dashboard ----------------------------------------------------------------------------


def invitation_counts(campaign_id: int) -> dict[str, int]:
    """Return the campaign's invitations per state, and how many were answered."""
    counts = dict(
        db.session.execute(
            select(Invitation.state, func.count()).where(Invitation.campaign_id == campaign_id).group_by(Invitation.state)
        ).all()
    )
    counts["answered"] = db.session.execute(
        select(func.count()).select_from(Response).join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id == campaign_id)
    ).scalar_one()
    return counts



# --- demo ---------------------------------------------------------------------------------


def write_demo_outbox(survey_link: str | None = None, prefix: str = "demo-") -> list[str]:
    """Write the Dutch and the English email of one open demo invitation each into the outbox.

    Only the hashes of the demo's tokens are stored, so each chosen invitation gets a fresh token
    for the email written here (the printed survey link's invitation is never chosen, so that
    link keeps working). Returns the file names.
    """
    skip = hash_token(survey_link.rsplit("/", 1)[-1]) if survey_link else ""
    outbox = mail.OutboxConnection(current_app.config["MAIL_OUTBOX_DIR"])
    renderer = Renderer()
    written: list[str] = []
    for language in ("nl", "en"):
        found = db.session.execute(
            select(Invitation)
            .join(Customer, Customer.id == Invitation.customer_id)
            .where(Customer.external_id.startswith(prefix), Invitation.language == language,
                   Invitation.state == "sent", Invitation.expires_at > utcnow(), Invitation.token_hash != skip,
                   ~select(Response.id).where(Response.invitation_id == Invitation.id).exists())
            .order_by(Invitation.id)
            .limit(1)
        ).scalar_one_or_none()
        if found is None:
            continue
        token, found.token_hash = new_token()
        db.session.commit()
        [row] = MailRow.load([found.id])
        message = renderer.render(row, token)
        before = set(outbox.directory.glob("*.eml")) if outbox.directory.is_dir() else set()
        outbox.send(message)
        written += [path.name for path in set(outbox.directory.glob("*.eml")) - before]
    return written
