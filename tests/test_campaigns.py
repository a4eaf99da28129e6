"""Campaigns and promised items: the import command and the dashboard forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, PromisedItem
from survey_app.services.users import create_user

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PASSWORD = "a long enough password"


def stored(app):
    with app.app_context():
        campaigns = db.session.execute(select(Campaign).order_by(Campaign.key)).scalars().all()
        return {c.key: sorted((i.kind, i.label, tuple(i.aliases)) for i in c.items) for c in campaigns}


@pytest.mark.parametrize("example", ["campaigns.json", "campaigns.csv"])
def test_import_campaigns_reads_both_example_formats(app, example):
    result = app.test_cli_runner().invoke(args=["import-campaigns", str(EXAMPLES / example)])
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    campaigns = stored(app)
    assert set(campaigns) == {"spring-2026", "weekend-deal-en"}
    assert ("location", "Utrecht Centraal", ("Utrecht CS", "Utrecht C.S.", "Utrecht Central")) in campaigns["spring-2026"]
    with app.app_context():
        campaign = db.session.execute(select(Campaign).filter_by(key="weekend-deal-en")).scalar_one()
        assert campaign.invitation_cap == 500
        assert campaign.sent_at.isoformat() == "2026-03-06T17:00:00+00:00"


def test_both_example_formats_describe_the_same_campaigns(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["import-campaigns", str(EXAMPLES / "campaigns.json")])
    from_json = stored(app)
    result = runner.invoke(args=["import-campaigns", str(EXAMPLES / "campaigns.csv")])
    assert "2 updated" in result.output and "0 created" in result.output
    assert stored(app) == from_json


def test_reimporting_changes_nothing(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["import-campaigns", str(EXAMPLES / "campaigns.json")])
    before = stored(app)
    result = runner.invoke(args=["import-campaigns", str(EXAMPLES / "campaigns.json")])
    assert result.exit_code == 0
    assert stored(app) == before
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(PromisedItem)).scalar() == 6


def test_a_bad_row_imports_nothing_and_names_its_line(app, tmp_path):
    text = (EXAMPLES / "campaigns.csv").read_text()
    lines = text.splitlines()
    lines[3] = lines[3].replace(",location,", ",shop,")  # line 4 of the file
    lines[5] = lines[5].replace("2026-03-06T17:00:00Z", "next tuesday")  # line 6
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = app.test_cli_runner().invoke(args=["import-campaigns", str(bad)])
    assert result.exit_code != 0
    assert "line 4: kind must be one of" in result.output
    assert "line 6: sent_at 'next tuesday' is not an ISO 8601 time" in result.output
    assert "nothing was imported" in result.output
    assert stored(app) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": "Has Spaces"}, "key 'has spaces' may only hold"),
        ({"email_subject": "Hi\r\nBcc: victim@example.com"}, "email_subject may not contain line breaks"),
        ({"language": "de"}, "language must be one of nl, en"),
        ({"conversion_window_hours": 0}, "conversion_window_hours must be between 1 and 2160"),
        ({"promise": ""}, "promise is missing"),
    ],
)
def test_json_import_refuses_bad_campaign_fields(app, tmp_path, change, message):
    import json

    document = json.loads((EXAMPLES / "campaigns.json").read_text())
    document["campaigns"][1].update(change)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(document))
    result = app.test_cli_runner().invoke(args=["import-campaigns", str(path)])
    assert result.exit_code != 0
    assert f"campaign 2: {message}" in result.output
    assert stored(app) == {}


def test_a_duplicate_item_label_is_refused(app, tmp_path):
    path = tmp_path / "c.json"
    path.write_text('[{"key": "x", "name": "X", "promise": "p", "items": ['
                    '{"kind": "offer", "label": "Free day"}, {"kind": "offer", "label": "free DAY"}]}]')
    result = app.test_cli_runner().invoke(args=["import-campaigns", str(path)])
    assert "appears twice" in result.output
    assert stored(app) == {}


@pytest.fixture
def signed_in(app, client):
    with app.app_context():
        create_user("r@example.com", PASSWORD)
    client.post("/auth/login", data={"email": "r@example.com", "password": PASSWORD})
    return client


def test_campaign_pages_need_a_signed_in_user(client):
    assert client.get("/dashboard/campaigns/new").status_code == 302


def test_researcher_creates_a_campaign_and_its_items_in_the_dashboard(app, signed_in):
    response = signed_in.post("/dashboard/campaigns/new", data={
        "key": "lente", "name": "Lente", "promise": "15% korting op een bestelbus", "language": "nl",
        "channel": "email", "status": "active", "sent_at": "2026-04-01T10:00", "conversion_window_hours": "48",
    })
    assert response.status_code == 302
    detail = response.headers["Location"]
    campaign_id = int(detail.rstrip("/").rsplit("/", 1)[1])
    response = signed_in.post(f"/dashboard/campaigns/{campaign_id}/items/new", data={
        "kind": "location", "label": "Utrecht Centraal", "aliases": "Utrecht CS | Utrecht C.S.", "city": "Utrecht",
    })
    assert response.status_code == 302
    page = signed_in.get(detail).get_data(as_text=True)
    assert "Utrecht CS, Utrecht C.S." in page
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.conversion_window_hours == 48
        assert campaign.sent_at.isoformat() == "2026-04-01T08:00:00+00:00"  # Amsterdam summer time
        assert campaign.items[0].aliases == ["Utrecht CS", "Utrecht C.S."]


def test_the_form_refuses_a_duplicate_key_with_a_clear_message(app, signed_in):
    data = {"key": "dup", "name": "A", "promise": "p", "language": "nl", "channel": "email", "status": "active",
            "conversion_window_hours": "72"}
    signed_in.post("/dashboard/campaigns/new", data=data)
    page = signed_in.post("/dashboard/campaigns/new", data=data).get_data(as_text=True)
    assert "a campaign with key &#39;dup&#39; exists already" in page
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Campaign)).scalar() == 1


def test_deleting_an_item_is_a_post(app, signed_in):
    with app.app_context():
        campaign = Campaign(key="k", name="K", promise="p")
        campaign.items.append(PromisedItem(kind="offer", label="Free day"))
        db.session.add(campaign)
        db.session.commit()
        campaign_id, item_id = campaign.id, campaign.items[0].id
    assert signed_in.get(f"/dashboard/campaigns/{campaign_id}/items/{item_id}/delete").status_code == 405
    signed_in.post(f"/dashboard/campaigns/{campaign_id}/items/{item_id}/delete")
    with app.app_context():
        assert db.session.get(PromisedItem, item_id) is None


def test_the_example_campaigns_and_events_import_one_after_the_other(app):
    """What a new user does first: import the example campaigns, then the example events."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["import-campaigns", str(EXAMPLES / "campaigns.json")]).exit_code == 0
    result = runner.invoke(args=["import-events", str(EXAMPLES / "events.csv")])
    assert result.exit_code == 0, result.output
    from survey_app.models import CampaignEvent

    with app.app_context():
        events = db.session.execute(select(CampaignEvent)).scalars().all()
        assert events and {event.campaign.key for event in events} == {"spring-2026"}
        assert any(event.clicked_item and event.clicked_item.label == "Utrecht Centraal" for event in events)
