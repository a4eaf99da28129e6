"""Benchmark the customer's survey page under load: wrk on loopback against gunicorn.

Scenarios, each for --duration seconds at --connections connections, all in one run:
  hello  a bare Flask "hello" route served the same way (the baseline)
  GET    /s/<token>?score=N, rotating over many invitations, without a cookie, as a click in an
         email is (a first opening writes opened_at; the page sets no cookie)
  POST   one answer per invitation, each to a fresh invitation, with the CSRF value that
         link's page carries (CSRF is checked as in production); the analysis queued for the
         Celery workers (Redis broker)
  POST-inline  the same without a broker: each answer analysed by the web worker after its
         reply, as a deployment without workers does (printed for comparison; no target)

The survey app runs as `gunicorn 'survey_app:create_app()'` with --workers workers and its
configuration in SURVEY_APP_* variables, on a fresh database: a SQLite file by default, or a
PostgreSQL database created for the run and dropped after it (--postgres URL). The answer
form's CSRF value is bound to the link, not to a session, so the bench computes each link's
value beforehand with the app's own function (the one the page uses) and feeds wrk a file of
(path, body) lines. The rate limits are raised out of the way but stay active, so their
cost is measured.

In the POST scenario (--broker, a Redis URL) the app queues each answer's analysis for the
Celery workers (its id on the analysis backlog, one job queued for the lot) and no worker runs
during the timing; afterwards the bench checks that every stored answer is on the backlog once,
then runs the queued job in-process, as a worker would, and checks that it analysed every one.
In POST-inline the app analyses each answer itself after the reply has been sent, so that work
is inside the measured throughput, and the bench checks every stored answer was analysed.
Besides req/s the bench prints the server's CPU time per request, read from /proc: on a machine
that is busy with other work it varies much less than req/s. Afterwards the database is checked:
every answer the server confirmed (302) is stored exactly once.

    .venv/bin/python bench/survey_page.py [--duration 10] [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                          [--broker redis://127.0.0.1:6379/13]
"""

from __future__ import annotations

import argparse
import json
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
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from sqlalchemy import create_engine, func, insert, make_url, select, text  # noqa: E402

from survey_app import create_app, jobs  # noqa: E402
from survey_app.extensions import db  # noqa: E402
from survey_app.forms.survey import link_csrf_token  # noqa: E402
from survey_app.models import (  # noqa: E402
    Campaign, Customer, Invitation, PromisedItem, Response, ResponseAnalysis, utcnow,
)
from survey_app.services.tokens import hash_token, new_token  # noqa: E402

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
    cpu_ms_per_request: float = 0.0


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
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind",
            f"127.0.0.1:{self.port}", "--chdir", str(chdir), "--log-level", "warning", app_spec,
        ]
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(self.command, env=self.environment)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the master and its workers have used so far (Linux /proc)."""
        assert self.process is not None
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" ", 1)
            except OSError:  # a process that ended meanwhile
                continue
            fields = rest.rsplit(")", 1)[1].split()
            if int(pid) == self.process.pid or int(fields[1]) == self.process.pid:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def run_wrk(self, url: str, script: str, args: list[str], scenario: str, **wrk: int) -> Result:
        """Run wrk against this server and note the server's CPU time per request."""
        before = self.cpu_seconds()
        result = run_wrk(url, script, args, scenario, **wrk)
        requests = result.ok + result.other
        result.cpu_ms_per_request = (self.cpu_seconds() - before) * 1000 / requests if requests else 0.0
        return result


def run_wrk(url: str, script: str, args: list[str], scenario: str, duration: int, connections: int,
            threads: int) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
               "-s", str(WRK_SCRIPTS / script), url, "--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = sum(int(number) for number in socket_errors.groups()) if socket_errors else 0
    counts = dict(re.findall(r"(\w+)=(\d+)", re.search(r"COUNTS (.*)", output).group(1)))
    return Result(scenario, rps, p99_ms, int(counts["ok"]), int(counts["other"]), errors, int(counts["wrapped"]))


def seed(app: Flask, invitations: int) -> list[str]:
    """Store one campaign with promised items and invitations; return their tokens."""
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
    return tokens


def write_get_requests(path: Path, tokens: list[str]) -> None:
    """One request path per line: the link with a score, as in the email."""
    path.write_text("".join(f"/s/{token}?score={number % 11}\n" for number, token in enumerate(tokens)))


