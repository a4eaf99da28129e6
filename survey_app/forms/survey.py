"""The survey answer form and its CSRF check, which is bound to the survey link, not a session.

Why not the session-bound token every other form uses: the survey page is opened from an email
by people who have no account and often no cookie yet, and a session cookie existed on this
page only to hold the CSRF token (creating and signing it was a sixth of a page view's cost).
Here the survey token in the URL is itself the capability: whoever can load or post to the page
holds it. A cross-site attacker who knows the link gains nothing from forging a request in the
respondent's browser, as no cookie carries any authority on this page: they could post the
answer themselves. And one who does not know the link cannot produce this value, which is an
HMAC of the link's hash under the app's secret (OWASP's HMAC-based token pattern), so a value
bound to the link is as strong here as one bound to a session. What it still stops: a form
posted without the token or with a made-up one, or with the value of another link (another
respondent's, or the attacker's own invitation).

There is no time limit: the value is valid for as long as the link is (the link expires with
the survey and then gets its 410 page), so a page left open for hours still submits. Changing
SECRET_KEY (or WTF_CSRF_SECRET_KEY) invalidates open pages: their next press re-renders the page
with the text kept and a fresh value, as any failed check does.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import want_bytes
from wtforms import TextAreaField
from wtforms.csrf.core import CSRF, CSRFTokenField
from wtforms.validators import ValidationError

from survey_app.forms import BaseForm
from survey_app.services.tokens import hash_token

# Its own salt: a value signed for anything else under the same secret (sessions, Flask-WTF's
# tokens, other signed links) is never accepted here, nor the other way round.
ANSWER_CSRF_SALT = "survey-answer-csrf"


class KeyKeepingSigner(Signer):
    """itsdangerous' Signer, deriving its key from the secret once instead of for every
    signature and check (the derivation is an HMAC of its own); the signatures are the same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived_keys: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived_keys.get(secret)
        if derived is None:
            derived = self._derived_keys[secret] = super().derive_key(secret)
        return derived


@lru_cache(maxsize=8)
def _signer(secret: str | bytes) -> Signer:
    # Kept per secret (tests make many apps), with its derived key.
    return KeyKeepingSigner(secret, salt=ANSWER_CSRF_SALT, key_derivation="hmac", digest_method=hashlib.sha256)


def _csrf_secret() -> str | bytes:
    """The key Flask-WTF signs every other form's token with: WTF_CSRF_SECRET_KEY, else SECRET_KEY."""
    secret = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    if not secret:
        raise RuntimeError("a SECRET_KEY is required to protect the survey form")
    return secret


def link_csrf_token(link_token: str) -> str:
    """Return the answer form's CSRF value for a survey link: the same on every view of it."""
    return _signer(_csrf_secret()).get_signature(hash_token(link_token)).decode("ascii")


def is_link_csrf_token(link_token: str, value: str) -> bool:
    """Tell whether a posted value is this link's CSRF value (compared in constant time)."""
    try:
        return _signer(_csrf_secret()).verify_signature(hash_token(link_token), value.encode("ascii"))
    except (BadSignature, UnicodeEncodeError):
        return False


class LinkBoundCSRF(CSRF):
    """WTForms CSRF protection whose token is bound to the survey link the form was posted to.

    The form gets the link's token as its csrf_context: AnswerForm(meta={"csrf_context": token}).
    It reads no session and sets no cookie. WTF_CSRF_ENABLED=False switches it off, as it does
    Flask-WTF's own (FlaskForm.Meta.csrf), and WTF_CSRF_FIELD_NAME names its field.
    """

    def setup_form(self, form: BaseForm) -> list[tuple[str, type[CSRFTokenField]]]:
        link_token = form.meta.csrf_context
        if not isinstance(link_token, str):
            # FlaskForm's default context is the session: a form built without the link must
            # fail loudly, never fall back to a value that every link shares.
            raise TypeError("AnswerForm needs the survey token: AnswerForm(meta={'csrf_context': token})")
        self.link_token = link_token
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field: CSRFTokenField) -> str:
        return link_csrf_token(self.link_token)

    def validate_csrf_token(self, form: BaseForm, field: CSRFTokenField) -> None:
        if not field.data or not is_link_csrf_token(self.link_token, str(field.data)):
            raise ValidationError(field.gettext("The CSRF token is missing or does not belong to this link."))


class AnswerForm(BaseForm):
    """The survey answer. The score is parsed strictly by the service, not coerced by a field:
    WTForms' IntegerField would accept " 9" and "+7"."""

    class Meta:
        csrf_class = LinkBoundCSRF

    comment = TextAreaField(_l("Why?"))
