"""Forms of the researchers' dashboard: the flag workflow. Filters are plain GET forms, because
they change nothing and a CSRF token in a shareable URL would leak it."""

from wtforms import SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from survey_app.forms import BaseForm
from survey_app.services.flags import MAX_NOTE_LENGTH


class AcknowledgeFlagForm(BaseForm):
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=MAX_NOTE_LENGTH)])
    submit = SubmitField("Acknowledge")


class ResolveFlagForm(BaseForm):
    note = TextAreaField(
        "What was done about it", validators=[InputRequired(), Length(max=MAX_NOTE_LENGTH)]
    )
    submit = SubmitField("Resolve")
