"""Scenario: 200 concurrent respondents answering their surveys for 60 s against gunicorn and
PostgreSQL. No 5xx; every answer the server accepted is in the database exactly once.

Sets up on loopback: a fresh PostgreSQL database on the given server (schema by the shipped
migrations, dropped at the end), one campaign with enough sent invitations, and gunicorn with
examples/production/gunicorn.conf.py (gthread workers; --workers/--threads override it).
Each respondent is a client thread with its own keep-alive connection and cookie jar that, for
one invitation after another, opens the survey page (GET, which sets the session cookie and
carries the CSRF token, as a browser would), then posts a score and a comment carrying a unique
marker. One respondent in ten presses the button twice (a second, changed answer). CSRF stays
on. The survey rate limits are raised for the run (SURVEY_APP_SURVEY_RATE_LIMIT and
SURVEY_APP_SURVEY_BAD_LINK_RATE_LIMIT): every client comes from 127.0.0.1. Answers are analysed
inline (no broker), as a deployment without workers does.

Afterwards every accepted answer (302 to the thank-you page) is looked up: its invitation has
exactly one response, holding the last accepted comment.

    .venv/bin/python bench/scenarios/respondents_load.py [--respondents 200] [--duration 60] [--postgres URL]
"""

from __future__ import annotations

import argparse
import http.client
import re
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as support  # noqa: E402

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
GUNICORN_CONF = support.ROOT / "examples" / "production" / "gunicorn.conf.py"


@dataclass
class Tally:
    """What the clients saw; one per respondent thread, merged at the end."""

    statuses: Counter[int] = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # token -> last accepted comment
    posts: int = 0
    double_submits: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


