"""Logging for the app: survey tokens and email addresses never reach a log line.

Survey and unsubscribe links carry capability tokens, and access logs (Werkzeug's, gunicorn's)
print request paths; SQL logs print bound parameters, addresses among them. `RedactingFilter`
masks both in every record: the message with its arguments, the traceback and the stack.
`configure_logging` puts it on the root handlers and on the loggers that keep their own
handlers, and masks records as they are created, so handlers added later (a test's capture
handler, gunicorn's) never see the plain values either.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

EMAIL_MASK = "[email]"
TOKEN_MASK = "[token]"
# Loggers that may have handlers of their own, which records logged there reach without
# passing the root handlers.
OWN_HANDLER_LOGGERS = ("werkzeug", "gunicorn.error", "gunicorn.access", "celery", "celery.task", "flask.app")

# An address, also URL-encoded (%40) as in access-logged query strings; \w covers Unicode.
# "/", "?", "=", "&", quotes and "*" are left out of the local part, so a logged URL keeps its path,
# a quoted SQL parameter its quotes, and an already masked "j***@example.com" stays as it is.
_EMAIL = re.compile(r"[\w.!#$%+^{|}~-]+(?:@|%40)(?:[\w-]+\.)+[\w-]{2,}", re.IGNORECASE)
# /s/<token> (survey) and /u/<token> (unsubscribe), whatever the token looks like.
_TOKEN_PATH = re.compile(r"(/[su]/)[^/?#\s\"'<>]+")
# A bare url-safe token: 22+ characters (128 bits) mixing upper case, lower case and digits.
# Hex digests and snake_case names lack upper case, so SQL hashes and identifiers stay readable.
_LONG_RUN = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{22,}(?![\w-])")
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON_KEY = "HTTP_X_REQUEST_ID"
NO_REQUEST_ID = "-"
# What a request id taken from a header may look like: short, and nothing that could forge a
# log line or a JSON field (no spaces, quotes, newlines or control characters).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def _mask_token(match: re.Match[str]) -> str:
    run = match.group(0)
    return TOKEN_MASK if _UPPER.search(run) and _LOWER.search(run) and _DIGIT.search(run) else run


def redact(text: str) -> str:
    """Return text with email addresses and survey tokens masked."""
    if not text:
        return text
    # Cheap substring tests first: most log lines hold neither, and this runs for every record.
    if "/s/" in text or "/u/" in text:
        text = _TOKEN_PATH.sub(lambda match: match.group(1) + TOKEN_MASK, text)
    text = _LONG_RUN.sub(_mask_token, text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    return text


def _has_secret(value: Any) -> bool:
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break logging
        return False
    return redact(text) != text


def redact_record(record: logging.LogRecord) -> None:
    """Mask the record in place: message and arguments, traceback text, stack."""
    if getattr(record, "_survey_app_redacted", False):
        return
    args = record.args
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: keep what we can, masked
        message = f"{record.msg} {args!r}"
    masked = redact(message)
    secret_args = bool(args) and _has_secret(args)
    if masked != message or secret_args or not isinstance(record.msg, str):
        # The arguments are folded into the masked message; keeping them would keep the secret.
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        # Formatted once here; formatters reuse exc_text instead of formatting the exception again.
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._survey_app_redacted = True


class RedactingFilter(logging.Filter):
    """Mask email addresses and survey tokens in every record that passes; drop none."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def current_request_id() -> str:
    """Return the id of the request being served, or "-" outside a request."""
    if has_request_context():
        return str(g.get("request_id") or NO_REQUEST_ID)
    return NO_REQUEST_ID


def valid_request_id(value: str | None) -> bool:
    """Tell whether a header value may be used as a request id as it is."""
    return bool(value) and _REQUEST_ID.fullmatch(value or "") is not None


def assign_request_id() -> None:
    """Take the proxy's well-formed X-Request-ID, or make one; keep it for this request."""
    # Straight from the WSGI environ: request.headers builds a header view first, and its get()
    # raises and catches a KeyError when the header is absent, as it is for most clients.
    given = request.environ.get(REQUEST_ID_ENVIRON_KEY)
    g.request_id = given if valid_request_id(given) else secrets.token_hex(16)


def echo_request_id(response: Response) -> ResponseReturnValue:
    """Send the request id back, so a client can quote it when reporting a problem."""
    response.headers[REQUEST_ID_HEADER] = current_request_id()
    return response


class RequestIdFilter(logging.Filter):
    """Give records made outside the record factory (a foreign LogRecord) a request_id too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or NO_REQUEST_ID,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


_FILTER = RedactingFilter()
_REQUEST_ID_FILTER = RequestIdFilter()
_HANDLER_MARK = "_survey_app_handler"


def _install_record_factory() -> None:
    current: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(current, "_survey_app_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        record.request_id = current_request_id()
        return record

    factory._survey_app_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _filter_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        for one in (_FILTER, _REQUEST_ID_FILTER):
            if one not in handler.filters:
                handler.addFilter(one)


def configure_logging(app: Flask) -> None:
    """Mask tokens and addresses in all logging; tag records with the request id; give a bare
    process one stderr handler.

    LOG_FORMAT ("text" or "json") and LOG_LEVEL apply to that handler. When the server
    configured logging already (a test runner, Celery), its handlers and levels are kept;
    gunicorn's own handlers get the JSON formatter too when LOG_FORMAT is "json", so a
    deployment writes one format. Safe to call once per app; nothing is added twice.
    """
    _install_record_factory()
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
    json_output = str(app.config.get("LOG_FORMAT", "text")).lower() == "json"
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if json_output else logging.Formatter(TEXT_FORMAT))
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
        root.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    # Alembic announces each of its plugins at INFO whenever Flask-Migrate loads it, which
    # buried every command's own output under a dozen lines.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if json_output:
        for name in ("gunicorn.error", "gunicorn.access"):
            for handler in logging.getLogger(name).handlers:
                if not isinstance(handler.formatter, JsonFormatter):
                    handler.setFormatter(JsonFormatter())
    _filter_handlers(root)
    for name in (*OWN_HANDLER_LOGGERS, app.logger.name):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        _filter_handlers(logger)
