"""Scenario: a Celery worker killed with SIGKILL in the middle of a batch; after a restart the
batch completes and no message is sent twice.

Sets up on loopback: a fresh PostgreSQL database on the given server (schema by the shipped
migrations, dropped at the end), Redis database --redis (flushed at the start and the end; a
queue name of its own), an aiosmtpd sink in a subprocess that takes --delay seconds per message
(so a batch is long enough to be hit), and --invitations pending invitations.

1. A worker (`celery -A survey_app.jobs worker --concurrency 2`) starts; `survey-app
   send-invitations` queues the batches (MAIL_BATCH_SIZE --batch-size).
2. Once the sink has accepted --kill-after messages, the worker's whole process group (main
   process and pool children) gets SIGKILL: no task finishes, no claim is released.
3. A new worker starts and `survey-app send-invitations` is run again, which is what beat's
   "send-left-over-invitations" entry does every 15 minutes: it frees the claims of the dead
   processes and queues the rest. (The killed tasks, acknowledged late, come back from Redis
   only after its visibility timeout, one hour by default; the claims make them harmless then.)
4. The scenario waits until no invitation is pending or sending, then counts: sent rows, and
   accepted messages per Message-ID at the sink.

    .venv/bin/python bench/scenarios/celery_kill.py [--invitations 1500] [--postgres URL] [--redis URL]
"""

from __future__ import annotations

import argparse
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as support  # noqa: E402


def flush(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds the sink takes per message")
    parser.add_argument("--kill-after", type=int, default=300, help="kill when the sink has this many messages")
    parser.add_argument("--timeout", type=int, default=150, help="give up after this many seconds")
    parser.add_argument("--postgres", default=support.DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--redis", default=support.DEFAULT_REDIS, metavar="URL",
                        help="a Redis database of this scenario's own: it is flushed")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    options = parser.parse_args()

    started_at = time.monotonic()
    flush(options.redis)
    killed_at = sent_before_kill = None
    try:
        with support.workdir("survey-celery-kill-") as base, \
                support.fresh_database(options.postgres, "celery") as url, support.children() as started:
            with support.smtp_sink(base, started, delay=options.delay) as (port, sink_log):
                settings = {
                    "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "INSTANCE_PATH": str(base / "instance"),
                    "BASE_URL": "https://surveys.example.test", "LOG_LEVEL": "WARNING",
                    "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
                    "MAIL_BATCH_SIZE": str(options.batch_size), "BROKER_URL": options.redis,
                    "CELERY_QUEUE": f"scenario-{secrets.token_hex(4)}",
                }
                environment = support.app_environment(settings)
                support.upgrade_schema(environment)
                with support.app_in_process(settings) as app:
                    support.seed_invitations(app, options.invitations, state="pending")
                worker_command = [str(support.BIN / "celery"), "-A", "survey_app.jobs", "worker", "--loglevel=WARNING",
                                  "--concurrency=2", "-Q", settings["CELERY_QUEUE"], "--without-gossip",
                                  "--without-mingle", "--without-heartbeat"]

                def queue_batches() -> str:
                    return subprocess.run([str(support.BIN / "survey-app"), "send-invitations", "--campaign", "scenario"],
                                          env=environment, cwd=support.ROOT, capture_output=True, text=True,
                                          timeout=120, check=True).stdout.strip().splitlines()[-1]

                first = support.Child(worker_command, env=environment, cwd=support.ROOT, log=base / "worker1.log")
                started.append(first)
                print(f"seeded {options.invitations} pending invitations; batches of {options.batch_size}; "
                      f"sink takes {options.delay * 1000:.0f} ms a message")
                print(f"first worker: {queue_batches()}")
                support.wait_for(lambda: sum(support.sink_deliveries(sink_log).values()) >= options.kill_after,
                                 options.timeout, "the first messages")
                first.kill_group(signal.SIGKILL)
                first.process.wait(timeout=20)
                killed_at = time.monotonic() - started_at
                time.sleep(0.5)
                sent_before_kill = sum(support.sink_deliveries(sink_log).values())
                with support.app_in_process(settings) as app:
                    at_kill = support.invitation_states(app)
                print(f"SIGKILL to the worker group after {sent_before_kill} messages; states then: {at_kill}")

                second = support.Child(worker_command, env=environment, cwd=support.ROOT, log=base / "worker2.log")
                started.append(second)
                print(f"second worker: {queue_batches()}")

                def finished() -> bool:
                    with support.app_in_process(settings) as app:
                        states = support.invitation_states(app)
                    return not states.get("pending") and not states.get("sending")

                support.wait_for(finished, max(10.0, options.timeout - (time.monotonic() - started_at)),
                                 "the rest of the sending", interval=1.0)
                time.sleep(1.0)  # let the sink write its last lines

                from sqlalchemy import select

                from survey_app.extensions import db
                from survey_app.models import Invitation

                with support.app_in_process(settings) as app, app.app_context():
                    rows = db.session.execute(select(Invitation.state, Invitation.message_id,
                                                     Invitation.failure_reason)).all()
                    db.session.remove()
                deliveries = support.sink_deliveries(sink_log)
                worker_log = (base / "worker1.log").read_text(errors="replace") + \
                    (base / "worker2.log").read_text(errors="replace")
    finally:
        flush(options.redis)

    sent = [row for row in rows if row.state == "sent"]
    failed = [row for row in rows if row.state == "failed"]
    others = [row for row in rows if row.state not in ("sent", "failed")]
    sent_ids = {row.message_id for row in sent}
    lost = sum(1 for message_id in sent_ids if not deliveries.get(message_id)) + len(others)
    duplicated = sum(count - 1 for count in deliveries.values() if count > 1)
    unexpected = sum(1 for message_id in deliveries if message_id not in sent_ids)
    # Messages the killed worker had handed to the server are never resent: they are recorded as
    # failed with the "interrupted" reason, and the sink may or may not have them (once).
    interrupted = sum(1 for row in failed if (row.failure_reason or "").startswith("delivery interrupted"))
    elapsed = time.monotonic() - started_at

    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| invitations | {len(rows)} |")
    print(f"| accepted by the sink before SIGKILL | {sent_before_kill} (at {killed_at:.1f} s) |")
    print(f"| sent (state) | {len(sent)} |")
    print(f"| failed | {len(failed)} {sorted({row.failure_reason for row in failed})[:3] if failed else ''} |")
    print(f"| left pending/sending | {len(others)} |")
    print(f"| accepted by the sink | {sum(deliveries.values())} ({len(deliveries)} distinct Message-IDs) |")
    print(f"| Message-IDs accepted more than once | {sum(1 for count in deliveries.values() if count > 1)} |")
    print(f"| interrupted in flight (failed with the reason, not resent) | {interrupted} |")
    print(f"| accepted but not marked sent | {unexpected} (allowed: the interrupted ones) |")
    print(f"| worker tracebacks | {worker_log.count('Traceback')} |")
    print(f"| wall time | {elapsed:.0f} s |")
    print(f"sent {len(sent)}, stored {len(sent) + len(failed)}, lost {lost}, duplicated {duplicated}")
    ok = lost == 0 and duplicated == 0 and unexpected <= interrupted and len(sent) + len(failed) == options.invitations
    support.finish("celery_kill", {"invitations": len(rows), "sent_before_kill": sent_before_kill, "sent": len(sent),
                                   "failed": len(failed), "interrupted": interrupted, "lost": lost, "duplicated": duplicated,
                                   "seconds": round(elapsed, 1)}, ok=ok, json_path=options.json)


if __name__ == "__main__":
    main()
