"""The only pages customers see: the survey behind an emailed link, the thank-you page and the
privacy statement. GET never stores an answer; only a POST does."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from survey_app.extensions import csrf
from survey_app.forms.survey import AnswerForm
from survey_app.models import Invitation
from survey_app.services import analysis, survey
from survey_app.services.survey import AnswerError, LinkState

bp = Blueprint("survey", __name__)
# The answer form checks its own CSRF token (AnswerForm is a FlaskForm), so a failed check can
# re-render the page with the typed text kept, instead of the global handler's bare 400 page.
csrf.exempt(bp)
log = logging.getLogger(__name__)


def choose_language(invitation: Invitation | None) -> str:
    """Use ?lang= when given, else the invitation's, the customer's or the campaign's language."""
    requested = request.args.get("lang")
    if requested in ("nl", "en"):
        return requested
    if invitation is not None:
        return invitation.language or invitation.customer.language or invitation.campaign.language
    return request.accept_languages.best_match(["nl", "en"]) or "nl"


def open_invitation(token: str) -> Invitation:
    """Return the invitation behind a usable link, or end with the same page for every bad one."""
    link = survey.find_link(token)
    g.locale = choose_language(link.invitation)
    if link.state is not LinkState.OPEN:
        # Unknown, malformed and expired links look alike apart from the status code.
        abort(410 if link.state is LinkState.EXPIRED else 404)
    assert link.invitation is not None
    return link.invitation


@bp.route("/s/<token>", methods=["GET", "POST"])
def answer(token: str) -> str | Response | tuple[str, int]:
    invitation = open_invitation(token)
    form = AnswerForm()
    stored = invitation.response
    score: int | None = stored.score if stored else None
    error = None
    if request.method in ("GET", "HEAD"):
        if request.method == "GET":
            survey.record_opened(invitation)
        if "score" in request.args:
            try:
                score = survey.parse_score(request.args.getlist("score"))
            except AnswerError:
                score = None
        if stored and not form.comment.data:
            form.comment.data = stored.comment
        return render_page(invitation, form, score, error)

    try:
        score = survey.parse_score(request.form.getlist("score"))
    except AnswerError:
        error = _("Please choose one score from 0 to 10.")
        score = None
    if error is None and not form.validate_on_submit():
        # Most often a session that ended while the page stayed open: keep the text, ask again.
        error = _("Your answer was not saved yet. Please press the button once more.")
    if error is None:
        try:
            comment = survey.clean_comment(form.comment.data or "")
        except AnswerError:
            error = _("Please keep your answer under %(limit)s characters.", limit=survey.MAX_COMMENT_LENGTH)
    if error is not None:
        return render_page(invitation, form, score, error), 400
    response_id = survey.store_answer(invitation, score, comment, g.locale)
    try:
        analysis.analyze_one(response_id)
    except Exception:  # noqa: BLE001 - the answer is stored; `survey-app analyze` catches up later
        log.exception("analysis of response %s failed; it will be retried by survey-app analyze", response_id)
    return redirect(url_for(".thanks", token=token, lang=g.locale))


def render_page(invitation: Invitation, form: AnswerForm, score: int | None, error: str | None) -> str:
    return render_template(
        "survey/answer.html", invitation=invitation, form=form, score=score,
        group=survey.score_group(score), error=error, token=request.view_args["token"],
    )


@bp.get("/s/<token>/thanks")
def thanks(token: str) -> str:
    invitation = open_invitation(token)
    if invitation.response is None:
        abort(404)
    return render_template("survey/thanks.html", invitation=invitation, token=token)


@bp.get("/privacy")
def privacy() -> str:
    g.locale = choose_language(None)
    return render_template("survey/privacy.html")
