"""Forms of the imports blueprint."""

from __future__ import annotations

from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Regexp

from survey_app.forms import BaseForm
from survey_app.services.events import SOURCE_NAME_RE


class ImportEventsForm(BaseForm):
    file = FileField(
        "Event export (CSV, UTF-8, comma or semicolon)",
        validators=[FileRequired("Choose a CSV file."), FileAllowed(["csv", "txt"], "Upload a .csv file.")],
    )
    source = StringField(
        "Source",
        default="csv",
        validators=[
            InputRequired(),
            Length(max=80),
            Regexp(SOURCE_NAME_RE.pattern + r"\Z", message="Letters, digits, '.', '-' and '_' only."),
        ],
    )
    skip_invalid = BooleanField("Import the valid rows and skip the invalid ones")
    submit = SubmitField("Import")
