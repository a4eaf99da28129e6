"""Scenario: an SMTP server that drops every tenth connection during a campaign send.

Sets up on loopback: a fresh PostgreSQL database on the given server (schema by the shipped
migrations, dropped at the end), one campaign with --invitations pending invitations, and an
aiosmtpd sink in a subprocess that
  - closes every tenth connection after the client sent DATA and the message, before answering
    (so that message is NOT accepted and the sender sees a disconnect, not "250");
  - answers "421 too many messages" after --per-connection messages on one connection, as busy
    servers do, so the senders reconnect often and drops keep happening;
  - refuses every --refuse-every-th address with a permanent "550" (these must end failed, with
    the reason).
Then --senders `survey-app send-invitations` processes run at once (claims keep them apart),
with the default retry policy; a run that stops early is run again, as the docs say, at most
--rounds times. Every invitation must end sent exactly once (one accepted message per
Message-ID at the sink) or failed with a reason; none may stay pending or sending.

    .venv/bin/python bench/scenarios/smtp_drops.py [--invitations 2000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as support  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=4, help="send-invitations processes at once")
    parser.add_argument("--drop-every", type=int, default=10)
    parser.add_argument("--per-connection", type=int, default=20)
    parser.add_argument("--refuse-every", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="at most this many rounds of sending runs")
    parser.add_argument("--postgres", default=support.DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    options = parser.parse_args()

    started_at = time.monotonic()
    with support.workdir("survey-smtp-drops-") as base, support.fresh_database(options.postgres, "smtp") as url, \
            support.children() as started:
        with support.smtp_sink(base, started, drop_every=options.drop_every,
                               max_per_connection=options.per_connection) as (port, sink_log):
            settings = {
                "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "INSTANCE_PATH": str(base / "instance"),
                "BASE_URL": "https://surveys.example.test", "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(port), "SMTP_TIMEOUT": "10", "MAIL_BATCH_SIZE": "50", "LOG_LEVEL": "WARNING",
            }
            environment = support.app_environment(settings)
            support.upgrade_schema(environment)
            with support.app_in_process(settings) as app:
                support.seed_invitations(app, options.invitations, state="pending",
                                         refuse_every=options.refuse_every)
            print(f"seeded {options.invitations} pending invitations; sink drops every "
                  f"{options.drop_every}th connection after DATA, 421 after {options.per_connection} "
                  f"messages per connection, 550 for every {options.refuse_every}th address")
            rounds, early_stops = 0, 0
            for rounds in range(1, options.rounds + 1):
                runs = [subprocess.Popen([str(support.BIN / "survey-app"), "send-invitations", "--campaign", "scenario"],
                                         env=environment, cwd=support.ROOT, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, start_new_session=True)
                        for _ in range(options.senders)]
                try:
                    outputs = [run.communicate(timeout=150)[0] for run in runs]
                finally:
                    for run in runs:
                        if run.poll() is None:
                            run.kill()
                            run.wait()
                early_stops += sum("stopped early" in output for output in outputs)
                with support.app_in_process(settings) as app:
                    states = support.invitation_states(app)
                if not states.get("pending") and not states.get("sending"):
                    break

            with support.app_in_process(settings) as app:
                from sqlalchemy import func, select

                from survey_app.extensions import db
                from survey_app.models import Invitation

                with app.app_context():
                    rows = db.session.execute(
                        select(Invitation.state, Invitation.message_id, Invitation.failure_reason,
                               Invitation.send_attempts)
                    ).all()
                    attempts = db.session.execute(select(func.sum(Invitation.send_attempts))).scalar_one()
                    db.session.remove()
        deliveries = support.sink_deliveries(sink_log)
        connections_dropped = support.sink_drops(sink_log)

    sent = [row for row in rows if row.state == "sent"]
    failed = [row for row in rows if row.state == "failed"]
    failed_without_reason = [row for row in failed if not (row.failure_reason or "").strip()]
    unfinished = [row for row in rows if row.state not in ("sent", "failed")]
    duplicated = sum(count - 1 for count in deliveries.values() if count > 1)
    sent_ids = {row.message_id for row in sent}
    lost = sum(1 for message_id in sent_ids if deliveries.get(message_id, 0) == 0) + len(unfinished)
    unexpected = sum(1 for message_id in deliveries if message_id not in sent_ids)
    reasons = sorted({(row.failure_reason or "")[:60] for row in failed})
    elapsed = time.monotonic() - started_at

    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| invitations | {len(rows)} |")
    print(f"| sending rounds ({options.senders} processes each) | {rounds} |")
    print(f"| connections dropped by the sink after DATA | {connections_dropped} |")
    print(f"| runs that stopped early (mail server unavailable) | {early_stops} |")
    print(f"| send attempts recorded | {attempts} |")
    print(f"| sent (state) | {len(sent)} |")
    print(f"| failed with a reason | {len(failed) - len(failed_without_reason)} |")
    print(f"| failed without a reason | {len(failed_without_reason)} |")
    print(f"| left pending/sending | {len(unfinished)} |")
    print(f"| accepted by the sink | {sum(deliveries.values())} ({len(deliveries)} distinct Message-IDs) |")
    print(f"| accepted but not marked sent | {unexpected} |")
    print(f"| wall time | {elapsed:.0f} s |")
    for reason in reasons:
        print(f"failure reason: {reason}")
    print(f"sent {len(sent)}, failed {len(failed)}, stored {len(sent) + len(failed)}, lost {lost}, "
          f"duplicated {duplicated}")
    ok = (lost == 0 and duplicated == 0 and unexpected == 0 and not failed_without_reason
          and len(sent) + len(failed) == options.invitations)
    support.finish("smtp_drops", {"invitations": len(rows), "sent": len(sent), "failed": len(failed),
                                  "lost": lost, "duplicated": duplicated, "dropped_connections": connections_dropped,
                                  "early_stops": early_stops,
                                  "seconds": round(elapsed, 1)}, ok=ok, json_path=options.json)


if __name__ == "__main__":
    main()
