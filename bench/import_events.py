"""Benchmark the CSV event import against a raw-driver baseline in the same run.

Generates an events CSV (default 1,000,000 rows, 100,000 customers, 4 campaigns), imports it
through the real service (full validation, customer upsert, dedupe) into a fresh SQLite file
and, with --postgres URL, into a freshly created PostgreSQL database that is dropped afterwards.
The baseline inserts the same event rows with the bare driver: sqlite3 executemany in one
transaction, psycopg COPY. Targets: real/baseline >= 0.25x, peak memory growth < 200 MB.

Run from the repository root:  .venv/bin/python bench/import_events.py [--rows N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from survey_app import create_app  # noqa: E402
from survey_app.extensions import db  # noqa: E402
from survey_app.models import Campaign, PromisedItem  # noqa: E402
from survey_app.services import csv_import  # noqa: E402

RATIO_TARGET = 0.25
MEMORY_TARGET_MB = 200
CAMPAIGNS = [f"bench-{n}" for n in range(4)]
ITEMS = ["Utrecht Centraal", "Breda Station", "Amsterdam Zuid", "Rotterdam Blaak", "Zwolle"]
TYPES = ["sent", "delivered", "opened", "open", "clicked", "click", "converted", "bounce", "unsubscribe"]
HEADER = ["provider_event_id", "campaign", "customer_id", "email", "language", "event_type", "occurred_at", "clicked"]


def generate(path: Path, rows: int, customers: int, seed: int = 2020) -> None:
    """Write the events CSV, streaming."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            customer = rng.randrange(customers)
            event_type = TYPES[n % len(TYPES)]
            clicked = ""
            if event_type in ("clicked", "click"):
                clicked = ITEMS[rng.randrange(len(ITEMS))] if n % 2 else f"https://rijdnu.example/{rng.randrange(len(ITEMS))}"
            moment = start + timedelta(seconds=n)
            writer.writerow(
                [
                    f"evt-{n:08d}",
                    CAMPAIGNS[customer % len(CAMPAIGNS)],
                    f"cust-{customer:06d}",
                    f"customer{customer}@example.nl",
                    "nl" if customer % 3 else "en",
                    event_type,
                    moment.isoformat() if n % 2 else moment.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                    clicked,
                ]
            )


class PeakRss:
    """Sample the resident set size in a thread and keep the peak."""

    def __init__(self) -> None:
        self.start = self.peak = self.rss()
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / (1024 * 1024)


def make_app(url: str) -> Any:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(16), "TESTING": True})
    with app.app_context():
        db.create_all()
        for key in CAMPAIGNS:
            campaign = Campaign(key=key, name=key, promise="Een gratis dag bij een locatie bij jou in de buurt")
            db.session.add(campaign)
            for position, label in enumerate(ITEMS):
                db.session.add(
                    PromisedItem(campaign=campaign, kind="location", label=label, aliases=[],
                                 url=f"https://rijdnu.example/{position}", position=position)
                )
        db.session.commit()
    return app


def real_import(app: Any, path: Path) -> tuple[float, float, csv_import.ImportReport]:
    with app.app_context():
        with PeakRss() as memory:
            started = time.perf_counter()
            report = csv_import.import_events(path, source="bench")
            elapsed = time.perf_counter() - started
        db.engine.dispose()
    assert report.rejected == 0, report.errors[:5]
    return elapsed, memory.growth_mb, report


