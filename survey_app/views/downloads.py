"""The one way researchers' CSV files leave the app: as an attachment no cache keeps."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response


def csv_attachment(body: bytes | str | Iterable[str], filename: str) -> Response:
    """Return CSV content (or a stream of it) as a download named `filename`.

    `filename` must already be safe for the header (the callers build it from [A-Za-z0-9._-]).
    These files hold personal data, so neither a shared nor a browser cache may keep a copy.
    """
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
