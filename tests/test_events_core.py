"""The ingestion core: validating one raw event, and storing events idempotently in sets."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import CampaignEvent, Customer
from survey_app.services.events import (
    EVENT_TYPE_SYNONYMS,
    Catalog,
    CampaignRef,
    EventValidator,
    EventWriter,
    FieldError,
    ValidEvent,
    natural_key,
)
from tests import factories

CATALOG = Catalog(
    {
        "spring": CampaignRef(
            id=7,
            key="spring",
            items_by_name={"utrecht centraal": 70, "utrecht": 70, "breda": 71},
            items_by_url={"https://rent.example/utrecht": 70},
        )
    }
)


def raw(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "provider_event_id": "evt-1",
        "campaign": "spring",
        "customer_id": "cust-1",
        "email": "jan@example.nl",
        "language": "nl",
        "event_type": "clicked",
        "occurred_at": "2026-03-01T13:05:00Z",
        "clicked": "",
    }
    event.update(fields)
    return event


def validate(**fields: object) -> ValidEvent | list[FieldError]:
    event = raw(**fields)
    return EventValidator(CATALOG).validate(event, event)


def reasons(outcome: ValidEvent | list[FieldError]) -> dict[str, str]:
    assert isinstance(outcome, list), outcome
    return {error.field: error.reason for error in outcome}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T13:05:00Z", datetime(2026, 3, 1, 13, 5, tzinfo=UTC)),
        ("2026-03-01 14:05:00+01:00", datetime(2026, 3, 1, 13, 5, tzinfo=UTC)),
        ("2026-07-01T14:05:00.250+02:00", datetime(2026, 7, 1, 12, 5, 0, 250000, tzinfo=UTC)),
        ("1772370300", datetime(2026, 3, 1, 13, 5, tzinfo=UTC)),
        ("1772370300.5", datetime(2026, 3, 1, 13, 5, 0, 500000, tzinfo=UTC)),
        # Day-first local time in the default zone: CET in winter, CEST in summer.
        ("01-03-2026 14:05", datetime(2026, 3, 1, 13, 5, tzinfo=UTC)),
        ("01-07-2026 14:05:30", datetime(2026, 7, 1, 12, 5, 30, tzinfo=UTC)),
    ],
)
def test_accepted_date_formats_become_utc(value, expected):
    outcome = validate(occurred_at=value)
    assert isinstance(outcome, ValidEvent), outcome
    assert outcome.occurred_at == expected


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"campaign": "autumn"}, "campaign", "unknown campaign 'autumn'"),
        ({"campaign": ""}, "campaign", "campaign is required"),
        ({"event_type": "teleported"}, "event_type", "unknown event type 'teleported'"),
        ({"event_type": None}, "event_type", "event_type is required"),
        ({"occurred_at": "yesterday"}, "occurred_at", "unparseable date 'yesterday'"),
        ({"occurred_at": "2026-03-01 14:05:00"}, "occurred_at", "no UTC offset"),
        ({"occurred_at": "31-02-2026 10:00"}, "occurred_at", "unparseable date"),
        ({"occurred_at": "1800-01-01T00:00:00Z"}, "occurred_at", "out of range"),
        ({"email": "not-an-address"}, "email", "invalid email address"),
        ({"email": "jan@example.nl\nBcc: x@evil.example"}, "email", "control character or line break"),
        ({"email": "jan@exa mple.nl"}, "email", "invalid email address"),
        ({"language": "de"}, "language", "unknown language"),
        ({"customer_id": "", "email": ""}, "customer_id", "customer_id is required"),
        ({"provider_event_id": "x" * 201}, "provider_event_id", "longer than 200 characters"),
        ({"campaign": "k" * 81}, "campaign", "longer than 80 characters"),
        ({"customer_id": "c" * 201}, "customer_id", "longer than 200 characters"),
        ({"email": "a" * 250 + "@x.nl"}, "email", "longer than 254 characters"),
        ({"clicked": "https://rent.example/" + "a" * 2000}, "clicked", "longer than 2000 characters"),
        ({"clicked": "javascript:alert(1)"}, "clicked", "not an http(s) URL"),
        ({"clicked": "ftp://rent.example/utrecht"}, "clicked", "not an http(s) URL"),
        ({"clicked": "Amsterdam Zuid"}, "clicked", "unknown promised item 'Amsterdam Zuid' for campaign 'spring'"),
        ({"occurred_at": {"when": "now"}}, "occurred_at", "must be a string"),
    ],
)
def test_invalid_fields_are_refused_with_a_reason(fields, field, fragment):
    found = reasons(validate(**fields))
    assert field in found, found
    assert fragment in found[field]


def test_every_bad_field_of_an_event_is_reported_at_once():
    found = reasons(validate(campaign="nope", email="bad", event_type="zap", occurred_at="soon"))
    assert set(found) == {"campaign", "email", "event_type", "occurred_at"}


@pytest.mark.parametrize(("name", "canonical"), sorted(EVENT_TYPE_SYNONYMS.items()))
def test_event_type_synonyms_in_any_case(name, canonical):
    for spelling in (name, name.upper(), name.replace("_", " ").title()):
        outcome = validate(event_type=spelling)
        assert isinstance(outcome, ValidEvent) and outcome.type == canonical, spelling


def test_email_is_lower_cased_and_language_codes_are_cut_to_the_language():
    outcome = validate(email="Jan.Jansen@Example.NL", language="EN-gb")
    assert isinstance(outcome, ValidEvent)
    assert (outcome.email, outcome.language) == ("jan.jansen@example.nl", "en")


def test_clicked_names_an_item_by_label_alias_or_url():
    by_label = validate(clicked="Utrecht Centraal")
    by_alias = validate(clicked="UTRECHT")
    by_url = validate(clicked="https://rent.example/utrecht")
    other_url = validate(clicked="https://rent.example/elsewhere")
    assert isinstance(by_label, ValidEvent) and by_label.clicked_item_id == 70
    assert isinstance(by_alias, ValidEvent) and by_alias.clicked_item_id == 70
    assert isinstance(by_url, ValidEvent)
    assert (by_url.clicked_item_id, by_url.clicked_url) == (70, "https://rent.example/utrecht")
    assert isinstance(other_url, ValidEvent)
    assert (other_url.clicked_item_id, other_url.clicked_url) == (None, "https://rent.example/elsewhere")


def test_the_address_is_the_customer_id_when_an_export_has_no_id():
    outcome = validate(customer_id="", email="Jan@Example.nl")
    assert isinstance(outcome, ValidEvent) and outcome.customer_external_id == "jan@example.nl"


def test_an_event_without_id_gets_the_documented_natural_key():
    first = validate(provider_event_id="", occurred_at="2026-03-01 14:05:00+01:00", clicked="breda")
    same_moment = validate(provider_event_id=None, occurred_at="1772370300", clicked="breda")
    assert isinstance(first, ValidEvent) and isinstance(same_moment, ValidEvent)
    key = json.dumps(["spring", "cust-1", "clicked", "2026-03-01T13:05:00+00:00", "breda"], separators=(",", ":"))
    assert first.provider_event_id == "nk-" + hashlib.sha256(key.encode()).hexdigest()
    assert same_moment.provider_event_id == first.provider_event_id
    other = validate(provider_event_id="", clicked="Utrecht")
    assert isinstance(other, ValidEvent) and other.provider_event_id != first.provider_event_id


def test_natural_key_normalizes_the_moment_to_utc():
    moment = datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    assert natural_key("a", "b", "opened", moment, "") == natural_key(
        "a", "b", "opened", moment.astimezone(ZoneInfo("Europe/Amsterdam")), ""
    )


def test_the_raw_event_is_kept_as_payload():
    event = raw(extra="kept")
    outcome = EventValidator(CATALOG).validate(event, event)
    assert isinstance(outcome, ValidEvent)
    assert json.loads(outcome.payload_json)["extra"] == "kept"


# Storage, on both databases.


def store(app, events: list[dict[str, object]], source: str = "test"):
    with app.app_context():
        session = db.session()
        validator = EventValidator(Catalog.load(session))
        session.rollback()
        valid = [validator.validate(event, event) for event in events]
        assert all(isinstance(event, ValidEvent) for event in valid), valid
        return EventWriter(session, source).write(valid)  # type: ignore[arg-type]


@pytest.fixture
def campaign_key(app):
    with app.app_context():
        campaign = factories.campaign(key="spring")
        factories.promised_item(campaign, label="Utrecht Centraal", aliases=["utrecht"], url="https://rent.example/u")
        db.session.commit()
        return campaign.key


def count_events(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one()


def test_storing_twice_inserts_once_and_counts_duplicates(app, campaign_key):
    events = [raw(provider_event_id=f"e{n}", customer_id=f"c{n % 3}") for n in range(10)]
    first = store(app, events)
    again = store(app, events + [raw(provider_event_id="e10", customer_id="c1")])
    assert (first.received, first.inserted, first.duplicates) == (10, 10, 0)
    assert (again.received, again.inserted, again.duplicates) == (11, 1, 10)
    assert count_events(app) == 11
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 3


def test_duplicates_within_one_batch_are_stored_once(app, campaign_key):
    result = store(app, [raw(), raw(), raw(provider_event_id="", occurred_at="1772370300")] * 2)
    assert (result.inserted, result.duplicates) == (2, 4)
    assert count_events(app) == 2


def test_the_same_id_from_another_source_is_another_event(app, campaign_key):
    store(app, [raw()], source="esp-a")
    store(app, [raw()], source="esp-b")
    assert count_events(app) == 2


def test_stored_event_reads_back_as_validated(app, campaign_key):
    store(app, [raw(clicked="https://rent.example/u", occurred_at="2026-03-01 14:05:00+01:00")])
    with app.app_context():
        event = db.session.execute(select(CampaignEvent)).scalar_one()
        assert event.occurred_at == datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
        assert event.clicked_item is not None and event.clicked_item.label == "Utrecht Centraal"
        assert event.clicked_url == "https://rent.example/u"
        assert event.customer.external_id == "cust-1" and event.campaign.key == "spring"
        assert event.payload is not None and event.payload["occurred_at"] == "2026-03-01 14:05:00+01:00"


def test_existing_customer_details_are_filled_but_never_overwritten(app, campaign_key):
    with app.app_context():
        factories.customer(external_id="known", email="old@example.nl", language=None)
        db.session.commit()
    store(app, [raw(customer_id="known", email="new@example.nl", language="en"), raw(provider_event_id="n", customer_id="fresh", email="", language="")])
    store(app, [raw(provider_event_id="n2", customer_id="fresh", email="Fresh@Example.nl", language="nl")])
    with app.app_context():
        known = db.session.execute(select(Customer).filter_by(external_id="known")).scalar_one()
        fresh = db.session.execute(select(Customer).filter_by(external_id="fresh")).scalar_one()
        assert (known.email, known.language) == ("old@example.nl", "en")
        assert (fresh.email, fresh.language) == ("fresh@example.nl", "nl")


def test_bounce_and_unsubscribe_mark_the_customer_and_the_earliest_wins(app, campaign_key):
    store(app, [raw(provider_event_id="b2", event_type="hard_bounce", occurred_at="2026-03-05T10:00:00Z")])
    store(
        app,
        [
            raw(provider_event_id="b1", event_type="bounce", occurred_at="2026-03-02T10:00:00Z"),
            raw(provider_event_id="b3", event_type="bounced", occurred_at="2026-03-09T10:00:00Z"),
            raw(provider_event_id="u1", event_type="spamreport", occurred_at="2026-03-04T10:00:00Z"),
            raw(provider_event_id="o1", event_type="open", customer_id="other"),
        ],
    )
    with app.app_context():
        customer = db.session.execute(select(Customer).filter_by(external_id="cust-1")).scalar_one()
        other = db.session.execute(select(Customer).filter_by(external_id="other")).scalar_one()
        assert customer.bounced_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
        assert customer.opted_out_at == datetime(2026, 3, 4, 10, tzinfo=UTC)
        assert other.bounced_at is None and other.opted_out_at is None
