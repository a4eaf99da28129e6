"""The demo: a car-rental company whose "free day near you" campaign promised five locations that
were all closed, beside healthy campaigns, with customers, events, invitations and answers.

Only demo rows are replaced on a refresh (campaign keys and customer ids start with "demo-"), so
running the demo against a database with real data leaves that data alone.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert, select

from survey_app.extensions import db
from survey_app.models import (
    Campaign,
    CampaignEvent,
    CampaignVerdict,
    Customer,
    Flag,
    Invitation,
    PromisedItem,
    Response,
    User,
    utcnow,
)
from survey_app.services.analysis import analyze_responses
from survey_app.services.invitations import write_demo_outbox
from survey_app.services.tokens import new_token
from survey_app.services.users import create_user, set_password

DEMO_PREFIX = "demo-"
DEMO_SOURCE = "demo"
DEMO_LOGIN = "researcher@demo.example"
RESPONSE_RATE = 0.38
EMPTY_COMMENT_RATE = 0.08


@dataclass(frozen=True)
class DemoCampaign:
    key: str
    name: str
    promise: str
    language: str
    days_ago: int
    items: tuple[dict[str, Any], ...]
    reach: float  # share of customers the campaign was sent to
    click_rate: float
    conversion_rate: float  # share of clickers who converted
    score_groups: tuple[float, float, float]  # detractor, passive, promoter shares


CAMPAIGNS = (
    DemoCampaign(
        key="gratis-dag",
        name="Gratis dag bij een locatie in de buurt",
        promise="Huur bij een locatie bij jou in de buurt en krijg een gratis dag",
        language="nl",
        days_ago=30,
        items=(
            {"kind": "offer", "label": "Gratis huurdag", "aliases": ["gratis dag", "free day", "extra dag"]},
            {"kind": "location", "label": "Utrecht Centraal", "aliases": ["Utrecht CS", "Utrecht Central"],
             "city": "Utrecht", "address": "Stationsplein 1, Utrecht"},
            {"kind": "location", "label": "Amersfoort Centraal", "aliases": ["Amersfoort CS"],
             "city": "Amersfoort", "address": "Stationsplein 12, Amersfoort"},
            {"kind": "location", "label": "Amsterdam Sloterdijk", "aliases": ["Sloterdijk", "A'dam Sloterdijk"],
             "city": "Amsterdam", "address": "Orlyplein 3, Amsterdam"},
            {"kind": "location", "label": "Haarlem Station", "aliases": ["Haarlem"],
             "city": "Haarlem", "address": "Stationsplein 5, Haarlem"},
            {"kind": "location", "label": "Leiden Centraal", "aliases": ["Leiden CS", "Leiden"],
             "city": "Leiden", "address": "Stationsweg 2, Leiden"},
        ),
        reach=0.8,
        click_rate=0.22,
        conversion_rate=0.03,
        score_groups=(0.70, 0.18, 0.12),
    ),
    DemoCampaign(
        key="lente-bestelbus",
        name="Lentekorting bestelbus",
        promise="Lentekorting: 15% korting op een bestelbus",
        language="nl",
        days_ago=60,
        items=({"kind": "offer", "label": "15% korting", "aliases": ["lentekorting", "15% off"],
                "promised_value": "15%"},
               {"kind": "product", "label": "Bestelbus", "aliases": ["busje", "van"]}),
        reach=0.5,
        click_rate=0.18,
        conversion_rate=0.45,
        score_groups=(0.15, 0.30, 0.55),
    ),
    DemoCampaign(
        key="summer-ev-upgrade",
        name="Summer EV upgrade",
        promise="Summer upgrade: free upgrade to an electric car",
        language="en",
        days_ago=90,
        items=({"kind": "offer", "label": "Free EV upgrade", "aliases": ["free upgrade", "gratis upgrade"]},
               {"kind": "product", "label": "Electric car", "aliases": ["EV", "elektrische auto"]}),
        reach=0.5,
        click_rate=0.2,
        conversion_rate=0.5,
        score_groups=(0.15, 0.30, 0.55),
    ),
    DemoCampaign(
        key="weekend-39",
        name="Weekendactie 39 euro",
        promise="Weekendactie: een auto voor 39 euro per dag",
        language="nl",
        days_ago=15,
        items=({"kind": "price", "label": "39 euro per dag", "aliases": ["39 euro", "€39"],
                "promised_value": "39.00"},
               {"kind": "offer", "label": "Weekendactie", "aliases": ["weekend deal", "weekenddeal"]}),
        reach=0.6,
        click_rate=0.2,
        conversion_rate=0.4,
        score_groups=(0.30, 0.30, 0.40),
    ),
)

FIRST_NAMES = {
    "nl": ("Anouk", "Bram", "Daan", "Emma", "Fleur", "Jeroen", "Lotte", "Mohamed", "Noor", "Pieter",
           "Sanne", "Sem", "Tess", "Yara", "Ruud", "Ilse", "Koen", "Fatima", "Wouter", "Esther"),
    "en": ("Alice", "Ben", "Chloe", "David", "Ella", "Farah", "George", "Hannah", "Ivan", "Julia",
           "Kofi", "Laura", "Marco", "Nina", "Oliver", "Priya", "Sam", "Tom", "Wei", "Zoe"),
}


@dataclass
class DemoSummary:
    login: str
    password: str
    survey_link: str | None
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """Return what a person starting the demo needs to know, as printable text."""
        lines = ["Demo data is ready:"]
        lines += [f"  {name}: {count}" for name, count in self.counts.items()]
        lines += ["", f"Researcher login: {self.login}", f"Password:         {self.password}"]
        if self.survey_link:
            lines.append(f"A survey link:    {self.survey_link}")
        return "\n".join(lines)


def load_answers() -> dict[str, dict[str, dict[str, list[str]]]]:
    """Return the hand-written demo answers per campaign, language and score group."""
    text = resources.files("survey_app.demo").joinpath("answers.json").read_text(encoding="utf-8")
    return json.loads(text)


def build_demo(customers: int = 3000, seed: int = 2020) -> DemoSummary:
    """Replace the demo rows with a freshly generated, reproducible demo data set."""
    rng = random.Random(seed)
    clear_demo()
    now = utcnow()
    customer_rows = make_customers(customers, rng)
    ids = insert_returning_ids(Customer, customer_rows, "external_id")
    languages = {ids[row["external_id"]]: row["language"] for row in customer_rows}
    answers = load_answers()
    counts = {"campaigns": 0, "customers": len(customer_rows), "events": 0, "invitations": 0, "answers": 0}
    already_invited: set[int] = set()
    survey_link = None
    for spec in CAMPAIGNS:
        campaign = create_campaign(spec, now)
        counts["campaigns"] += 1
        events, not_converted = make_events(spec, campaign, list(languages), rng)
        db.session.execute(insert(CampaignEvent), events)
        counts["events"] += len(events)
        invitees = [c for c in not_converted if c not in already_invited]
        already_invited.update(invitees)
        link, invited, answered = invite_and_answer(spec, campaign, invitees, languages, answers, rng, now)
        survey_link = survey_link or link
        counts["invitations"] += invited
        counts["answers"] += answered
    password = ensure_demo_user()
    db.session.commit()
    analysed = analyze_responses()
    counts["flagged campaigns"] = analysed.flagged
    write_demo_outbox(survey_link)
    return DemoSummary(login=DEMO_LOGIN, password=password, survey_link=survey_link, counts=counts)


def clear_demo() -> None:
    """Delete the demo campaigns and customers and everything hanging off them."""
    demo_campaigns = select(Campaign.id).where(Campaign.key.startswith(DEMO_PREFIX))
    demo_customers = select(Customer.id).where(Customer.external_id.startswith(DEMO_PREFIX))
    # Delete children explicitly rather than rely on ON DELETE CASCADE, which SQLite applies
    # only when foreign keys are on for the connection that deletes.
    invitations = select(Invitation.id).where(
        Invitation.campaign_id.in_(demo_campaigns) | Invitation.customer_id.in_(demo_customers)
    )
    db.session.execute(delete(Response).where(Response.invitation_id.in_(invitations)))
    db.session.execute(delete(Invitation).where(Invitation.id.in_(invitations)))
    db.session.execute(delete(CampaignEvent).where(
        CampaignEvent.campaign_id.in_(demo_campaigns) | CampaignEvent.customer_id.in_(demo_customers)
    ))
    db.session.execute(delete(Flag).where(Flag.campaign_id.in_(demo_campaigns)))
    db.session.execute(delete(CampaignVerdict).where(CampaignVerdict.campaign_id.in_(demo_campaigns)))
    db.session.execute(delete(PromisedItem).where(PromisedItem.campaign_id.in_(demo_campaigns)))
    db.session.execute(delete(Campaign).where(Campaign.key.startswith(DEMO_PREFIX)))
    db.session.execute(delete(Customer).where(Customer.external_id.startswith(DEMO_PREFIX)))
    db.session.flush()


def make_customers(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Return customer rows: about 70% Dutch-speaking, 30% English-speaking."""
    rows = []
    for number in range(1, count + 1):
        language = "nl" if rng.random() < 0.7 else "en"
        first_name = rng.choice(FIRST_NAMES[language])
        rows.append({
            "external_id": f"{DEMO_PREFIX}{number:06d}",
            "email": f"{first_name.lower()}.{number}@demo.example",
            "first_name": first_name,
            "language": language,
        })
    return rows


