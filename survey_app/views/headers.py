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


# With each name lowered once: header names compare case-insensitively.
_SECURITY_HEADERS_LOWERED = tuple((name, name.lower(), value) for name, value in SECURITY_HEADERS)


def add_security_headers(response: Response) -> Response:
    """Add CSP, nosniff, frame and referrer policies to a response, unless a view set its own."""
    headers = response.headers
    # One pass over the response's few headers, not a membership test per policy: Werkzeug's
    # `name in headers` raises and catches an HTTPException-based KeyError for every absent
    # name, and this hook runs on every response.
    present = {name.lower() for name, _value in headers}
    for name, lowered, value in _SECURITY_HEADERS_LOWERED:
        if lowered not in present:
            headers.add(name, value)
    return response
