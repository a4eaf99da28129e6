"""The customer's side: find an invitation by its token, note that its link was opened, and
store exactly one answer per invitation however often, and however concurrently, it is sent.

Every survey request runs these, so they are written for speed: each is one prebuilt Core
statement with bound parameters, run on a connection of its own rather than through the ORM
session (building statements per request, loading ORM objects and the session's bookkeeping
cost more than the database work itself; see docs/survey.md). The two that every page view
runs, the lookup and the mark-opened write, go further: compiled once per dialect and run on
the driver's cursor (database.DriverStatement).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from survey_app import jobs
from survey_app.database import DriverStatement, driver_connection
from survey_app.extensions import db
from survey_app.models import Campaign, Customer, Invitation, ReminderLink, Response, utcnow
from survey_app.services.tokens import MAX_TOKEN_LENGTH, hash_token

SCORE_PATTERN = re.compile(r"(?:10|[0-9])")
MAX_COMMENT_LENGTH = 2000
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,%d}" % MAX_TOKEN_LENGTH)
log = logging.getLogger(__name__)

invitations = Invitation.__table__
responses = Response.__table__


class LinkState(Enum):
    OPEN = "open"
    UNKNOWN = "unknown"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SurveyLink:
    """What the survey pages need of the invitation behind a link, read in one query."""

    state: LinkState
    invitation_id: int | None = None
    # The invitation's language, else the customer's, else the campaign's.
    language: str | None = None
    campaign_id: int | None = None
    campaign_name: str = ""
    opened: bool = False
    # The stored answer; score None when there is none yet.
    score: int | None = None
    comment: str = ""

    @property
    def answered(self) -> bool:
        return self.score is not None


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


def _link_lookup() -> Any:
    """Build the one query behind every survey request: token hash -> what the pages show.

    The link is the first email's token (invitations.token_hash) or a reminder's
    (reminder_links.token_hash): two unique-index lookups in one union, built once here with a
    bound parameter, because building that statement per request cost more than running it.
    """
    digest = bindparam("token_hash")
    first_email = invitations.alias("first_email")
    reminder_links = ReminderLink.__table__
    linked_id = (
        union_all(
            select(first_email.c.id).where(first_email.c.token_hash == digest),
            select(reminder_links.c.invitation_id).where(reminder_links.c.token_hash == digest),
        )
        .limit(1)
        .scalar_subquery()
    )
    campaigns, customers = Campaign.__table__, Customer.__table__
    return (
        select(
            invitations.c.id, invitations.c.state, invitations.c.expires_at, invitations.c.opened_at,
            invitations.c.language, customers.c.language, campaigns.c.language, campaigns.c.id, campaigns.c.name,
            responses.c.score, responses.c.comment,
        )
        .select_from(
            invitations.join(campaigns, campaigns.c.id == invitations.c.campaign_id)
            .join(customers, customers.c.id == invitations.c.customer_id)
            .outerjoin(responses, responses.c.invitation_id == invitations.c.id)
        )
        .where(invitations.c.id == linked_id)
    )


LINK_LOOKUP = DriverStatement(_link_lookup())
# A link's first opening. Conditional, so two first clicks at once keep the earlier time.
MARK_OPENED = (
    update(invitations)
    .where(invitations.c.id == bindparam("invitation_id"), invitations.c.opened_at.is_(None))
    .values(opened_at=bindparam("now"))
)
MARK_OPENED_ON_DRIVER = DriverStatement(MARK_OPENED)


def find_link(token: str, *, note_opening: bool = False) -> SurveyLink:
    """Look a token up by its hash; malformed tokens are never sent to the database.

    With note_opening (a GET: a person or a mail scanner clicked the link) the first opening of
    an open link is recorded too: a click, not an answer. The write reuses the lookup's
    connection (a second checkout from the pool cost more than the UPDATE) and is started as a
    writer like every write here (write_transaction). Both run on the driver's cursor
    (database.DriverConnection): SQLAlchemy's execution of them cost more than SQLite's work.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        return SurveyLink(LinkState.UNKNOWN)
    with driver_connection(db.engine) as connection:
        link = _link_from_row(connection.first(LINK_LOOKUP, {"token_hash": hash_token(token)}))
        if note_opening and link.state is LinkState.OPEN and not link.opened:
            # On SQLite the read was a snapshot of its own (autocommit), so the write starts a
            # transaction that waits for the write lock; on PostgreSQL it joins the read's.
            connection.begin_write()
            connection.execute(MARK_OPENED_ON_DRIVER, {"invitation_id": link.invitation_id, "now": utcnow()})
            connection.commit()
    return link


