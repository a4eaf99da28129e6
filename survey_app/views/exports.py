"""CSV downloads for researchers: streamed, neutralised against formulas, never cached."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, request, stream_with_context
from flask_login import current_user, login_required

from survey_app.csv_safety import csv_format
from survey_app.services import exports
from survey_app.views.downloads import csv_attachment

bp = Blueprint("exports", __name__, url_prefix="/dashboard/exports")

TRUE_VALUES = ("1", "true", "on", "yes")


def _flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in TRUE_VALUES


def _download(kind: str) -> Response:
    """Parse the export's options, then stream the service's CSV as an attachment."""
    raw_campaign = request.args.get("campaign_id", "").strip()
    campaign_id: int | None = None
    key: str | None = None
    if raw_campaign:
        if not (raw_campaign.isascii() and raw_campaign.isdigit()):
            abort(400)
        campaign_id = int(raw_campaign)
        try:
            key = exports.campaign_key(campaign_id)
        except exports.ExportError:
            abort(404)
    excel = _flag("excel")
    options = exports.ExportOptions(
        campaign_id=campaign_id,
        include_email=current_user.is_admin,
        pseudonym_key=exports.pseudonym_key(current_app.config["SECRET_KEY"]) if _flag("pseudonymise") else None,
        fmt=csv_format(excel),
    )
    filename = exports.export_filename(kind, key, datetime.now(UTC).date())
    return csv_attachment(stream_with_context(exports.export(kind, options)), filename)


@bp.get("/responses.csv")
@login_required
def responses() -> Response:
    """Download the answers with their analyses."""
    return _download("responses")


@bp.get("/campaigns.csv")
@login_required
def campaigns() -> Response:
    """Download the campaigns with their verdicts."""
    return _download("campaigns")


@bp.get("/items.csv")
@login_required
def items() -> Response:
    """Download the promised items with their counts."""
    return _download("items")
