"""Read helpers for the dashboard: figures per campaign, computed in SQL.

Counts are aggregated by the database in a fixed number of queries per page, however many
campaigns or answers there are; Python only turns the counts into intervals (the analysis
library's Wilson and adjusted-Wald intervals) and sorts the few campaign rows.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import Any, TypeVar

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import selectinload

from survey_app import analysis as library
from survey_app.analysis.keywords import DistinctiveTerm
from survey_app.analysis.stats import Interval, NPSSummary, wilson_interval
from survey_app.extensions import db
from survey_app.models import (
    CHANNELS,
    FINDING_CATEGORIES,
    FLAG_STATES,
    LANGUAGES,
    Campaign,
    CampaignEvent,
    CampaignVerdict,
    Flag,
    Invitation,
    PromisedItem,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
    utcnow,
)

# Period filter values and the days they look back; "all" looks back forever.
PERIODS: dict[str, int | None] = {"30d": 30, "90d": 90, "365d": 365, "all": None}
FLAG_FILTERS = (*FLAG_STATES, "none")
SCORE_GROUPS: dict[str, tuple[int, int]] = {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)}
SORT_DIRECTIONS = ("asc", "desc")
RESPONSES_PER_PAGE = 25
MAX_TEXT_FILTER = 200
TERMS_SHOWN = 12

T = TypeVar("T")


# --- small value types ------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """A count out of n with its Wilson interval; share is None when n is 0."""

    count: int
    n: int
    interval: Interval | None

    @property
    def share(self) -> float | None:
        return self.count / self.n if self.n else None


def share_of(count: int, n: int) -> Share:
    """Return count/n with its 95% Wilson interval."""
    return Share(count, n, wilson_interval(count, n) if n else None)


@functools.lru_cache(maxsize=4096)
def nps_from_counts(detractors: int, passives: int, promoters: int) -> NPSSummary | None:
    """Return the library's NPS summary for these group sizes, or None without answers."""
    # Cached: the library checks every score one by one, which costs more than the SQL that
    # counted them once a campaign has thousands of answers; the result depends only on the counts.
    if detractors + passives + promoters == 0:
        return None
    # Any score of a group stands for the whole group; the library only counts groups.
    return library.nps_summary(
        [*repeat(0, detractors), *repeat(7, passives), *repeat(10, promoters)]
    )


@dataclass(frozen=True)
class Segment:
    """A piece of a comment, marked when a finding points at it; templates escape the text."""

    text: str
    marked: bool


def highlight(text: str, spans: Iterable[tuple[int, int]]) -> list[Segment]:
    """Split text at the given spans (clamped, merged when they overlap) into plain and marked parts."""
    cleaned = sorted(
        (max(0, min(start, len(text))), max(0, min(end, len(text))))
        for start, end in spans
    )
    merged: list[list[int]] = []
    for start, end in cleaned:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    segments: list[Segment] = []
    position = 0
    for start, end in merged:
        if start > position:
            segments.append(Segment(text[position:start], False))
        segments.append(Segment(text[start:end], True))
        position = end
    if position < len(text) or not segments:
        segments.append(Segment(text[position:], False))
    return segments


class LRU:
    """A small thread-safe least-recently-used cache of computed values."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the cached value for key, computing and storing it on a miss."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def database_identity() -> str:
    """Name the database behind the session, so caches never mix two apps' data."""
    return db.engine.url.render_as_string(hide_password=True)


