"""Who may be surveyed for a campaign: customers who clicked and did not convert, computed in SQL.

The rules, in the order the report counts them (each customer under the first that applies):

1. converted: a conversion in this campaign from the customer's first click up to and including
   the end of the conversion window after their last click;
2. window still open: the window after the last click has not fully elapsed at `now`;
3. opted out; 4. bounced; 5. erased or without an email address (an address on the
   suppression list is dropped from the final list too, as a backstop: ingestion and erasure
   already keep such addresses out of the customers table);
6. already invited for this campaign;
7. invited recently for another campaign: an invitation sent (or still waiting to be sent)
   within CONTACT_FREQUENCY_DAYS before `now`. Only the invitation's initial send counts, never
   a reminder: the invitations table is read, not customers.last_invited_at.

What remains is eligible. A campaign's invitation_cap then keeps a seeded random sample.
See docs/eligibility.md for the same rules in plain words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from survey_app.extensions import db
from survey_app.models import Campaign, CampaignEvent, Customer, Invitation, Suppression, UTCDateTime, utcnow
from survey_app.services.privacy import suppressed_customer_ids

# Report reasons in the order they are applied; the labels are what the CLI prints.
REASONS: tuple[tuple[str, str], ...] = (
    ("converted", "converted within the window"),
    ("window_open", "window still open"),
    ("opted_out", "opted out"),
    ("bounced", "bounced"),
    ("erased_or_no_email", "erased or no email"),
    ("invited_this_campaign", "already invited for this campaign"),
    ("invited_recently", "invited recently for another campaign"),
)
ELIGIBLE = "eligible"
MAX_CAMPAIGN_ID = 2**31 - 1
# Invitations without a sent_at that will still go out; failed and cancelled ones never reached anyone.
UNSENT_CONTACT_STATES = ("pending", "sending")


class EligibilityError(LookupError):
    """The campaign asked for does not exist or is ambiguous."""


@dataclass(frozen=True)
class EligibleCustomer:
    """What the CSV export and the invitation step need of an eligible customer."""

    id: int
    external_id: str | None
    email: str
    language: str | None


@dataclass(frozen=True)
class EligibilityReport:
    """Counts for one campaign; clicked equals the sum of the reasons plus eligible."""

    campaign_id: int
    now: datetime
    clicked: int
    converted: int
    window_open: int
    opted_out: int
    bounced: int
    erased_or_no_email: int
    invited_this_campaign: int
    invited_recently: int
    eligible: int
    cap: int | None
    # The campaign's invitations so far, to anyone: they count against the cap.
    invited_before: int
    # Eligible customers the cap leaves out (0 without a cap).
    capped: int

    @property
    def selected(self) -> int:
        return self.eligible - self.capped

    def excluded(self) -> list[tuple[str, int]]:
        """Return (label, count) for each exclusion reason, in the order they are applied."""
        return [(label, getattr(self, name)) for name, label in REASONS]


class add_hours(FunctionElement[datetime]):
    """SQL for "timestamp + N hours", exact to the microsecond on SQLite and PostgreSQL."""

    type = UTCDateTime()
    inherit_cache = True
    name = "add_hours"


@compiles(add_hours)
def _add_hours_default(element: add_hours, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, hours = (compiler.process(clause, **kw) for clause in element.clauses)
    # Hours, not days: an interval of hours is exact across daylight-saving changes.
    return f"({timestamp} + ({hours}) * INTERVAL '1 hour')"


@compiles(add_hours, "sqlite")
def _add_hours_sqlite(element: add_hours, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, hours = (compiler.process(clause, **kw) for clause in element.clauses)
    # Values are stored as text "YYYY-MM-DD HH:MM:SS.ffffff". datetime() would drop the
    # microseconds (and round its input to milliseconds), so shift the whole seconds and put the
    # untouched fraction back: whole hours never change it, and the result compares as text.
    return (
        f"(datetime(substr({timestamp}, 1, 19), '+' || ({hours}) || ' hours')"
        f" || substr({timestamp}, 20))"
    )


def find_campaign_id(id_or_key: str) -> int:
    """Return the id of the campaign with this key or numeric id, refusing ambiguity."""
    value = id_or_key.strip()
    by_key = db.session.execute(select(Campaign.id).where(Campaign.key == value)).scalar_one_or_none()
    by_id = None
    # ASCII digits that fit the id column; anything else can only be a key.
    if value.isascii() and value.isdigit() and int(value) <= MAX_CAMPAIGN_ID:
        by_id = db.session.execute(select(Campaign.id).where(Campaign.id == int(value))).scalar_one_or_none()
    if by_key is not None and by_id is not None and by_key != by_id:
        raise EligibilityError(f"{value!r} is both the key of campaign {by_key} and the id of campaign {by_id}")
    found = by_key if by_key is not None else by_id
    if found is None:
        raise EligibilityError(f"no campaign with id or key {value!r}")
    return found


def eligible_customer_ids(
    campaign_id: int, *, now: datetime | None = None, seed: int = 0, contact_frequency_days: int | None = None
) -> list[int]:
    """Return the sorted ids of the customers to invite for a campaign, after its cap."""
    customers = eligible_customers(campaign_id, now=now, seed=seed, contact_frequency_days=contact_frequency_days)
    return [customer.id for customer in customers]


def eligible_customers(
    campaign_id: int, *, now: datetime | None = None, seed: int = 0, contact_frequency_days: int | None = None
) -> list[EligibleCustomer]:
    """Return the customers to invite for a campaign, after its cap, sorted by id."""
    rules = _Rules.for_campaign(campaign_id, now, contact_frequency_days)
    # Whether the suppression list holds anything, asked in the same statement: an uncorrelated
    # subquery the database evaluates once, so the usual empty list costs no extra round trip.
    any_suppression = exists(select(Suppression.id)).label("any_suppression")
    query, exclusions = rules.query(
        Customer.id, Customer.external_id, Customer.email, Customer.language, any_suppression
    )
    # Every exclusion negated, as separate conditions, so the planner can turn each NOT EXISTS
    # into an anti-join.
    rows = db.session.execute(query.where(*(~condition for condition in exclusions)).order_by(Customer.id)).all()
    customers = [EligibleCustomer(row.id, row.external_id, row.email, row.language) for row in rows]
    if rows and rows[0].any_suppression:
        suppressed = suppressed_customer_ids({customer.id: customer.email for customer in customers})
        customers = [customer for customer in customers if customer.id not in suppressed]
    room = rules.cap_room()
    if room is None or len(customers) <= room:
        return customers
    # Sampling the id-sorted list makes the sample depend only on the seed and the eligible set,
    # never on the order the database happened to return.
    picked = random.Random(seed).sample(range(len(customers)), room)
    return [customers[index] for index in sorted(picked)]


def eligibility_report(
    campaign_id: int, *, now: datetime | None = None, contact_frequency_days: int | None = None
) -> EligibilityReport:
    """Count a campaign's clickers under the first exclusion reason that applies to each."""
    rules = _Rules.for_campaign(campaign_id, now, contact_frequency_days)
    # Measured (bench/eligibility.py): PostgreSQL runs a correlated EXISTS inside CASE once per
    # clicker and is 8x faster with hashed IN lists; SQLite is 2x faster with the EXISTS lookups.
    query, exclusions = rules.query(per_row=db.session.get_bind().dialect.name == "sqlite")
    # CASE takes the first condition that holds: that is what makes the counts add up.
    reason = case(
        *((condition, literal(name)) for (name, _label), condition in zip(REASONS, exclusions, strict=True)),
        else_=literal(ELIGIBLE),
    ).label("reason")
    classified = query.add_columns(reason).subquery()
    counts = dict(
        db.session.execute(select(classified.c.reason, func.count()).group_by(classified.c.reason)).all()
    )
    eligible = counts.get(ELIGIBLE, 0)
    room = rules.cap_room()
    return EligibilityReport(
        campaign_id=campaign_id,
        now=rules.now,
        clicked=sum(counts.values()),
        **{name: counts.get(name, 0) for name, _label in REASONS},
        eligible=eligible,
        cap=rules.cap,
        invited_before=rules.invited,
        capped=0 if room is None else max(0, eligible - room),
    )


