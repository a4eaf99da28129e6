from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import InputRequired, Length

from survey_app.forms import BaseForm


class LoginForm(BaseForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])
    submit = SubmitField("Sign in")