# --- the overview -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewQuery:
    """The overview's filters and sort order, each held to an allow-list."""

    period: str = "all"
    channel: str | None = None
    language: str | None = None
    flag: str | None = None
    sort: str = "trouble"
    direction: str = "desc"

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> OverviewQuery:
        """Read filters from query arguments, ignoring values outside the allow-lists."""
        def pick(name: str, allowed: Iterable[str], default: Any) -> Any:
            value = args.get(name)
            return value if value in tuple(allowed) else default

        return cls(
            period=pick("period", PERIODS, "all"),
            channel=pick("channel", CHANNELS, None),
            language=pick("language", LANGUAGES, None),
            flag=pick("flag", FLAG_FILTERS, None),
            sort=pick("sort", SORT_KEYS, "trouble"),
            direction=pick("dir", SORT_DIRECTIONS, "desc"),
        )

    def args(self, **changes: str | None) -> dict[str, str]:
        """Return these filters as query arguments, with some changed: for sort links."""
        values = {
            "period": self.period, "channel": self.channel, "language": self.language,
            "flag": self.flag, "sort": self.sort, "dir": self.direction, **changes,
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class OverviewRow:
    campaign: Campaign
    clickers: int
    invited: int
    answered: int
    nps: NPSSummary | None
    broken: Share
    flagged: bool | None
    severity: str | None
    flag_id: int | None
    flag_state: str | None
    last_activity: datetime | None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invited if self.invited else None

    # Kept for templates written against the first version of this row.
    @property
    def clicked(self) -> int:
        return self.clickers


FLAG_RANK = {"open": 0, "acknowledged": 1, None: 2, "resolved": 3}
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "none": 3, None: 4}


def _trouble(row: OverviewRow) -> tuple[Any, ...]:
    low = row.broken.interval.low if row.broken.interval else 0.0
    # Ascending tuple: open flags, then severe verdicts, then the surest broken-promise share.
    return (FLAG_RANK[row.flag_state], SEVERITY_RANK[row.severity], -low, -row.answered, row.campaign.id)


def _none_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


SORT_KEYS: dict[str, Callable[[OverviewRow], Any]] = {
    "trouble": _trouble,
    "name": lambda row: row.campaign.name.casefold(),
    "sent": lambda row: row.campaign.sent_at,
    "invited": lambda row: row.invited,
    "response_rate": lambda row: row.response_rate,
    "nps": lambda row: row.nps.nps if row.nps else None,
    "share": lambda row: row.broken.share,
    "activity": lambda row: row.last_activity,
}


def _sorted(rows: list[OverviewRow], sort: str, direction: str) -> list[OverviewRow]:
    if sort == "trouble":
        ordered = sorted(rows, key=_trouble)
        return ordered if direction == "desc" else ordered[::-1]
    key = SORT_KEYS[sort]
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    present.sort(key=lambda row: (key(row), row.campaign.id), reverse=direction == "desc")
    # Campaigns without the figure go last in either direction: they are not "smallest".
    return present + missing


def newest_per_campaign(model: Any) -> Any:
    """Subquery: each campaign's newest row id of a per-campaign history table (verdicts, flags)."""
    return select(model.campaign_id, func.max(model.id).label("newest_id")).group_by(model.campaign_id).subquery()


def join_current_verdict_and_flag(query: Any) -> Any:
    """Outer-join each campaign row of the query to its newest verdict and its newest flag."""
    newest_verdict = newest_per_campaign(CampaignVerdict)
    newest_flag = newest_per_campaign(Flag)
    return (
        query.outerjoin(newest_verdict, newest_verdict.c.campaign_id == Campaign.id)
        .outerjoin(CampaignVerdict, CampaignVerdict.id == newest_verdict.c.newest_id)
        .outerjoin(newest_flag, newest_flag.c.campaign_id == Campaign.id)
        .outerjoin(Flag, Flag.id == newest_flag.c.newest_id)
    )


def clickers_per_campaign() -> Any:
    """Subquery: how many distinct customers clicked in each campaign (column n)."""
    return (
        select(CampaignEvent.campaign_id, func.count(func.distinct(CampaignEvent.customer_id)).label("n"))
        .where(CampaignEvent.type == "clicked")
        .group_by(CampaignEvent.campaign_id)
        .subquery()
    )