class Respondent(threading.Thread):
    def __init__(self, number: int, port: int, tokens: list[str], lock: threading.Lock, stop_at: float) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.tokens, self.lock, self.stop_at = number, port, tokens, lock, stop_at
        self.tally = Tally()
        self.connection: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())} if self.cookies else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                reply = self.connection.getresponse()
                text = reply.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                # A keep-alive connection the server closed between requests: reconnect once.
                # Only for a GET; a POST that may have reached the server is not resent blindly.
                self.connection.close()
                self.connection = None
                if method == "POST" or attempt == 2:
                    raise
                self.tally.errors[f"reconnect after {type(error).__name__}"] += 1
                continue
            self.tally.latencies.append(time.perf_counter() - started)
            for cookie in reply.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                if value:
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
            self.tally.statuses[reply.status] += 1
            return reply.status, text
        raise AssertionError("unreachable")

    def answer(self, token: str, score: int, comment: str, csrf: str) -> bool:
        body = urlencode({"csrf_token": csrf, "score": score, "comment": comment})
        self.tally.posts += 1
        status, _ = self.request("POST", f"/s/{token}?lang=nl", body)
        if status == 302:
            self.tally.accepted[token] = comment
            return True
        return False

    def run(self) -> None:
        rounds = 0
        while time.monotonic() < self.stop_at and rounds < 100_000:
            rounds += 1
            with self.lock:
                if not self.tokens:
                    return
                token = self.tokens.pop()
            self.cookies = {}  # a new respondent: a fresh browser
            try:
                status, page = self.request("GET", f"/s/{token}?score={rounds % 11}")
                match = CSRF.search(page) if status == 200 else None
                if match is None:
                    self.tally.errors[f"no survey page (status {status})"] += 1
                    continue
                csrf = match.group(1) or match.group(2)
                marker = f"r{self.number}-{rounds}"
                accepted = self.answer(token, rounds % 11, f"De vestiging was dicht ({marker})", csrf)
                if accepted and (self.number + rounds) % 10 == 0:
                    self.tally.double_submits += 1
                    self.answer(token, (rounds + 3) % 11, f"Toch nog iets: de code werkte niet ({marker}b)", csrf)
            except (OSError, http.client.HTTPException) as error:
                self.tally.errors[type(error).__name__] += 1
                if self.connection is not None:
                    self.connection.close()
                    self.connection = None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=200, help="concurrent respondents")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--invitations", type=int, default=30_000, help="invitations to seed")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the example config)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: the example config)")
    parser.add_argument("--postgres", default=support.DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    options = parser.parse_args()

    with support.workdir("survey-load-") as base, support.fresh_database(options.postgres, "load") as url, \
            support.children() as started:
        settings = {
            "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "INSTANCE_PATH": str(base / "instance"),
            "BASE_URL": "https://surveys.example.test", "LOG_LEVEL": "WARNING",
            "SURVEY_RATE_LIMIT": "1000000 per minute", "SURVEY_BAD_LINK_RATE_LIMIT": "1000000 per minute",
        }
        environment = support.app_environment(settings)
        support.upgrade_schema(environment)
        with support.app_in_process(settings) as app:
            tokens = support.seed_invitations(app, options.invitations, state="sent")
        port = support.free_port()
        environment["GUNICORN_BIND"] = f"127.0.0.1:{port}"
        environment["GUNICORN_LOG_LEVEL"] = "warning"
        command = [str(support.BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--access-logfile", "/dev/null"]
        if options.workers:
            command += ["--workers", str(options.workers)]
        if options.threads:
            command += ["--threads", str(options.threads)]
        started.append(support.Child([*command, "survey_app:create_app()"], env=environment, cwd=support.ROOT,
                                     log=base / "gunicorn.log"))
        support.wait_for(lambda: support.http_status(f"http://127.0.0.1:{port}/readyz") == 200, 60, "gunicorn")
        print(f"seeded {options.invitations} invitations; {options.respondents} respondents for "
              f"{options.duration} s against gunicorn ({' '.join(command[3:]) or 'example config'}) on PostgreSQL")

        lock = threading.Lock()
        stop_at = time.monotonic() + options.duration
        respondents = [Respondent(number, port, tokens, lock, stop_at) for number in range(options.respondents)]
        load_started = time.monotonic()
        for respondent in respondents:
            respondent.start()
        for respondent in respondents:
            respondent.join(timeout=max(1.0, stop_at - time.monotonic()) + 60)
        elapsed = time.monotonic() - load_started
        hanging = sum(respondent.is_alive() for respondent in respondents)
        server_errors = (base / "gunicorn.log").read_text(errors="replace")

        tally = Tally()
        for respondent in respondents:
            tally.statuses.update(respondent.tally.statuses)
            tally.accepted.update(respondent.tally.accepted)
            tally.posts += respondent.tally.posts
            tally.double_submits += respondent.tally.double_submits
            tally.errors.update(respondent.tally.errors)
            tally.latencies.extend(respondent.tally.latencies)

        from sqlalchemy import func, select

        from survey_app.extensions import db
        from survey_app.models import Invitation, Response

        with support.app_in_process(settings) as app, app.app_context():
            stored = dict(db.session.execute(
                select(Invitation.token_hash, Response.comment).join(Response, Response.invitation_id == Invitation.id)
            ).all())
            rows = db.session.execute(select(func.count()).select_from(Response)).scalar_one()
            doubled = db.session.execute(select(func.count()).select_from(
                select(Response.invitation_id).group_by(Response.invitation_id).having(func.count() > 1).subquery()
            )).scalar_one()
            db.session.remove()

    from survey_app.services.tokens import hash_token

    lost = wrong = 0
    for token, comment in tally.accepted.items():
        kept = stored.get(hash_token(token))
        if kept is None:
            lost += 1
        elif kept != comment:
            wrong += 1
    unconfirmed = rows - len(tally.accepted)
    five_xx = sum(count for status, count in tally.statuses.items() if status >= 500)
    requests = sum(tally.statuses.values())

    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| requests (GET page + POST answer) | {requests} in {elapsed:.0f} s ({requests / elapsed:.0f}/s) |")
    print(f"| statuses | {', '.join(f'{status}: {count}' for status, count in sorted(tally.statuses.items()))} |")
    print(f"| 5xx | {five_xx} |")
    print(f"| latency p50 / p99 | {percentile(tally.latencies, 0.5) * 1000:.0f} ms / "
          f"{percentile(tally.latencies, 0.99) * 1000:.0f} ms |")
    print(f"| answers posted | {tally.posts} (of which second submits: {tally.double_submits}) |")
    print(f"| invitations with an accepted answer | {len(tally.accepted)} |")
    print(f"| responses stored | {rows} |")
    print(f"| accepted but not stored (lost) | {lost} |")
    print(f"| stored with an older answer than the last accepted | {wrong} |")
    print(f"| stored without a confirmed POST (client timed out) | {unconfirmed} |")
    print(f"| invitations with more than one response | {doubled} |")
    print(f"| client errors | {dict(tally.errors) or 0} |")
    print(f"| respondents still running at the end | {hanging} |")
    if "Traceback" in server_errors or "[CRITICAL]" in server_errors:
        print("gunicorn logged errors:\n" + server_errors[-3000:])
    print(f"sent {len(tally.accepted)}, stored {len(tally.accepted) - lost}, lost {lost}, duplicated {doubled}")
    ok = five_xx == 0 and lost == 0 and wrong == 0 and doubled == 0 and hanging == 0 and len(tally.accepted) > 0
    support.finish("respondents_load", {
        "requests": requests, "seconds": round(elapsed, 1), "requests_per_second": round(requests / elapsed, 1),
        "five_xx": five_xx, "accepted": len(tally.accepted), "stored": rows, "lost": lost, "duplicated": doubled,
        "p99_ms": round(percentile(tally.latencies, 0.99) * 1000, 1),
    }, ok=ok, json_path=options.json)


if __name__ == "__main__":
    main()