@dataclass(frozen=True)
class _Rules:
    """The exclusion rules of one campaign at one moment, as SQL expressions."""

    campaign_id: int
    window_hours: int
    cap: int | None
    invited: int
    now: datetime
    contact_since: datetime

    @classmethod
    def for_campaign(cls, campaign_id: int, now: datetime | None, contact_frequency_days: int | None) -> _Rules:
        # The invitations already made count against the cap, so repeated runs never exceed it.
        invited = (
            select(func.count()).select_from(Invitation).where(Invitation.campaign_id == campaign_id).scalar_subquery()
        )
        row = db.session.execute(
            select(Campaign.conversion_window_hours, Campaign.invitation_cap, invited.label("invited")).where(
                Campaign.id == campaign_id
            )
        ).one_or_none()
        if row is None:
            raise EligibilityError(f"no campaign with id {campaign_id}")
        now = utcnow() if now is None else now
        if now.tzinfo is None:
            raise ValueError("now must be a UTC-aware datetime")
        days = current_app.config["CONTACT_FREQUENCY_DAYS"] if contact_frequency_days is None else contact_frequency_days
        return cls(
            campaign_id, row.conversion_window_hours, row.invitation_cap, row.invited, now, now - timedelta(days=days)
        )

    def query(self, *columns: Any, per_row: bool = True) -> tuple[Select[Any], list[ColumnElement[bool]]]:
        """Return a SELECT of the columns over the campaign's clickers, and the exclusions in REASONS order.

        per_row=True gives correlated EXISTS tests: anti-joins when negated in WHERE, index lookups
        per clicker inside a CASE. per_row=False gives uncorrelated IN tests, evaluated once and hashed.
        """
        # One row per clicker first: the funnel index (campaign_id, type, customer_id,
        # occurred_at) answers this without reading the table.
        clicks_select = (
            select(
                CampaignEvent.customer_id,
                func.min(CampaignEvent.occurred_at).label("first_click"),
                func.max(CampaignEvent.occurred_at).label("last_click"),
            )
            .where(CampaignEvent.campaign_id == self.campaign_id, CampaignEvent.type == "clicked")
            .group_by(CampaignEvent.customer_id)
        )
        clicks = clicks_select.subquery("clicks") if per_row else clicks_select.cte("clicks")
        conversion = CampaignEvent.__table__.alias("conversion")
        recent = Invitation.__table__.alias("recent")
        recent_contact = and_(
            recent.c.campaign_id != self.campaign_id,
            or_(
                recent.c.sent_at > self.contact_since,
                and_(
                    recent.c.sent_at.is_(None),
                    recent.c.state.in_(UNSENT_CONTACT_STATES),
                    recent.c.created_at > self.contact_since,
                ),
            ),
        )
        if per_row:
            converted = exists().where(
                *self._conversion_in_window(conversion, clicks), conversion.c.customer_id == clicks.c.customer_id
            )
            invited_here = exists().where(
                Invitation.campaign_id == self.campaign_id, Invitation.customer_id == clicks.c.customer_id
            )
            invited_recently = exists().where(recent.c.customer_id == clicks.c.customer_id, recent_contact)
        else:
            converter = clicks.alias("converter")
            converted = clicks.c.customer_id.in_(
                select(converter.c.customer_id).join(
                    conversion,
                    and_(
                        conversion.c.customer_id == converter.c.customer_id,
                        *self._conversion_in_window(conversion, converter),
                    ),
                )
            )
            invited_here = clicks.c.customer_id.in_(
                select(Invitation.customer_id).where(Invitation.campaign_id == self.campaign_id)
            )
            invited_recently = clicks.c.customer_id.in_(select(recent.c.customer_id).where(recent_contact))
        exclusions = [
            converted,
            add_hours(clicks.c.last_click, self.window_hours) >= self.now,
            Customer.opted_out_at.is_not(None),
            Customer.bounced_at.is_not(None),
            or_(Customer.erased_at.is_not(None), Customer.email.is_(None), func.trim(Customer.email) == ""),
            invited_here,
            invited_recently,
        ]
        query = select(*columns).select_from(clicks).join(Customer, Customer.id == clicks.c.customer_id)
        return query, exclusions

    def _conversion_in_window(self, conversion: Any, clicks: Any) -> list[ColumnElement[bool]]:
        """Return the conditions for a conversion between the first click and the window's end."""
        return [
            conversion.c.campaign_id == self.campaign_id,
            conversion.c.type == "converted",
            conversion.c.occurred_at >= clicks.c.first_click,
            conversion.c.occurred_at <= add_hours(clicks.c.last_click, self.window_hours),
        ]

    def cap_room(self) -> int | None:
        """Return how many more invitations the cap allows, or None without a cap."""
        return None if self.cap is None else max(0, self.cap - self.invited)
