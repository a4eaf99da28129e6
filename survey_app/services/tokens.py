"""Survey link tokens: unguessable, shown once in an email, stored only as a hash.

Every email gets a fresh token: the first email's hash is in invitations.token_hash, each
reminder's in reminder_links. Both lead to the same invitation until it expires.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG; at least 128 are required.
MAX_TOKEN_LENGTH = 64  # a token_urlsafe(32) is 43 characters; anything longer is not ours.


def new_token() -> tuple[str, str]:
    """Return a fresh token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

