"""Central error pages. The 500 handler rolls the session back so the next request starts clean."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from survey_app.extensions import db


def register(app: Flask) -> None:
    """Install the error handlers on the app."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        return render_template("errors/error.html", error=error), error.code or 500

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/error.html", error=None), 500
