"""Privacy administration: the retention policy in force and erasure on request."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/dashboard/privacy")
