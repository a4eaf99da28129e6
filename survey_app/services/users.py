"""Researcher and admin accounts."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from survey_app.auth import burn_verification_time, hash_password, verify_password
from survey_app.extensions import db
from survey_app.models import ROLES, AuditEvent, User, utcnow

MIN_PASSWORD_LENGTH = 12


class UserError(ValueError):
    """A user account could not be created or changed as asked."""


def normalize_email(email: str) -> str:
    """Return the email as stored: trimmed and lower-cased."""
    return email.strip().lower()


def all_users() -> list[User]:
    """Return every account, ordered by email."""
    return list(db.session.execute(db.select(User).order_by(User.email)).scalars())


def create_user(email: str, password: str, role: str = "researcher") -> User:
    """Create an account, refusing duplicates, unknown roles and short passwords."""
    email = normalize_email(email)
    if "@" not in email:
        raise UserError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    user = User(email=email, password_hash=hash_password(password), role=role)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise UserError(f"a user with email {email} exists already") from None
    return user


def set_password(user: User, password: str) -> None:
    """Change a password and end the user's other sessions."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)
    user.session_version += 1
    db.session.commit()


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None, in constant-ish time."""
    user = db.session.execute(db.select(User).filter_by(email=normalize_email(email))).scalar_one_or_none()
    if user is None:
        burn_verification_time(password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def set_active(user: User, active: bool, actor: User | None = None) -> None:
    """Activate or deactivate an account, end its sessions, and record who did it."""
    user.active = active
    user.session_version += 1
    db.session.add(AuditEvent(
        actor_id=actor.id if actor else None,
        actor_label=actor.email if actor else "cli",
        action="user.activated" if active else "user.deactivated",
        subject_type="user",
        subject_id=user.id,
    ))
    db.session.commit()


def end_sessions(user: User) -> None:
    """Invalidate every session cookie the user holds (logout everywhere)."""
    user.session_version += 1
    db.session.commit()
