"""Run the analysis library over stored answers, keep its results, and turn them into campaign
verdicts and flags.

The library is pure; this module is the bridge: it maps rows to the library's plain values and
back. An answer is (re)analysed when it is new, when its text changed (revision), or when the
analyzer changed (version), so `survey-app analyze` is incremental and safe to rerun.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from survey_app import analysis as library
from survey_app.analysis.verdict import Baseline
from survey_app.database import start_write
from survey_app.extensions import db
from survey_app.models import (
    Campaign,
    CampaignVerdict,
    Flag,
    Invitation,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
    utcnow,
)

BATCH_SIZE = 500
Progress = Callable[[int], None]


@dataclass(frozen=True)
class AnalyzeSummary:
    analysed: int
    campaigns: int
    flagged: int


def library_items(campaign: Campaign) -> list[library.PromisedItem]:
    """Return a campaign's promised items as the library's values, keyed by database id."""
    return [
        library.PromisedItem(
            kind=item.kind, label=item.label, aliases=tuple(item.aliases or ()), city=item.city,
            address=item.address, promised_value=item.promised_value, key=item.id,
        )
        for item in campaign.items
    ]


def stale_responses(campaign_id: int | None = None, everything: bool = False):
    """Select the responses whose stored analysis is missing or out of date."""
    query = select(Response.id).join(Invitation, Invitation.id == Response.invitation_id)
    if campaign_id is not None:
        query = query.where(Invitation.campaign_id == campaign_id)
    query = query.outerjoin(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
    # An erased comment keeps the findings it had: re-reading its blank text would drop them.
    never_again = and_(Response.comment_erased_at.is_not(None), ResponseAnalysis.id.is_not(None))
    if everything:
        return query.where(~never_again).order_by(Response.id)
    return query.where(
        ~never_again,
        or_(
            ResponseAnalysis.id.is_(None),
            ResponseAnalysis.response_revision != Response.revision,
            ResponseAnalysis.analyzer_version != library.ANALYZER_VERSION,
        ),
    ).order_by(Response.id)


def count_stale(campaign_id: int | None = None, everything: bool = False) -> int:
    """Count the responses `analyze_responses` would process."""
    subquery = stale_responses(campaign_id, everything).subquery()
    return db.session.execute(select(func.count()).select_from(subquery)).scalar_one()


def analyze_responses(
    campaign_id: int | None = None, everything: bool = False, progress: Progress | None = None
) -> AnalyzeSummary:
    """Analyse new and changed answers (or all), then recompute the affected campaigns' verdicts."""
    ids = db.session.execute(stale_responses(campaign_id, everything)).scalars().all()
    campaigns: set[int] = set()
    for start in range(0, len(ids), BATCH_SIZE):
        batch = ids[start:start + BATCH_SIZE]
        campaigns |= analyze_batch(batch)
        if progress:
            progress(len(batch))
    if campaign_id is not None:
        campaigns.add(campaign_id)
    else:
        # Answers analysed one by one since the last verdict (the survey page defers verdicts).
        campaigns |= campaigns_with_stale_verdicts()
    flagged = sum(recompute_verdict(cid).flagged for cid in sorted(campaigns))
    return AnalyzeSummary(analysed=len(ids), campaigns=len(campaigns), flagged=flagged)


def analyze_batch(response_ids: Sequence[int]) -> set[int]:
    """Analyse and store one batch of answers in one transaction; return their campaign ids."""
    start_write(db.session)
    # Row locks (PostgreSQL) make two workers analysing the same answer take turns, so the
    # second replaces the first's rows instead of colliding with them.
    responses = db.session.execute(
        select(Response)
        .where(Response.id.in_(response_ids))
        .with_for_update(of=Response)
        .options(selectinload(Response.invitation).selectinload(Invitation.campaign).selectinload(Campaign.items))
    ).scalars().all()
    db.session.execute(delete(ResponseAnalysis).where(ResponseAnalysis.response_id.in_(response_ids)))
    items_cache: dict[int, list[library.PromisedItem]] = {}
    for response in responses:
        campaign = response.invitation.campaign
        if campaign.id not in items_cache:
            items_cache[campaign.id] = library_items(campaign)
        result = library.analyze_comment(
            response.comment, score=response.score, language=response.language,
            promised_items=items_cache[campaign.id],
        )
        db.session.add(analysis_row(response, result))
    db.session.commit()
    return set(items_cache)


