"""Forms for campaigns and their promised items. The rules themselves live in
survey_app.services.campaigns, shared with the import; these fields only collect input."""

from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from survey_app.forms import BaseForm
from survey_app.models import CAMPAIGN_STATUSES, CHANNELS, ITEM_KINDS, LANGUAGES


class CampaignForm(BaseForm):
    key = StringField("Key (used by event exports and webhooks)", validators=[InputRequired(), Length(max=80)])
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    promise = TextAreaField("The promise, in the campaign's words", validators=[InputRequired(), Length(max=2000)])
    language = SelectField("Language", choices=list(LANGUAGES))
    channel = SelectField("Channel", choices=list(CHANNELS))
    status = SelectField("Status", choices=list(CAMPAIGN_STATUSES))
    sent_at = DateTimeLocalField("Sent at (Amsterdam time)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    conversion_window_hours = IntegerField(
        "Conversion window (hours)", default=72, validators=[InputRequired(), NumberRange(1, 2160)]
    )
    invitation_cap = IntegerField("Invitation cap (optional)", validators=[Optional(), NumberRange(1, 10_000_000)])
    email_subject = StringField("Survey email subject (optional)", validators=[Optional(), Length(max=200)])
    email_sender = StringField("Survey email sender (optional)", validators=[Optional(), Length(max=254)])
    submit = SubmitField("Save campaign")


class PromisedItemForm(BaseForm):
    kind = SelectField("Kind", choices=list(ITEM_KINDS))
    label = StringField("Label", validators=[InputRequired(), Length(max=200)])
    aliases = StringField("Aliases, separated by |", validators=[Optional(), Length(max=2000)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    address = StringField("Address", validators=[Optional(), Length(max=300)])
    promised_value = StringField("Promised value (e.g. a price)", validators=[Optional(), Length(max=100)])
    url = StringField("Landing page URL", validators=[Optional(), Length(max=2000)])
    submit = SubmitField("Save item")


class DeleteForm(BaseForm):
    submit = SubmitField("Delete")
