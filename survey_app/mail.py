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

import binascii
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
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Line breaks, NUL and the other C0/C1 controls: none of them belongs in a header.
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A deliberately plain address check: one @, no spaces or controls, a dot in the domain.
ADDRESS = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,253}\.[^\s@\x00-\x1f\x7f.]{2,63}")
# SMTP needs CRLF line ends.
SMTP_POLICY = policy.compat32.clone(linesep="\r\n")
# RFC 5322 recommends header lines of at most 78 characters, allows 998; longer ones are folded
# at whitespace (or before an encoded word).
FOLD_AT = 78
MAX_LINE = 998
HEADER_FOLDABLE = re.compile(r"\s|=\?")
# RFC 2045: base64 lines of at most 76 characters.
BASE64_LINE = 76
DOT_STUFFING = re.compile(rb"(?m)^\.")


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
    return _formatted_address(address.display_name, address.addr_spec)


@lru_cache(maxsize=256)
def _sender_header(display_name: str, addr_spec: str) -> str:
    """_address_header for the sender, the same on every message of a campaign."""
    return _formatted_address(display_name, addr_spec)


def _formatted_address(display_name: str, addr_spec: str) -> str:
    return formataddr((display_name, addr_spec), charset="utf-8")


def header_line(name: str, value: str) -> bytes:
    """Return one header line with its CRLF, folded as the email package's compat32 policy would.

    Short ASCII lines, the usual case, are written as they are; only longer or non-ASCII ones
    go through the (slow) folding code. Values must be free of line breaks already.
    """
    line = f"{name}: {value}"
    if line.isascii():
        if len(line) <= FOLD_AT:
            return f"{line}\r\n".encode("ascii")
        if value and not HEADER_FOLDABLE.search(value) and len(value) < MAX_LINE:
            # One long word (a URL): compat32 moves it to a continuation line of its own.
            return f"{name}: \r\n {value}\r\n".encode("ascii")
    return SMTP_POLICY.fold_binary(name, value)


@lru_cache(maxsize=256)
def fixed_header_line(name: str, value: str) -> bytes:
    """header_line for the values that repeat from message to message: sender, subject, language."""
    return header_line(name, value)


@lru_cache(maxsize=256)
def _subject_line(subject: str) -> bytes:
    subject = clean_header_text(subject)
    if subject.isascii():
        return header_line("Subject", subject)
    # RFC 2047 encoded words, split and folded by the email package.
    encoded = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    return f"Subject: {encoded}\r\n".encode("ascii")


