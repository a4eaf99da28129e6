"""Benchmark eligibility: the real service against a hand-written SQL query on the same data.

Builds customers, campaigns, a funnel of events (sent, opened, clicked, converted) and earlier
invitations; times `eligible_customer_ids` for one campaign and for every campaign (median of
several runs, after one warm-up) against a hand-written query computing the same set in the same
run; checks that both return the same ids and prints the ratio (target: at most 3x).

Run from the repository root:

    .venv/bin/python bench/eligibility.py                       # SQLite, full size
    .venv/bin/python bench/eligibility.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/eligibility.py --customers 10000 --events 100000 --try-indexes

With --postgres a fresh database is created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, make_url, text  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from survey_app import create_app  # noqa: E402
from survey_app.extensions import db  # noqa: E402
from survey_app.services.eligibility import eligibility_report, eligible_customer_ids  # noqa: E402

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
CONTACT_FREQUENCY_DAYS = 90
WINDOWS = (72, 24, 48, 168)
TARGET_RATIO = 3.0
BATCH = 50_000
# Indexes the model does not have, tried one at a time with --try-indexes. (invitations already
# has (campaign_id, customer_id) through its unique constraint.)
CANDIDATE_INDEXES = ("CREATE INDEX bench_ix_invitations_customer_sent ON invitations (customer_id, sent_at)",)

CUSTOMER_COLUMNS = ("id", "external_id", "email", "first_name", "language", "opted_out_at", "bounced_at",
                    "last_invited_at", "erased_at", "created_at", "updated_at")
CAMPAIGN_COLUMNS = ("id", "key", "name", "channel", "sent_at", "promise", "language", "status",
                    "conversion_window_hours", "invitation_cap", "created_at", "updated_at")
EVENT_COLUMNS = ("id", "campaign_id", "customer_id", "source", "provider_event_id", "type", "occurred_at",
                 "received_at")
INVITATION_COLUMNS = ("id", "campaign_id", "customer_id", "token_hash", "state", "language", "created_at",
                      "sent_at", "expires_at", "reminders_sent", "send_attempts")


# --- data ----------------------------------------------------------------------------------------

def customers(count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for number in range(1, count + 1):
        roll = rng.random()
        email: str | None = f"customer{number}@example.com"
        external_id: str | None = f"cust-{number}"
        opted_out = bounced = erased = None
        if roll < 0.02:
            opted_out = NOW - timedelta(days=rng.uniform(1, 400))
        elif roll < 0.03:
            bounced = NOW - timedelta(days=rng.uniform(1, 400))
        elif roll < 0.035:
            erased, email, external_id = NOW - timedelta(days=rng.uniform(1, 400)), None, None
        elif roll < 0.04:
            email = None
        created = NOW - timedelta(days=500)
        yield (number, external_id, email, None, rng.choice(("nl", "en")), opted_out, bounced, None, erased,
               created, created)


def campaigns(count: int) -> list[tuple[Any, ...]]:
    rows = []
    for number in range(1, count + 1):
        # The newest campaign went out two days ago, so many of its windows are still open.
        sent = NOW - timedelta(days=2 if number == count else 7 * number)
        rows.append((number, f"bench-{number}", f"Bench {number}", "email", sent, "A free day", "nl", "active",
                     WINDOWS[(number - 1) % len(WINDOWS)], None, sent, sent))
    return rows


def events(total: int, customer_count: int, campaign_rows: list[tuple[Any, ...]],
           rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield funnel events for random (campaign, customer) pairs until `total` are made."""
    made = 0

    def jitter() -> timedelta:
        return timedelta(seconds=rng.uniform(0, 7 * 86400), microseconds=rng.randrange(1_000_000))

    while True:
        campaign = rng.choice(campaign_rows)
        campaign_id, sent, window = campaign[0], campaign[4], campaign[8]
        customer_id = rng.randrange(1, customer_count + 1)
        funnel = [("sent", sent)]
        if rng.random() < 0.6:
            funnel.append(("opened", sent + jitter()))
            if rng.random() < 0.5:
                clicks = sorted(sent + jitter() for _ in range(rng.randint(1, 4)))
                funnel += [("clicked", moment) for moment in clicks]
                if rng.random() < 0.35:
                    # Some within the window after the last click, some after it, some between clicks.
                    offset = timedelta(hours=rng.uniform(-48, 2.5 * window), microseconds=rng.randrange(1_000_000))
                    funnel.append(("converted", max(clicks[0], clicks[-1] + offset)))
        for type_, moment in funnel:
            if made == total:
                return
            made += 1
            yield (made, campaign_id, customer_id, "bench", f"e{made}", type_, moment, moment)


