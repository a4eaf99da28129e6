"""The only pages customers see: the survey behind an emailed link, the thank-you page and the
privacy statement. GET never stores an answer; only a POST does."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from survey_app.extensions import csrf, limiter
from survey_app.forms.survey import AnswerForm
from survey_app.models import Invitation
from survey_app.services import survey
from survey_app.services.survey import AnswerError, LinkState

bp = Blueprint("survey", __name__)
# The answer form checks its own CSRF token (AnswerForm is a FlaskForm), so a failed check can
# re-render the page with the typed text kept, instead of the global handler's bare 400 page.
csrf.exempt(bp)

# Every request that looks a token up counts against its client address (request.remote_addr,
# which ProxyFix takes from X-Forwarded-For only for PROXY_FIX_X_FOR trusted proxies). The
# general budget is generous, for customers behind one shared address; failed lookups, the
# signature of someone guessing tokens, have a much smaller budget of their own.
DEFAULT_RATE_LIMIT = "60 per minute"
DEFAULT_BAD_LINK_RATE_LIMIT = "10 per minute"


def link_rate_limit() -> str:
    """Return the configured budget for survey link requests per client address."""
    return str(current_app.config.get("SURVEY_RATE_LIMIT", DEFAULT_RATE_LIMIT))


def bad_link_rate_limit() -> str:
    """Return the configured budget for failed link lookups per client address."""
    return str(current_app.config.get("SURVEY_BAD_LINK_RATE_LIMIT", DEFAULT_BAD_LINK_RATE_LIMIT))


def is_bad_link(response: Response) -> bool:
    """Tell whether a response answered an unknown, malformed or expired link."""
    return response.status_code in (404, 410)


# Shared scopes: the survey page and its thank-you page draw on the same two budgets.
limit_link_lookups = limiter.shared_limit(link_rate_limit, scope="survey-link")
limit_bad_links = limiter.shared_limit(bad_link_rate_limit, scope="survey-bad-link", deduct_when=is_bad_link)


@bp.errorhandler(TooManyRequests)
def too_many_requests(error: TooManyRequests) -> tuple[str, int]:
    """Answer a spent budget with the survey's own page, without looking the token up."""
    # The limit is checked before the view, and looking up the invitation's language would
    # spend the database time the limit protects: only ?lang= or the browser's language count.
    if request.args.get("lang") in current_app.config["LANGUAGES"]:
        g.locale = request.args["lang"]
    return render_template("survey/busy.html"), 429


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
@limit_link_lookups
@limit_bad_links
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
    survey.request_analysis(response_id)
    return redirect(url_for(".thanks", token=token, lang=g.locale))


def render_page(invitation: Invitation, form: AnswerForm, score: int | None, error: str | None) -> str:
    return render_template(
        "survey/answer.html", invitation=invitation, form=form, score=score,
        group=survey.score_group(score), error=error, token=request.view_args["token"],
    )


@bp.get("/s/<token>/thanks")
@limit_link_lookups
@limit_bad_links
def thanks(token: str) -> str:
    invitation = open_invitation(token)
    if invitation.response is None:
        abort(404)
    return render_template("survey/thanks.html", invitation=invitation, token=token)


@bp.get("/privacy")
def privacy() -> str:
    g.locale = choose_language(None)
    config = current_app.config
    # The operator's own statement (PRIVACY_TEXT = {"nl": ..., "en": ...}) replaces ours; it is
    # plain text, split into paragraphs at blank lines and escaped like everything else.
    custom = (config.get("PRIVACY_TEXT") or {}).get(g.locale)
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", custom) if part.strip()] if custom else []
    return render_template(
        "survey/privacy.html", paragraphs=paragraphs,
        comment_days=config.get("RETENTION_COMMENT_DAYS"), nonrespondent_days=config.get("RETENTION_NONRESPONDENT_DAYS"),
    )
