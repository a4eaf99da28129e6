"""Benchmark the customer's survey page under load: wrk on loopback against gunicorn.

Scenarios, each for --duration seconds at --connections connections, all in one run:
  hello  a bare Flask "hello" route served the same way (the baseline)
  GET    /s/<token>?score=N, rotating over many invitations (a first opening writes opened_at)
  POST   one answer per invitation, each to a fresh invitation, analysed inline as in production

The survey app runs as `gunicorn 'survey_app:create_app()'` with --workers workers and its
configuration in SURVEY_APP_* variables, on a fresh database: a SQLite file by default, or a
PostgreSQL database created for the run and dropped after it (--postgres URL). CSRF is switched
off for the run (WTF_CSRF_ENABLED=false): wrk cannot carry a session per connection, and the
token check is a cheap HMAC compare. The rate limits are raised out of the way but stay active,
so their cost is measured. Afterwards the database is checked: every answer the server
confirmed (302) is stored exactly once.

    .venv/bin/python bench/survey_page.py [--duration 10] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, func, insert, make_url, select, text  # noqa: E402

from survey_app import create_app  # noqa: E402
from survey_app.extensions import db  # noqa: E402
from survey_app.models import Campaign, Customer, Invitation, PromisedItem, Response, utcnow  # noqa: E402
from survey_app.services.tokens import new_token  # noqa: E402

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
TARGETS = {"GET": 0.35, "POST": 0.12}
P99_LIMIT_MS = 150.0


def hello_app() -> Flask:
    """Return the baseline: a bare Flask app with one route."""
    app = Flask("hello")
    app.add_url_rule("/hello", "hello", lambda: "Hello, World!")
    return app


@dataclass
class Result:
    scenario: str
    requests_per_second: float
    p99_ms: float
    ok: int
    other: int
    errors: int
    wrapped: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Gunicorn:
    """A gunicorn master with its workers, started and stopped around a block."""

    def __init__(self, app_spec: str, workers: int, environment: dict[str, str], chdir: Path) -> None:
        self.port = free_port()
        self.command = [
            str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind",
            f"127.0.0.1:{self.port}", "--chdir", str(chdir), "--log-level", "warning", app_spec,
        ]
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.process = subprocess.Popen(self.command, env=self.environment)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def run_wrk(url: str, script: str, args: list[str], duration: int, connections: int, threads: int) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
               "-s", str(WRK_SCRIPTS / script), url, "--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = sum(int(number) for number in socket_errors.groups()) if socket_errors else 0
    counts = dict(re.findall(r"(\w+)=(\d+)", re.search(r"COUNTS (.*)", output).group(1)))
    return Result("", rps, p99_ms, int(counts["ok"]), int(counts["other"]), errors, int(counts["wrapped"]))


def seed(app: Flask, invitations: int) -> tuple[list[str], list[str]]:
    """Store one campaign with promised items and invitations; return GET and POST tokens."""
    now = utcnow()
    with app.app_context():
        db.create_all()
        campaign = Campaign(key="bench", name="Gratis dag", promise="Huur bij een locatie bij jou in de buurt",
                            language="nl", sent_at=now - timedelta(days=3))
        db.session.add(campaign)
        db.session.flush()
        for label in ("Utrecht Centraal", "Amsterdam Zuid", "Rotterdam Blaak", "Den Haag HS", "Eindhoven"):
            db.session.add(PromisedItem(campaign=campaign, kind="location", label=label, aliases=[]))
        db.session.execute(insert(Customer), [
            {"external_id": f"bench-{number}", "email": f"bench{number}@example.com", "language": "nl"}
            for number in range(invitations)
        ])
        customer_ids = db.session.execute(select(Customer.id).order_by(Customer.id)).scalars().all()
        tokens, rows = [], []
        for customer_id in customer_ids:
            token, token_hash = new_token()
            tokens.append(token)
            rows.append({"campaign_id": campaign.id, "customer_id": customer_id, "token_hash": token_hash,
                         "state": "sent", "language": "nl", "sent_at": now, "expires_at": now + timedelta(days=14)})
        db.session.execute(insert(Invitation), rows)
        db.session.commit()
    half = len(tokens) // 4
    return tokens[:half], tokens[half:]


def stored_counts(app: Flask) -> tuple[int, int, int]:
    """Return (responses, responses changed more than once, invitations with 2+ rows)."""
    with app.app_context():
        rows = db.session.execute(select(func.count()).select_from(Response)).scalar_one()
        revised = db.session.execute(select(func.count()).where(Response.revision > 1)).scalar_one()
        doubled = db.session.execute(
            select(func.count()).select_from(
                select(Response.invitation_id).group_by(Response.invitation_id).having(func.count() > 1).subquery()
            )
        ).scalar_one()
    return rows, revised, doubled


def analysis_latency(app: Flask, campaign_answers: int, samples: int = 20) -> float:
    """Time analyze_one on fresh answers in the campaign as it is now; return the median in ms."""
    from survey_app.services import analysis, survey

    with app.app_context():
        ids = db.session.execute(
            select(Invitation.id).where(~Invitation.response.has()).limit(samples)
        ).scalars().all()
        timings = []
        for invitation_id in ids:
            invitation = db.session.get(Invitation, invitation_id)
            response_id = survey.store_answer(invitation, 2, "De vestiging in Utrecht was dicht", "nl")
            started = time.perf_counter()
            analysis.analyze_one(response_id)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--invitations", type=int, default=40_000, help="invitations to seed")
    parser.add_argument("--postgres", metavar="URL", help="run on a fresh database on this PostgreSQL server")
    parser.add_argument("--limiter-storage", default="memory://", metavar="URI",
                        help="Flask-Limiter storage, e.g. redis://127.0.0.1:6379/15 (default memory://, whose "
                             "expiry timer starts a thread up to every 10 ms under load)")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="survey-bench-"))
    admin = None
    if options.postgres:
        server = make_url(options.postgres).set(drivername="postgresql+psycopg")
        name = f"survey_bench_{secrets.token_hex(4)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = server.set(database=name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{work / 'bench.db'}"

    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "INSTANCE_PATH": str(work / "instance"),
        "WTF_CSRF_ENABLED": "false",
        "SURVEY_RATE_LIMIT": "1000000 per minute",
        "SURVEY_BAD_LINK_RATE_LIMIT": "1000000 per minute",
        "RATELIMIT_STORAGE_URI": options.limiter_storage,
        "RATELIMIT_KEY_PREFIX": f"survey-bench-{secrets.token_hex(4)}",
    }
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SURVEY_APP_")}
    environment.update({f"SURVEY_APP_{name}": value for name, value in settings.items()})
    os.environ.update({f"SURVEY_APP_{name}": value for name, value in settings.items()})
    try:
        app = create_app()
        started = time.perf_counter()
        get_tokens, post_tokens = seed(app, options.invitations)
        print(f"seeded {options.invitations} invitations in {time.perf_counter() - started:.1f} s "
              f"({'PostgreSQL' if options.postgres else 'SQLite'})")
        (work / "get_tokens.txt").write_text("\n".join(get_tokens) + "\n")
        (work / "post_tokens.txt").write_text("\n".join(post_tokens) + "\n")
        wrk = {"duration": options.duration, "connections": options.connections, "threads": options.threads}

        with Gunicorn("survey_page:hello_app()", options.workers, environment, Path(__file__).parent) as url:
            wait_until_serving(f"{url}/hello")
            hello = run_wrk(f"{url}/hello", "hello.lua", [], **wrk)
        with Gunicorn("survey_app:create_app()", options.workers, environment, ROOT) as url:
            wait_until_serving(f"{url}/healthz")
            get = run_wrk(url, "get_page.lua", [str(work / "get_tokens.txt"), str(options.threads)], **wrk)
            post = run_wrk(url, "post_answers.lua", [str(work / "post_tokens.txt"), str(options.threads)], **wrk)
        hello.scenario, get.scenario, post.scenario = "hello", "GET", "POST"

        rows, revised, doubled = stored_counts(app)
        latency = analysis_latency(app, rows)
        print(f"\n{options.connections} connections, {options.duration} s per scenario, "
              f"{options.workers} gunicorn workers, CSRF off, limiter storage {options.limiter_storage}\n")
        print(f"{'scenario':<9}{'req/s':>10}{'p99 ms':>9}{'ratio':>8}{'target':>8}{'ok':>9}{'other':>7}"
              f"{'errors':>8}{'wrapped':>9}")
        for result in (hello, get, post):
            ratio = result.requests_per_second / hello.requests_per_second
            target = f">={TARGETS[result.scenario]:.2f}" if result.scenario in TARGETS else ""
            # wrk leaves timed-out requests out of its latency figures: 0 then means "all too slow".
            p99 = "timeout" if result.errors and not result.p99_ms else f"{result.p99_ms:.1f}"
            print(f"{result.scenario:<9}{result.requests_per_second:>10.0f}{p99:>9}{ratio:>8.2f}"
                  f"{target:>8}{result.ok:>9}{result.other:>7}{result.errors:>8}{result.wrapped:>9}")
        # wrk stops with requests in flight: the server may store up to one per connection that
        # wrk never saw answered. Anything else is a lost or a doubled answer.
        unseen = rows - post.ok
        exactly_once = 0 <= unseen <= options.connections and revised == 0 and doubled == 0 and post.wrapped == 0
        print(f"\nanswers: {post.ok} confirmed by 302, {rows} stored, {unseen} stored but cut off before wrk "
              f"saw the reply, {revised} stored twice, {doubled} invitations with two rows: "
              f"{'every answer stored exactly once' if exactly_once else 'MISMATCH'}")
        print(f"analysis after a POST (analyze_one, median of 20, campaign with {rows} answers): {latency:.1f} ms")
        verdicts = [
            get.requests_per_second / hello.requests_per_second >= TARGETS["GET"],
            post.requests_per_second / hello.requests_per_second >= TARGETS["POST"],
            all(result.errors == 0 and result.other == 0 for result in (hello, get, post)),
            all(0 < result.p99_ms < P99_LIMIT_MS for result in (get, post)),
            exactly_once,
        ]
        print("targets: " + ("all met" if all(verdicts) else "NOT MET: " + ", ".join(
            label for label, met in zip(["GET ratio", "POST ratio", "no errors", "p99", "exactly once"], verdicts)
            if not met)))
        with app.app_context():
            db.engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
