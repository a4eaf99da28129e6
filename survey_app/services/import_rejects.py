"""The rejected rows of an upload on the import page, kept for their uploader to download.

The page lists the first rows it rejected; the whole list (every rejected row as it was in the
file, with its line and reason, as the CLI's rejects file) is kept per user, latest upload only.
It holds customers' addresses, so it is kept for IMPORT_REJECTS_KEEP_HOURS (default 24), only
its uploader can download it, and `survey-app purge` and every erasure delete it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from survey_app.database import start_write
from survey_app.extensions import db
from survey_app.models import ImportRejects, utcnow

DEFAULT_KEEP_HOURS = 24
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RejectsFile:
    """A user's kept rejects, ready to send."""

    filename: str
    rows: int
    created_at: datetime
    content: bytes


def keep_hours() -> int:
    """Return how long rejects are kept (IMPORT_REJECTS_KEEP_HOURS; 0 keeps none).

    The value was checked at start-up (survey_app.config.refuse_unusable_settings).
    """
    return int(current_app.config.get("IMPORT_REJECTS_KEEP_HOURS", DEFAULT_KEEP_HOURS))


def download_name(uploaded_name: str | None) -> str:
    """Return the download's file name: the upload's own name, cleaned, then .rejects.csv."""
    stem = Path(uploaded_name or "").name.rsplit(".", 1)[0]
    stem = _UNSAFE_NAME.sub("-", stem).strip(".-")[:100] or "import"
    return f"{stem}.rejects.csv"


def keep(user_id: int, path: str | Path, uploaded_name: str | None, rows: int) -> bool:
    """Store the rejects file at path as the user's latest; return False when none are kept."""
    if not keep_hours():
        return False
    content = Path(path).read_bytes()
    start_write(db.session)
    try:
        db.session.execute(delete(ImportRejects).where(ImportRejects.user_id == user_id))
        db.session.add(ImportRejects(user_id=user_id, source_name=download_name(uploaded_name), rows=rows,
                                     content=content))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


def latest(user_id: int, *, now: datetime | None = None) -> RejectsFile | None:
    """Return the user's rejects if they are still kept, else None."""
    row = db.session.execute(select(ImportRejects).where(ImportRejects.user_id == user_id)).scalar_one_or_none()
    if row is None or row.created_at < _cutoff(now):
        return None
    return RejectsFile(filename=row.source_name, rows=row.rows, created_at=row.created_at, content=row.content)


def delete_expired(*, now: datetime | None = None) -> int:
    """Delete the rejects older than the keeping period, in the caller's transaction; return how many."""
    return db.session.execute(delete(ImportRejects).where(ImportRejects.created_at < _cutoff(now))).rowcount or 0


def delete_all() -> int:
    """Delete every user's kept rejects, in the caller's transaction; return how many."""
    return db.session.execute(delete(ImportRejects)).rowcount or 0


def _cutoff(now: datetime | None) -> datetime:
    return (utcnow() if now is None else now) - timedelta(hours=keep_hours())
