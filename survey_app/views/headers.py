"""Security headers on every response."""

from __future__ import annotations

from flask import Response

# No inline script anywhere, no third-party origin: pages load only their own CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # same-origin, not no-referrer: Flask-WTF's HTTPS CSRF check needs a same-site Referer,
    # and survey tokens in paths must never leak to another site.
    ("Referrer-Policy", "same-origin"),
)


def add_security_headers(response: Response) -> Response:
    """Add CSP, nosniff, frame and referrer policies to a response, unless a view set its own."""
    headers = response.headers
    for name, value in SECURITY_HEADERS:
        # A membership test and add() instead of setdefault(), which runs every value through
        # set()'s option handling: this hook runs on every response.
        if name not in headers:
            headers.add(name, value)
    return response
