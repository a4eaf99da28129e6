"""Benchmark sending: render and send invitations through the real code to a local SMTP sink,
against bare smtplib sending one pre-rendered message over one connection, in the same run.

The real path is `invitations.send_pending`: claim a batch, render the Dutch or English email
(Jinja, Babel, MIME), send it over one SMTP connection per batch, and commit each invitation as
sent. The baseline sends the same number of copies of one already-rendered message with
`smtplib.SMTP.sendmail` over a single connection. The sink (aiosmtpd) runs in its own process,
so it does not compete with the sender for the GIL. Rounds alternate baseline and real code;
the real code's invitations are put back to pending between rounds. Target: ratio >= 0.5.

Run from the repository root:

    .venv/bin/python bench/send_invitations.py                    # SQLite, 10,000 invitations
    .venv/bin/python bench/send_invitations.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/send_invitations.py --invitations 2000 --rounds 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, make_url, text, update  # noqa: E402

from survey_app import create_app  # noqa: E402
from survey_app.extensions import db  # noqa: E402
from survey_app.models import Campaign, CampaignEvent, Customer, Invitation  # noqa: E402
from survey_app.services import invitations  # noqa: E402
from survey_app.services.tokens import new_token  # noqa: E402

TARGET_RATIO = 0.5


def run_sink(port: int, ready: Any, count: Any) -> None:
    """Run an aiosmtpd server that accepts and counts messages, until terminated."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_data(count: int) -> int:
    """Insert a campaign and `count` clickers, create their invitations; return the campaign id."""
    now = datetime.now(UTC)
    campaign = Campaign(key="bench", name="Bench", promise="Gratis dag", language="nl",
                        sent_at=now - timedelta(days=10))
    db.session.add(campaign)
    db.session.flush()
    customers = [
        {"id": number, "external_id": f"bench-{number}", "email": f"klant{number}@example.com",
         "first_name": f"Klant {number}", "language": "en" if number % 2 else "nl",
         "created_at": now, "updated_at": now}
        for number in range(1, count + 1)
    ]
    db.session.execute(insert(Customer), customers)
    db.session.execute(insert(CampaignEvent), [
        {"campaign_id": campaign.id, "customer_id": number, "source": "bench", "provider_event_id": f"c{number}",
         "type": "clicked", "occurred_at": now - timedelta(days=5), "received_at": now}
        for number in range(1, count + 1)
    ])
    db.session.commit()
    started = time.perf_counter()
    created = invitations.create_invitations(campaign.id)
    print(f"created {created} invitations in {time.perf_counter() - started:.2f} s")
    return campaign.id


def reset_invitations() -> None:
    db.session.execute(update(Invitation).values(state="pending", sent_at=None, message_id=None, send_attempts=0))
    db.session.commit()


def time_baseline(port: int, data: bytes, count: int) -> float:
    """Send `count` copies of one pre-rendered message over one smtplib connection."""
    started = time.perf_counter()
    session = smtplib.SMTP("127.0.0.1", port)
    for _ in range(count):
        session.sendmail("survey@example.com", ["klant1@example.com"], data)
    session.quit()
    return time.perf_counter() - started


def time_real(campaign_id: int, count: int) -> float:
    started = time.perf_counter()
    report = invitations.send_pending(campaign_id=campaign_id)
    elapsed = time.perf_counter() - started
    if report.sent != count:
        raise SystemExit(f"the real run sent {report.sent} of {count}: {report.stopped}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a fresh database is created and dropped")
    args = parser.parse_args()

    port = free_port()
    ready = multiprocessing.Event()
    received = multiprocessing.Value("q", 0)
    sink = multiprocessing.Process(target=run_sink, args=(port, ready, received), daemon=True)
    sink.start()
    ready.wait(30)

    admin = None
    database = None
    with tempfile.TemporaryDirectory() as instance:
        if args.postgres:
            database = f"bench_send_{secrets.token_hex(4)}"
            admin = create_engine(make_url(args.postgres).set(drivername="postgresql+psycopg"),
                                  isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
            url = make_url(args.postgres).set(drivername="postgresql+psycopg", database=database)
            uri = url.render_as_string(hide_password=False)
        else:
            uri = f"sqlite:///{os.path.join(instance, 'bench.db')}"
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": secrets.token_hex(32), "TESTING": False,
            "BASE_URL": "https://surveys.example.test", "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port, "MAIL_BATCH_SIZE": args.batch_size,
        })
        try:
            with app.app_context():
                db.create_all()
                campaign_id = build_data(args.invitations)
                row = invitations.MailRow.load([db.session.execute(text("SELECT min(id) FROM invitations")).scalar()])[0]
                prerendered = invitations.Renderer().render(row, new_token()[0]).data
                db.session.rollback()
                print(f"database: {db.engine.dialect.name}; {args.invitations} invitations per run; "
                      f"message size {len(prerendered)} bytes; batch size {args.batch_size}")
                baseline_times, real_times = [], []
                for round_number in range(1, args.rounds + 1):
                    baseline_times.append(time_baseline(port, prerendered, args.invitations))
                    if round_number > 1:
                        reset_invitations()
                    real_times.append(time_real(campaign_id, args.invitations))
                    print(f"round {round_number}: baseline {args.invitations / baseline_times[-1]:,.0f} msg/s, "
                          f"survey_app {args.invitations / real_times[-1]:,.0f} msg/s")
        finally:
            with app.app_context():
                db.engine.dispose()
            if admin is not None:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                admin.dispose()
            sink.terminate()
    baseline = args.invitations / statistics.median(baseline_times)
    real = args.invitations / statistics.median(real_times)
    ratio = real / baseline
    print(f"sink received {received.value} messages")
    print(f"bare smtplib, one pre-rendered message: {baseline:,.0f} msg/s (median of {args.rounds})")
    print(f"survey_app render + send + commit:      {real:,.0f} msg/s (median of {args.rounds})")
    print(f"ratio: {ratio:.2f}x (target >= {TARGET_RATIO}x) {'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
