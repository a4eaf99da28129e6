"""Survey link tokens: unguessable, shown once in an email, stored only as a hash.

Every email gets a fresh token: the first email's hash is in invitations.token_hash, each
reminder's in reminder_links. Both lead to the same invitation until it expires.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import ScalarSelect, select, union_all
from sqlalchemy.orm import aliased

from survey_app.models import Invitation, ReminderLink

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG; at least 128 are required.
MAX_TOKEN_LENGTH = 64  # a token_urlsafe(32) is 43 characters; anything longer is not ours.


def new_token() -> tuple[str, str]:
    """Return a fresh token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def linked_invitation_id(token: str) -> ScalarSelect[int]:
    """Return a scalar subquery: the id of the invitation whose first email or reminder carried `token`.

    Compare Invitation.id with it: each branch is one unique-index lookup, and the outer query
    stays a primary-key lookup (an OR across the two tables would scan invitations).
    """
    digest = hash_token(token)
    # Aliased, so that the subquery does not correlate with an enclosing query on invitations.
    first_email = aliased(Invitation)
    return (
        union_all(
            select(first_email.id).where(first_email.token_hash == digest),
            select(ReminderLink.invitation_id).where(ReminderLink.token_hash == digest),
        )
        .limit(1)
        .scalar_subquery()
    )
