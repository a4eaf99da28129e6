"""Researchers' upload page for event exports."""

from __future__ import annotations

import os
import tempfile

from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from survey_app.forms.imports import ImportEventsForm
from survey_app.services import csv_import, import_rejects
from survey_app.services.events import DEFAULT_TIMEZONE
from survey_app.views.downloads import csv_attachment

bp = Blueprint("imports", __name__, url_prefix="/dashboard/imports")

SHOWN_ERRORS = 200


@bp.route("/", methods=["GET", "POST"])
@login_required
def upload() -> ResponseReturnValue:
    """Show the upload form; on submit, import the file and show the summary and bad rows."""
    form = ImportEventsForm()
    if not form.validate_on_submit():
        return render_template("imports/upload.html", form=form, report=None, failure=None), (
            400 if form.is_submitted() else 200
        )
    # Saved under names we choose, never the uploaded one, and removed afterwards.
    with tempfile.TemporaryDirectory(prefix="survey-app-upload-") as folder:
        path, rejects_path = os.path.join(folder, "upload.csv"), os.path.join(folder, "rejects.csv")
        report = failure = None
        try:
            form.file.data.save(path)
            report = csv_import.import_events(
                path,
                source=form.source.data or csv_import.DEFAULT_SOURCE,
                skip_invalid=bool(form.skip_invalid.data),
                rejects_path=rejects_path,
                default_zone=current_app.config.get("EVENTS_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE,
            )
        except csv_import.ImportFailed as error:
            failure = str(error)
        rejects_kept = False
        if report is not None and report.rejected:
            rejects_kept = import_rejects.keep(current_user.id, rejects_path, form.file.data.filename, report.rejected)
    status = 422 if failure or (report and report.rejected and not report.committed) else 200
    return render_template(
        "imports/upload.html", form=form, report=report, failure=failure, shown_errors=SHOWN_ERRORS,
        rejects_kept=rejects_kept,
    ), status


@bp.get("/rejects.csv")
@login_required
def rejects() -> ResponseReturnValue:
    """Send the signed-in user's rejects of their latest upload, while they are kept."""
    kept = import_rejects.latest(current_user.id)
    if kept is None:
        abort(404)
    return csv_attachment(kept.content, kept.filename)
