"""Password hashing and the Flask-Login user loader."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import LoginManager

from survey_app.extensions import db
from survey_app.models import User

# argon2id with the library's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4),
# above OWASP's minimum; Werkzeug's default scrypt parameters are below it.
password_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether the password matches the hash, without raising on a malformed hash."""
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this when the email is unknown makes a failed login take as long as a
# wrong password, so response times do not reveal which accounts exist.
_DUMMY_HASH = password_hasher.hash("not a real password")


def burn_verification_time(password: str) -> None:
    """Spend the time of one password check, for logins with an unknown email."""
    verify_password(_DUMMY_HASH, password)


def configure_login(login_manager: LoginManager) -> None:
    """Teach Flask-Login to load users and where to send anonymous visitors."""
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        user_id, _, version = session_id.partition(":")
        if not user_id.isdigit() or not version.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return user