def analyze_one(response_id: int) -> None:
    """Analyse one answer now (after a customer submits it); refresh its campaign's verdict when due."""
    analyze_answers([response_id])


def analyze_answers(response_ids: Sequence[int]) -> None:
    """Analyse these answers now (the survey page's); refresh their campaigns' verdicts when due.

    Analysing an answer costs milliseconds; recomputing the verdict reads every answer of the
    campaign, so doing it per answer would make each answer slower as the campaign grows. The
    verdict is refreshed at most every VERDICT_REFRESH_SECONDS here, and `survey-app analyze`
    (run on a schedule) recomputes any verdict older than its campaign's newest analysis.
    """
    campaigns: set[int] = set()
    for start in range(0, len(response_ids), BATCH_SIZE):
        campaigns |= analyze_batch(response_ids[start:start + BATCH_SIZE])
    for campaign_id in sorted(campaigns):
        if verdict_is_due(campaign_id):
            recompute_verdict(campaign_id)


def verdict_is_due(campaign_id: int) -> bool:
    """Tell whether the campaign has no verdict, or one older than VERDICT_REFRESH_SECONDS."""
    newest = db.session.execute(
        select(func.max(CampaignVerdict.computed_at)).where(CampaignVerdict.campaign_id == campaign_id)
    ).scalar()
    if newest is None:
        return True
    return newest <= utcnow() - timedelta(seconds=current_app.config["VERDICT_REFRESH_SECONDS"])


