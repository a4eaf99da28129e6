"""Benchmark the responses CSV export against a bare csv.writer over the same cursor, same run.

Bulk-inserts N responses (default 1,000,000) with their invitations, customers, analyses and
broken-promise findings into a fresh SQLite file (or, with --postgres URL, a freshly created
PostgreSQL database that is dropped afterwards). Then it times the real export service
(`survey_app.services.exports.export_responses`: neutralising writer, pseudonym-free admin
columns, list joins) writing to a null sink, and a baseline that runs the very same SQL
statement through the same session with the same batch size and hands each row unchanged to a
bare `csv.writer`. Runs alternate (baseline, real, ...) so both see the same machine load.
Targets: real/baseline rows per second >= 0.5x; peak RSS growth during the export < 50 MB.

Run from the repository root:  .venv/bin/python bench/export_responses.py [--rows N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import secrets
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
from survey_app.services import exports  # noqa: E402

RATIO_TARGET = 0.5
MEMORY_TARGET_MB = 50
CAMPAIGNS = 4
ITEMS = ["Utrecht Centraal", "Breda Station", "Amsterdam Zuid", "Rotterdam Blaak", "Zwolle"]
CATEGORIES = ["closed_location", "offer_not_honoured", "price_mismatch", "link_or_site_broken"]
COMMENTS = [
    "De vestiging in Utrecht Centraal was dicht, de gratis dag kon ik vergeten.",
    "Prima geholpen, snel een auto mee",
    "=HYPERLINK(\"http://evil.example\",\"klik\") de code werkte niet",
    "Price was higher than in the email; \"free day\" was not honoured",
    "-",
    "",
]
INSERT_BATCH = 5000


class NullSink:
    """A text sink that keeps only the number of characters written."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text_: str) -> int:
        self.chars += len(text_)
        return len(text_)


class PeakRss:
    """Sample the resident set size in a thread and keep the peak."""

    def __init__(self) -> None:
        self.start = self.peak = self.rss()
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

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


def batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(url: str, rows: int, seed: int) -> None:
    """Create the schema and bulk-insert `rows` answered invitations with analyses."""
    rng = random.Random(seed)
    engine = create_engine(url)
    db.metadata.create_all(engine)
    tables = db.metadata.tables
    now = datetime(2026, 3, 1, 8, tzinfo=UTC)
    customers = -(-rows // CAMPAIGNS)
    started = time.perf_counter()
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
        connection.execute(tables["campaigns"].insert(), [
            {"id": c + 1, "key": f"bench-{c}", "name": f"=Bench campaign {c}", "channel": "email",
             "promise": "Een gratis dag", "language": "nl", "status": "active", "conversion_window_hours": 72,
             "sent_at": now, "created_at": now, "updated_at": now}
            for c in range(CAMPAIGNS)
        ])
        connection.execute(tables["promised_items"].insert(), [
            {"id": c * len(ITEMS) + i + 1, "campaign_id": c + 1, "kind": "location", "label": label, "aliases": [],
             "position": i}
            for c in range(CAMPAIGNS) for i, label in enumerate(ITEMS)
        ])
        for batch in batches(
            {"id": n + 1, "external_id": f"crm-{n}", "email": f"klant{n}@example.com", "language": "nl",
             "created_at": now, "updated_at": now}
            for n in range(customers)
        ):
            connection.execute(tables["customers"].insert(), batch)
        for batch in batches(
            {"id": n + 1, "campaign_id": n % CAMPAIGNS + 1, "customer_id": n // CAMPAIGNS + 1,
             "token_hash": f"{n:064x}", "state": "sent", "created_at": now, "sent_at": now,
             "expires_at": now + timedelta(days=14), "reminders_sent": 0, "send_attempts": 0}
            for n in range(rows)
        ):
            connection.execute(tables["invitations"].insert(), batch)
        for batch in batches(
            {"id": n + 1, "invitation_id": n + 1, "score": rng.randrange(11), "comment": rng.choice(COMMENTS),
             "language": "nl", "answered_at": now + timedelta(seconds=n), "updated_at": now + timedelta(seconds=n),
             "revision": 1}
            for n in range(rows)
        ):
            connection.execute(tables["responses"].insert(), batch)
        for batch in batches(
            {"id": n + 1, "response_id": n + 1, "response_revision": 1, "analyzer_version": "bench-1",
             "language": "nl", "polarity": round(rng.uniform(-1, 1), 3), "subjectivity": 0.5,
             "sentiment_analyzer": "lexicon", "broken_promise": n % 5 == 0, "keywords": ["dicht", "gratis dag"],
             "analyzed_at": now}
            for n in range(rows)
        ):
            connection.execute(tables["response_analyses"].insert(), batch)

        def findings() -> Iterator[dict[str, Any]]:
            number = 0
            for n in range(0, rows, 5):
                for k in range(1 + n % 2):
                    number += 1
                    yield {"id": number, "analysis_id": n + 1, "category": CATEGORIES[(n + k) % len(CATEGORIES)],
                           "promised_item_id": (n % CAMPAIGNS) * len(ITEMS) + (n + k) % len(ITEMS) + 1,
                           "confidence": 0.9, "source": "rule", "span_start": 0, "span_end": 10}

        for batch in batches(findings()):
            connection.execute(tables["response_findings"].insert(), batch)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
    engine.dispose()
    print(f"Built {rows:,} responses with analyses over {customers:,} customers, {CAMPAIGNS} campaigns "
          f"in {time.perf_counter() - started:.1f} s")


def real_export(options: exports.ExportOptions) -> tuple[int, float, float]:
    """Time the export service into a null sink; return characters, seconds and RSS growth."""
    sink = NullSink()
    with PeakRss() as memory:
        started = time.perf_counter()
        for chunk in exports.export_responses(options):
            sink.write(chunk)
        elapsed = time.perf_counter() - started
    db.session.rollback()
    return sink.chars, elapsed, memory.growth_mb


def baseline_export(options: exports.ExportOptions) -> tuple[int, float, float]:
    """Time a bare csv.writer over the same statement, session and batch size."""
    sink = NullSink()
    with PeakRss() as memory:
        started = time.perf_counter()
        writer = csv.writer(sink)
        writer.writerow(exports.response_header(options))
        query = exports.responses_query(options).execution_options(yield_per=options.batch_size)
        result = db.session.execute(query)
        for partition in result.partitions():
            writer.writerows(partition)
        elapsed = time.perf_counter() - started
    db.session.rollback()
    return sink.chars, elapsed, memory.growth_mb


def measure(name: str, url: str, rows: int, runs: int) -> bool:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(16), "TESTING": True})
    options = exports.ExportOptions(include_email=True)
    best_real = best_base = float("inf")
    growth = base_growth = 0.0
    with app.app_context():
        for _ in range(runs):
            _chars, elapsed, memory = baseline_export(options)
            best_base, base_growth = min(best_base, elapsed), max(base_growth, memory)
            chars, elapsed, memory = real_export(options)
            best_real, growth = min(best_real, elapsed), max(growth, memory)
        db.engine.dispose()
    real_rate, base_rate = rows / best_real, rows / best_base
    ratio = real_rate / base_rate
    ratio_met, memory_met = ratio >= RATIO_TARGET, growth < MEMORY_TARGET_MB
    print(f"{name}: export service {rows:,} rows in {best_real:.1f} s = {real_rate:,.0f} rows/s "
          f"({chars / 1e6:.0f} MB of CSV, best of {runs})")
    print(f"{name}: baseline (bare csv.writer, same cursor) {best_base:.1f} s = {base_rate:,.0f} rows/s; "
          f"ratio {ratio:.2f}x (target >= {RATIO_TARGET}x: {'met' if ratio_met else 'NOT met'})")
    print(f"{name}: peak RSS growth during the export {growth:.1f} MB (baseline {base_growth:.1f} MB; "
          f"target < {MEMORY_TARGET_MB} MB: {'met' if memory_met else 'NOT met'})")
    return ratio_met and memory_met


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="alternating runs of each; the best of each counts")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL; a fresh database is created and dropped")
    arguments = parser.parse_args(argv)
    results = []
    if arguments.postgres:
        for url in fresh_postgres_database(arguments.postgres):
            build(url, arguments.rows, arguments.seed)
            results.append(measure("PostgreSQL", url, arguments.rows, arguments.runs))
    else:
        with tempfile.TemporaryDirectory(prefix="survey-app-bench-") as directory:
            url = f"sqlite:///{Path(directory) / 'export.db'}"
            build(url, arguments.rows, arguments.seed)
            results.append(measure("SQLite", url, arguments.rows, arguments.runs))
    print("All targets met." if all(results) else "Some targets were NOT met.")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