def campaign_overview(query: OverviewQuery | None = None, now: datetime | None = None) -> list[OverviewRow]:
    """Return the campaigns that pass the filters with their figures, sorted as asked."""
    query = query or OverviewQuery()
    now = now or utcnow()
    clickers = clickers_per_campaign()
    # One pass over invitations with their answers and analyses: every answer has an invitation.
    answered = (
        select(
            Invitation.campaign_id,
            func.count(Invitation.sent_at).label("invited"),
            func.max(Invitation.sent_at).label("last_sent"),
            func.max(Invitation.opened_at).label("last_opened"),
            func.count(Response.id).label("answered"),
            func.count(Response.id).filter(Response.score <= 6).label("detractors"),
            func.count(Response.id).filter(Response.score.between(7, 8)).label("passives"),
            func.count(Response.id).filter(Response.score >= 9).label("promoters"),
            func.count(ResponseAnalysis.id).label("analysed"),
            func.count(ResponseAnalysis.id).filter(ResponseAnalysis.broken_promise).label("broken"),
            func.max(Response.updated_at).label("last_answer"),
        )
        .outerjoin(Response, Response.invitation_id == Invitation.id)
        .outerjoin(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
        .group_by(Invitation.campaign_id)
        .subquery()
    )
    statement = (
        select(
            Campaign,
            func.coalesce(clickers.c.n, 0),
            func.coalesce(answered.c.invited, 0),
            func.coalesce(answered.c.answered, 0),
            func.coalesce(answered.c.detractors, 0),
            func.coalesce(answered.c.passives, 0),
            func.coalesce(answered.c.promoters, 0),
            func.coalesce(answered.c.analysed, 0),
            func.coalesce(answered.c.broken, 0),
            CampaignVerdict.flagged,
            CampaignVerdict.severity,
            Flag.id,
            Flag.state,
            answered.c.last_answer,
            answered.c.last_sent,
            answered.c.last_opened,
            Flag.opened_at,
            Flag.acknowledged_at,
            Flag.resolved_at,
        )
        .outerjoin(clickers, clickers.c.campaign_id == Campaign.id)
        .outerjoin(answered, answered.c.campaign_id == Campaign.id)
    )
    statement = join_current_verdict_and_flag(statement)
    days = PERIODS[query.period]
    if days is not None:
        statement = statement.where(Campaign.sent_at >= now - timedelta(days=days))
    if query.channel:
        statement = statement.where(Campaign.channel == query.channel)
    if query.language:
        statement = statement.where(Campaign.language == query.language)
    if query.flag == "none":
        statement = statement.where(Flag.id.is_(None))
    elif query.flag:
        statement = statement.where(Flag.state == query.flag)
    rows = []
    for (campaign, clicked, n_invited, n_answered, detractors, passives, promoters, analysed, broken,
         flagged, severity, flag_id, flag_state, *moments) in db.session.execute(statement):
        times = [moment for moment in moments if moment is not None]
        rows.append(OverviewRow(
            campaign=campaign, clickers=clicked, invited=n_invited, answered=n_answered,
            nps=nps_from_counts(detractors, passives, promoters), broken=share_of(broken, analysed),
            flagged=flagged, severity=severity, flag_id=flag_id, flag_state=flag_state,
            last_activity=max(times) if times else None,
        ))
    return _sorted(rows, query.sort, query.direction)


# --- one campaign -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """Distinct customers at each step from the campaign email to an answer."""

    sent: int
    clicked: int
    not_converted: int
    invited: int
    opened_without_answer: int
    answered: int

    def steps(self) -> list[tuple[str, int]]:
        """Return the steps in order with their labels."""
        return [
            ("Sent the campaign", self.sent),
            ("Clicked", self.clicked),
            ("Clicked, did not convert", self.not_converted),
            ("Invited to the survey", self.invited),
            ("Opened the survey, no answer", self.opened_without_answer),
            ("Answered", self.answered),
        ]


def funnel(campaign_id: int) -> Funnel:
    """Count a campaign's funnel in one query of scalar subqueries."""
    def customers(event_type: str) -> Select[Any]:
        return select(func.count(func.distinct(CampaignEvent.customer_id))).where(
            CampaignEvent.campaign_id == campaign_id, CampaignEvent.type == event_type
        )

    clicker = CampaignEvent.__table__.alias("clicker")
    other = CampaignEvent.__table__.alias("conversion")
    not_converted = select(func.count(func.distinct(clicker.c.customer_id))).where(
        clicker.c.campaign_id == campaign_id,
        clicker.c.type == "clicked",
        ~exists().where(
            other.c.campaign_id == campaign_id, other.c.type == "converted",
            other.c.customer_id == clicker.c.customer_id,
        ),
    )
    has_response = exists().where(Response.invitation_id == Invitation.id)
    row = db.session.execute(select(
        customers("sent").scalar_subquery(),
        customers("clicked").scalar_subquery(),
        not_converted.scalar_subquery(),
        select(func.count(Invitation.sent_at)).where(Invitation.campaign_id == campaign_id).scalar_subquery(),
        select(func.count(Invitation.id)).where(
            Invitation.campaign_id == campaign_id, Invitation.opened_at.is_not(None), ~has_response
        ).scalar_subquery(),
        select(func.count(Response.id)).join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id == campaign_id).scalar_subquery(),
    )).one()
    return Funnel(*row)