def write_post_requests(app: Flask, path: Path, tokens: list[str]) -> None:
    """One "path<TAB>body" line per invitation: the form each respondent's page carried.

    The CSRF value is the one the survey page puts in its form, bound to the link
    (forms/survey.link_csrf_token); the server checks it as in production. No cookie: the page
    sets none.
    """
    comment = "De vestiging in Utrecht was dicht, de code werkte niet"
    lines = []
    with app.app_context():
        for number, token in enumerate(tokens):
            body = urlencode({"csrf_token": link_csrf_token(token), "score": number % 11, "comment": comment})
            lines.append(f"/s/{token}\t{body}\n")
    path.write_text("".join(lines))


def stored_counts(app: Flask, tokens: list[str]) -> tuple[int, int, int, int]:
    """Return (responses, changed more than once, invitations with 2+ rows, analysed) for these links."""
    hashes = [hash_token(token) for token in tokens]
    with app.app_context():
        invitation_ids = select(Invitation.id).where(Invitation.token_hash.in_(hashes)).scalar_subquery()
        mine = Response.invitation_id.in_(invitation_ids)
        rows = db.session.execute(select(func.count()).select_from(Response).where(mine)).scalar_one()
        revised = db.session.execute(select(func.count()).where(mine, Response.revision > 1)).scalar_one()
        doubled = db.session.execute(
            select(func.count()).select_from(
                select(Response.invitation_id).where(mine).group_by(Response.invitation_id)
                .having(func.count() > 1).subquery()
            )
        ).scalar_one()
        analysed = db.session.execute(
            select(func.count()).select_from(ResponseAnalysis).join(Response).where(mine)
        ).scalar_one()
    return rows, revised, doubled, analysed


def stored_response_ids(app: Flask, tokens: list[str]) -> set[int]:
    hashes = [hash_token(token) for token in tokens]
    with app.app_context():
        return set(db.session.execute(
            select(Response.id).join(Invitation).where(Invitation.token_hash.in_(hashes))
        ).scalars())


def queued_analyses(broker_url: str, queue: str) -> tuple[list[int], int]:
    """Return the answers waiting for analysis on the backlog and the Celery jobs queued for them."""
    import redis

    backlog, _marker = jobs.analysis_backlog_keys({"CELERY_QUEUE": queue})
    client = redis.Redis.from_url(broker_url)
    waiting = [int(value) for value in client.lrange(backlog, 0, -1)]
    queued_jobs = 0
    for message in client.lrange(queue, 0, -1):
        assert json.loads(message)["headers"]["task"] == jobs.task_name(jobs.analyze_answer_backlog)
        queued_jobs += 1
    client.close()
    return waiting, queued_jobs


def run_backlog_job(broker_url: str, queue: str) -> tuple[int, float]:
    """Run the queued analysis job here, as a worker would; return how many answers it analysed and the seconds."""
    import redis

    worker_app = create_app({"BROKER_URL": broker_url, "CELERY_QUEUE": queue})
    started = time.perf_counter()
    with worker_app.app_context():
        analysed = jobs.analyze_answer_backlog()
        db.engine.dispose()
    seconds = time.perf_counter() - started
    client = redis.Redis.from_url(broker_url)
    client.delete(queue, *jobs.analysis_backlog_keys({"CELERY_QUEUE": queue}))
    client.close()
    return analysed, seconds


