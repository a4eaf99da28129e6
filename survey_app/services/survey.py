"""The customer's side: find an invitation by its token, note that its link was opened, and
store exactly one answer per invitation however often, and however concurrently, it is sent."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from survey_app import jobs
from survey_app.database import start_write
from survey_app.extensions import db
from survey_app.models import Invitation, Response, utcnow
from survey_app.services.tokens import MAX_TOKEN_LENGTH, linked_invitation_id

SCORE_PATTERN = re.compile(r"(?:10|[0-9])")
MAX_COMMENT_LENGTH = 2000
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,%d}" % MAX_TOKEN_LENGTH)
log = logging.getLogger(__name__)


class LinkState(Enum):
    OPEN = "open"
    UNKNOWN = "unknown"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SurveyLink:
    state: LinkState
    invitation: Invitation | None = None


class AnswerError(ValueError):
    """An answer that cannot be stored; the message is safe to show the respondent."""


def score_group(score: int | None) -> str | None:
    """Return detractor (0-6), passive (7-8) or promoter (9-10)."""
    if score is None:
        return None
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


def parse_score(values: list[str]) -> int:
    """Accept exactly one value that is the ASCII text "0" to "10"; refuse everything else.

    int() would accept " 9", "+7", "1_0" and Arabic-Indic digits; fullmatch with an ASCII
    pattern accepts none of them.
    """
    if len(values) != 1 or not SCORE_PATTERN.fullmatch(values[0]) or not values[0].isascii():
        raise AnswerError("score")
    return int(values[0])


def clean_comment(text: str) -> str:
    """Remove control characters (keeping line breaks and tabs) and enforce the length limit."""
    cleaned = "".join(
        character for character in text
        if character in "\n\t" or unicodedata.category(character) not in ("Cc", "Cs")
    ).replace("\r", "")
    if len(cleaned) > MAX_COMMENT_LENGTH:
        raise AnswerError("comment")
    return cleaned


def find_link(token: str) -> SurveyLink:
    """Look a token up by its hash; malformed tokens are never sent to the database."""
    if not TOKEN_PATTERN.fullmatch(token):
        return SurveyLink(LinkState.UNKNOWN)
    invitation = db.session.execute(
        select(Invitation)
        .where(Invitation.id == linked_invitation_id(token))  # the first email's token or a reminder's
        # One query with joins instead of one per relationship: this runs on every page view.
        .options(joinedload(Invitation.campaign, innerjoin=True), joinedload(Invitation.customer, innerjoin=True),
                 joinedload(Invitation.response))
    ).scalar_one_or_none()
    if invitation is None or invitation.state == "cancelled":
        return SurveyLink(LinkState.UNKNOWN)
    if invitation.expires_at <= utcnow():
        return SurveyLink(LinkState.EXPIRED, invitation)
    return SurveyLink(LinkState.OPEN, invitation)


def record_opened(invitation: Invitation) -> None:
    """Note the first opening of a link: a click, not an answer (mail scanners click too)."""
    if invitation.opened_at is None:
        invitation_id = invitation.id
        start_write(db.session)
        db.session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id, Invitation.opened_at.is_(None))
            .values(opened_at=utcnow())
        )
        db.session.commit()


def store_answer(invitation: Invitation, score: int, comment: str, language: str | None) -> int:
    """Insert the answer, or update the one already stored; return the response id.

    One INSERT .. ON CONFLICT (invitation_id) DO UPDATE: two workers submitting at once both
    succeed and leave one row, instead of one of them failing on the unique constraint.
    answered_at keeps the first answer's time; updated_at and revision move on.
    """
    now = utcnow()
    invitation_id = invitation.id
    start_write(db.session)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {"invitation_id": invitation_id, "score": score, "comment": comment, "language": language,
              "answered_at": now, "updated_at": now, "revision": 1}
    statement = insert(Response).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Response.invitation_id],
        set_={"score": statement.excluded.score, "comment": statement.excluded.comment,
              "language": statement.excluded.language, "updated_at": statement.excluded.updated_at,
              "comment_erased_at": None,
              "revision": Response.revision + 1},
    ).returning(Response.id)
    response_id = db.session.execute(statement).scalar_one()
    db.session.execute(
        update(Invitation).where(Invitation.id == invitation_id, Invitation.opened_at.is_(None)).values(opened_at=now)
    )
    db.session.commit()
    return response_id


def request_analysis(response_id: int) -> None:
    """Have a stored or changed answer analysed without making the respondent wait on it.

    Without a broker the job runs inline (one answer plus its campaign's verdict: tens of
    milliseconds, see docs/survey.md); with one it is queued for a worker. A failure is logged
    and never reaches the respondent: the answer is stored, and `survey-app analyze` catches up.
    """
    try:
        jobs.dispatch(jobs.analyze_response, response_id)
    except Exception:  # noqa: BLE001 - an analysis or broker failure must not lose the stored answer
        log.exception("analysis of response %s failed; `survey-app analyze` will retry it", response_id)