@dataclass(frozen=True)
class WeekNPS:
    week: date
    n: int
    nps: NPSSummary


def _week_start(column: Any) -> ColumnElement[str]:
    """SQL for the Monday (as YYYY-MM-DD text) of the UTC week a timestamp falls in."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("week", func.timezone("UTC", column)), "YYYY-MM-DD")
    # SQLite stores naive UTC: move to the week's Sunday, then back six days to its Monday.
    return func.date(column, "weekday 0", "-6 days")


def weekly_nps(campaign_id: int) -> list[WeekNPS]:
    """Return the NPS of each week with answers, oldest first, each with its interval."""
    week = _week_start(Response.answered_at).label("week")
    rows = db.session.execute(
        select(
            week,
            func.count(Response.id).filter(Response.score <= 6),
            func.count(Response.id).filter(Response.score.between(7, 8)),
            func.count(Response.id).filter(Response.score >= 9),
        )
        .join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id == campaign_id)
        .group_by(week)
        .order_by(week)
    ).all()
    weeks = []
    for start, detractors, passives, promoters in rows:
        summary = nps_from_counts(detractors, passives, promoters)
        if summary is not None:
            weeks.append(WeekNPS(date.fromisoformat(str(start)[:10]), summary.n, summary))
    return weeks


@dataclass(frozen=True)
class ItemRow:
    """One promised item with what the current verdict counted for it."""

    item: PromisedItem
    mentions: int
    reports: Share
    categories: dict[str, int]
    flagged: bool


def item_rows(campaign: Campaign, verdict: CampaignVerdict | None) -> list[ItemRow]:
    """Return one row per promised item, in the campaign's order, zero where nothing was said."""
    details = (verdict.details or {}) if verdict else {}
    n = int(details.get("n_respondents") or 0)
    by_label = {entry.get("item"): entry for entry in details.get("items") or () if isinstance(entry, dict)}
    rows = []
    for item in campaign.items:
        entry = by_label.get(item.label, {})
        rows.append(ItemRow(
            item=item,
            mentions=int(entry.get("mentions") or 0),
            reports=share_of(int(entry.get("reports") or 0), n),
            categories=dict(entry.get("categories") or {}),
            flagged=bool(entry.get("flagged")),
        ))
    return rows


def category_rows(verdict: CampaignVerdict | None) -> list[tuple[str, int]]:
    """Return the verdict's broken-promise categories with their counts, largest first."""
    categories = ((verdict.details or {}).get("categories") if verdict else None) or {}
    return sorted(((str(name), int(count)) for name, count in categories.items()), key=lambda pair: -pair[1])


