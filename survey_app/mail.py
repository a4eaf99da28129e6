"""Survey emails: building a safe MIME message, and delivering it to an outbox folder or SMTP.

Building never concatenates header text: addresses are parsed and checked, then written with
email.utils.formataddr (quoting and RFC 2047 encoding), and every value that came from an import is
stripped of line breaks and control characters first (Python before 3.11.10 does not refuse them
itself, CVE-2024-6923). Delivery keeps one SMTP
connection open for a whole batch and sorts failures into transient (4xx, lost or refused
connections: retry with backoff), permanent (5xx: the message is refused) and configuration
problems (login, TLS: stop the run, blame no invitation).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Line breaks, NUL and the other C0/C1 controls: none of them belongs in a header.
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A deliberately plain address check: one @, no spaces or controls, a dot in the domain.
ADDRESS = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,253}\.[^\s@\x00-\x1f\x7f.]{2,63}")
# SMTP needs CRLF line ends.
SMTP_POLICY = policy.compat32.clone(linesep="\r\n")


class MailError(Exception):
    """A message could not be delivered; `reason` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:480]


class PermanentMailError(MailError):
    """The server (or our own check) refused this message for good: do not retry it."""


class TransientMailError(MailError):
    """A temporary failure (4xx, lost connection): the same message may succeed later."""


class MailConfigurationError(MailError):
    """The delivery settings are wrong (login, TLS, host): no message can go out."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message ready for delivery: envelope and the exact bytes to send."""

    envelope_from: str
    recipient: str
    message_id: str
    data: bytes


def clean_header_text(value: str | None) -> str:
    """Return a value fit for a header: control characters and line breaks become one space."""
    return " ".join(HEADER_UNSAFE.sub(" ", value or "").split())


def mask_email(address: str | None) -> str:
    """Return an address with the local part hidden, for logs."""
    if not address or "@" not in address:
        return "***"
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def recipient_address(name: str | None, email: str | None) -> Address:
    """Return the To address, refusing any address a header could be injected through."""
    if not email or not ADDRESS.fullmatch(email):
        raise PermanentMailError("invalid recipient address")
    local, _, domain = email.rpartition("@")
    return Address(display_name=clean_header_text(name), username=local, domain=domain)


def sender_address(value: str) -> Address:
    """Parse a configured sender like 'Name <addr@example.com>', refusing line breaks."""
    if HEADER_UNSAFE.search(value):
        raise MailConfigurationError("the sender contains a line break or control character")
    name, email = parseaddr(value)
    if not ADDRESS.fullmatch(email):
        raise MailConfigurationError("the sender is not a valid address")
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _address_header(address: Address) -> str:
    """Return an address header value: the name quoted or RFC 2047-encoded as needed."""
    return formataddr((address.display_name, address.addr_spec), charset="utf-8")


def build_message(
    *,
    sender: Address,
    recipient: Address,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    unsubscribe_url: str,
    date: datetime | None = None,
    references: str | None = None,
    language: str | None = None,
) -> OutgoingMessage:
    """Return a multipart/alternative message (text first, HTML preferred) with RFC 8058 headers.

    Built with the email package's compat32 classes: the default policy re-parses every header
    through the header registry, which made building the message cost more than sending it
    (bench/send_invitations.py). Every header value here is either built by us or cleaned of
    line breaks first, so nothing from an import can start a header of its own.
    """
    message = MIMEMultipart("alternative")
    message["From"] = _address_header(sender)
    message["To"] = _address_header(recipient)
    subject = clean_header_text(subject)
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = clean_header_text(message_id)
    if references:
        message["In-Reply-To"] = clean_header_text(references)
        message["References"] = clean_header_text(references)
    if language:
        message["Content-Language"] = clean_header_text(language)
    # RFC 2369 and RFC 8058: the receiver POSTs "List-Unsubscribe=One-Click" to this URL.
    message["List-Unsubscribe"] = f"<{clean_header_text(unsubscribe_url)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.attach(MIMEText(text, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return OutgoingMessage(
        envelope_from=sender.addr_spec,
        recipient=recipient.addr_spec,
        message_id=message_id,
        data=message.as_bytes(policy=SMTP_POLICY),
    )


def message_id_for(invitation_id: int, kind: str, domain: str) -> str:
    """Return the Message-ID of one email of an invitation, the same on every attempt.

    A message resent after a crash carries the Message-ID of the first attempt, so the receiving
    side can recognise the copy.
    """
    return f"<survey-{invitation_id}-{kind}@{domain}>"


