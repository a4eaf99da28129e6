"""Privacy administration: the retention policy in force and erasure on request.

Every researcher sees the policy; only admins see and may use the erasure form (403 otherwise).
Erasing takes two POSTs: the first shows what would be erased, the second erases.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from survey_app.forms.privacy import EraseForm
from survey_app.services import privacy

bp = Blueprint("privacy", __name__, url_prefix="/dashboard/privacy")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is for signed-in researchers."""


@bp.get("/")
def index() -> str:
    form = EraseForm() if current_user.is_admin else None
    return render_template("privacy/index.html", policy=privacy.retention_policy(), form=form)


@bp.post("/erase")
def erase() -> str | Response | tuple[str, int]:
    if not current_user.is_admin:
        abort(403)
    form = EraseForm()
    if not form.validate_on_submit():
        return render_template("privacy/index.html", policy=privacy.retention_policy(), form=form), 400
    email = (form.email.data or "").strip() or None
    external_id = (form.external_id.data or "").strip() or None
    try:
        if not form.is_confirmation:
            preview = privacy.erasure_preview(email=email, external_id=external_id)
            form.confirmed.data = "yes"
            return render_template("privacy/confirm.html", form=form, preview=preview, email=email,
                                   external_id=external_id)
        result = privacy.erase_customer(
            email=email, external_id=external_id, actor_id=current_user.id, actor_label=current_user.email
        )
    except privacy.PrivacyError as error:
        flash(str(error), "error")
        return render_template("privacy/index.html", policy=privacy.retention_policy(), form=form), 400
    if result.changed:
        flash(f"Erased {result.customers} customer record(s) and {result.comments} comment(s); "
              f"{result.outbox_files} outbox file(s) deleted. The address is on the suppression list.", "info")
    else:
        flash("Nothing to erase: no stored customer matches, and the identifier was already suppressed.", "info")
    return redirect(url_for(".index"))