@dataclass(frozen=True)
class Quote:
    text: str
    segments: list[Segment]
    category: str
    item: str | None
    score: int | None


def evidence_quotes(verdict: CampaignVerdict | None) -> list[Quote]:
    """Return the verdict's evidence quotes split around the span that broke the promise."""
    quotes = []
    for entry in ((verdict.details or {}).get("quotes") if verdict else None) or ():
        text = str(entry.get("text") or "")
        span = entry.get("span") or (0, 0)
        quotes.append(Quote(
            text=text, segments=highlight(text, [(int(span[0]), int(span[1]))]),
            category=str(entry.get("category") or "other"), item=entry.get("item"), score=entry.get("score"),
        ))
    return quotes


@dataclass(frozen=True)
class Terms:
    """Distinctive terms in the campaign's main language, as (term, count in group, z) rows."""

    language: str
    detractors_vs_promoters: list[DistinctiveTerm]
    campaign_vs_rest: list[DistinctiveTerm]


_terms_cache = LRU(256)


def analysis_state() -> tuple[int, int | None]:
    """Return numbers that change whenever any stored analysis is added, replaced or removed."""
    count, newest = db.session.execute(select(func.count(ResponseAnalysis.id), func.max(ResponseAnalysis.id))).one()
    return count, newest


