"""Which language a page speaks: the one a view chose (the customer's), else the browser's."""

from __future__ import annotations

from flask import current_app, g, request


def select_locale() -> str:
    """Return the locale for this request."""
    chosen = g.get("locale")
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    if request:
        best = request.accept_languages.best_match(current_app.config["LANGUAGES"])
        if best:
            return best
    return current_app.config["LANGUAGES"][0]
