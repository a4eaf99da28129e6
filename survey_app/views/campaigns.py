"""Researchers create and edit campaigns and their promised items."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("campaigns", __name__, url_prefix="/dashboard/campaigns")
