"""WTForms classes, one module per blueprint. Every form derives from BaseForm, which is a
Flask-WTF form and so carries a CSRF token."""

from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """The base of every form in the app: CSRF on."""
