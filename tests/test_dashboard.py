"""The researchers' dashboard: the overview, the campaign page and the responses list."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import event

from survey_app.auth import hash_password
from survey_app.extensions import db, login_manager
from survey_app.models import User, utcnow
from survey_app.services.analysis import analyze_responses
from tests import factories

PASSWORD = "correct horse battery staple"
BROKEN = [
    (1, "Utrecht Centraal was dicht, helemaal voor niets gereden"),
    (2, "De vestiging Utrecht Centraal was gesloten"),
    (0, "Utrecht Centraal dicht, niemand aanwezig"),
    (3, "Locatie Utrecht Centraal bleek gesloten te zijn"),
    (2, "Utrecht Centraal was dicht en de website zei open"),
]
HAPPY = [(9, "Prima service, snel geholpen"), (10, "Heel vriendelijk personeel en een schone auto"),
         (8, "Goed geregeld"), (9, "Snel en makkelijk")]


@dataclass
class Scenario:
    broken_id: int
    healthy_id: int
    item_id: int
    flag_id: int


def add_answers(campaign, answers, *, clicked: bool = True) -> None:
    """Give a campaign clickers, invitations and these (score, comment) answers."""
    for score, comment in answers:
        customer = factories.customer()
        factories.event(campaign, customer, "sent")
        if clicked:
            factories.event(campaign, customer, "clicked")
        invitation, _token = factories.invitation(campaign, customer)
        factories.response(invitation, score=score, comment=comment, language="nl")


def build_scenario(name: str = "Gratis dag", item_label: str = "Utrecht Centraal",
                   broken: list[tuple[int, str]] | None = None) -> Scenario:
    """Create a campaign whose location was closed and a healthy one, analyse them, and return ids."""
    from survey_app.models import Flag

    broken_campaign = factories.campaign(name=name, channel="email", language="nl")
    item = factories.promised_item(broken_campaign, label=item_label, city="Utrecht")
    add_answers(broken_campaign, (broken or BROKEN) + HAPPY[:1])
    healthy = factories.campaign(name="Lentekorting", channel="sms", language="nl",
                                 sent_at=utcnow() - timedelta(days=200))
    factories.promised_item(healthy, kind="offer", label="15% korting")
    add_answers(healthy, HAPPY * 2)
    db.session.commit()
    analyze_responses()
    flag = db.session.execute(db.select(Flag).filter_by(campaign_id=broken_campaign.id)).scalar_one()
    return Scenario(broken_campaign.id, healthy.id, item.id, flag.id)


@functools.cache
def password_hash() -> str:
    """Hash the test password once per run: argon2 is slow on purpose."""
    return hash_password(PASSWORD)


def sign_in(app, client, role: str = "researcher", email: str = "r@example.com"):
    """Create a user and put its session into the client, as a sign-in would (tested in test_auth)."""
    with app.app_context():
        user = User(email=email, password_hash=password_hash(), role=role)
        db.session.add(user)
        db.session.commit()
        session_id = user.get_id()
    with app.test_request_context(environ_base=client.environ_base):
        # Flask-Login's "strong" protection binds the session to the client's address and agent.
        identifier = login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session.update({"_user_id": session_id, "_fresh": True, "_id": identifier})
    assert client.get("/dashboard/").status_code == 200
    return client


@pytest.fixture
def scenario(app) -> Scenario:
    with app.app_context():
        return build_scenario()


@pytest.fixture
def signed_in(app, client):
    return sign_in(app, client)


def text_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def names_in_order(page: str) -> list[str]:
    return re.findall(r'href="/dashboard/campaign/\d+">([^<]+)</a>', page)


def test_every_dashboard_page_needs_a_signed_in_user(client):
    for path in ("/dashboard/", "/dashboard/flags", "/dashboard/campaign/1", "/dashboard/campaign/1/responses",
                 "/dashboard/campaign/1/charts/funnel.svg"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]


def test_overview_ranks_the_campaign_with_an_open_flag_first_with_its_intervals(app, signed_in, scenario):
    page = text_of(signed_in.get("/dashboard/?sort=name&dir=asc"))
    assert names_in_order(page) == ["Gratis dag", "Lentekorting"]
    page = text_of(signed_in.get("/dashboard/"))
    assert names_in_order(page) == ["Gratis dag", "Lentekorting"]
    row = page.split("Gratis dag</a>", 1)[1].split("</tr>", 1)[0]
    assert "Flag open" in row
    # 6 invited, 6 answered; 5 of 6 broke the promise; NPS = (1 - 5) / 6.
    assert "100%" in row and "6 answered" in row
    assert "83% <small>(5/6; 95% CI 44%–97%)" in row
    assert re.search(r"-67 <small>\(n=6; 95% CI -\d+ to [+-]\d+\)", row)


def test_overview_sorts_by_allow_listed_columns_only(signed_in, scenario):
    by_name_desc = names_in_order(text_of(signed_in.get("/dashboard/?sort=name&dir=desc")))
    assert by_name_desc == ["Lentekorting", "Gratis dag"]
    by_nps = names_in_order(text_of(signed_in.get("/dashboard/?sort=nps&dir=desc")))
    assert by_nps == ["Lentekorting", "Gratis dag"]
    for hostile in ("name;DROP TABLE campaigns", "(CASE WHEN 1=1 THEN name END)", "__class__"):
        page = text_of(signed_in.get("/dashboard/", query_string={"sort": hostile, "dir": "asc,1"}))
        assert names_in_order(page) == ["Gratis dag", "Lentekorting"]


OVERVIEW_FILTERS = [
    ({"channel": "sms"}, ["Lentekorting"]),
    ({"channel": "email"}, ["Gratis dag"]),
    ({"channel": "fax"}, ["Gratis dag", "Lentekorting"]),
    ({"language": "en"}, []),
    ({"language": "nl", "channel": "sms"}, ["Lentekorting"]),
    ({"flag": "open"}, ["Gratis dag"]),
    ({"flag": "none"}, ["Lentekorting"]),
    ({"flag": "resolved"}, []),
    ({"period": "30d"}, ["Gratis dag"]),
    ({"period": "365d"}, ["Gratis dag", "Lentekorting"]),
]


def test_overview_filters(signed_in, scenario):
    # One database for the whole table: building the scenario is the slow part.
    for args, expected in OVERVIEW_FILTERS:
        assert names_in_order(text_of(signed_in.get("/dashboard/", query_string=args))) == expected, args


def test_overview_uses_the_same_number_of_queries_for_more_campaigns(app, signed_in, scenario):
    def count_queries() -> int:
        statements: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: statements.append(args[2])
        event.listen(engine, "before_cursor_execute", listener)
        try:
            text_of(signed_in.get("/dashboard/"))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    before = count_queries()
    with app.app_context():
        for number in range(4):
            campaign = factories.campaign(name=f"Extra {number}")
            factories.promised_item(campaign)
            add_answers(campaign, HAPPY)
        db.session.commit()
    assert count_queries() == before


def test_campaign_page_shows_verdict_items_funnel_and_highlighted_evidence(signed_in, scenario):
    page = text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}"))
    assert "reported a broken promise, above the 10% threshold" in page
    assert "<mark>" in page and re.search(r"Utrecht Centraal[^<]*<mark>(dicht|gesloten)</mark>", page)
    items = page.split('id="items"', 1)[1].split("</table>", 1)[0]
    row = items.split("Utrecht Centraal</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["5", "5"]
    funnel = page.split('id="funnel"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', funnel) == ["6", "6", "6", "6", "0", "6"]
    assert "Detractors (0–6)" in page and "83%" in page
    assert f'/dashboard/campaigns/{scenario.broken_id}">Settings</a>' in page
    assert "NPS per week" in page
    assert f"/dashboard/campaign/{scenario.broken_id}/charts/items.svg?v=" in page
    assert f'href="/dashboard/exports/responses.csv?campaign_id={scenario.broken_id}"' in page


def test_campaign_page_of_an_unknown_campaign_is_404(signed_in):
    assert signed_in.get("/dashboard/campaign/999").status_code == 404
    assert signed_in.get("/dashboard/campaign/999/responses").status_code == 404
    assert signed_in.get("/dashboard/campaign/999/charts/funnel.svg").status_code == 404


def test_campaign_page_lists_distinctive_terms(signed_in, scenario):
    page = text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}"))
    terms = page.split('id="terms"', 1)[1]
    detractor_terms = terms.split("Detractors against promoters", 1)[1].split("</table>", 1)[0]
    assert re.search(r">(dicht|gesloten|utrecht|centraal)</a>", detractor_terms)


RESPONSE_FILTERS = [
    ({}, 6),
    ({"group": "detractor"}, 5),
    ({"group": "promoter"}, 1),
    ({"group": "nonsense"}, 6),
    ({"q": "website"}, 1),
    ({"q": "%"}, 0),
    ({"category": "closed_location"}, 5),
    ({"category": "price_mismatch"}, 0),
    ({"language": "en"}, 0),
]


def test_responses_filters(signed_in, scenario):
    for args, expected in RESPONSE_FILTERS:
        page = text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}/responses", query_string=args))
        assert page.count('<article class="card response') == expected, args
        assert f"{expected} response" in page


def test_responses_filter_by_promised_item_and_show_the_timeline(signed_in, scenario):
    page = text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}/responses",
                                 query_string={"item": scenario.item_id}))
    assert page.count('<article class="card response') == 5
    assert "Email sent" in page and "Invitation created" in page and "Answered" in page
    assert "closed location · Utrecht Centraal" in page


def test_responses_are_paginated(app, signed_in, scenario):
    with app.app_context():
        from survey_app.models import Campaign

        campaign = db.session.get(Campaign, scenario.healthy_id)
        add_answers(campaign, HAPPY * 5)  # 8 + 20 answers: two pages of 25
        db.session.commit()
    first = text_of(signed_in.get(f"/dashboard/campaign/{scenario.healthy_id}/responses"))
    second = text_of(signed_in.get(f"/dashboard/campaign/{scenario.healthy_id}/responses?page=2"))
    assert first.count('<article class="card response') == 25
    assert second.count('<article class="card response') == 3
    assert 'rel="next"' in first and "page 2 of 2" in second
    assert text_of(signed_in.get(f"/dashboard/campaign/{scenario.healthy_id}/responses?page=99")).count(
        '<article class="card response') == 0


HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_LABEL = '"onmouseover=alert(1) x="'
HOSTILE_COMMENT = '<img src=x onerror=alert(1)> Utrecht Centraal was dicht $\\sqrt{x}$ </script>'


def test_hostile_names_labels_and_comments_are_escaped_on_every_page(app, signed_in):
    with app.app_context():
        scenario = build_scenario(
            name=HOSTILE_NAME, item_label=HOSTILE_LABEL + " Utrecht Centraal",
            broken=[(score, HOSTILE_COMMENT) for score, _ in BROKEN],
        )
    pages = [
        text_of(signed_in.get("/dashboard/")),
        text_of(signed_in.get("/dashboard/flags")),
        text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}")),
        text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}/responses")),
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert '"onmouseover' not in page
        assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in page
    campaign_page, responses_page = pages[2], pages[3]
    assert "&#34;onmouseover=alert(1) x=&#34; Utrecht Centraal" in campaign_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in responses_page
    # The highlighted span is built from escaped parts, never from raw text.
    assert re.search(r"&lt;img src=x onerror=alert\(1\)&gt; Utrecht Centraal was <mark>dicht</mark> "
                     r"\$\\sqrt\{x\}\$ &lt;/script&gt;", responses_page)
    # The option in the item filter carries the label as escaped text, the value as a number.
    assert f'<option value="{scenario.item_id}">&#34;onmouseover=alert(1) x=&#34; Utrecht Centraal</option>' \
        in responses_page


def test_dashboard_pages_send_the_security_headers(signed_in, scenario):
    for path in ("/dashboard/", "/dashboard/flags", f"/dashboard/campaign/{scenario.broken_id}",
                 f"/dashboard/campaign/{scenario.broken_id}/responses",
                 f"/dashboard/campaign/{scenario.broken_id}/charts/funnel.svg"):
        response = signed_in.get(path)
        assert response.status_code == 200
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if response.mimetype == "text/html":
            body = response.get_data(as_text=True)
            assert "<script" not in body and ' style="' not in body
