"""Sign-in and sign-out for researchers and admins.

Failed sign-ins are rate-limited (Flask-Limiter) per client address and per email address;
a limited attempt gets the same page and message whichever account it names, so the limit
does not tell anyone which accounts exist.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from survey_app.extensions import limiter
from survey_app.forms.auth import LoginForm
from survey_app.services import users

bp = Blueprint("auth", __name__, url_prefix="/auth")

FAILED_LOGIN = "That email and password do not match an active account."
TOO_MANY = "Too many failed sign-ins. Wait a few minutes and try again."
# Failed attempts allowed; overridable in configuration (LOGIN_RATE_LIMIT_PER_ADDRESS / _PER_EMAIL).
DEFAULT_PER_ADDRESS = "20 per minute; 100 per hour"
DEFAULT_PER_EMAIL = "5 per minute; 20 per hour"


def per_address_limit() -> str:
    return str(current_app.config.get("LOGIN_RATE_LIMIT_PER_ADDRESS") or DEFAULT_PER_ADDRESS)


def per_email_limit() -> str:
    return str(current_app.config.get("LOGIN_RATE_LIMIT_PER_EMAIL") or DEFAULT_PER_EMAIL)


def email_key() -> str:
    """Key the limit by the email typed, hashed so the counter store holds no addresses."""
    email = users.normalize_email(request.form.get("email", ""))
    return "login-email:" + hashlib.sha256(email.encode("utf-8")).hexdigest()


def failed(response: Response) -> bool:
    """Count only failed attempts: a successful sign-in redirects."""
    return response.status_code != 302


def safe_next(target: str | None) -> str:
    """Return target if it is a path on this site, else the dashboard: never an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("dashboard.campaigns")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(per_address_limit, key_func=get_remote_address, methods=["POST"], deduct_when=failed)
@limiter.limit(per_email_limit, key_func=email_key, methods=["POST"], deduct_when=failed)
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
        flash(FAILED_LOGIN, "error")
    return render_template("auth/login.html", form=form)


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(error: RateLimitExceeded) -> tuple[str, int]:
    """Answer a limited sign-in with the login page and one message for every account."""
    flash(TOO_MANY, "error")
    return render_template("auth/login.html", form=LoginForm()), 429


@bp.post("/logout")
@login_required
def logout() -> Response:
    users.end_sessions(current_user)
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
