"""The researchers' dashboard: campaigns ranked by trouble, the flag queue and workflow, one
campaign's evidence, its answers, and its charts. Every page needs a signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from survey_app.forms.dashboard import AcknowledgeFlagForm, ResolveFlagForm
from survey_app.models import CHANNELS, FINDING_CATEGORIES, LANGUAGES
from survey_app.services import charts, flags, reporting

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for signed-in researchers."""


@bp.context_processor
def dashboard_globals() -> dict[str, Any]:
    # The export buttons appear once the exports blueprint serves them.
    return {"exports_ready": "exports.responses" in current_app.view_functions}


def index() -> BaseResponse:
    """Send researchers to their dashboard and everyone else to the sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.campaigns"))
    return redirect(url_for("auth.login"))


def flag_forms(flag_id: int) -> tuple[AcknowledgeFlagForm, ResolveFlagForm]:
    """Return the flag's two forms, prefixed so several flags can share one page."""
    return AcknowledgeFlagForm(prefix=f"ack{flag_id}"), ResolveFlagForm(prefix=f"res{flag_id}")


@bp.get("/")
def campaigns() -> str:
    query = reporting.OverviewQuery.parse(request.args)
    return render_template(
        "dashboard/campaigns.html", rows=reporting.campaign_overview(query), query=query,
        periods=reporting.PERIODS, channels=CHANNELS, languages=LANGUAGES, flag_filters=reporting.FLAG_FILTERS,
    )


@bp.get("/flags")
def flag_list() -> str:
    entries = flags.open_flags()
    return render_template(
        "dashboard/flags.html", entries=entries, forms={entry.flag.id: flag_forms(entry.flag.id) for entry in entries}
    )


def back_to(campaign_id: int) -> BaseResponse:
    if request.form.get("back") == "flags":
        return redirect(url_for(".flag_list"))
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@bp.post("/flags/<int:flag_id>/acknowledge")
def acknowledge_flag(flag_id: int) -> BaseResponse:
    form = flag_forms(flag_id)[0]
    if not form.validate_on_submit():
        abort(400)
    try:
        flag = flags.acknowledge(flag_id, current_user.id, form.note.data)
    except LookupError:
        abort(404)
    except flags.FlagError as error:
        flash(str(error), "error")
        return redirect(url_for(".flag_list"))
    flash("Flag acknowledged.", "info")
    return back_to(flag.campaign_id)


@bp.post("/flags/<int:flag_id>/resolve")
def resolve_flag(flag_id: int) -> BaseResponse:
    form = flag_forms(flag_id)[1]
    if not form.validate_on_submit():
        flash("Say in a note what was done about it (at most "
              f"{flags.MAX_NOTE_LENGTH} characters).", "error")
        return back_for_failed(flag_id)
    try:
        flag = flags.resolve(flag_id, current_user.id, form.note.data or "")
    except LookupError:
        abort(404)
    except flags.FlagError as error:
        flash(str(error), "error")
        return redirect(url_for(".flag_list"))
    flash("Flag resolved. It stays in the campaign's history.", "info")
    return back_to(flag.campaign_id)


def back_for_failed(flag_id: int) -> BaseResponse:
    campaign_id = flags.campaign_of(flag_id)
    if campaign_id is None:
        abort(404)
    return back_to(campaign_id)


@bp.get("/campaign/<int:campaign_id>")
def campaign(campaign_id: int) -> str:
    report = reporting.campaign_report(campaign_id)
    if report is None:
        abort(404)
    forms = flag_forms(report.flag.id) if report.flag else None
    return render_template(
        "dashboard/campaign.html", report=report, campaign=report.campaign, forms=forms,
        charts=charts.CHARTS, chart_version=charts.state_token(campaign_id),
    )


@bp.get("/campaign/<int:campaign_id>/responses")
def responses(campaign_id: int) -> str:
    campaign = reporting.load_campaign(campaign_id)
    if campaign is None:
        abort(404)
    query = reporting.ResponseQuery.parse(request.args, item_ids=[item.id for item in campaign.items])
    page = reporting.responses_page(campaign_id, query)
    return render_template(
        "dashboard/responses.html", campaign=campaign, page=page, query=query,
        groups=reporting.SCORE_GROUPS, languages=LANGUAGES, categories=FINDING_CATEGORIES,
    )


@bp.get("/campaign/<int:campaign_id>/charts/<name>.svg")
def chart(campaign_id: int, name: str) -> Response:
    if name not in charts.CHARTS:
        abort(404)
    svg = charts.campaign_chart(campaign_id, name)
    if svg is None:
        abort(404)
    response = Response(svg, mimetype="image/svg+xml")
    # The URL carries the campaign's state, so a changed campaign gets a new URL.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
