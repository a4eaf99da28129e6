"""The only pages customers see: the survey behind an emailed link, the thank-you page and the
privacy statement. GET never stores an answer; only a POST does."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from limits import RateLimitItem, parse_many
from markupsafe import escape
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from survey_app.extensions import client_address, csrf, limiter, login_manager
from survey_app.forms.survey import AnswerForm, link_csrf_token
from survey_app.services import survey
from survey_app.services.survey import AnswerError, LinkState, SurveyLink
from survey_app.slots import Slots

P = ParamSpec("P")
R = TypeVar("R")

bp = Blueprint("survey", __name__)
# The answer form checks its own CSRF token, bound to the survey link rather than to a session
# (forms/survey.py says why), so a failed check can re-render the page with the typed text kept,
# instead of the global handler's bare 400 page; and a survey page needs no session cookie.
csrf.exempt(bp)
# Customers never sign in: no login, logout or remember-me cookie to maintain (extensions.py).
login_manager.anonymous_blueprints.add(bp.name)

# Every request that looks a token up counts against its client address (request.remote_addr,
# which ProxyFix takes from X-Forwarded-For only for PROXY_FIX_X_FOR trusted proxies). The
# general budget is generous, for customers behind one shared address; failed lookups, the
# signature of someone guessing tokens, have a much smaller budget of their own. Once either is
# spent the address gets 429 for every link, good ones too, which is what stops guessing.
DEFAULT_RATE_LIMIT = "60 per minute"
DEFAULT_BAD_LINK_RATE_LIMIT = "10 per minute"
# Flask-Limiter's shared-limit scopes these budgets had as decorators: the counters keep their
# storage keys, so instances on either side of an upgrade share them.
LINK_SCOPE = "survey-link"
BAD_LINK_SCOPE = "survey-bad-link"
log = logging.getLogger(__name__)


@lru_cache(maxsize=32)
def parsed_limits(text: str) -> tuple[RateLimitItem, ...]:
    """Parse a budget such as "60 per minute" or "60/minute; 500/hour", once per text."""
    return tuple(parse_many(text))


def link_rate_limits() -> tuple[RateLimitItem, ...]:
    """Return the configured budget for survey link requests per client address."""
    return parsed_limits(str(current_app.config.get("SURVEY_RATE_LIMIT") or DEFAULT_RATE_LIMIT))


def bad_link_rate_limits() -> tuple[RateLimitItem, ...]:
    """Return the configured budget for failed link lookups per client address."""
    return parsed_limits(str(current_app.config.get("SURVEY_BAD_LINK_RATE_LIMIT") or DEFAULT_BAD_LINK_RATE_LIMIT))


def budget_identifiers(scope: str) -> tuple[str, ...]:
    """The counter's identifiers, as Flask-Limiter builds them: [key prefix,] address, scope."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return (prefix, client_address(), scope) if prefix else (client_address(), scope)


def spend_link_lookup() -> None:
    """Count this request against the address's budgets, or refuse it with 429 when one is spent.

    The budgets are Flask-Limiter's: its storage (RATELIMIT_STORAGE_URI, shared in Redis when
    configured), strategy and switch (RATELIMIT_ENABLED), through the `limits` rate limiter it
    is built on. Checked here rather than by two limiter decorators, which cost a fifth of a
    page view's CPU in their bookkeeping; what is counted, and when, is the same: the bad-link
    budget is only tested here and spent by spend_bad_link.
    """
    if not limiter.enabled:
        return
    rate_limiter = limiter.limiter
    bad_links = budget_identifiers(BAD_LINK_SCOPE)
    for limit in bad_link_rate_limits():
        if not rate_limiter.test(limit, *bad_links):
            refuse(limit, bad_links)
    lookups = budget_identifiers(LINK_SCOPE)
    for limit in link_rate_limits():
        if not rate_limiter.hit(limit, *lookups):
            refuse(limit, lookups)


def spend_bad_link() -> None:
    """Count a lookup that found no usable link against the address's smaller budget."""
    if limiter.enabled:
        bad_links = budget_identifiers(BAD_LINK_SCOPE)
        for limit in bad_link_rate_limits():
            limiter.limiter.hit(limit, *bad_links)


def refuse(limit: RateLimitItem, identifiers: tuple[str, ...]) -> NoReturn:
    reset_at = limiter.limiter.get_window_stats(limit, *identifiers).reset_time
    log.info("survey link budget %s spent by %s", limit, identifiers[-2])
    raise TooManyRequests(retry_after=max(1, math.ceil(reset_at - time.time())))


# Checked above, so Flask-Limiter's own per-request evaluation skips these pages (extensions.py).
limiter.self_counting_blueprints.add(bp.name)


def limit_link_lookups(view: Callable[P, R]) -> Callable[P, R]:
    """Make a view that looks a token up spend the client address's budget first."""

    @wraps(view)
    def counted(*args: P.args, **kwargs: P.kwargs) -> R:
        spend_link_lookup()
        return view(*args, **kwargs)

    return counted


@bp.errorhandler(TooManyRequests)
def too_many_requests(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    """Answer a spent budget with the survey's own page, without looking the token up."""
    # The limit is checked before the view, and looking up the invitation's language would
    # spend the database time the limit protects: only ?lang= or the browser's language count.
    if request.args.get("lang") in current_app.config["LANGUAGES"]:
        g.locale = request.args["lang"]
    headers = {"Retry-After": str(error.retry_after)} if getattr(error, "retry_after", None) else {}
    return render_template("survey/busy.html"), 429, headers


def choose_language(link: SurveyLink | None) -> str:
    """Use ?lang= when given, else the invitation's, the customer's or the campaign's language."""
    requested = request.args.get("lang")
    if requested in ("nl", "en"):
        return requested
    if link is not None and link.language:
        return link.language
    return request.accept_languages.best_match(["nl", "en"]) or "nl"


def open_link(token: str, *, note_opening: bool = False) -> SurveyLink:
    """Return the usable link behind a token, or end with the same page for every bad one.

    note_opening records a first opening of the link (survey.find_link); the survey page asks
    for it on GET only (a HEAD shows nobody a page)."""
    link = survey.find_link(token, note_opening=note_opening)
    g.locale = choose_language(link)
    if link.state is not LinkState.OPEN:
        # Unknown, malformed and expired links look alike apart from the status code.
        refuse_bad_link(410 if link.state is LinkState.EXPIRED else 404)
    return link


def refuse_bad_link(status: int) -> NoReturn:
    """End with the bad-link page (404 or 410), spending the address's bad-link budget."""
    spend_bad_link()
    abort(status)


# The survey and thank-you pages show the respondent's stored answer: no browser or proxy may
# keep a copy (a shared computer's cache, a company proxy).
PRIVATE_PAGE = {"Cache-Control": "no-store"}


@bp.route("/s/<token>", methods=["GET", "POST"])
@limit_link_lookups
def answer(token: str) -> Response | tuple[str, dict[str, str]] | tuple[str, int, dict[str, str]]:
    link = open_link(token, note_opening=request.method == "GET")
    if request.method != "POST":
        score = link.score
        if "score" in request.args:
            try:
                score = survey.parse_score(request.args.getlist("score"))
            except AnswerError:
                score = None
        return answer_page(token, link, score, link.comment), PRIVATE_PAGE

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
        return answer_page(token, link, score, typed, error), 400, PRIVATE_PAGE
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
def thanks(token: str) -> tuple[str, dict[str, str]]:
    link = open_link(token)
    if not link.answered:
        refuse_bad_link(404)
    return render_template("survey/thanks.html", score=link.score, comment=link.comment, token=token), PRIVATE_PAGE


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
