"""Central error pages. The 500 handler rolls the session back so the next request starts clean.

A database that cannot be reached (down, restarting, a dropped connection, an exhausted pool)
is not a bug in a request: it is answered with 503 and Retry-After, JSON under /api/ and a
small page elsewhere, so clients and proxies retry instead of giving up. The session is rolled
back first, so nothing of the failed request is kept: services commit once per use case, and a
transaction that never reached its commit leaves no rows.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, render_template_string, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from survey_app.extensions import db

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Self-contained on purpose: the site layout asks the database who is signed in, which is
# exactly what cannot be done now.
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="nl">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>503 · survey_app</title></head>
<body>
<h1>Even niet beschikbaar</h1>
<p>We kunnen je verzoek nu niet verwerken. Er is niets opgeslagen; probeer het over een paar seconden opnieuw.</p>
<h1 lang="en">Temporarily unavailable</h1>
<p lang="en">We cannot handle your request right now. Nothing was saved; please try again in a few seconds.</p>
{% if request_id %}<p><small>Request id: {{ request_id }}</small></p>{% endif %}
</body>
</html>
"""


def is_unavailable(error: BaseException) -> bool:
    """Tell whether a database error means "cannot reach the database" rather than a bad query."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def rollback_quietly() -> None:
    """Roll the session back; with the database gone, drop the session's connection instead."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.remove()


def unavailable_response() -> ResponseReturnValue:
    """Answer 503 with Retry-After: JSON for the API, a page in both languages elsewhere."""
    from survey_app.logs import current_request_id

    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/"):
        body = jsonify(error="the database is unavailable; nothing was stored, retry later",
                       retry_after=RETRY_AFTER_SECONDS)
        return body, 503, headers
    page = render_template_string(UNAVAILABLE_PAGE, request_id=current_request_id())
    return page, 503, headers


def register(app: Flask) -> None:
    """Install the error handlers on the app."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        if request.blueprint == "survey" and error.code in (404, 410):
            # One page for unknown, malformed and expired links, in the customer's language.
            return render_template("survey/invalid.html"), error.code
        return render_template("errors/error.html", error=error), error.code or 500

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        if request.path.startswith("/api/"):
            return jsonify(error=f"The request body is too large: the limit is {limit} bytes."), 413
        error.description = (
            f"The file is too large: uploads are limited to {limit / (1024 * 1024):g} MB. "
            "Split the file and upload the parts."
        )
        return render_template("errors/error.html", error=error), 413

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)
    def database_error(error: SQLAlchemyError) -> ResponseReturnValue:
        rollback_quietly()
        if not is_unavailable(error):
            # A failing statement is a bug: the 500 page, logged with its traceback.
            raise error
        # The class only: the message may name the host and user.
        log.warning("database unavailable (%s); answered 503", type(error).__name__)
        return unavailable_response()

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        rollback_quietly()
        return render_template("errors/error.html", error=None), 500
