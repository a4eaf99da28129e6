"""The only pages customers see: the survey behind an emailed link, the thank-you page and the
privacy statement. GET never stores an answer; only a POST does."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from survey_app.extensions import csrf, limiter
from survey_app.forms.survey import AnswerForm, link_csrf_token
from survey_app.services import survey
from survey_app.services.survey import AnswerError, LinkState, SurveyLink
from survey_app.slots import Slots

bp = Blueprint("survey", __name__)
# The answer form checks its own CSRF token, bound to the survey link rather than to a session
# (forms/survey.py says why), so a failed check can re-render the page with the typed text kept,
# instead of the global handler's bare 400 page; and a survey page needs no session cookie.
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


def choose_language(link: SurveyLink | None) -> str:
    """Use ?lang= when given, else the invitation's, the customer's or the campaign's language."""
    requested = request.args.get("lang")
    if requested in ("nl", "en"):
        return requested
    if link is not None and link.language:
        return link.language
    return request.accept_languages.best_match(["nl", "en"]) or "nl"


def open_link(token: str) -> SurveyLink:
    """Return the usable link behind a token, or end with the same page for every bad one."""
    link = survey.find_link(token)
    g.locale = choose_language(link)
    if link.state is not LinkState.OPEN:
        # Unknown, malformed and expired links look alike apart from the status code.
        abort(410 if link.state is LinkState.EXPIRED else 404)
    return link


@bp.route("/s/<token>", methods=["GET", "POST"])
@limit_link_lookups
@limit_bad_links
def answer(token: str) -> str | Response | tuple[str, int]:
    link = open_link(token)
    if request.method != "POST":
        if request.method == "GET":
            survey.record_opened(link)
        score = link.score
        if "score" in request.args:
            try:
                score = survey.parse_score(request.args.getlist("score"))
            except AnswerError:
                score = None
        return answer_page(token, link, score, link.comment)

    form = AnswerForm(meta={"csrf_context": token})
    typed = form.comment.data or ""
    error = None
    try:
        score = survey.parse_score(request.form.getlist("score"))
    except AnswerError:
        error = _("Please choose one score from 0 to 10.")
        score = None
    if error is None and not form.validate_on_submit():
        # A missing, forged or other link's CSRF value (or a page from before SECRET_KEY changed):
        # keep the text and ask again; the page re-rendered below carries this link's value.
        error = _("Your answer was not saved yet. Please press the button once more.")
    if error is None:
        try:
            comment = survey.clean_comment(typed)
        except AnswerError:
            error = _("Please keep your answer under %(limit)s characters.", limit=survey.MAX_COMMENT_LENGTH)
    if error is not None:
        return answer_page(token, link, score, typed, error), 400
    assert score is not None and link.invitation_id is not None
    response_id = survey.store_answer(link.invitation_id, score, comment, g.locale)
    reply = redirect(url_for(".thanks", token=token, lang=g.locale))
    analyse_later = survey.request_analysis(response_id)
    if analyse_later is not None:
        # Runs once the reply has been sent: the respondent never waits for the analysis.
        reply.call_on_close(analyse_later)
    return reply


def answer_page(token: str, link: SurveyLink, score: int | None, comment: str, error: str | None = None) -> str:
    """Render the survey page from its compiled form: only the token, the comment and the CSRF
    token differ per request, and those are escaped here."""
    config = current_app.config
    csrf_field = None
    if config.get("WTF_CSRF_ENABLED", True):
        csrf_field = str(config.get("WTF_CSRF_FIELD_NAME") or "csrf_token")
    # g.locale, set by open_link, is what Babel's locale selector returns; asking Babel itself
    # (get_locale) would parse the locale again on every request.
    parts = compiled_answer_page(link.campaign_name, g.locale, score, error, csrf_field)
    values = {
        "token": str(escape(token)),
        "comment": str(escape(comment)),
        "csrf": str(escape(link_csrf_token(token))) if csrf_field else "",
    }
    return Slots.fill(parts, values)


# What differs per respondent; everything else is rendered once (compiled_answer_page).
RESPONDENT_SLOTS = Slots("token", "comment", "csrf")
MAX_COMPILED_PAGES = 2048


def compiled_answer_page(
    campaign_name: str, language: str, score: int | None, error: str | None, csrf_field: str | None
) -> tuple[str, ...]:
    """Return the survey page as [text, slot name, text, ...], rendered once per process for
    everything that is the same for many respondents (campaign, language, score, error).

    Rendering the template with Babel's lookups and url_for took most of a page view; the
    compiled page is kept per app (tests make many apps) and rebuilt when templates may change.
    """
    app = current_app
    key = (campaign_name, language, score, error, csrf_field)
    pages: dict[tuple[Any, ...], tuple[str, ...]] = app.extensions.setdefault("survey_compiled_pages", {})
    parts = pages.get(key)
    if parts is None:
        html = render_template(
            "survey/answer.html", campaign_name=campaign_name, score=score, group=survey.score_group(score),
            error=error, token=RESPONDENT_SLOTS.stand_in("token"), comment=RESPONDENT_SLOTS.stand_in("comment"),
            csrf_field=csrf_field, csrf_value=RESPONDENT_SLOTS.stand_in("csrf"),
        )
        parts = RESPONDENT_SLOTS.split(html)
        if app.debug or app.jinja_env.auto_reload:
            return parts
        if len(pages) >= MAX_COMPILED_PAGES:
            pages.clear()
        pages[key] = parts
    return parts


@bp.get("/s/<token>/thanks")
@limit_link_lookups
@limit_bad_links
def thanks(token: str) -> str:
    link = open_link(token)
    if not link.answered:
        abort(404)
    return render_template("survey/thanks.html", score=link.score, comment=link.comment, token=token)


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
