"""Test helpers that run real servers on loopback: the app over HTTP, and an SMTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from flask import Flask
from werkzeug.serving import make_server


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve the app with Werkzeug's threaded server in a thread; yield its base URL."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class ReceivedMail:
    """Messages an in-process SMTP server accepted, parsed as the standard library sees them."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


class _Collector:
    def __init__(self, mailbox: ReceivedMail) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mailbox.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.mailbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[ReceivedMail]:
    """Run a real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    from aiosmtpd.controller import Controller

    port = free_port()
    mailbox = ReceivedMail("127.0.0.1", port)
    controller = Controller(_Collector(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