class MailConnection(Protocol):
    """Somewhere messages go: an open SMTP session or the outbox folder."""

    def send(self, message: OutgoingMessage) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class OutboxConnection:
    """Write each message as an .eml file (development and the demo), and log it."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, message: OutgoingMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = re.sub(r"[^A-Za-z0-9._-]", "", message.message_id.split("@")[0])
        path = self.directory / f"{stamp}-{name}.eml"
        # Write, then rename: a reader of the folder never sees half a message.
        temporary = self.directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
        temporary.write_bytes(message.data)
        temporary.replace(path)
        log.info("wrote %s for %s to the outbox", message.message_id, mask_email(message.recipient))

    def reset(self) -> None:
        """Nothing to reset: every write stands alone."""

    def close(self) -> None:
        """Nothing to close."""


class SMTPConnection:
    """One SMTP session, opened on first use and reused for every message of a batch."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.host = str(settings["SMTP_HOST"])
        self.port = int(settings["SMTP_PORT"])
        self.security = str(settings.get("SMTP_SECURITY") or "none").lower()
        self.username = settings.get("SMTP_USERNAME")
        self.password = settings.get("SMTP_PASSWORD")
        self.timeout = float(settings.get("SMTP_TIMEOUT") or 30)
        if self.security not in ("none", "starttls", "ssl"):
            raise MailConfigurationError(f"SMTP_SECURITY must be none, starttls or ssl, not {self.security!r}")
        self.session: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        try:
            if self.security == "ssl":
                session: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                session = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    session.starttls(context=context)
            if self.username:
                session.login(str(self.username), str(self.password or ""))
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError, ssl.SSLError) as error:
            raise MailConfigurationError(f"SMTP set-up failed: {describe(error)}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error) from error
        return session

    def send(self, message: OutgoingMessage) -> None:
        if self.session is None:
            self.session = self._open()
        try:
            refused = self.session.sendmail(message.envelope_from, [message.recipient], message.data)
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error) from error
        if refused:  # only possible with several recipients; kept for completeness
            code, text = next(iter(refused.values()))
            raise classify(smtplib.SMTPResponseException(code, text))

    def reset(self) -> None:
        """Drop the session after a failure; the next send opens a fresh one."""
        session, self.session = self.session, None
        if session is not None:
            try:
                session.close()
            except OSError:
                pass

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            try:
                session.quit()
            except (smtplib.SMTPException, OSError):
                session.close()


def describe(error: BaseException) -> str:
    """Return a short reason for a failure, with the server's code and text when there is one."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (0, b""))
        return f"{code} {_text(text)}".strip()
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}".strip()
    return f"{type(error).__name__}: {error}".strip()


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return clean_header_text(text)


def classify(error: BaseException) -> MailError:
    """Map an smtplib or socket error to a transient or permanent mail error."""
    code = 0
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = next(iter(error.recipients.values()), (0, b""))[0]
    elif isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
    reason = describe(error)
    if 500 <= code < 600:
        return PermanentMailError(reason)
    # 4xx, disconnects, refused or reset connections and timeouts may all pass.
    return TransientMailError(reason)


def open_connection(settings: Mapping[str, Any]) -> MailConnection:
    """Return the configured delivery: the outbox folder or an SMTP session."""
    backend = str(settings.get("MAIL_BACKEND") or "outbox").lower()
    if backend == "outbox":
        return OutboxConnection(settings["MAIL_OUTBOX_DIR"])
    if backend == "smtp":
        return SMTPConnection(settings)
    raise MailConfigurationError(f"MAIL_BACKEND must be outbox or smtp, not {backend!r}")


def send_with_retry(
    connection: MailConnection,
    message: OutgoingMessage,
    *,
    attempts: int,
    base_delay: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send one message, retrying transient failures with exponential backoff; return the tries used.

    Raises PermanentMailError at once, and TransientMailError once `attempts` tries failed.
    """
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            connection.send(message)
            return attempt
        except TransientMailError as error:
            connection.reset()
            if attempt == attempts:
                raise
            delay = base_delay * 2 ** (attempt - 1)
            log.warning("transient failure sending %s (%s); retry %d in %.1fs",
                        message.message_id, error.reason, attempt, delay)
            sleep(delay)
        except PermanentMailError:
            # A 5xx leaves the session usable, but a clean one costs little and is certain.
            connection.reset()
            raise
    raise AssertionError("unreachable")
