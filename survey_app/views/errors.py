"""Central error pages. The 500 handler rolls the session back so the next request starts clean."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from survey_app.extensions import db


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

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/error.html", error=None), 500
