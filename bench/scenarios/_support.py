"""Shared helpers of the load and fault scenarios: loopback ports, child processes in their own
process groups, throwaway PostgreSQL databases and clusters, an SMTP sink in a subprocess, and
the seeding of campaigns and invitations.

Every helper cleans up after itself in a `finally`; nothing here touches anything it did not
create. Run as a script, this module is the SMTP sink:

    python bench/scenarios/_support.py smtp-sink --port N --log FILE [--drop-every 10] [--refuse-prefix refuse-]
        [--max-per-connection N] [--delay SECONDS]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Call check() until it returns true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Return the status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


class Child:
    """A subprocess in its own process group, stopped with the whole group."""

    def __init__(self, command: list[str], *, env: dict[str, str] | None = None, log: Path | None = None,
                 cwd: Path | None = None) -> None:
        self.command = command
        self.log_handle = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=self.log_handle, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to every process of the group (the worker and its children)."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the group, SIGKILL it after timeout, and reap the leader."""
        if self.process.poll() is None:
            self.kill_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        # Stragglers of the group (a worker's children) go too.
        self.kill_group(signal.SIGKILL)
        if self.log_handle is not subprocess.DEVNULL:
            self.log_handle.close()


@contextmanager
def children() -> Iterator[list[Child]]:
    """Collect children; stop them all, last started first, however the block ends."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            try:
                child.stop()
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                print(f"warning: could not stop {child.command[0]}: {error}", file=sys.stderr)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory, deleted at the end (kept when SCENARIO_KEEP=1, for debugging)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if os.environ.get("SCENARIO_KEEP") != "1":
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"kept {path}")


@contextmanager
def fresh_database(server_url: str, purpose: str) -> Iterator[str]:
    """Create a database on the server for this run; drop it (forcing out connections) at the end."""
    from sqlalchemy import create_engine, make_url, text

    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"survey_scenario_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Cluster:
    """A throwaway PostgreSQL 15 cluster of our own on a free loopback port (never the shared one)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "pgdata"
        self.port = free_port()
        self.log = base / "postgres.log"
        self.started = False

    def _run(self, *arguments: str, timeout: float = 60) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *arguments]),
                       check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, timeout=120, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._run("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        self._run("stop", "-w", "-t", "60", "-m", mode)
        self.started = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """initdb + start a private cluster in a temporary directory; stop and delete it at the end."""
    base = Path(tempfile.mkdtemp(prefix="survey-scenario-pg-"))
    base.chmod(0o755)
    cluster = Cluster(base)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster.started or (cluster.data / "postmaster.pid").exists():
                cluster.stop("immediate")
        except (subprocess.SubprocessError, OSError) as error:
            print(f"warning: could not stop the scenario cluster: {error}", file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)


def app_environment(settings: dict[str, str]) -> dict[str, str]:
    """The process environment with SURVEY_APP_* replaced by these settings."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SURVEY_APP_")}
    environment.update({f"SURVEY_APP_{name}": str(value) for name, value in settings.items()})
    return environment


@contextmanager
def app_in_process(settings: dict[str, str]) -> Iterator[Any]:
    """create_app() in this process with these settings (restoring the environment afterwards)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(app_environment(settings))
    try:
        sys.path.insert(0, str(ROOT))
        from survey_app import create_app

        yield create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def upgrade_schema(environment: dict[str, str]) -> None:
    """Bring the scenario database up to date with the shipped migrations, as a deployment does."""
    subprocess.run([str(BIN / "survey-app"), "db", "upgrade"], env=environment, cwd=ROOT, check=True,
                   timeout=180, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def seed_invitations(app: Any, count: int, *, state: str, key: str = "scenario",
                     refuse_every: int = 0) -> list[str]:
    """Store one campaign with `count` invitations in `state`; return their survey tokens.

    With refuse_every=N every Nth customer's address starts with "refuse-", which the SMTP sink
    answers with a permanent 550.
    """
    from sqlalchemy import insert, select

    from survey_app.extensions import db
    from survey_app.models import Campaign, Customer, Invitation, PromisedItem, utcnow
    from survey_app.services.tokens import new_token

    now = utcnow()
    with app.app_context():
        campaign = Campaign(key=key, name="Gratis dag", promise="Huur bij een locatie bij jou in de buurt",
                            language="nl", sent_at=now - timedelta(days=3))
        db.session.add(campaign)
        db.session.flush()
        for label in ("Utrecht Centraal", "Amsterdam Zuid", "Rotterdam Blaak"):
            db.session.add(PromisedItem(campaign=campaign, kind="location", label=label, aliases=[]))

        def address(number: int) -> str:
            refused = refuse_every and number % refuse_every == refuse_every - 1
            return f"{'refuse-' if refused else ''}r{number}@example.com"

        db.session.execute(insert(Customer), [
            {"external_id": f"{key}-{number}", "email": address(number), "language": ("nl", "en")[number % 2]}
            for number in range(count)
        ])
        customer_ids = db.session.execute(
            select(Customer.id).where(Customer.external_id.like(f"{key}-%")).order_by(Customer.id)
        ).scalars().all()
        tokens, rows = [], []
        for customer_id in customer_ids:
            token, token_hash = new_token()
            tokens.append(token)
            row = {"campaign_id": campaign.id, "customer_id": customer_id, "token_hash": token_hash,
                   "state": state, "language": None, "expires_at": now + timedelta(days=14)}
            if state == "sent":
                row["sent_at"] = now
            rows.append(row)
        db.session.execute(insert(Invitation), rows)
        db.session.commit()
    return tokens


def invitation_states(app: Any) -> dict[str, int]:
    """Count the invitations per state."""
    from sqlalchemy import func, select

    from survey_app.extensions import db
    from survey_app.models import Invitation

    with app.app_context():
        rows = db.session.execute(select(Invitation.state, func.count()).group_by(Invitation.state)).all()
        db.session.remove()
    return {state: count for state, count in rows}


def dropped_log(log: Path) -> Path:
    """The file the sink notes each connection it dropped in."""
    return log.with_suffix(".drops")


def sink_drops(log: Path) -> int:
    """Count the connections the sink dropped on purpose."""
    path = dropped_log(log)
    return len(path.read_text().splitlines()) if path.exists() else 0


def sink_deliveries(log: Path) -> Counter[str]:
    """Count the messages the sink accepted, per Message-ID."""
    if not log.exists():
        return Counter()
    return Counter(line.split("\t", 1)[0] for line in log.read_text().splitlines() if line.strip())


@contextmanager
def smtp_sink(base: Path, started: list[Child], *, drop_every: int = 0, refuse_prefix: str = "refuse-",
              delay: float = 0.0, max_per_connection: int = 0) -> Iterator[tuple[int, Path]]:
    """Run the SMTP sink in a subprocess; yield its port and the file it logs deliveries to."""
    port, log = free_port(), base / "sink.log"
    command = [sys.executable, str(Path(__file__).resolve()), "smtp-sink", "--port", str(port), "--log", str(log),
               "--drop-every", str(drop_every), "--refuse-prefix", refuse_prefix, "--delay", str(delay),
               "--max-per-connection", str(max_per_connection)]
    child = Child(command, log=base / "sink.out")
    started.append(child)

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                return connection.recv(3) == b"220"
        except OSError:
            return False

    wait_for(listening, 30, "SMTP sink")
    yield port, log


# --- the SMTP sink (run in its own process) -------------------------------------------------


def run_sink(port: int, log: Path, drop_every: int, refuse_prefix: str, delay: float,
             max_per_connection: int = 0) -> None:
    """Accept mail on loopback; log "message-id<TAB>recipient" per accepted message.

    With drop_every=N the Nth, 2Nth, ... connection is closed after the client sent the message
    (DATA and its content) but before the server answers: the message is NOT accepted, and the
    client sees a disconnect instead of "250". Recipients starting with refuse_prefix get a
    permanent "550" at RCPT. With max_per_connection=M a connection that already delivered M
    messages gets "421 too many messages" at the next MAIL FROM, as busy mail servers answer,
    so the sender reconnects (which makes connections, and hence drops, frequent).
    """
    import asyncio
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    connections = 0
    handle = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    drops = open(dropped_log(log), "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    class Handler:
        async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
            if max_per_connection and getattr(server, "delivered", 0) >= max_per_connection:
                return "421 4.7.0 too many messages on this connection, reconnect"
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"

        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
            if refuse_prefix and address.startswith(refuse_prefix):
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if getattr(server, "drop", False):
                drops.write("dropped\n")
                server.transport.close()
                return "421 4.3.2 closing (dropped on purpose)"
            if delay:
                await asyncio.sleep(delay)
            headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
            message_id = str(headers.get("Message-ID", "")).strip()
            handle.write(f"{message_id}\t{','.join(envelope.rcpt_tos)}\n")
            server.delivered = getattr(server, "delivered", 0) + 1
            return "250 Message accepted for delivery"

    class DroppingController(Controller):
        def factory(self) -> SMTP:
            nonlocal connections
            connections += 1
            server = SMTP(self.handler, hostname="sink.localhost")
            server.drop = bool(drop_every) and connections % drop_every == 0  # type: ignore[attr-defined]
            return server

    controller = DroppingController(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        # Bounded: a sink nobody stops ends by itself after an hour.
        deadline = time.monotonic() + 3600
        while not stop["now"] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        controller.stop()
        handle.close()
        drops.close()


def finish(name: str, figures: dict[str, Any], *, ok: bool, json_path: str | None) -> None:
    """Print the scenario's verdict line; write its figures as JSON when asked; exit 1 if not ok."""
    import json

    print(f"{name}: {'PASS' if ok else 'FAIL'}")
    if json_path:
        Path(json_path).write_text(json.dumps({"scenario": name, "ok": ok, **figures}, indent=2) + "\n")
    if not ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description="scenario helpers")
    commands = parser.add_subparsers(dest="command", required=True)
    sink = commands.add_parser("smtp-sink")
    sink.add_argument("--port", type=int, required=True)
    sink.add_argument("--log", type=Path, required=True)
    sink.add_argument("--drop-every", type=int, default=0)
    sink.add_argument("--refuse-prefix", default="refuse-")
    sink.add_argument("--delay", type=float, default=0.0)
    sink.add_argument("--max-per-connection", type=int, default=0)
    options = parser.parse_args()
    run_sink(options.port, options.log, options.drop_every, options.refuse_prefix, options.delay,
             options.max_per_connection)


if __name__ == "__main__":
    main()
