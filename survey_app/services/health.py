"""Readiness checks: each dependency is asked a trivial question with a short timeout."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from survey_app.extensions import db

BROKER_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness(broker_url: str | None) -> list[Check]:
    """Check the database and, when one is configured, the Redis broker."""
    checks = [database_check()]
    if broker_url:
        checks.append(broker_check(broker_url))
    return checks


def database_check() -> Check:
    """Run SELECT 1; report the error class, never connection details."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as error:
        db.session.rollback()
        return Check("database", False, f"unreachable ({type(error).__name__})")
    return Check("database", True, "ok")


def broker_check(broker_url: str) -> Check:
    """PING the Redis broker."""
    import redis

    try:
        client = redis.Redis.from_url(broker_url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
                                      socket_timeout=BROKER_TIMEOUT_SECONDS)
        client.ping()
        client.close()
    except (redis.RedisError, OSError, ValueError) as error:
        return Check("broker", False, f"unreachable ({type(error).__name__})")
    return Check("broker", True, "ok")