def _campaign_term_counts(language: str) -> dict[int, tuple[int, Counter[str]]]:
    """Count, per campaign, its analysed comments in one language and the comments using each term."""
    counts: dict[int, tuple[int, Counter[str]]] = {}
    rows = db.session.execute(
        select(Invitation.campaign_id, ResponseAnalysis.keywords)
        .join(Response, Response.invitation_id == Invitation.id)
        .join(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
        .where(ResponseAnalysis.language == language)
        .execution_options(yield_per=5000)
    )
    for campaign_id, keywords in rows:
        comments, terms = counts.setdefault(campaign_id, (0, Counter()))
        terms.update(set(keywords or ()))
        counts[campaign_id] = (comments + 1, terms)
    return counts


def _as_comments(terms: Counter[str]) -> list[tuple[str, ...]]:
    """Turn term counts back into one-term comments: the library counts a term once per comment."""
    return [(term,) for term, count in terms.items() for _ in range(count)]


def distinctive(campaign: Campaign) -> Terms:
    """Return the terms that set detractors apart from promoters, and this campaign from the rest."""
    language = campaign.language
    key = (database_identity(), campaign.id, language, analysis_state())

    def compute() -> Terms:
        corpus = _terms_cache.get_or_compute(
            (database_identity(), "corpus", language, key[-1]), lambda: _campaign_term_counts(language)
        )
        own = corpus.get(campaign.id, (0, Counter()))[1]
        rest: Counter[str] = Counter()
        for campaign_id, (_comments, terms) in corpus.items():
            if campaign_id != campaign.id:
                rest.update(terms)
        by_group = db.session.execute(
            select(Response.score, ResponseAnalysis.keywords)
            .join(Invitation, Invitation.id == Response.invitation_id)
            .join(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
            .where(Invitation.campaign_id == campaign.id, ResponseAnalysis.language == language,
                   or_(Response.score <= 6, Response.score >= 9))
        ).all()
        detractors = [tuple(words or ()) for score, words in by_group if score <= 6]
        promoters = [tuple(words or ()) for score, words in by_group if score >= 9]
        return Terms(
            language=language,
            detractors_vs_promoters=list(library.distinctive_terms(detractors, promoters, limit=TERMS_SHOWN)),
            campaign_vs_rest=list(library.distinctive_terms(_as_comments(own), _as_comments(rest), limit=TERMS_SHOWN)),
        )

    return _terms_cache.get_or_compute(key, compute)


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    verdict: CampaignVerdict | None
    flag: Flag | None
    flag_history: list[Flag]
    funnel: Funnel
    nps: NPSSummary | None
    weeks: list[WeekNPS]
    categories: list[tuple[str, int]]
    items: list[ItemRow]
    quotes: list[Quote]
    terms: Terms
    reasons: list[str] = field(default_factory=list)


def newest_verdict(campaign_id: int) -> CampaignVerdict | None:
    """Return the campaign's current verdict."""
    return db.session.execute(
        select(CampaignVerdict).where(CampaignVerdict.campaign_id == campaign_id)
        .order_by(CampaignVerdict.id.desc()).limit(1)
    ).scalar_one_or_none()


def flag_history(campaign_id: int) -> list[Flag]:
    """Return every flag the campaign ever had, newest first, with who handled it."""
    return list(db.session.execute(
        select(Flag).where(Flag.campaign_id == campaign_id).order_by(Flag.id.desc())
        .options(selectinload(Flag.acknowledged_by), selectinload(Flag.resolved_by))
    ).scalars())


def score_counts(campaign_id: int) -> tuple[int, int, int]:
    """Return the campaign's detractors, passives and promoters."""
    return db.session.execute(
        select(
            func.count(Response.id).filter(Response.score <= 6),
            func.count(Response.id).filter(Response.score.between(7, 8)),
            func.count(Response.id).filter(Response.score >= 9),
        ).join(Invitation, Invitation.id == Response.invitation_id).where(Invitation.campaign_id == campaign_id)
    ).one()


def load_campaign(campaign_id: int) -> Campaign | None:
    """Return the campaign with its promised items, or None."""
    return db.session.execute(
        select(Campaign).where(Campaign.id == campaign_id).options(selectinload(Campaign.items))
    ).scalar_one_or_none()


def campaign_report(campaign_id: int) -> CampaignReport | None:
    """Gather everything the campaign page shows, or None when there is no such campaign."""
    campaign = load_campaign(campaign_id)
    if campaign is None:
        return None
    verdict = newest_verdict(campaign_id)
    history = flag_history(campaign_id)
    current = next((flag for flag in history if flag.state != "resolved"), None)
    reasons = [str(reason) for reason in ((verdict.details or {}).get("reasons") if verdict else None) or ()]
    return CampaignReport(
        campaign=campaign, verdict=verdict, flag=current, flag_history=history,
        funnel=funnel(campaign_id), nps=nps_from_counts(*score_counts(campaign_id)),
        weeks=weekly_nps(campaign_id), categories=category_rows(verdict),
        items=item_rows(campaign, verdict), quotes=evidence_quotes(verdict),
        terms=distinctive(campaign), reasons=reasons,
    )


def campaign_state(campaign_id: int) -> tuple[Any, ...]:
    """Return what identifies a campaign's current data: its verdict and answers."""
    verdict_id, count, changed = db.session.execute(
        select(
            select(func.max(CampaignVerdict.id)).where(CampaignVerdict.campaign_id == campaign_id).scalar_subquery(),
            func.count(Response.id),
            func.max(Response.updated_at),
        ).select_from(Response).join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id == campaign_id)
    ).one()
    return (verdict_id, count, changed, library.ANALYZER_VERSION)


# --- responses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseQuery:
    """The responses list's filters, each held to an allow-list or a length."""

    group: str | None = None
    language: str | None = None
    category: str | None = None
    item_id: int | None = None
    text: str = ""
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, str], item_ids: Iterable[int] = ()) -> ResponseQuery:
        """Read filters from query arguments, ignoring values outside the allow-lists."""
        item = args.get("item", "")
        page = args.get("page", "")
        return cls(
            group=args.get("group") if args.get("group") in SCORE_GROUPS else None,
            language=args.get("language") if args.get("language") in LANGUAGES else None,
            category=args.get("category") if args.get("category") in FINDING_CATEGORIES else None,
            item_id=int(item) if item.isascii() and item.isdigit() and int(item) in set(item_ids) else None,
            text=(args.get("q") or "").strip()[:MAX_TEXT_FILTER],
            page=int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 10**6 else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Return these filters as query arguments, with some changed: for page links."""
        values = {"group": self.group, "language": self.language, "category": self.category,
                  "item": self.item_id, "q": self.text, "page": self.page, **changes}
        return {key: value for key, value in values.items() if value not in (None, "")}


@dataclass(frozen=True)
class TimelineEntry:
    label: str
    at: datetime | None


def timeline(invitation: Invitation, response: Response) -> list[TimelineEntry]:
    """Return the invitation's moments in order, from creation to the last change of the answer."""
    entries = [
        TimelineEntry("Invitation created", invitation.created_at),
        TimelineEntry("Email sent", invitation.sent_at),
        TimelineEntry("Survey opened", invitation.opened_at),
    ]
    if invitation.reminders_sent:
        entries.append(TimelineEntry(
            f"{invitation.reminders_sent} reminder{'s' if invitation.reminders_sent != 1 else ''} sent, last",
            invitation.last_reminder_at,
        ))
    entries.append(TimelineEntry("Answered", response.answered_at))
    if response.revision > 1 or response.updated_at != response.answered_at:
        entries.append(TimelineEntry(f"Answer changed (revision {response.revision})", response.updated_at))
    return [entry for entry in entries if entry.at is not None]


@dataclass(frozen=True)
class ResponseView:
    response: Response
    segments: list[Segment]
    timeline: list[TimelineEntry]

    @property
    def group(self) -> str:
        return next(name for name, (low, high) in SCORE_GROUPS.items() if low <= self.response.score <= high)


@dataclass(frozen=True)
class ResponsePage:
    pagination: Pagination
    views: list[ResponseView]


def responses_page(campaign_id: int, query: ResponseQuery, per_page: int = RESPONSES_PER_PAGE) -> ResponsePage:
    """Return one page of a campaign's answers that pass the filters, newest first."""
    statement = (
        select(Response)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id == campaign_id)
        .options(
            selectinload(Response.invitation),
            selectinload(Response.analysis).selectinload(ResponseAnalysis.findings)
            .selectinload(ResponseFinding.promised_item),
            selectinload(Response.analysis).selectinload(ResponseAnalysis.mentions)
            .selectinload(ResponseItemMention.promised_item),
        )
        .order_by(Response.answered_at.desc(), Response.id.desc())
    )
    if query.group:
        low, high = SCORE_GROUPS[query.group]
        statement = statement.where(Response.score.between(low, high))
    if query.language:
        statement = statement.where(Response.language == query.language)
    analysis_of_response = ResponseAnalysis.response_id == Response.id
    if query.category:
        statement = statement.where(exists().where(
            analysis_of_response, ResponseFinding.analysis_id == ResponseAnalysis.id,
            ResponseFinding.category == query.category,
        ))
    if query.item_id is not None:
        statement = statement.where(or_(
            exists().where(analysis_of_response, ResponseFinding.analysis_id == ResponseAnalysis.id,
                           ResponseFinding.promised_item_id == query.item_id),
            exists().where(analysis_of_response, ResponseItemMention.analysis_id == ResponseAnalysis.id,
                           ResponseItemMention.promised_item_id == query.item_id),
        ))
    if query.text:
        statement = statement.where(Response.comment.icontains(query.text, autoescape=True))
    pagination = db.paginate(statement, page=query.page, per_page=per_page, error_out=False, count=True)
    views = []
    for response in pagination.items:
        spans = [(f.span_start, f.span_end) for f in response.analysis.findings] if response.analysis else []
        views.append(ResponseView(response, highlight(response.comment, spans), timeline(response.invitation, response)))
    return ResponsePage(pagination, views)


def promised_items(campaign_id: int) -> list[PromisedItem]:
    """Return a campaign's promised items in order."""
    return list(db.session.execute(
        select(PromisedItem).where(PromisedItem.campaign_id == campaign_id)
        .order_by(PromisedItem.position, PromisedItem.id)
    ).scalars())