def campaigns_with_stale_verdicts() -> set[int]:
    """Return the campaigns whose newest analysis is newer than their newest verdict (or that have none)."""
    newest_analysis = (
        select(Invitation.campaign_id, func.max(ResponseAnalysis.analyzed_at).label("analysed"))
        .join(Response, Response.invitation_id == Invitation.id)
        .join(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
        .group_by(Invitation.campaign_id)
        .subquery()
    )
    newest_verdict = (
        select(CampaignVerdict.campaign_id, func.max(CampaignVerdict.computed_at).label("computed"))
        .group_by(CampaignVerdict.campaign_id)
        .subquery()
    )
    rows = db.session.execute(
        select(newest_analysis.c.campaign_id)
        .outerjoin(newest_verdict, newest_verdict.c.campaign_id == newest_analysis.c.campaign_id)
        .where(or_(newest_verdict.c.computed.is_(None), newest_verdict.c.computed < newest_analysis.c.analysed))
    ).scalars()
    return set(rows)


def analysis_row(response: Response, result: library.CommentAnalysis) -> ResponseAnalysis:
    """Map the library's result to rows: the analysis, its findings and its item mentions."""
    return ResponseAnalysis(
        response_id=response.id,
        response_revision=response.revision,
        analyzer_version=result.analyzer_version,
        language=result.language,
        polarity=max(-1.0, min(1.0, result.sentiment.polarity)),
        subjectivity=max(0.0, min(1.0, result.sentiment.subjectivity)),
        sentiment_analyzer=result.sentiment.analyzer,
        broken_promise=result.broken_promise,
        keywords=list(result.keywords),
        findings=[
            ResponseFinding(
                category=finding.category,
                promised_item_id=finding.item.key if finding.item else None,
                span_start=finding.span[0], span_end=finding.span[1],
                confidence=max(0.0, min(1.0, finding.confidence)), source=finding.source,
            )
            for finding in result.findings
        ],
        mentions=[
            ResponseItemMention(
                promised_item_id=mention.item.key if mention.item else None, city=mention.city,
                span_start=mention.span[0], span_end=mention.span[1],
            )
            for mention in result.item_mentions
        ],
    )


def stored_analyses(campaign: Campaign) -> list[library.CommentAnalysis]:
    """Rebuild the library's results for a campaign's analysed answers from the stored rows."""
    items = {item.key: item for item in library_items(campaign)}
    rows = db.session.execute(
        select(Response, ResponseAnalysis)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .join(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
        .where(Invitation.campaign_id == campaign.id)
        .options(selectinload(ResponseAnalysis.findings), selectinload(ResponseAnalysis.mentions))
    ).all()
    return [
        library.CommentAnalysis(
            text=response.comment,
            language=row.language,
            score=response.score,
            sentiment=library.Sentiment(row.polarity, row.subjectivity, row.sentiment_analyzer),
            findings=tuple(
                library.Finding(f.category, items.get(f.promised_item_id), (f.span_start, f.span_end),
                                f.confidence, f.source)
                for f in row.findings
            ),
            item_mentions=tuple(
                library.ItemMention(items.get(m.promised_item_id), (m.span_start, m.span_end),
                                    response.comment[m.span_start:m.span_end], 1.0, m.city)
                for m in row.mentions
            ),
            keywords=tuple(row.keywords or ()),
            analyzer_version=row.analyzer_version,
        )
        for response, row in rows
    ]


def baseline_for(campaign_id: int) -> Baseline | None:
    """Return the respondents and broken-promise reports of every other campaign together."""
    respondents, broken = db.session.execute(
        select(func.count(ResponseAnalysis.id), func.count(ResponseAnalysis.id).filter(ResponseAnalysis.broken_promise))
        .join(Response, Response.id == ResponseAnalysis.response_id)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .where(Invitation.campaign_id != campaign_id)
    ).one()
    if not respondents:
        return None
    return Baseline(respondents=respondents, broken=broken)


def recompute_verdict(campaign_id: int) -> CampaignVerdict:
    """Store a fresh verdict for a campaign and open a flag when it is newly flagged."""
    start_write(db.session)
    campaign = db.session.execute(
        select(Campaign).where(Campaign.id == campaign_id).options(selectinload(Campaign.items))
    ).scalar_one()
    analyses = stored_analyses(campaign)
    config = current_app.config
    verdict = library.campaign_verdict(
        analyses,
        promised_items=library_items(campaign),
        baseline=baseline_for(campaign_id),
        threshold=config["VERDICT_THRESHOLD"],
        min_respondents=config["VERDICT_MIN_RESPONDENTS"],
    )
    scores = [a.score for a in analyses if a.score is not None]
    nps = library.nps_summary(scores) if scores else None
    row = CampaignVerdict(
        campaign_id=campaign_id,
        analyzer_version=library.ANALYZER_VERSION,
        flagged=verdict.flagged,
        severity=verdict.severity,
        n_respondents=verdict.n_respondents,
        n_broken=verdict.n_broken,
        share=verdict.share if verdict.n_respondents else None,
        share_low=verdict.interval.low if verdict.n_respondents else None,
        share_high=verdict.interval.high if verdict.n_respondents else None,
        nps=nps.nps if nps else None,
        nps_low=nps.nps_interval.low if nps else None,
        nps_high=nps.nps_interval.high if nps else None,
        details=verdict.to_dict(),
    )
    db.session.add(row)
    db.session.flush()
    if verdict.flagged:
        open_flag_for(campaign_id, row.id)
    db.session.commit()
    return row


def open_flag_for(campaign_id: int, verdict_id: int) -> None:
    """Point the campaign's unresolved flag at the verdict, opening one if there is none."""
    open_flag = db.session.execute(
        select(Flag).where(Flag.campaign_id == campaign_id, Flag.state != "resolved")
    ).scalar_one_or_none()
    if open_flag is not None:
        open_flag.verdict_id = verdict_id
        return
    try:
        with db.session.begin_nested():
            db.session.add(Flag(campaign_id=campaign_id, verdict_id=verdict_id, state="open"))
    except IntegrityError:
        # Another worker opened it a moment ago: the unique index allows one unresolved flag.
        pass


def campaign_promised_items(campaign_id: int) -> list[library.PromisedItem]:
    """Return one campaign's promised items as the library's values."""
    return library_items(db.session.get(Campaign, campaign_id))


def campaign_ids(keys_or_ids: Iterable[str]) -> list[int]:
    """Resolve campaign ids or keys as typed on the command line."""
    found = []
    for value in keys_or_ids:
        condition = Campaign.id == int(value) if value.isdigit() else Campaign.key == value
        campaign_id = db.session.execute(select(Campaign.id).where(condition)).scalar()
        if campaign_id is None:
            raise LookupError(f"no campaign with id or key {value!r}")
        found.append(campaign_id)
    return found

