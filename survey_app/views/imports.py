"""Researchers' upload page for event exports."""

from __future__ import annotations

import os
import tempfile

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import login_required

from survey_app.forms.imports import ImportEventsForm
from survey_app.services import csv_import
from survey_app.services.events import DEFAULT_TIMEZONE

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
    # Saved under a name we choose, never the uploaded one, and removed afterwards.
    descriptor, path = tempfile.mkstemp(prefix="survey-app-upload-", suffix=".csv")
    os.close(descriptor)
    report = failure = None
    try:
        form.file.data.save(path)
        report = csv_import.import_events(
            path,
            source=form.source.data or csv_import.DEFAULT_SOURCE,
            skip_invalid=bool(form.skip_invalid.data),
            default_zone=current_app.config.get("EVENTS_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE,
        )
    except csv_import.ImportFailed as error:
        failure = str(error)
    finally:
        os.unlink(path)
    status = 422 if failure or (report and report.rejected and not report.committed) else 200
    return render_template(
        "imports/upload.html", form=form, report=report, failure=failure, shown_errors=SHOWN_ERRORS
    ), status
