from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField

from survey_app.forms import BaseForm


class AnswerForm(BaseForm):
    """The survey answer. The score is parsed strictly by the service, not coerced by a field:
    WTForms' IntegerField would accept " 9" and "+7"."""

    comment = TextAreaField(_l("Why?"))