def invitations(customer_count: int, campaign_count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Yield one earlier invitation for about 15% of the customers, sent up to 200 days ago."""
    number = 0
    for customer_id in range(1, customer_count + 1):
        if rng.random() >= 0.15:
            continue
        number += 1
        sent = NOW - timedelta(days=rng.uniform(0, 200))
        token_hash = hashlib.sha256(f"bench-{number}".encode()).hexdigest()
        yield (number, rng.randrange(1, campaign_count + 1), customer_id, token_hash, "sent", "nl", sent, sent,
               sent + timedelta(days=14), 0, 1)


def sqlite_value(value: Any) -> Any:
    # The exact text SQLAlchemy stores on SQLite, microseconds always written.
    return f"{value:%Y-%m-%d %H:%M:%S.%f}" if isinstance(value, datetime) else value


def load_sqlite(connection: Connection, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(sqlite_value(value) for value in row))
        if len(batch) == BATCH:
            cursor.executemany(sql, batch)
            count += len(batch)
            batch.clear()
    cursor.executemany(sql, batch)
    return count + len(batch)


def load_postgres(connection: Connection, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def build(url: str, options: argparse.Namespace) -> str:
    """Create the schema and load the data; return a one-line description."""
    rng = random.Random(options.seed)
    engine = create_engine(url)
    db.metadata.create_all(engine)
    started = time.perf_counter()
    load = load_sqlite if engine.dialect.name == "sqlite" else load_postgres
    campaign_rows = campaigns(options.campaigns)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA synchronous = OFF")
        n_customers = load(connection, "customers", CUSTOMER_COLUMNS, customers(options.customers, rng))
        load(connection, "campaigns", CAMPAIGN_COLUMNS, iter(campaign_rows))
        n_events = load(connection, "campaign_events", EVENT_COLUMNS,
                        events(options.events, options.customers, campaign_rows, rng))
        n_invitations = load(connection, "invitations", INVITATION_COLUMNS,
                             invitations(options.customers, options.campaigns, rng))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # The steady state autovacuum reaches on PostgreSQL (statistics, and a visibility map that
        # allows index-only scans); SQLite gets statistics, as after PRAGMA optimize.
        connection.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
    engine.dispose()
    return (f"{n_customers} customers, {n_events} events, {options.campaigns} campaigns, "
            f"{n_invitations} invitations (built in {time.perf_counter() - started:.1f} s)")


# --- the baseline ----------------------------------------------------------------------------------

def deadline_sql(dialect: str, timestamp: str, hours: str) -> str:
    if dialect == "sqlite":
        return f"(datetime(substr({timestamp}, 1, 19), '+' || {hours} || ' hours') || substr({timestamp}, 20))"
    return f"({timestamp} + {hours} * INTERVAL '1 hour')"


def baseline_sql(dialect: str, one_campaign: bool) -> str:
    """Return the hand-written query: (campaign_id, customer_id) of every eligible pair."""
    campaign_filter = "AND e.campaign_id = :campaign" if one_campaign else ""
    return f"""
        WITH clicks AS (
            SELECT e.campaign_id, e.customer_id,
                   MIN(e.occurred_at) AS first_click, MAX(e.occurred_at) AS last_click
            FROM campaign_events e
            WHERE e.type = 'clicked' {campaign_filter}
            GROUP BY e.campaign_id, e.customer_id
        )
        SELECT k.campaign_id, k.customer_id
        FROM clicks k
        JOIN campaigns c ON c.id = k.campaign_id
        JOIN customers u ON u.id = k.customer_id
        WHERE {deadline_sql(dialect, 'k.last_click', 'c.conversion_window_hours')} < :now
          AND u.opted_out_at IS NULL AND u.bounced_at IS NULL AND u.erased_at IS NULL
          AND u.email IS NOT NULL AND trim(u.email) <> ''
          AND NOT EXISTS (
              SELECT 1 FROM campaign_events v
              WHERE v.campaign_id = k.campaign_id AND v.type = 'converted' AND v.customer_id = k.customer_id
                AND v.occurred_at >= k.first_click
                AND v.occurred_at <= {deadline_sql(dialect, 'k.last_click', 'c.conversion_window_hours')})
          AND NOT EXISTS (
              SELECT 1 FROM invitations i WHERE i.campaign_id = k.campaign_id AND i.customer_id = k.customer_id)
          AND NOT EXISTS (
              SELECT 1 FROM invitations r
              WHERE r.customer_id = k.customer_id AND r.campaign_id <> k.campaign_id
                AND (r.sent_at > :since
                     OR (r.sent_at IS NULL AND r.state IN ('pending', 'sending') AND r.created_at > :since)))
        ORDER BY k.campaign_id, k.customer_id
    """


def bind_time(dialect: str, value: datetime) -> Any:
    return sqlite_value(value.replace(tzinfo=None)) if dialect == "sqlite" else value


# --- timing ----------------------------------------------------------------------------------------

def interleaved(service: Callable[[], Any], baseline: Callable[[], Any], runs: int) -> tuple[float, float, Any, Any]:
    """Return the median times and last results of both, run in alternating order after a warm-up."""
    # Alternating spreads any drift (caches, other load on the machine) over both sides evenly.
    results = [service(), baseline()]
    times: list[list[float]] = [[], []]
    for run in range(runs):
        for side in ((0, 1) if run % 2 == 0 else (1, 0)):
            started = time.perf_counter()
            results[side] = (service, baseline)[side]()
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


def compare(label: str, engine_name: str, runs: int, service: Callable[[], Any], baseline: Callable[[], Any],
            check: Callable[[Any, Any], bool] | None = None) -> float:
    service_time, baseline_time, service_result, baseline_result = interleaved(service, baseline, runs)
    ratio = service_time / baseline_time
    verdict = "ok" if ratio <= TARGET_RATIO else f"above the {TARGET_RATIO:g}x target"
    line = (f"{engine_name:<10} {label:<22} service {service_time * 1000:8.1f} ms   baseline "
            f"{baseline_time * 1000:8.1f} ms   ratio {ratio:5.2f}x ({verdict})")
    if check is None:
        same = "yes" if service_result == baseline_result else "NO"
        line += f"   same ids: {same} ({len(service_result)} eligible)"
    else:
        line += f"   same eligible count: {'yes' if check(service_result, baseline_result) else 'NO'}"
    print(line)
    return service_time


def time_everything(engine_name: str, options: argparse.Namespace) -> dict[str, float]:
    dialect = db.engine.dialect.name
    campaign_ids = list(range(1, options.campaigns + 1))
    params = {"now": bind_time(dialect, NOW), "since": bind_time(dialect, NOW - timedelta(days=CONTACT_FREQUENCY_DAYS))}

    def service_one() -> set[tuple[int, int]]:
        return {(1, customer) for customer in eligible_customer_ids(1, now=NOW)}

    def baseline_one() -> set[tuple[int, int]]:
        rows = db.session.execute(text(baseline_sql(dialect, True)), {**params, "campaign": 1}).all()
        return {(row[0], row[1]) for row in rows}

    def service_all() -> set[tuple[int, int]]:
        return {(campaign, customer) for campaign in campaign_ids
                for customer in eligible_customer_ids(campaign, now=NOW)}

    def baseline_all() -> set[tuple[int, int]]:
        return {(row[0], row[1]) for row in db.session.execute(text(baseline_sql(dialect, False)), params).all()}

    def report_one() -> int:
        return eligibility_report(1, now=NOW).eligible

    return {
        "one": compare("one campaign", engine_name, options.runs, service_one, baseline_one),
        "all": compare(f"all {options.campaigns} campaigns", engine_name, options.runs, service_all, baseline_all),
        "report": compare("report, one campaign", engine_name, options.runs, report_one, baseline_one,
                          lambda eligible, ids: eligible == len(ids)),
    }


def with_statistics(statement: str, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run a DDL statement, refresh the planner's statistics, then measure."""
    db.session.execute(text(statement))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    return measure()


def run(engine_name: str, url: str, options: argparse.Namespace) -> None:
    print(f"{engine_name:<10} data: {build(url, options)}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32),
                      "CONTACT_FREQUENCY_DAYS": CONTACT_FREQUENCY_DAYS})
    with app.app_context():
        time_everything(engine_name, options)
        if options.try_indexes:
            for statement in CANDIDATE_INDEXES:
                name = statement.split()[2]
                print(f"{engine_name:<10} with {statement[len('CREATE INDEX '):]}")
                with_index = with_statistics(statement, lambda: time_everything(engine_name, options))
                print(f"{engine_name:<10} without it again (control, fresh statistics)")
                without = with_statistics(f"DROP INDEX {name}", lambda: time_everything(engine_name, options))
                for key in ("one", "all", "report"):
                    print(f"{engine_name:<10}   service {key}: {without[key] * 1000:.1f} ms without, "
                          f"{with_index[key] * 1000:.1f} ms with ({without[key] / with_index[key]:.2f}x)")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement; the median is shown")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (a fresh database on this server)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--try-indexes", action="store_true", help="re-time with each candidate index in turn")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-eligibility-") as folder:
        # Keep the app's instance folder (secret key, SQLite file) out of the checkout.
        os.environ["SURVEY_APP_INSTANCE_PATH"] = folder
        if not options.no_sqlite:
            run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", options)
        if options.postgres:
            server = make_url(options.postgres).set(drivername="postgresql+psycopg")
            name = f"bench_eligibility_{os.getpid()}_{secrets.token_hex(4)}"
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                run("postgresql", server.set(database=name).render_as_string(hide_password=False), options)
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
