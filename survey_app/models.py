"""The data model for the whole product: campaigns and what they promised, the events that say
who clicked and who converted, invitations, responses and their analyses, verdicts and flags.

Invariants live in the schema (NOT NULL, UNIQUE, CHECK), so that every writer, including a
second worker racing the first, is held to them; forms repeat them only for humans.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey_app.analysis.types import CATEGORIES as FINDING_CATEGORIES
from survey_app.analysis.types import ITEM_KINDS, LANGUAGES
from survey_app.extensions import db

CHANNELS = ("email", "sms", "push", "social", "web", "print", "other")
CAMPAIGN_STATUSES = ("draft", "active", "closed")
EVENT_TYPES = ("sent", "opened", "clicked", "converted", "bounced", "unsubscribed")
INVITATION_STATES = ("pending", "sending", "sent", "failed", "cancelled")
SEVERITIES = ("none", "low", "medium", "high")
FLAG_STATES = ("open", "acknowledged", "resolved")
ROLES = ("researcher", "admin")
MAX_REMINDERS = 2


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC-aware in Python, on SQLite as on PostgreSQL.

    SQLite has no time zones, so values are stored as naive UTC there and made aware again on
    the way out; a naive datetime is refused on the way in, because its zone is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# Event tables grow to millions of rows: 64-bit keys on PostgreSQL; SQLite needs INTEGER for rowids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """Return SQL that holds a column to an allow-list of values."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="researcher")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout and password change: signed session cookies carrying an older value are
    # refused, because a client-side cookie cannot otherwise be revoked.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class Campaign(TimestampMixin, db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(one_of("language", LANGUAGES), name="language"),
        CheckConstraint(one_of("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint(
            "conversion_window_hours > 0 AND conversion_window_hours <= 2160",
            name="conversion_window_hours",
        ),
        CheckConstraint("invitation_cap IS NULL OR invitation_cap > 0", name="invitation_cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The stable identifier that event exports and webhooks use to name the campaign.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20), default="email")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promise: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="nl")
    status: Mapped[str] = mapped_column(String(20), default="active")
    conversion_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    # At most this many invitations, sampled at random (seeded) from the eligible customers.
    invitation_cap: Mapped[int | None] = mapped_column(Integer)
    email_subject: Mapped[str | None] = mapped_column(String(200))
    email_sender: Mapped[str | None] = mapped_column(String(254))

    items: Mapped[list[PromisedItem]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="PromisedItem.position, PromisedItem.id",
    )


class PromisedItem(db.Model):
    __tablename__ = "promised_items"
    __table_args__ = (
        UniqueConstraint("campaign_id", "label"),
        CheckConstraint(one_of("kind", ITEM_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSONType, default=list)
    city: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    promised_value: Mapped[str | None] = mapped_column(String(100))
    # The landing-page URL the campaign used for this item, so a click can name what was clicked.
    url: Mapped[str | None] = mapped_column(String(2000))
    position: Mapped[int] = mapped_column(Integer, default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="items")


class Customer(TimestampMixin, db.Model):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(f"language IS NULL OR {one_of('language', LANGUAGES)}", name="language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The email service provider's or CRM's id. NULL only after the customer was erased.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(2))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventSource(db.Model):
    """A system that sends us events: a webhook sender or a named CSV export."""

    __tablename__ = "event_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # The webhook secret is derived from SECRET_KEY and this salt, so no usable secret is stored.
    secret_salt: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignEvent(db.Model):
    __tablename__ = "campaign_events"
    __table_args__ = (
        # Providers deliver at least once; this makes a second delivery a no-op.
        UniqueConstraint("source", "provider_event_id"),
        CheckConstraint(one_of("type", EVENT_TYPES), name="type"),
        Index("ix_campaign_events_funnel", "campaign_id", "type", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(80))
    # The provider's id, or for exports without one a documented hash of the natural key.
    provider_event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    clicked_item_id: Mapped[int | None] = mapped_column(ForeignKey("promised_items.id", ondelete="SET NULL"))
    clicked_url: Mapped[str | None] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    customer: Mapped[Customer] = relationship()
    clicked_item: Mapped[PromisedItem | None] = relationship()


class Invitation(db.Model):
    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        CheckConstraint(one_of("state", INVITATION_STATES), name="state"),
        CheckConstraint(f"reminders_sent >= 0 AND reminders_sent <= {MAX_REMINDERS}", name="reminders_sent"),
        CheckConstraint(f"language IS NULL OR {one_of('language', LANGUAGES)}", name="language"),
        Index("ix_invitations_state_sent_at", "state", "sent_at"),
        # Every sending run looks for claims left by dead runs; few rows hold one at any time.
        Index(
            "ix_invitations_claimed_by",
            "claimed_by",
            sqlite_where=text("claimed_by IS NOT NULL"),
            postgresql_where=text("claimed_by IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the first email's token; the token itself is never stored. Until that email is
    # rendered it holds the hash of a random token nobody has (the column is NOT NULL UNIQUE).
    # The reminders' links are in reminder_links.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    language: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First GET of the survey link: a click that is not yet an answer (mail scanners click too).
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Which sending run holds this invitation right now, and since when: two runs started at
    # the same time claim disjoint invitations, and a run killed midway leaves a visible claim.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set (and committed) just before a message is handed to the mail server, cleared when its
    # outcome is recorded: a claim left with it set by a dead run may have been delivered, so it is
    # settled without sending again (at most once for that one message).
    delivery_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(255))

    campaign: Mapped[Campaign] = relationship()
    customer: Mapped[Customer] = relationship()
    response: Mapped[Response | None] = relationship(back_populates="invitation", uselist=False)


class ReminderLink(db.Model):
    """A further survey link of an invitation, stored as the SHA-256 of its token.

    Each reminder carries a fresh token of its own (the first email's token is never kept, so it
    cannot be repeated); the row is committed before the reminder is handed to the mail server,
    so every link that may have gone out resolves until the invitation expires. A first email
    sent again after a failed attempt keeps the earlier attempt's link here too.
    """

    __tablename__ = "reminder_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Response(db.Model):
    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 10", name="score"),
        CheckConstraint(f"language IS NULL OR {one_of('language', LANGUAGES)}", name="language"),
        CheckConstraint("revision >= 1", name="revision"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # NOT NULL and UNIQUE: one answer per invitation, however many workers race to store it.
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(2))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Incremented on every change, so analysis can tell which answers are new or changed.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Set when erasure or retention blanked the comment: its stored findings stay (the campaign's
    # figures must not change) and the blank text is never analysed again.
    comment_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invitation: Mapped[Invitation] = relationship(back_populates="response")
    analysis: Mapped[ResponseAnalysis | None] = relationship(
        back_populates="response", uselist=False, cascade="all, delete-orphan"
    )


class ResponseAnalysis(db.Model):
    __tablename__ = "response_analyses"
    __table_args__ = (
        CheckConstraint("polarity >= -1 AND polarity <= 1", name="polarity"),
        CheckConstraint("subjectivity >= 0 AND subjectivity <= 1", name="subjectivity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), unique=True)
    # Which answer revision and which analyzer produced this row: stale rows are recomputed.
    response_revision: Mapped[int] = mapped_column(Integer)
    analyzer_version: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    polarity: Mapped[float] = mapped_column(Float)
    subjectivity: Mapped[float] = mapped_column(Float)
    sentiment_analyzer: Mapped[str] = mapped_column(String(40))
    broken_promise: Mapped[bool] = mapped_column(Boolean)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    analyzed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    response: Mapped[Response] = relationship(back_populates="analysis")
    findings: Mapped[list[ResponseFinding]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", order_by="ResponseFinding.span_start"
    )
    mentions: Mapped[list[ResponseItemMention]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", order_by="ResponseItemMention.span_start"
    )


class SpanMixin:
    span_start: Mapped[int] = mapped_column(Integer)
    span_end: Mapped[int] = mapped_column(Integer)


class ResponseFinding(SpanMixin, db.Model):
    """One broken-promise signal in an answer, with the promised item it concerns."""

    __tablename__ = "response_findings"
    __table_args__ = (
        CheckConstraint(one_of("category", FINDING_CATEGORIES), name="category"),
        CheckConstraint("span_start >= 0 AND span_end >= span_start", name="span"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("response_analyses.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    promised_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("promised_items.id", ondelete="SET NULL"), index=True
    )
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20), default="rule")

    analysis: Mapped[ResponseAnalysis] = relationship(back_populates="findings")
    promised_item: Mapped[PromisedItem | None] = relationship()


class ResponseItemMention(SpanMixin, db.Model):
    """A promised item (or a bare city) named in an answer, broken or not."""

    __tablename__ = "response_item_mentions"
    __table_args__ = (CheckConstraint("span_start >= 0 AND span_end >= span_start", name="span"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("response_analyses.id", ondelete="CASCADE"), index=True)
    promised_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("promised_items.id", ondelete="SET NULL"), index=True
    )
    city: Mapped[str | None] = mapped_column(String(100))

    analysis: Mapped[ResponseAnalysis] = relationship(back_populates="mentions")
    promised_item: Mapped[PromisedItem | None] = relationship()


class CampaignVerdict(db.Model):
    """The broken-promise verdict on a campaign at one moment; the newest one is current."""

    __tablename__ = "campaign_verdicts"
    __table_args__ = (
        CheckConstraint(one_of("severity", SEVERITIES), name="severity"),
        CheckConstraint("n_broken >= 0 AND n_broken <= n_respondents", name="counts"),
        Index("ix_campaign_verdicts_campaign_computed", "campaign_id", "computed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    analyzer_version: Mapped[str] = mapped_column(String(40))
    flagged: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(10))
    n_respondents: Mapped[int] = mapped_column(Integer)
    n_broken: Mapped[int] = mapped_column(Integer)
    share: Mapped[float | None] = mapped_column(Float)
    share_low: Mapped[float | None] = mapped_column(Float)
    share_high: Mapped[float | None] = mapped_column(Float)
    nps: Mapped[float | None] = mapped_column(Float)
    nps_low: Mapped[float | None] = mapped_column(Float)
    nps_high: Mapped[float | None] = mapped_column(Float)
    # Reasons in plain words, items most affected, evidence quotes: the verdict as the library gave it.
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    campaign: Mapped[Campaign] = relationship()


class Flag(db.Model):
    """A flagged campaign in the researchers' queue: opened by a verdict, closed by a person."""

    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint(one_of("state", FLAG_STATES), name="state"),
        CheckConstraint("state = 'open' OR acknowledged_at IS NOT NULL", name="acknowledged"),
        CheckConstraint("state != 'resolved' OR resolved_at IS NOT NULL", name="resolved"),
        # A campaign has at most one flag that is not yet resolved.
        Index(
            "uq_flags_unresolved_campaign",
            "campaign_id",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    verdict_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_verdicts.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship()
    verdict: Mapped[CampaignVerdict | None] = relationship()
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])


class Suppression(db.Model):
    """An address that must never be invited again (after erasure or a permanent opt-out).

    Only a keyed hash of the normalized email is kept, so the list cannot be read back as
    addresses, yet an import or webhook can still recognise the person.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(db.Model):
    """Who did what to which record, and when; never the personal data itself."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # "cli" or "system" when no signed-in user acted.
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    actor: Mapped[User | None] = relationship()


class ImportRejects(db.Model):
    """The rejected rows of a user's latest upload on the import page, as the CSV they download.

    One per user, replaced by the next upload that rejects rows. They hold customers' addresses,
    so they are kept for hours, not forever (IMPORT_REJECTS_KEEP_HOURS, services/import_rejects.py).
    """

    __tablename__ = "import_rejects"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The uploaded file's name, cleaned, for the download's name.
    source_name: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
