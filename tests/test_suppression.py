"""The suppression list: an erased person never comes back through an import or a webhook, and is
never eligible for a survey."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, CampaignEvent, Customer, Suppression, utcnow
from survey_app.services import privacy
from survey_app.services.eligibility import eligible_customer_ids
from tests import factories
from tests.test_csv_import import HEADER, summary
from tests.test_webhook import event as webhook_event
from tests.test_webhook import post

EMAIL = "jan@example.nl"
EXTERNAL_ID = "cust-1"


@pytest.fixture
def erased(app):
    """Jan clicked spring-2026 and was then erased on request."""
    with app.app_context():
        campaign = factories.campaign(key="spring-2026")
        factories.promised_item(campaign, label="Utrecht Centraal", url="https://rijdnu.example/utrecht")
        jan = factories.customer(external_id=EXTERNAL_ID, email=EMAIL)
        factories.event(campaign, jan, "clicked", occurred_at=utcnow() - timedelta(days=10))
        db.session.commit()
        privacy.erase_customer(email=EMAIL)
        return campaign.id


def customers_with_email(app, email: str) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(Customer).where(func.lower(Customer.email) == email.lower())
        ).scalar_one()


def row(n: int, customer_id: str, email: str) -> str:
    return f"e{n},spring-2026,{customer_id},{email},nl,clicked,2026-03-01T09:13:30+01:00,Utrecht Centraal"


def test_the_csv_import_drops_an_erased_persons_rows_and_counts_them(app, runner, erased, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("\n".join([
        HEADER,
        row(1, "crm-new-id", " JAN@Example.NL"),  # same address, new id, other case
        row(2, EXTERNAL_ID, ""),  # the old external id, no address
        row(3, "cust-2", "piet@example.nl"),
    ]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 0, result.output
    assert summary(result.output) == (3, 1, 0, 0)
    assert "suppressed 2" in result.output
    assert customers_with_email(app, EMAIL) == 0
    with app.app_context():
        ids = set(db.session.execute(select(Customer.external_id)).scalars())
        assert ids == {None, "cust-2"}
        piet = db.session.execute(select(Customer.id).filter_by(external_id="cust-2")).scalar_one()
        assert eligible_customer_ids(erased) == [piet]


def test_the_webhook_accepts_an_erased_persons_events_and_stores_nothing(app, client, erased, runner):
    secret = runner.invoke(args=["create-source", "esp"]).output.strip().splitlines()[-1]
    with app.app_context():
        events_before = db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one()
    response = post(client, secret, [
        webhook_event(1, customer_id="esp-99", email="Jan@Example.nl"),
        webhook_event(2, customer_id=EXTERNAL_ID, email=None),
        webhook_event(3, customer_id=EMAIL, email=None),  # an export keyed by address
    ])
    # Accepted (a refusal would make the provider retry for a day), and nothing stored.
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["inserted"] == 0
    assert customers_with_email(app, EMAIL) == 0
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one() == events_before
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 1


def test_an_event_for_someone_else_in_the_same_batch_is_stored(app, client, erased, runner):
    secret = runner.invoke(args=["create-source", "esp"]).output.strip().splitlines()[-1]
    response = post(client, secret, [webhook_event(1, email=EMAIL), webhook_event(2)])
    assert response.get_json() == {"received": 2, "inserted": 1, "duplicates": 0, "suppressed": 1}
    assert customers_with_email(app, "c2@example.nl") == 1


def test_a_suppressed_address_that_slipped_in_is_never_eligible(app, erased):
    with app.app_context():
        campaign = db.session.get(Campaign, erased)
        # Written past ingestion (as a direct database insert would): the backstop still holds.
        twin = factories.customer(external_id="legacy-7", email=" Jan@Example.nl ")
        other = factories.customer()
        for customer in (twin, other):
            factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=10))
        db.session.commit()
        assert eligible_customer_ids(erased) == [other.id]


def test_the_list_holds_keyed_normalised_hashes_and_no_address(app, erased):
    with app.app_context():
        stored = db.session.execute(select(Suppression.email_hash, Suppression.reason)).all()
        assert sorted(reason for _digest, reason in stored) == ["erased", "erased-external-id"]
        assert privacy.email_hash(EMAIL) in {digest for digest, _reason in stored}
        digest = privacy.email_hash(" Jan@Example.NL ")
        assert digest == privacy.email_hash("jan@example.nl")
        key = app.config["SECRET_KEY"].encode()
        assert digest == hmac.new(key, b"jan@example.nl", hashlib.sha256).hexdigest()
        assert digest != hashlib.sha256(b"jan@example.nl").hexdigest()
        app.config["SUPPRESSION_KEY"] = "a dedicated key"
        assert privacy.email_hash("jan@example.nl") != digest


def test_a_pending_invitation_to_a_suppressed_address_is_cancelled_not_sent(app, erased):
    """An invitation created before the erasure of another record with the same address."""
    from survey_app.models import Invitation
    from survey_app.services.invitations import send_pending

    with app.app_context():
        twin = factories.customer(external_id="other-system-id", email=EMAIL.upper())
        invitation, _ = factories.invitation(db.session.get(Campaign, erased), twin, state="pending", sent_at=None)
        db.session.commit()
        report = send_pending(campaign_id=erased)
        assert (report.sent, report.cancelled) == (0, 1)
        stored = db.session.get(Invitation, invitation.id)
        assert (stored.state, stored.failure_reason) == ("cancelled", "address on the suppression list")
    outbox = app.config["MAIL_OUTBOX_DIR"]
    import os

    assert not os.path.isdir(outbox) or not os.listdir(outbox)
