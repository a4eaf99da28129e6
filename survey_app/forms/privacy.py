"""Forms of the privacy pages. Whether the customer exists is the service's business; these
fields only collect the identifier and the confirmation."""

from __future__ import annotations

from typing import Any

from wtforms import EmailField, HiddenField, StringField, SubmitField
from wtforms.validators import Length, Optional

from survey_app.forms import BaseForm


class EraseForm(BaseForm):
    email = EmailField("Email address", validators=[Optional(), Length(max=254)])
    external_id = StringField("or external id", validators=[Optional(), Length(max=200)])
    # Empty on the first submit (which shows what would be erased); "yes" on the confirmation.
    confirmed = HiddenField(default="")
    submit = SubmitField("Erase…")

    def validate(self, extra_validators: Any = None) -> bool:
        """Require exactly one identifier, as the service does."""
        if not super().validate(extra_validators):
            return False
        email = (self.email.data or "").strip()
        external_id = (self.external_id.data or "").strip()
        if bool(email) == bool(external_id):
            self.email.errors = [*self.email.errors, "Give an email address or an external id, not both."]
            return False
        if email and "@" not in email:
            self.email.errors = [*self.email.errors, "That is not an email address."]
            return False
        return True

    @property
    def is_confirmation(self) -> bool:
        return self.confirmed.data == "yes"
