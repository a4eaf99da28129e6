"""Administration: admins list, create, deactivate and reactivate accounts and reset passwords.

Researchers get a 403 that says why; anonymous visitors are sent to sign in.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from survey_app.extensions import db
from survey_app.forms.admin import ActiveForm, CreateUserForm, ResetPasswordForm
from survey_app.models import User
from survey_app.services import users as accounts

bp = Blueprint("admin", __name__, url_prefix="/dashboard/admin")


@bp.before_request
@login_required
def require_admin() -> None:
    """Only admins manage accounts."""
    if not current_user.is_admin:
        abort(403, description="Only administrators manage user accounts. Ask an admin to do this for you.")


@bp.route("/", methods=["GET", "POST"])
def users() -> str | Response | tuple[str, int]:
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data or "", form.password.data or "", form.role.data or "researcher")
        except accounts.UserError as error:
            flash(f"Not created: {error}.", "error")
        else:
            flash(f"Account {user.email} created.", "info")
            return redirect(url_for(".users"))
    listing = accounts.all_users()
    page = render_template("admin/users.html", form=form, accounts=listing, active_form=ActiveForm())
    return page, 400 if form.is_submitted() else 200


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def reset_password(user_id: int) -> str | Response:
    user = db.get_or_404(User, user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.password.data or "")
        except accounts.UserError as error:
            flash(f"Not changed: {error}.", "error")
        else:
            flash(f"Password of {user.email} changed; their sessions have ended.", "info")
            return redirect(url_for(".users"))
    return render_template("admin/password.html", form=form, account=user)


@bp.post("/users/<int:user_id>/active")
def toggle_active(user_id: int) -> Response:
    user = db.get_or_404(User, user_id)
    if not ActiveForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for(".users"))
    activate = not user.active
    accounts.set_active(user, activate, actor=current_user)
    flash(f"Account {user.email} {'reactivated' if activate else 'deactivated'}.", "info")
    return redirect(url_for(".users"))

