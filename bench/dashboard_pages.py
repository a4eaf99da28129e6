"""Benchmark the dashboard pages: real server time against rendering the same page from
precomputed data, in the same run.

Bulk-inserts campaigns with promised items, customers, sent and clicked events, invitations,
answers and their stored analyses (findings and item mentions included), then lets the real
`recompute_verdict` store each campaign's verdict and flag. Through the Flask test client, as a
signed-in researcher, it times (median of several runs after a warm-up, so caches are warm):

- the overview `/dashboard/` against a route that renders the same template with the rows
  computed once beforehand;
- the campaign page `/dashboard/campaign/<id>` of the largest flagged campaign against a route
  that renders the same template with its report computed once beforehand;

checks that each pair returns pages of the same size, and prints the ratios.

Run from the repository root:

    .venv/bin/python bench/dashboard_pages.py                       # 100,000 answers over 50 campaigns, SQLite
    .venv/bin/python bench/dashboard_pages.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/dashboard_pages.py --responses 10000 --campaigns 20 --runs 5

With --postgres a fresh database is created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, render_template  # noqa: E402
from sqlalchemy import create_engine, insert, make_url, select, text  # noqa: E402

from survey_app import create_app  # noqa: E402
from survey_app.analysis import ANALYZER_VERSION  # noqa: E402
from survey_app.extensions import db, login_manager  # noqa: E402
from survey_app.models import (  # noqa: E402
    CHANNELS,
    Campaign,
    CampaignEvent,
    Customer,
    Invitation,
    PromisedItem,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
    User,
)
from survey_app.services import charts, reporting  # noqa: E402
from survey_app.services.analysis import recompute_verdict  # noqa: E402

NOW = datetime.now(UTC)
CHUNK = 10_000
PLACES = ("Utrecht Centraal", "Amersfoort Centraal", "Amsterdam Sloterdijk", "Haarlem Station", "Leiden Centraal",
          "Rotterdam Centraal", "Den Haag HS", "Eindhoven Station")
BROKEN = ("{place} was dicht, helemaal voor niets gereden", "De vestiging {place} was gesloten",
          "Bij {place} stond niemand, de deur zat dicht", "{place} bleek gesloten, de website zei open")
NEUTRAL = ("Prima service, snel geholpen", "De auto was schoon en ik was snel weer weg",
           "Vriendelijk personeel bij {place}", "Te duur voor wat je krijgt", "Goed geregeld, zou het aanraden",
           "De app werkte niet mee maar verder prima")


def chunks(rows: list[dict[str, Any]]) -> Callable[[Any], None]:
    def write(model: Any) -> None:
        for start in range(0, len(rows), CHUNK):
            db.session.execute(insert(model), rows[start:start + CHUNK])
    return write


def build(responses: int, campaigns: int, seed: int) -> None:
    """Fill the database with campaigns, events, invitations, answers and analyses."""
    rng = random.Random(seed)
    per_campaign = responses // campaigns
    campaign_rows, item_rows = [], []
    item_id = 0
    for number in range(1, campaigns + 1):
        campaign_rows.append({
            "id": number, "key": f"bench-{number}", "name": f"Campagne {number}: gratis dag bij een locatie",
            "channel": CHANNELS[number % 3], "language": "nl", "promise": "Huur bij een locatie bij jou in de buurt",
            "sent_at": NOW - timedelta(days=rng.randint(1, 300)), "status": "active", "conversion_window_hours": 72,
        })
        for position, place in enumerate(PLACES[: 3 + number % 5]):
            item_id += 1
            item_rows.append({"id": item_id, "campaign_id": number, "kind": "location", "label": place,
                              "aliases": [], "city": place.split()[0], "position": position})
    chunks(campaign_rows)(Campaign)
    chunks(item_rows)(PromisedItem)
    items_of: dict[int, list[tuple[int, str]]] = {}
    for row in item_rows:
        items_of.setdefault(row["campaign_id"], []).append((row["id"], row["label"]))

    customers, events, invitations, answers, analyses, findings, mentions = [], [], [], [], [], [], []
    identifier = 0
    for campaign_id in range(1, campaigns + 1):
        # A third of the campaigns broke their promise for many respondents.
        broken_rate = 0.45 if campaign_id % 3 == 0 else 0.04
        for _ in range(per_campaign):
            identifier += 1
            sent = NOW - timedelta(days=rng.uniform(1, 60))
            customers.append({"id": identifier, "external_id": f"c{identifier}", "email": f"c{identifier}@example.com",
                              "language": "nl"})
            for kind, offset in (("sent", 0), ("clicked", 1)):
                events.append({"campaign_id": campaign_id, "customer_id": identifier, "source": "bench",
                               "provider_event_id": f"{kind}-{identifier}", "type": kind,
                               "occurred_at": sent + timedelta(hours=offset)})
            invitations.append({
                "id": identifier, "campaign_id": campaign_id, "customer_id": identifier,
                "token_hash": hashlib.sha256(str(identifier).encode()).hexdigest(), "state": "sent", "language": "nl",
                "created_at": sent, "sent_at": sent + timedelta(days=3), "expires_at": sent + timedelta(days=17),
                "opened_at": sent + timedelta(days=3, hours=2), "reminders_sent": 0, "send_attempts": 1,
            })
            item, place = rng.choice(items_of[campaign_id])
            broken = rng.random() < broken_rate
            comment = rng.choice(BROKEN if broken else NEUTRAL).format(place=place)
            score = rng.randint(0, 5) if broken else rng.choice((3, 6, 7, 8, 8, 9, 9, 10, 10))
            answered = sent + timedelta(days=3, hours=3)
            answers.append({"id": identifier, "invitation_id": identifier, "score": score, "comment": comment,
                            "language": "nl", "answered_at": answered, "updated_at": answered, "revision": 1})
            words = [word.lower() for word in re.findall(r"\w+", comment) if len(word) > 3]
            analyses.append({
                "id": identifier, "response_id": identifier, "response_revision": 1, "analyzer_version": ANALYZER_VERSION,
                "language": "nl", "polarity": -0.6 if broken else 0.3, "subjectivity": 0.5,
                "sentiment_analyzer": "bench", "broken_promise": broken, "keywords": words[:6],
            })
            start = comment.find(place)
            if start >= 0:
                mentions.append({"analysis_id": identifier, "promised_item_id": item, "city": None,
                                 "span_start": start, "span_end": start + len(place)})
            if broken:
                cue = re.search(r"dicht|gesloten|niemand", comment)
                assert cue is not None
                findings.append({"analysis_id": identifier, "category": "closed_location", "promised_item_id": item,
                                 "span_start": cue.start(), "span_end": cue.end(), "confidence": 0.9,
                                 "source": "rule"})
    for model, rows in ((Customer, customers), (CampaignEvent, events), (Invitation, invitations),
                        (Response, answers), (ResponseAnalysis, analyses), (ResponseFinding, findings),
                        (ResponseItemMention, mentions)):
        chunks(rows)(model)
    db.session.commit()
    for campaign_id in range(1, campaigns + 1):
        recompute_verdict(campaign_id)


def median_ms(client: Any, path: str, runs: int) -> tuple[float, int]:
    """Warm up once, then return the median server time in ms and the page size."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times) * 1000, len(response.data)


