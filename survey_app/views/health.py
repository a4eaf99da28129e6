"""Probes for load balancers and orchestrators: is the process up, can it reach what it needs."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from survey_app.services import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer 200 while the process serves requests; it checks nothing else on purpose."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 when the database (and the broker, if configured) answer, else 503."""
    checks = health.readiness(current_app.config.get("BROKER_URL"))
    ready = all(check.ok for check in checks)
    body = {"status": "ready" if ready else "unavailable",
            "checks": {check.name: check.detail for check in checks}}
    return jsonify(body), 200 if ready else 503
