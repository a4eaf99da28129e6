"""One-click unsubscribe from survey emails (RFC 8058)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("unsubscribe", __name__)
