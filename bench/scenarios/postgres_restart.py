"""Scenario: PostgreSQL restarted during webhook ingestion. While it is down clients get 503
(with Retry-After), never another 5xx; their retries are stored exactly once.

Sets up on loopback a PostgreSQL 15 cluster of its own (initdb + pg_ctl in a temporary
directory, on a free port; run as the postgres user when started as root; stopped and deleted
at the end; the shared server is never touched), a database with the shipped migrations, one
campaign and one webhook source, and gunicorn with examples/production/gunicorn.conf.py.

--clients threads deliver signed batches of --batch events (each event id unique) for
--duration seconds. A batch answered 503 or not answered is sent again (signed anew) after
Retry-After (at most --max-wait seconds), at most --retries times. After --down-at seconds the
cluster is stopped ("fast": open connections are cut) and started again --down-for seconds
later. Afterwards every event of every batch answered 200 must be stored, once.

    .venv/bin/python bench/scenarios/postgres_restart.py [--duration 40] [--clients 8]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as support  # noqa: E402

GUNICORN_CONF = support.ROOT / "examples" / "production" / "gunicorn.conf.py"


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    statuses_while_down: Counter[int] = field(default_factory=Counter)
    confirmed: set[str] = field(default_factory=set)
    batches: int = 0
    retries: int = 0
    given_up: int = 0
    connection_errors: int = 0
    without_retry_after: int = 0


class Client(threading.Thread):
    def __init__(self, number: int, port: int, secret: str, options: argparse.Namespace, stop_at: float,
                 down: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.secret, self.options, self.stop_at, self.down = number, port, secret, options, stop_at, down
        self.tally = Tally()

    def post(self, body: bytes) -> tuple[int | None, str | None]:
        stamp = str(int(time.time()))
        signature = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Survey-App-Source": "esp",
                   "X-Survey-App-Timestamp": stamp, "X-Survey-App-Signature": f"sha256={signature}"}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", "/api/v1/events", body=body, headers=headers)
            reply = connection.getresponse()
            reply.read()
            return reply.status, reply.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            self.tally.connection_errors += 1
            return None, None
        finally:
            connection.close()

    def run(self) -> None:
        batch = 0
        while time.monotonic() < self.stop_at and batch < 100_000:
            batch += 1
            ids = [f"c{self.number}-b{batch}-e{n}" for n in range(self.options.batch)]
            events = [{"provider_event_id": event_id, "campaign": "scenario", "customer_id": f"cust-{self.number}-{n}",
                       "email": f"c{self.number}.{n}@example.com", "event_type": "click",
                       "occurred_at": "2026-03-01T09:13:30+01:00"} for n, event_id in enumerate(ids)]
            body = json.dumps({"events": events}).encode()
            self.tally.batches += 1
            for attempt in range(self.options.retries + 1):
                was_down = self.down.is_set()
                status, retry_after = self.post(body)
                if status is not None:
                    self.tally.statuses[status] += 1
                    if was_down or self.down.is_set():
                        self.tally.statuses_while_down[status] += 1
                if status == 200:
                    self.tally.confirmed.update(ids)
                    break
                if status == 503 and not retry_after:
                    self.tally.without_retry_after += 1
                if status not in (503, None):
                    break  # anything else is a bug; counted, not retried
                self.tally.retries += 1
                wait = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
                time.sleep(min(wait, self.options.max_wait))
            else:
                self.tally.given_up += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=40, help="seconds of deliveries")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=20, help="events per delivery")
    parser.add_argument("--down-at", type=float, default=10.0)
    parser.add_argument("--down-for", type=float, default=8.0)
    parser.add_argument("--retries", type=int, default=30)
    parser.add_argument("--max-wait", type=float, default=2.0, help="longest wait before a retry, in seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    options = parser.parse_args()

    started_at = time.monotonic()
    with support.workdir("survey-pg-restart-") as base, support.own_cluster() as cluster, \
            support.children() as started:
        from sqlalchemy import create_engine, text

        admin = create_engine(cluster.url().replace("postgresql://", "postgresql+psycopg://"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "survey"'))
        admin.dispose()
        settings = {
            "DATABASE_URL": cluster.url("survey"), "SECRET_KEY": secrets.token_hex(32),
            "INSTANCE_PATH": str(base / "instance"), "BASE_URL": "https://surveys.example.test", "LOG_LEVEL": "WARNING",
        }
        environment = support.app_environment(settings)
        support.upgrade_schema(environment)
        with support.app_in_process(settings) as app:
            from survey_app.extensions import db
            from survey_app.models import Campaign
            from survey_app.services import webhooks

            with app.app_context():
                db.session.add(Campaign(key="scenario", name="Gratis dag", promise="Een gratis dag", language="nl"))
                db.session.commit()
                secret = webhooks.create_source("esp", app.config["SECRET_KEY"])
                db.session.remove()
                db.engine.dispose()
        port = support.free_port()
        environment.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2", GUNICORN_THREADS="4",
                           GUNICORN_LOG_LEVEL="warning")
        started.append(support.Child([str(support.BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--access-logfile",
                                      str(base / "access.log"), "survey_app:create_app()"],
                                     env=environment, cwd=support.ROOT, log=base / "gunicorn.log"))
        support.wait_for(lambda: support.http_status(f"http://127.0.0.1:{port}/readyz") == 200, 60, "gunicorn")
        print(f"own cluster on port {cluster.port}; {options.clients} clients, batches of {options.batch} events, "
              f"{options.duration} s; PostgreSQL down at {options.down_at:.0f} s for {options.down_for:.0f} s")

        down = threading.Event()
        stop_at = time.monotonic() + options.duration
        clients = [Client(number, port, secret, options, stop_at, down) for number in range(options.clients)]
        load_started = time.monotonic()
        for client in clients:
            client.start()
        time.sleep(max(0.0, options.down_at - (time.monotonic() - load_started)))
        down.set()
        cluster.stop("fast")
        readyz_down = support.http_status(f"http://127.0.0.1:{port}/readyz")
        time.sleep(options.down_for)
        cluster.start()
        down.clear()
        print(f"restarted PostgreSQL; /readyz while it was down: {readyz_down}")
        for client in clients:
            client.join(timeout=max(1.0, stop_at - time.monotonic()) + options.retries * options.max_wait + 30)
        hanging = sum(client.is_alive() for client in clients)
        readyz_after = support.http_status(f"http://127.0.0.1:{port}/readyz")
        server_log = (base / "gunicorn.log").read_text(errors="replace")

        tally = Tally()
        for client in clients:
            tally.statuses.update(client.tally.statuses)
            tally.statuses_while_down.update(client.tally.statuses_while_down)
            tally.confirmed |= client.tally.confirmed
            tally.batches += client.tally.batches
            tally.retries += client.tally.retries
            tally.given_up += client.tally.given_up
            tally.connection_errors += client.tally.connection_errors
            tally.without_retry_after += client.tally.without_retry_after

        from sqlalchemy import func, select

        from survey_app.models import CampaignEvent

        with support.app_in_process(settings) as app, app.app_context():
            stored = Counter(db.session.execute(select(CampaignEvent.provider_event_id)).scalars())
            rows = db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one()
            db.session.remove()
            db.engine.dispose()

    lost = sum(1 for event_id in tally.confirmed if not stored.get(event_id))
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    other_5xx = sum(count for status, count in tally.statuses.items() if status >= 500 and status != 503)
    elapsed = time.monotonic() - started_at

    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| deliveries (batches of {options.batch}) | {tally.batches} |")
    print(f"| statuses | {', '.join(f'{status}: {count}' for status, count in sorted(tally.statuses.items()))} |")
    print(f"| statuses while PostgreSQL was down | {dict(sorted(tally.statuses_while_down.items())) or 'none'} |")
    print(f"| 5xx other than 503 | {other_5xx} |")
    print(f"| 503 without Retry-After | {tally.without_retry_after} |")
    print(f"| no answer (connection errors) | {tally.connection_errors} |")
    print(f"| retries | {tally.retries} |")
    print(f"| batches given up after {options.retries} retries | {tally.given_up} |")
    print(f"| /readyz while down / after | {readyz_down} / {readyz_after} |")
    print(f"| events confirmed (200) | {len(tally.confirmed)} |")
    print(f"| events stored | {rows} |")
    print(f"| clients still running at the end | {hanging} |")
    print(f"| wall time | {elapsed:.0f} s |")
    if "Traceback" in server_log:
        print("gunicorn logged a traceback:\n" + server_log[-3000:])
    print(f"sent {len(tally.confirmed)}, stored {len(tally.confirmed) - lost}, lost {lost}, duplicated {duplicated}")
    ok = (lost == 0 and duplicated == 0 and other_5xx == 0 and tally.given_up == 0 and hanging == 0
          and tally.statuses_while_down.get(503, 0) > 0 and rows == len(tally.confirmed)
          and tally.without_retry_after == 0)
    support.finish("postgres_restart", {
        "batches": tally.batches, "confirmed": len(tally.confirmed), "stored": rows, "lost": lost,
        "duplicated": duplicated, "responses_503": tally.statuses.get(503, 0), "other_5xx": other_5xx,
        "connection_errors": tally.connection_errors, "seconds": round(elapsed, 1),
    }, ok=ok, json_path=options.json)


if __name__ == "__main__":
    main()