def sign_in(app: Flask) -> Any:
    """Return a test client carrying a researcher's session."""
    client = app.test_client()
    with app.app_context():
        user = User(email="bench@example.com", password_hash="unused", role="researcher")
        db.session.add(user)
        db.session.commit()
        session_id = user.get_id()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session.update({"_user_id": session_id, "_fresh": True, "_id": identifier})
    return client


def add_baselines(app: Flask, campaign_id: int) -> None:
    """Add routes that render the real templates from data computed once, here and now."""
    with app.test_request_context():
        query = reporting.OverviewQuery()
        rows = reporting.campaign_overview(query)
        report = reporting.campaign_report(campaign_id)
        version = charts.state_token(campaign_id)
        assert report is not None
        # Touch every lazy attribute the template reads, so the baseline never queries.
        for flag in report.flag_history:
            _ = (flag.acknowledged_by, flag.resolved_by)
    from survey_app.forms.dashboard import AcknowledgeFlagForm, ResolveFlagForm
    from survey_app.models import CHANNELS as channels, LANGUAGES

    def overview() -> str:
        return render_template(
            "dashboard/campaigns.html", rows=rows, query=query, periods=reporting.PERIODS, channels=channels,
            languages=LANGUAGES, flag_filters=reporting.FLAG_FILTERS, exports_ready=True,
        )

    def campaign() -> str:
        forms = None
        if report.flag:
            forms = (AcknowledgeFlagForm(prefix=f"ack{report.flag.id}"), ResolveFlagForm(prefix=f"res{report.flag.id}"))
        return render_template("dashboard/campaign.html", report=report, campaign=report.campaign, forms=forms,
                               charts=charts.CHARTS, chart_version=version, exports_ready=True)

    app.add_url_rule("/bench/overview", "bench_overview", overview)
    app.add_url_rule("/bench/campaign", "bench_campaign", campaign)


def run(database_url: str, args: argparse.Namespace) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": secrets.token_hex(16),
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        build(args.responses, args.campaigns, args.seed)
        print(f"built {args.responses:,} answers over {args.campaigns} campaigns in "
              f"{time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")
        biggest = db.session.execute(
            select(Campaign.id).join(Invitation, Invitation.campaign_id == Campaign.id)
            .where(Campaign.id % 3 == 0).group_by(Campaign.id).order_by(db.func.count().desc(), Campaign.id).limit(1)
        ).scalar_one()
    add_baselines(app, biggest)
    client = sign_in(app)
    pairs = (
        ("overview", "/dashboard/", "/bench/overview"),
        ("campaign page", f"/dashboard/campaign/{biggest}", "/bench/campaign"),
    )
    print(f"median of {args.runs} runs after one warm-up, Flask test client, warm caches")
    for label, real_path, baseline_path in pairs:
        real, real_size = median_ms(client, real_path, args.runs)
        baseline, baseline_size = median_ms(client, baseline_path, args.runs)
        print(f"{label:14} real {real:8.1f} ms ({real_size:,} bytes)   precomputed {baseline:7.1f} ms "
              f"({baseline_size:,} bytes)   ratio {real / baseline:6.1f}x")
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", help="server URL; a fresh database is created there and dropped after")
    args = parser.parse_args()
    if args.postgres:
        server = make_url(args.postgres).set(drivername="postgresql+psycopg")
        name = f"survey_app_bench_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(server.set(database=name).render_as_string(hide_password=False), args)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("SURVEY_APP_INSTANCE_PATH", folder)
        run(f"sqlite:///{folder}/bench.db", args)


if __name__ == "__main__":
    main()