def analysis_latency(app: Flask, samples: int = 20) -> float:
    """Time analyze_one on fresh answers in the campaign as it is now; return the median in ms."""
    from survey_app.services import analysis, survey

    with app.app_context():
        ids = db.session.execute(
            select(Invitation.id).where(~Invitation.response.has()).limit(samples)
        ).scalars().all()
        timings = []
        for invitation_id in ids:
            response_id = survey.store_answer(invitation_id, 2, "De vestiging in Utrecht was dicht", "nl")
            started = time.perf_counter()
            analysis.analyze_one(response_id)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def reachable_redis(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
        return True
    except redis.RedisError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--invitations", type=int, default=60_000,
                        help="invitations to seed: 2/5 for GET, 3/10 for each POST scenario")
    parser.add_argument("--postgres", metavar="URL", help="run on a fresh database on this PostgreSQL server")
    parser.add_argument("--broker", metavar="URL", default="redis://127.0.0.1:6379/13",
                        help="Redis broker for the queued-analysis POST scenario, on a queue of the run's own "
                             "(default redis://127.0.0.1:6379/13; 'none' skips that scenario)")
    parser.add_argument("--limiter-storage", default="memory://", metavar="URI",
                        help="Flask-Limiter storage, e.g. redis://127.0.0.1:6379/15 (default memory://)")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    broker = None if options.broker == "none" else options.broker
    if broker and not reachable_redis(broker):
        sys.exit(f"no Redis at {broker}: start one, or pass --broker none to skip the queued-analysis scenario")

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

    queue = f"survey-bench-{secrets.token_hex(4)}"
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "INSTANCE_PATH": str(work / "instance"),
        "SURVEY_RATE_LIMIT": "1000000 per minute",
        "SURVEY_BAD_LINK_RATE_LIMIT": "1000000 per minute",
        "RATELIMIT_STORAGE_URI": options.limiter_storage,
        "RATELIMIT_KEY_PREFIX": f"survey-bench-{secrets.token_hex(4)}",
        "CELERY_QUEUE": queue,
    }
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SURVEY_APP_")}
    environment.update({f"SURVEY_APP_{name}": value for name, value in settings.items()})
    os.environ.update({f"SURVEY_APP_{name}": value for name, value in settings.items()})
    with_broker = {**environment, "SURVEY_APP_BROKER_URL": broker or ""}
    try:
        app = create_app()
        started = time.perf_counter()
        tokens = seed(app, options.invitations)
        get_tokens = tokens[:len(tokens) * 2 // 5]
        queued_tokens, inline_tokens = tokens[len(get_tokens)::2], tokens[len(get_tokens) + 1::2]
        write_get_requests(work / "get.txt", get_tokens)
        write_post_requests(app, work / "post_queued.txt", queued_tokens)
        write_post_requests(app, work / "post_inline.txt", inline_tokens)
        print(f"seeded {options.invitations} invitations and signed {len(queued_tokens) + len(inline_tokens)} "
              f"CSRF values in {time.perf_counter() - started:.1f} s ({'PostgreSQL' if options.postgres else 'SQLite'})")
        wrk = {"duration": options.duration, "connections": options.connections, "threads": options.threads}
        results = []

        with Gunicorn("survey_page:hello_app()", options.workers, environment, Path(__file__).parent) as server:
            wait_until_serving(f"{server.url}/hello")
            results.append(server.run_wrk(f"{server.url}/hello", "hello.lua", [], "hello", **wrk))
        with Gunicorn("survey_app:create_app()", options.workers, environment, ROOT) as server:
            wait_until_serving(f"{server.url}/healthz")
            results.append(server.run_wrk(server.url, "get_page.lua", [str(work / "get.txt"), str(options.threads)],
                                          "GET", **wrk))
            post_inline = server.run_wrk(server.url, "post_answers.lua",
                                         [str(work / "post_inline.txt"), str(options.threads)], "POST-inline", **wrk)
        post_queued = None
        if broker:
            with Gunicorn("survey_app:create_app()", options.workers, with_broker, ROOT) as server:
                wait_until_serving(f"{server.url}/healthz")
                post_queued = server.run_wrk(server.url, "post_answers.lua",
                                             [str(work / "post_queued.txt"), str(options.threads)], "POST", **wrk)
            results.append(post_queued)
        results.append(post_inline)
        hello = results[0]

        inline_rows, inline_revised, inline_doubled, inline_analysed = stored_counts(app, inline_tokens)
        checks = [(post_inline, inline_rows, inline_revised, inline_doubled)]
        queue_report = ""
        queued_ok = True
        if post_queued is not None:
            rows, revised, doubled, _analysed = stored_counts(app, queued_tokens)
            checks.insert(0, (post_queued, rows, revised, doubled))
            queued, queued_jobs = queued_analyses(broker, queue)
            stored_ids = stored_response_ids(app, queued_tokens)
            queued_ok = len(queued) == len(set(queued)) and set(queued) == stored_ids and queued_jobs == 1
            job_analysed, job_seconds = run_backlog_job(broker, queue)
            analysed = stored_counts(app, queued_tokens)[3]
            queued_ok = queued_ok and job_analysed == len(stored_ids) == analysed
            queue_report = (f"POST: {len(queued)} answers waiting for analysis for {len(stored_ids)} stored, "
                            f"{queued_jobs} analysis job queued for them; that job, run afterwards as a worker would, "
                            f"analysed {job_analysed} in {job_seconds:.1f} s ({analysed} analyses stored): "
                            f"{'each answer queued once and analysed' if queued_ok else 'MISMATCH'}\n")
        latency = analysis_latency(app)

        print(f"\n{options.connections} connections, {options.duration} s per scenario, "
              f"{options.workers} gunicorn workers, CSRF on, limiter storage {options.limiter_storage}")
        print("POST: analysis queued for the workers (Redis broker); POST-inline: no broker, each answer analysed "
              "by the web worker after its reply (no target)")
        print("server CPU: the gunicorn processes' CPU time per request (less noisy than req/s on a busy machine)\n")
        print(f"{'scenario':<13}{'req/s':>10}{'p99 ms':>9}{'ratio':>8}{'target':>8}{'ok':>9}{'other':>7}"
              f"{'errors':>8}{'wrapped':>9}{'CPU ms/req':>12}{'CPU ratio':>11}")
        for result in results:
            ratio = result.requests_per_second / hello.requests_per_second
            target = f">={TARGETS[result.scenario]:.2f}" if result.scenario in TARGETS else ""
            # wrk leaves timed-out requests out of its latency figures: 0 then means "all too slow".
            p99 = "timeout" if result.errors and not result.p99_ms else f"{result.p99_ms:.1f}"
            cpu_ratio = hello.cpu_ms_per_request / result.cpu_ms_per_request if result.cpu_ms_per_request else 0
            print(f"{result.scenario:<13}{result.requests_per_second:>10.0f}{p99:>9}{ratio:>8.2f}"
                  f"{target:>8}{result.ok:>9}{result.other:>7}{result.errors:>8}{result.wrapped:>9}"
                  f"{result.cpu_ms_per_request:>12.2f}{cpu_ratio:>11.2f}")
        print()
        exactly_once = queued_ok
        totals = [0, 0, 0, 0, 0]
        for post, rows, revised, doubled in checks:
            # wrk stops with requests in flight: the server may store up to one per connection that
            # wrk never saw answered. Anything else is a lost or a doubled answer.
            unseen = rows - post.ok
            once = 0 <= unseen <= options.connections and revised == 0 and doubled == 0 and post.wrapped == 0
            exactly_once = exactly_once and once
            totals = [total + value for total, value in zip(totals, (post.ok, rows, unseen, revised, doubled))]
            print(f"{post.scenario}: {post.ok} answers confirmed by 302, {rows} stored, {unseen} stored but cut off "
                  f"before wrk saw the reply, {revised} stored twice, {doubled} invitations with two rows: "
                  f"{'every answer stored exactly once' if once else 'MISMATCH'}")
        inline_complete = inline_analysed == inline_rows
        print(f"POST-inline: {inline_analysed} of {inline_rows} stored answers analysed by the app"
              f"{'' if inline_complete else ': MISSING ANALYSES'}")
        print(queue_report, end="")
        print(f"answers: {totals[0]} confirmed by 302, {totals[1]} stored, {totals[2]} stored but cut off before wrk "
              f"saw the reply, {totals[3]} stored twice, {totals[4]} invitations with two rows: "
              f"{'every answer stored exactly once' if exactly_once else 'MISMATCH'}")
        print(f"analysis after a POST (analyze_one, median of 20, campaign with {inline_rows} answers analysed): "
              f"{latency:.1f} ms")
        judged = [result for result in results if result.scenario != "POST-inline"]
        verdicts = {
            "GET ratio": results[1].requests_per_second / hello.requests_per_second >= TARGETS["GET"],
            "POST ratio": post_queued is not None
            and post_queued.requests_per_second / hello.requests_per_second >= TARGETS["POST"],
            "no errors": all(result.errors == 0 and result.other == 0 for result in judged),
            "p99": all(0 < result.p99_ms < P99_LIMIT_MS for result in judged if result.scenario != "hello"),
            "exactly once": exactly_once,
            "every answer analysed or queued": inline_complete and queued_ok,
        }
        print("targets: " + (
            "all met" if all(verdicts.values()) else
            "NOT MET: " + ", ".join(label for label, met in verdicts.items() if not met)))
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