def insert_returning_ids(model: type[db.Model], rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """Insert rows in bulk and return their new ids by the given unique column."""
    db.session.execute(insert(model), rows)
    column = getattr(model, key)
    found = db.session.execute(select(column, model.id).where(column.in_([row[key] for row in rows])))
    return {value: id_ for value, id_ in found}


def create_campaign(spec: DemoCampaign, now: datetime) -> Campaign:
    """Insert one demo campaign with its promised items."""
    campaign = Campaign(
        key=DEMO_PREFIX + spec.key,
        name=spec.name,
        promise=spec.promise,
        language=spec.language,
        channel="email",
        status="active",
        sent_at=now - timedelta(days=spec.days_ago),
        conversion_window_hours=current_app.config["CONVERSION_WINDOW_HOURS"],
    )
    for position, item in enumerate(spec.items):
        campaign.items.append(PromisedItem(position=position, **item))
    db.session.add(campaign)
    db.session.flush()
    return campaign


def make_events(
    spec: DemoCampaign, campaign: Campaign, customer_ids: list[int], rng: random.Random
) -> tuple[list[dict[str, Any]], list[int]]:
    """Return the campaign's event rows and the customers who clicked but did not convert."""
    assert campaign.sent_at is not None
    events: list[dict[str, Any]] = []
    not_converted = []
    items = campaign.items

    def event(customer_id: int, type_: str, at: datetime, item: PromisedItem | None = None) -> None:
        events.append({
            "campaign_id": campaign.id,
            "customer_id": customer_id,
            "source": DEMO_SOURCE,
            "provider_event_id": f"{campaign.key}-{customer_id}-{type_}-{len(events)}",
            "type": type_,
            "occurred_at": at,
            "clicked_item_id": item.id if item else None,
            "clicked_url": f"https://rijdnu.example/actie/{campaign.key}" if type_ == "clicked" else None,
            "payload": None,
            "received_at": at,
        })

    for customer_id in customer_ids:
        if rng.random() > spec.reach:
            continue
        sent = campaign.sent_at + timedelta(minutes=rng.randint(0, 120))
        event(customer_id, "sent", sent)
        if rng.random() > 0.45:
            continue
        opened = sent + timedelta(minutes=rng.randint(5, 60 * 24))
        event(customer_id, "opened", opened)
        if rng.random() > spec.click_rate / 0.45:
            continue
        clicked = opened + timedelta(minutes=rng.randint(0, 30))
        # The car-rental story: people click one location after another, and every one is closed.
        for _ in range(rng.choice((1, 1, 2, 3, 5)) if spec.key == "gratis-dag" else 1):
            event(customer_id, "clicked", clicked, rng.choice(items))
            clicked += timedelta(minutes=rng.randint(1, 4))
        if rng.random() < spec.conversion_rate:
            event(customer_id, "converted", clicked + timedelta(hours=rng.randint(1, 48)))
        else:
            not_converted.append(customer_id)
    return events, not_converted


def invite_and_answer(
    spec: DemoCampaign,
    campaign: Campaign,
    invitees: list[int],
    languages: dict[int, str],
    answers: dict[str, dict[str, dict[str, list[str]]]],
    rng: random.Random,
    now: datetime,
) -> tuple[str | None, int, int]:
    """Invite the non-converters, let some of them answer, and return one open survey link."""
    assert campaign.sent_at is not None
    pools = {
        (language, group): rng.sample(comments, len(comments))
        for language, groups in answers[spec.key].items()
        for group, comments in groups.items()
    }
    link = None
    answered = 0
    for customer_id in invitees:
        language = languages[customer_id]
        token, token_hash = new_token()
        sent_at = campaign.sent_at + timedelta(days=4, minutes=rng.randint(0, 600))
        invitation = Invitation(
            campaign_id=campaign.id,
            customer_id=customer_id,
            token_hash=token_hash,
            state="sent",
            language=language,
            created_at=sent_at,
            sent_at=sent_at,
            expires_at=max(sent_at, now) + timedelta(days=current_app.config["INVITATION_EXPIRY_DAYS"]),
        )
        db.session.add(invitation)
        if rng.random() < RESPONSE_RATE:
            group = rng.choices(("detractor", "passive", "promoter"), weights=spec.score_groups)[0]
            score = {"detractor": rng.randint(0, 6), "passive": rng.randint(7, 8), "promoter": rng.randint(9, 10)}[group]
            pool = pools.get((language, group)) or []
            comment = "" if rng.random() < EMPTY_COMMENT_RATE or not pool else pool.pop()
            answered_at = sent_at + timedelta(hours=rng.randint(1, 72))
            invitation.opened_at = answered_at - timedelta(minutes=rng.randint(1, 10))
            invitation.response = Response(
                score=score, comment=comment, language=language, answered_at=answered_at, updated_at=answered_at
            )
            answered += 1
        elif link is None:
            link = f"{current_app.config['BASE_URL']}/s/{token}"
    db.session.flush()
    return link, len(invitees), answered


def ensure_demo_user() -> str:
    """Create or reset the demo researcher and return its new random password."""
    password = secrets.token_urlsafe(12)
    user = db.session.execute(select(User).filter_by(email=DEMO_LOGIN)).scalar_one_or_none()
    if user is None:
        create_user(DEMO_LOGIN, password, role="admin")
    else:
        set_password(user, password)
    return password
