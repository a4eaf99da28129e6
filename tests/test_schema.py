"""The database itself keeps the invariants, whoever writes: tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from survey_app.extensions import db
from survey_app.models import Campaign, Flag, Response, utcnow
from tests import factories


def insert_fails(statement: str, **params) -> None:
    with pytest.raises(IntegrityError):
        db.session.execute(text(statement), params)
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("score", [-1, 11, 100])
def test_database_refuses_a_score_outside_0_to_10(app, score):
    with app.app_context():
        invitation, _ = factories.invitation()
        db.session.commit()
        insert_fails(
            "INSERT INTO responses (invitation_id, score, comment, answered_at, updated_at, revision) "
            "VALUES (:invitation, :score, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
            invitation=invitation.id, score=score,
        )
        assert db.session.execute(select(Response)).first() is None


@pytest.mark.parametrize("score", [0, 10])
def test_database_accepts_the_ends_of_the_scale(app, score):
    with app.app_context():
        factories.response(score=score)
        db.session.commit()
        assert db.session.execute(select(Response.score)).scalar_one() == score


def test_database_refuses_a_second_response_for_one_invitation(app):
    with app.app_context():
        first = factories.response(score=4)
        db.session.commit()
        insert_fails(
            "INSERT INTO responses (invitation_id, score, comment, answered_at, updated_at, revision) "
            "VALUES (:invitation, 9, 'again', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
            invitation=first.invitation_id,
        )
        assert db.session.execute(select(Response.score)).scalars().all() == [4]


def test_database_refuses_a_response_without_an_invitation(app):
    with app.app_context():
        insert_fails(
            "INSERT INTO responses (invitation_id, score, comment, answered_at, updated_at, revision) "
            "VALUES (NULL, 5, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
        )


def test_database_refuses_a_duplicate_provider_event_id_from_one_source(app):
    with app.app_context():
        campaign, customer = factories.campaign(), factories.customer()
        factories.event(campaign, customer, "clicked", source="mailchimp", provider_event_id="abc-1")
        db.session.commit()
        with pytest.raises(IntegrityError):
            factories.event(campaign, customer, "clicked", source="mailchimp", provider_event_id="abc-1")
        db.session.rollback()


def test_the_same_provider_event_id_from_another_source_is_a_different_event(app):
    with app.app_context():
        campaign, customer = factories.campaign(), factories.customer()
        factories.event(campaign, customer, source="mailchimp", provider_event_id="abc-1")
        factories.event(campaign, customer, source="brevo", provider_event_id="abc-1")
        db.session.commit()


def test_database_refuses_an_unknown_event_type(app):
    with app.app_context():
        campaign, customer = factories.campaign(), factories.customer()
        with pytest.raises(IntegrityError):
            factories.event(campaign, customer, "purchased")
        db.session.rollback()


def test_database_refuses_a_second_invitation_per_customer_per_campaign(app):
    with app.app_context():
        campaign, customer = factories.campaign(), factories.customer()
        factories.invitation(campaign, customer)
        with pytest.raises(IntegrityError):
            factories.invitation(campaign, customer)
        db.session.rollback()


def test_database_refuses_more_than_two_reminders(app):
    with app.app_context():
        with pytest.raises(IntegrityError):
            factories.invitation(reminders_sent=3)
        db.session.rollback()


def test_a_campaign_has_at_most_one_unresolved_flag(app):
    with app.app_context():
        campaign = factories.campaign()
        db.session.add(Flag(campaign=campaign, state="open"))
        db.session.flush()
        db.session.add(Flag(campaign=campaign, state="acknowledged", acknowledged_at=utcnow()))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_resolved_flags_stay_as_history_beside_a_new_open_one(app):
    with app.app_context():
        campaign = factories.campaign()
        now = utcnow()
        db.session.add_all([
            Flag(campaign=campaign, state="resolved", acknowledged_at=now, resolved_at=now, note="fixed"),
            Flag(campaign=campaign, state="resolved", acknowledged_at=now, resolved_at=now, note="again"),
            Flag(campaign=campaign, state="open"),
        ])
        db.session.commit()


def test_a_resolved_flag_needs_its_resolution_time(app):
    with app.app_context():
        campaign = factories.campaign()
        db.session.add(Flag(campaign=campaign, state="resolved", acknowledged_at=utcnow()))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_timestamps_come_back_utc_aware(app):
    with app.app_context():
        evening_utc = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)
        amsterdam = timezone(timedelta(hours=1))
        campaign = factories.campaign(sent_at=evening_utc.astimezone(amsterdam))
        db.session.commit()
        campaign_id = campaign.id
    with app.app_context():  # a new session: the values come from the database
        reloaded = db.session.get(Campaign, campaign_id)
        assert reloaded.sent_at == evening_utc
        assert reloaded.sent_at.utcoffset() == timedelta(0)
        assert reloaded.created_at.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused_rather_than_guessed(app):
    with app.app_context():
        with pytest.raises(StatementError, match="naive datetime"):
            factories.campaign(sent_at=datetime(2026, 3, 1, 12, 0))
        db.session.rollback()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_connections_enforce_foreign_keys_and_use_wal(app):
    with app.app_context():
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
