"""Campaign charts: SVG from Figure objects, literal user text, cached per campaign state."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib
import pytest

from survey_app.extensions import db
from survey_app.models import Campaign
from survey_app.services import charts
from survey_app.services.analysis import analyze_responses
from tests.test_dashboard import BROKEN, add_answers, build_scenario, sign_in

HOSTILE_NAME = "Ba$$in <script>alert(1)</script>"
HOSTILE_LABEL = '$\\sqrt{x}$ "onmouseover=alert(1) Utrecht Centraal'


@pytest.fixture
def hostile(app):
    charts.clear_cache()
    with app.app_context():
        return build_scenario(name=HOSTILE_NAME, item_label=HOSTILE_LABEL)


def test_chart_module_never_imports_pyplot():
    source = Path(charts.__file__).read_text(encoding="utf-8")
    imported = [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in imported for alias in node.names] + [
        node.module or "" for node in imported if isinstance(node, ast.ImportFrom)
    ]
    assert not [name for name in names if "pyplot" in name or name == "pylab"]


def test_charts_are_svg_with_nosniff_and_draw_user_text_literally(app, client, hostile):
    sign_in(app, client)
    response = client.get(f"/dashboard/campaign/{hostile.broken_id}/charts/items.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<?xml") and "<svg" in svg
    # The label is drawn as text, not as mathtext (which would leave no "$" and draw a root sign).
    assert HOSTILE_LABEL + "</text>" in svg
    assert "Ba$$in &lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "<script" not in svg
    assert matplotlib.rcParams["text.usetex"] is False


def test_every_chart_renders_for_a_campaign_with_answers(app, client, hostile):
    sign_in(app, client)
    for name in charts.CHARTS:
        response = client.get(f"/dashboard/campaign/{hostile.broken_id}/charts/{name}.svg")
        assert response.status_code == 200, name
        assert b"<svg" in response.data
    assert client.get(f"/dashboard/campaign/{hostile.broken_id}/charts/nothing.svg").status_code == 404


def test_an_unchanged_campaign_is_not_redrawn_and_a_changed_one_is(app, hostile, monkeypatch):
    drawn: list[str] = []
    real_render = charts.render

    def counting_render(name: str, campaign_id: int) -> bytes | None:
        drawn.append(name)
        return real_render(name, campaign_id)

    monkeypatch.setattr(charts, "render", counting_render)
    with app.app_context():
        first = charts.campaign_chart(hostile.broken_id, "funnel")
        again = charts.campaign_chart(hostile.broken_id, "funnel")
        token = charts.state_token(hostile.broken_id)
        assert drawn == ["funnel"] and again == first
        add_answers(db.session.get(Campaign, hostile.broken_id), BROKEN[:1])
        db.session.commit()
        analyze_responses()
        changed = charts.campaign_chart(hostile.broken_id, "funnel")
        assert drawn == ["funnel", "funnel"]
        assert changed != first
        assert charts.state_token(hostile.broken_id) != token


def test_campaign_page_gives_each_chart_alt_text_and_its_numbers_in_a_table(app, client, hostile):
    sign_in(app, client)
    page = client.get(f"/dashboard/campaign/{hostile.broken_id}").get_data(as_text=True)
    for name, spec in charts.CHARTS.items():
        assert f'/charts/{name}.svg?v=' in page
        assert f'alt="{spec.alt}"' in page
    items = page.split('id="items"', 1)[1].split("</section>", 1)[0]
    assert "<table" in items and "<img" in items