def _text_part(subtype: str, content: str) -> bytes:
    """Return a text/* MIME part, UTF-8 in base64 with 76-character lines (7-bit safe for any server)."""
    encoded = binascii.b2a_base64(content.encode("utf-8"), newline=False)
    lines = b"\r\n".join([encoded[start:start + BASE64_LINE] for start in range(0, len(encoded), BASE64_LINE)])
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n" + lines + b"\r\n"
    )


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

    Written directly as bytes in the layout the email package's compat32 generator produces:
    building it with the email package's classes cost more than sending it (bench/
    send_invitations.py). No header text is concatenated from raw input: addresses are written
    by formataddr (quoting, RFC 2047 for non-ASCII names), the subject is RFC 2047-encoded when
    needed, and every value is cleaned of line breaks and control characters first, so nothing
    from an import can start a header of its own. Both parts are base64, so no body line can
    look like the boundary.
    """
    boundary = f"==============={secrets.token_hex(12)}=="
    lines = [
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\nMIME-Version: 1.0\r\n'.encode("ascii"),
        fixed_header_line("From", _sender_header(sender.display_name, sender.addr_spec)),
        header_line("To", _address_header(recipient)),
        _subject_line(subject),
        header_line("Date", format_datetime(date or datetime.now(UTC))),
        header_line("Message-ID", clean_header_text(message_id)),
    ]
    if references:
        references = clean_header_text(references)
        lines += [header_line("In-Reply-To", references), header_line("References", references)]
    if language:
        lines.append(fixed_header_line("Content-Language", clean_header_text(language)))
    # RFC 2369 and RFC 8058: the receiver POSTs "List-Unsubscribe=One-Click" to this URL.
    lines.append(header_line("List-Unsubscribe", f"<{clean_header_text(unsubscribe_url)}>"))
    lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nAuto-Submitted: auto-generated\r\n")
    separator = f"\r\n--{boundary}\r\n".encode("ascii")
    data = b"".join([
        *lines, separator, _text_part("plain", text), separator, _text_part("html", html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ])
    return OutgoingMessage(
        envelope_from=sender.addr_spec,
        recipient=recipient.addr_spec,
        message_id=message_id,
        data=data,
    )


def message_id_for(invitation_id: int, kind: str, domain: str) -> str:
    """Return the Message-ID of one email of an invitation, the same on every attempt.

    A message resent after a crash carries the Message-ID of the first attempt, so the receiving
    side can recognise the copy.
    """
    return f"<survey-{invitation_id}-{kind}@{domain}>"


class MailConnection(Protocol):
    """Somewhere messages go: an open SMTP session or the outbox folder.

    `meanwhile`, when given, is work (rendering the next message) that send runs while the
    server processes this message, after the data went out and before the reply is read; it
    must not raise.
    """

    def send(self, message: OutgoingMessage, meanwhile: Callable[[], None] | None = None) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class OutboxConnection:
    """Write each message as an .eml file (development and the demo), and log it."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, message: OutgoingMessage, meanwhile: Callable[[], None] | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = re.sub(r"[^A-Za-z0-9._-]", "", message.message_id.split("@")[0])
        path = self.directory / f"{stamp}-{name}.eml"
        # Write, then rename: a reader of the folder never sees half a message.
        temporary = self.directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
        temporary.write_bytes(message.data)
        temporary.replace(path)
        log.info("wrote %s for %s to the outbox", message.message_id, mask_email(message.recipient))
        if meanwhile is not None:
            meanwhile()

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

    def send(self, message: OutgoingMessage, meanwhile: Callable[[], None] | None = None) -> None:
        if self.session is None:
            self.session = self._open()
        try:
            self._transaction(self.session, message, meanwhile)
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error) from error

    @staticmethod
    def _transaction(session: smtplib.SMTP, message: OutgoingMessage, meanwhile: Callable[[], None] | None) -> None:
        """smtplib's sendmail for our one recipient, split so that `meanwhile` runs while the server
        processes the message: the sender's next rendering overlaps the server's work instead of
        adding to it (bench/send_invitations.py). Raises what sendmail raises; after a failure the
        caller drops the session (send_with_retry), so no RSET is needed.
        """
        session.ehlo_or_helo_if_needed()
        options = [f"size={len(message.data)}"] if session.does_esmtp and session.has_extn("size") else []
        code, reply = session.mail(message.envelope_from, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, message.envelope_from)
        code, reply = session.rcpt(message.recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({message.recipient: (code, reply)})
        session.putcmd("data")
        code, reply = session.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        data = message.data if message.data.endswith(b"\r\n") else message.data + b"\r\n"
        # RFC 5321 4.5.2: a line starting with a dot gets a second one; a lone dot ends the data.
        # Our base64 bodies have none, so the scan is skipped when a plain search finds none.
        if data.startswith(b".") or b"\n." in data:
            data = DOT_STUFFING.sub(b"..", data)
        session.send(data + b".\r\n")
        if meanwhile is not None:
            meanwhile()
        code, reply = session.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

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
    meanwhile: Callable[[], None] | None = None,
) -> int:
    """Send one message, retrying transient failures with exponential backoff; return the tries used.

    Raises PermanentMailError at once, and TransientMailError once `attempts` tries failed.
    `meanwhile` (see MailConnection) may run on any attempt, or on none when all fail early.
    """
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            if meanwhile is None:
                connection.send(message)
            else:
                connection.send(message, meanwhile=meanwhile)
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