def _link_from_row(row: Any) -> SurveyLink:
    if row is None:
        return SurveyLink(LinkState.UNKNOWN)
    (invitation_id, state, expires_at, opened_at, invitation_language, customer_language, campaign_language,
     campaign_id, campaign_name, score, comment) = row
    if state == "cancelled":
        return SurveyLink(LinkState.UNKNOWN)
    link_state = LinkState.EXPIRED if expires_at <= utcnow() else LinkState.OPEN
    return SurveyLink(
        link_state, invitation_id, invitation_language or customer_language or campaign_language,
        campaign_id, campaign_name, opened_at is not None, score, comment or "",
    )


def _as_writer(connection: Connection) -> Connection:
    """Have the connection's next transaction start as a writer: BEGIN IMMEDIATE on SQLite (see
    database.configure_sqlite), which takes the write lock before anything is read; a deferred
    transaction that later writes would fail at once with "database is locked" instead of
    waiting its turn. PostgreSQL ignores the option."""
    return connection.execution_options(sqlite_begin="IMMEDIATE")


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """Run a block in a write transaction on a connection of its own; commit at the end.

    It starts as a writer (_as_writer): BEGIN IMMEDIATE on SQLite.
    """
    with db.engine.connect() as connection:
        with _as_writer(connection).begin():
            yield connection


_answer_upserts: dict[str, Any] = {}


def _answer_upsert(dialect: str) -> Any:
    """Return the prebuilt INSERT .. ON CONFLICT (invitation_id) DO UPDATE for a dialect."""
    statement = _answer_upserts.get(dialect)
    if statement is None:
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(responses)
        statement = statement.on_conflict_do_update(
            index_elements=[responses.c.invitation_id],
            set_={"score": statement.excluded.score, "comment": statement.excluded.comment,
                  "language": statement.excluded.language, "updated_at": statement.excluded.updated_at,
                  "comment_erased_at": None, "revision": responses.c.revision + 1},
        ).returning(responses.c.id)
        _answer_upserts[dialect] = statement
    return statement


def store_answer(invitation_id: int, score: int, comment: str, language: str | None) -> int:
    """Insert the answer, or update the one already stored; return the response id.

    One INSERT .. ON CONFLICT (invitation_id) DO UPDATE: two workers submitting at once both
    succeed and leave one row, instead of one of them failing on the unique constraint.
    answered_at keeps the first answer's time; updated_at and revision move on. The same
    transaction marks the link opened, for an answer sent without a GET first.
    """
    now: datetime = utcnow()
    with write_transaction() as connection:
        upsert = _answer_upsert(connection.dialect.name)
        response_id = connection.execute(upsert, {
            "invitation_id": invitation_id, "score": score, "comment": comment, "language": language,
            "answered_at": now, "updated_at": now, "revision": 1,
        }).scalar_one()
        connection.execute(MARK_OPENED, {"invitation_id": invitation_id, "now": now})
    return response_id


def request_analysis(response_id: int) -> Callable[[], None] | None:
    """Have a stored or changed answer analysed without making the respondent wait on it.

    With a broker the analysis is queued for the workers now (jobs.queue_answer_analysis: a
    Redis push, batched with other answers) and None is returned. Without one, the analysis is
    returned as a call for the view to run once the reply has been sent: it takes milliseconds
    to tens of milliseconds (see docs/survey.md), which the respondent should not wait for.
    Either way a failure is logged and never reaches the respondent: the answer is stored, and
    `survey-app analyze` catches up.
    """
    if jobs.has_broker():
        try:
            jobs.queue_answer_analysis(response_id)
        except Exception:  # noqa: BLE001 - a broker failure must not lose the stored answer
            log.exception("queueing the analysis of response %s failed; `survey-app analyze` will do it", response_id)
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def analyse_here() -> None:
        # After the reply the request's app context is gone: the job gets one of its own.
        with app.app_context():
            try:
                jobs.analyze_response(response_id)
            except Exception:  # noqa: BLE001 - an analysis failure must not lose the stored answer
                log.exception("analysis of response %s failed; `survey-app analyze` will retry it", response_id)

    return analyse_here
