"""Forms for administrators managing dashboard accounts."""

from wtforms import EmailField, PasswordField, SelectField, SubmitField
from wtforms.validators import EqualTo, InputRequired, Length

from survey_app.forms import BaseForm
from survey_app.models import ROLES
from survey_app.services.users import MIN_PASSWORD_LENGTH

PASSWORD_RULES = [InputRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)]


class CreateUserForm(BaseForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    role = SelectField("Role", choices=list(ROLES))
    password = PasswordField(f"Password (at least {MIN_PASSWORD_LENGTH} characters)", validators=PASSWORD_RULES)
    confirm = PasswordField("Password again", validators=[InputRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Create account")


class ResetPasswordForm(BaseForm):
    password = PasswordField(f"New password (at least {MIN_PASSWORD_LENGTH} characters)", validators=PASSWORD_RULES)
    confirm = PasswordField("New password again", validators=[InputRequired(), EqualTo("password", "The passwords differ.")])
    submit = SubmitField("Set password")


class ActiveForm(BaseForm):
    """A button that deactivates or reactivates an account; its only field is the CSRF token."""

    submit = SubmitField("Deactivate")
