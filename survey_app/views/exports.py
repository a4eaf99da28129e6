"""CSV downloads for researchers."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exports", __name__, url_prefix="/dashboard/exports")
