"""The researchers' dashboard."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from survey_app.services import reporting

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def index() -> Response:
    """Send researchers to their dashboard and everyone else to the sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.campaigns"))
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def campaigns() -> str:
    return render_template("dashboard/campaigns.html", rows=reporting.campaign_overview())