def baseline_rows(path: Path, app: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Return (customers, events) rows as the driver baseline inserts them."""
    with app.app_context():
        campaign_ids = dict(db.session.execute(text("SELECT key, id FROM campaigns")).all())
    synonyms = {"delivered": "sent", "open": "opened", "click": "clicked", "bounce": "bounced", "unsubscribe": "unsubscribed"}
    customers: dict[str, int] = {}
    customer_rows = []
    events = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            customer_id = customers.get(row[2])
            if customer_id is None:
                customer_id = customers[row[2]] = len(customers) + 1
                customer_rows.append((customer_id, row[2], row[3], row[4]))
            moment = datetime.fromisoformat(row[6])
            events.append(
                (campaign_ids[row[1]], customer_id, "bench", row[0], synonyms.get(row[5], row[5]), moment, None,
                 row[7] or None, "{}")
            )
    return customer_rows, events


def sqlite_baseline(path: Path, workdir: Path) -> float:
    url = f"sqlite:///{workdir / 'baseline.db'}"
    app = make_app(url)
    customers, events = baseline_rows(path, app)
    with app.app_context():
        db.engine.dispose()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    connection = sqlite3.connect(workdir / "baseline.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO customers (id, external_id, email, language, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(*row, now, now) for row in customers],
    )
    connection.execute("COMMIT")
    rows = [(*row[:5], row[5].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[6:], now) for row in events]
    started = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO campaign_events (campaign_id, customer_id, source, provider_event_id, type, occurred_at,"
        " clicked_item_id, clicked_url, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


def postgres_baseline(path: Path, url: str) -> float:
    import psycopg

    app = make_app(url)
    customers, events = baseline_rows(path, app)
    with app.app_context():
        db.engine.dispose()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as connection:
        with connection.cursor() as cursor:
            with cursor.copy("COPY customers (id, external_id, email, language, created_at, updated_at) FROM STDIN") as copy:
                for row in customers:
                    copy.write_row((*row, now, now))
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY campaign_events (campaign_id, customer_id, source, provider_event_id, type, occurred_at,"
                " clicked_item_id, clicked_url, payload, received_at) FROM STDIN"
            ) as copy:
                for row in events:
                    copy.write_row((*row, now))
        connection.commit()
        elapsed = time.perf_counter() - started
    return len(events) / elapsed


def fresh_postgres_database(server_url: str) -> Iterator[str]:
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"survey_app_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def report_line(name: str, rows: int, elapsed: float, growth: float, baseline: float, label: str,
                report: csv_import.ImportReport) -> bool:
    rate = rows / elapsed
    ratio = rate / baseline
    ratio_met, memory_met = ratio >= RATIO_TARGET, growth < MEMORY_TARGET_MB
    print(f"{name}: imported {rows:,} rows in {elapsed:.1f} s = {rate:,.0f} rows/s "
          f"(inserted {report.inserted:,}, duplicates {report.duplicates:,}, rejected {report.rejected:,})")
    print(f"{name}: baseline ({label}) {baseline:,.0f} rows/s; ratio {ratio:.2f}x "
          f"(target >= {RATIO_TARGET}x: {'met' if ratio_met else 'NOT met'})")
    print(f"{name}: peak memory growth during the import {growth:.0f} MB "
          f"(target < {MEMORY_TARGET_MB} MB: {'met' if memory_met else 'NOT met'})")
    return ratio_met and memory_met


def run(arguments: argparse.Namespace) -> int:
    results = []
    with tempfile.TemporaryDirectory(prefix="survey-app-bench-") as directory:
        workdir = Path(directory)
        path = workdir / "events.csv"
        started = time.perf_counter()
        generate(path, arguments.rows, arguments.customers)
        print(f"Generated {arguments.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB, {arguments.customers:,} customers, "
              f"{len(CAMPAIGNS)} campaigns) in {time.perf_counter() - started:.1f} s")

        app = make_app(f"sqlite:///{workdir / 'real.db'}")
        elapsed, growth, report = real_import(app, path)
        baseline = sqlite_baseline(path, workdir)
        results.append(report_line("SQLite", arguments.rows, elapsed, growth, baseline, "sqlite3 executemany, one transaction", report))

        if arguments.postgres:
            for url in fresh_postgres_database(arguments.postgres):
                app = make_app(url)
                elapsed, growth, report = real_import(app, path)
            for url in fresh_postgres_database(arguments.postgres):
                baseline = postgres_baseline(path, url)
            results.append(report_line("PostgreSQL", arguments.rows, elapsed, growth, baseline, "psycopg COPY", report))
    print("All targets met." if all(results) else "Some targets were NOT met.")
    return 0 if all(results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL; a fresh database is created and dropped")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
