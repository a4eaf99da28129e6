"""CSV exports for researchers: responses with their analyses, campaigns with their verdicts,
promised items with their counts.

Each export is a generator of CSV text chunks read from a server-side cursor in batches, so a
million responses stream in constant memory. The header is fixed per export and per
privacy options, never derived from the data, so an empty campaign and a full one give the same
columns (docs/exports.md lists them). Cells go through `survey_app.csv_safety`, which neutralises
formulas; survey tokens and their hashes are never selected.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Unpack

from sqlalchemy import Select, case, func, literal, select, union

from survey_app.analysis.stats import wilson_interval
from survey_app.csv_safety import PLAIN, Cell, CsvFormat, iter_csv
from survey_app.extensions import db
from survey_app.services.reporting import clickers_per_campaign, join_current_verdict_and_flag
from survey_app.models import (
    Campaign,
    CampaignVerdict,
    Customer,
    Flag,
    Invitation,
    PromisedItem,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
)

EXPORT_KINDS = ("responses", "campaigns", "items")
# A select of any columns (Select is generic over its column types).
AnySelect = Select[Unpack[tuple[Any, ...]]]
# Rows fetched from the cursor per round trip, and rows per yielded text chunk.
BATCH_SIZE = 2000
LIST_SEPARATOR = "|"
# The database joins lists with a control character no label contains; Python then dedupes,
# sorts and joins them with LIST_SEPARATOR, the same way on SQLite and PostgreSQL.
_SQL_SEPARATOR = "\x1f"
_PSEUDONYM_PURPOSE = b"survey_app export pseudonym v1"
PSEUDONYM_LENGTH = 16

CUSTOMER_ID_COLUMN = "customer_external_id"
CUSTOMER_PSEUDONYM_COLUMN = "customer_pseudonym"
EMAIL_COLUMN = "email"
RESPONSE_COLUMNS_BEFORE_CUSTOMER = ("response_id", "campaign_key", "campaign_name")
RESPONSE_COLUMNS_AFTER_CUSTOMER = (
    "language",
    "score",
    "score_group",
    "comment",
    "answered_at",
    "updated_at",
    "broken_promise",
    "categories",
    "promised_items",
    "polarity",
    "subjectivity",
    "sentiment_analyzer",
    "keywords",
    "analyzer_version",
)
CAMPAIGN_COLUMNS = (
    "campaign_key",
    "campaign_name",
    "channel",
    "language",
    "status",
    "sent_at",
    "clicked",
    "invited",
    "answered",
    "response_rate",
    "respondents",
    "nps",
    "nps_low",
    "nps_high",
    "broken",
    "broken_share",
    "broken_share_low",
    "broken_share_high",
    "flagged",
    "severity",
    "flag_state",
    "verdict_at",
    "reasons",
)
ITEM_COLUMNS = (
    "campaign_key",
    "item_kind",
    "item_label",
    "item_city",
    "mentions",
    "failure_reports",
    "respondents",
    "share",
    "share_low",
    "share_high",
    "categories",
)


class ExportError(LookupError):
    """An export was asked for something that does not exist."""


@dataclass(frozen=True)
class ExportOptions:
    """Who the export is for and how it is laid out."""

    campaign_id: int | None = None
    # Only admins (and the command line, which holds the database anyway) see addresses.
    include_email: bool = False
    # The keyed-hash key when customer columns are pseudonymised; None shows external ids.
    pseudonym_key: bytes | None = None
    fmt: CsvFormat = PLAIN
    batch_size: int = BATCH_SIZE


def pseudonym_key(secret_key: str | bytes) -> bytes:
    """Derive the pseudonym key from the app's secret key, apart from its other uses."""
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, _PSEUDONYM_PURPOSE, hashlib.sha256).digest()


def pseudonym(key: bytes, external_id: str | None) -> str | None:
    """Return a stable keyed-hash pseudonym of a customer's external id (None when erased)."""
    if external_id is None:
        return None
    digest = hmac.new(key, external_id.encode(), hashlib.sha256).hexdigest()
    # A letter first: a spreadsheet would read an all-digit or "12e45" hash as a number.
    return "p-" + digest[:PSEUDONYM_LENGTH]


def find_campaign(id_or_key: str) -> tuple[int, str]:
    """Return the id and key of the campaign with this key or numeric id."""
    from survey_app.services.eligibility import EligibilityError, find_campaign_id

    try:
        campaign_id = find_campaign_id(id_or_key)
    except EligibilityError as error:
        raise ExportError(str(error)) from None
    return campaign_id, campaign_key(campaign_id)


def campaign_key(campaign_id: int) -> str:
    """Return a campaign's key, refusing an unknown id."""
    key = db.session.execute(select(Campaign.key).where(Campaign.id == campaign_id)).scalar_one_or_none()
    if key is None:
        raise ExportError(f"no campaign with id {campaign_id}")
    return key


def export_filename(kind: str, key: str | None, today: date) -> str:
    """Return the download's file name, made from a slug of the key, never from raw user text."""
    slug = re.sub(r"[^a-z0-9]+", "-", (key or "").lower()).strip("-")[:60].strip("-") or "all"
    if key is not None and slug == "all":
        slug = "campaign"
    return f"survey-{kind}-{slug}-{today.isoformat()}.csv"


def response_header(options: ExportOptions) -> tuple[str, ...]:
    """Return the responses export's columns; they depend on the privacy options only."""
    customer = CUSTOMER_PSEUDONYM_COLUMN if options.pseudonym_key is not None else CUSTOMER_ID_COLUMN
    # A pseudonymised export carries no address at all: the pseudonym already groups a customer.
    email = (EMAIL_COLUMN,) if options.include_email and options.pseudonym_key is None else ()
    return (*RESPONSE_COLUMNS_BEFORE_CUSTOMER, customer, *email, *RESPONSE_COLUMNS_AFTER_CUSTOMER)


def responses_query(options: ExportOptions) -> AnySelect:
    """Select one flat row per response, with its analysis and findings already aggregated."""
    categories = (
        select(func.aggregate_strings(ResponseFinding.category, _SQL_SEPARATOR))
        .where(ResponseFinding.analysis_id == ResponseAnalysis.id)
        .scalar_subquery()
    )
    items = (
        select(func.aggregate_strings(PromisedItem.label, _SQL_SEPARATOR))
        .select_from(ResponseFinding)
        .join(PromisedItem, PromisedItem.id == ResponseFinding.promised_item_id)
        .where(ResponseFinding.analysis_id == ResponseAnalysis.id)
        .scalar_subquery()
    )
    score_group = case(
        (Response.score <= 6, literal("detractor")), (Response.score <= 8, literal("passive")), else_=literal("promoter")
    )
    email = Customer.email if options.include_email and options.pseudonym_key is None else literal(None)
    query = (
        select(
            Response.id,
            Campaign.key,
            Campaign.name,
            Customer.external_id,
            email,
            Response.language,
            Response.score,
            score_group,
            Response.comment,
            Response.answered_at,
            Response.updated_at,
            ResponseAnalysis.broken_promise,
            categories,
            items,
            ResponseAnalysis.polarity,
            ResponseAnalysis.subjectivity,
            ResponseAnalysis.sentiment_analyzer,
            ResponseAnalysis.keywords,
            ResponseAnalysis.analyzer_version,
        )
        .select_from(Response)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .join(Campaign, Campaign.id == Invitation.campaign_id)
        .join(Customer, Customer.id == Invitation.customer_id)
        .outerjoin(ResponseAnalysis, ResponseAnalysis.response_id == Response.id)
        .order_by(Response.id)
    )
    if options.campaign_id is not None:
        query = query.where(Invitation.campaign_id == options.campaign_id)
    return query


def _listed(joined: str | None) -> str:
    if not joined:
        return ""
    return LIST_SEPARATOR.join(sorted(set(joined.split(_SQL_SEPARATOR))))


def _stream(query: AnySelect, batch_size: int) -> Iterator[Sequence[Any]]:
    """Yield the query's rows from a server-side cursor, a batch per round trip."""
    # yield_per turns on stream_results: a named cursor on PostgreSQL, stepwise reads on SQLite.
    result = db.session.execute(query.execution_options(yield_per=batch_size))
    try:
        for partition in result.partitions():
            yield from partition
    finally:
        result.close()


def response_rows(options: ExportOptions) -> Iterator[tuple[Cell, ...]]:
    """Yield the responses export's rows, in the order of `response_header`."""
    key = options.pseudonym_key
    with_email = options.include_email and key is None
    for row in _stream(responses_query(options), options.batch_size):
        (response_id, campaign, name, external_id, email, language, score, group, comment, answered_at,
         updated_at, broken, categories, items, polarity, subjectivity, analyzer, keywords, version) = row
        customer = pseudonym(key, external_id) if key is not None else external_id
        head: tuple[Cell, ...] = (response_id, campaign, name, customer, email) if with_email else (
            response_id, campaign, name, customer)
        yield (*head, language, score, group, comment, answered_at, updated_at, broken, _listed(categories),
               _listed(items), polarity, subjectivity, analyzer, LIST_SEPARATOR.join(keywords or ()), version)


def export_responses(options: ExportOptions) -> Iterator[str]:
    """Yield the responses export as CSV text chunks."""
    return iter_csv(response_header(options), response_rows(options), options.fmt, options.batch_size)


def campaigns_query(campaign_id: int | None = None) -> AnySelect:
    """Select each campaign with its funnel counts, newest verdict and newest flag."""
    clickers = clickers_per_campaign()
    invited = (
        select(
            Invitation.campaign_id,
            func.count(Invitation.id).label("invited"),
            func.count(Response.id).label("answered"),
        )
        .outerjoin(Response, Response.invitation_id == Invitation.id)
        .group_by(Invitation.campaign_id)
        .subquery()
    )
    query = (
        select(
            Campaign.key,
            Campaign.name,
            Campaign.channel,
            Campaign.language,
            Campaign.status,
            Campaign.sent_at,
            func.coalesce(clickers.c.n, 0),
            func.coalesce(invited.c.invited, 0),
            func.coalesce(invited.c.answered, 0),
            CampaignVerdict.n_respondents,
            CampaignVerdict.nps,
            CampaignVerdict.nps_low,
            CampaignVerdict.nps_high,
            CampaignVerdict.n_broken,
            CampaignVerdict.share,
            CampaignVerdict.share_low,
            CampaignVerdict.share_high,
            CampaignVerdict.flagged,
            CampaignVerdict.severity,
            Flag.state,
            CampaignVerdict.computed_at,
            CampaignVerdict.details,
        )
        .outerjoin(clickers, clickers.c.campaign_id == Campaign.id)
        .outerjoin(invited, invited.c.campaign_id == Campaign.id)
        .order_by(Campaign.key)
    )
    query = join_current_verdict_and_flag(query)
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    return query


def campaign_rows(options: ExportOptions) -> Iterator[tuple[Cell, ...]]:
    """Yield the campaigns export's rows, in the order of CAMPAIGN_COLUMNS."""
    for row in _stream(campaigns_query(options.campaign_id), options.batch_size):
        *counts, details = row
        invited, answered = counts[7], counts[8]
        rate = answered / invited if invited else None
        reasons = (details or {}).get("reasons") or ()
        yield (*counts[:9], rate, *counts[9:], LIST_SEPARATOR.join(str(reason) for reason in reasons))


def export_campaigns(options: ExportOptions) -> Iterator[str]:
    """Yield the campaigns export as CSV text chunks."""
    return iter_csv(CAMPAIGN_COLUMNS, campaign_rows(options), options.fmt, options.batch_size)


def _in_campaign(query: AnySelect, campaign_id: int | None) -> AnySelect:
    if campaign_id is None:
        return query
    return query.join(PromisedItem, PromisedItem.id == query.selected_columns[0]).where(
        PromisedItem.campaign_id == campaign_id
    )


def _item_counts(campaign_id: int | None) -> tuple[dict[int, int], dict[int, int], dict[int, list[tuple[str, int]]]]:
    """Return per promised item: respondents naming it, respondents reporting it failed, and
    per category how many respondents reported it; one entry per item, not per response."""
    named = union(
        select(ResponseItemMention.promised_item_id, ResponseItemMention.analysis_id).where(
            ResponseItemMention.promised_item_id.is_not(None)
        ),
        select(ResponseFinding.promised_item_id, ResponseFinding.analysis_id).where(
            ResponseFinding.promised_item_id.is_not(None)
        ),
    ).subquery()
    mentions_query = _in_campaign(
        select(named.c.promised_item_id, func.count(func.distinct(named.c.analysis_id))).group_by(
            named.c.promised_item_id
        ),
        campaign_id,
    )
    reports_query = _in_campaign(
        select(ResponseFinding.promised_item_id, func.count(func.distinct(ResponseFinding.analysis_id)))
        .where(ResponseFinding.promised_item_id.is_not(None))
        .group_by(ResponseFinding.promised_item_id),
        campaign_id,
    )
    categories_query = _in_campaign(
        select(
            ResponseFinding.promised_item_id,
            ResponseFinding.category,
            func.count(func.distinct(ResponseFinding.analysis_id)),
        )
        .where(ResponseFinding.promised_item_id.is_not(None))
        .group_by(ResponseFinding.promised_item_id, ResponseFinding.category),
        campaign_id,
    )
    mentions = {item: count for item, count in db.session.execute(mentions_query)}
    reports = {item: count for item, count in db.session.execute(reports_query)}
    categories: dict[int, list[tuple[str, int]]] = {}
    for item, category, count in db.session.execute(categories_query):
        categories.setdefault(item, []).append((category, count))
    return mentions, reports, categories


def _respondents(campaign_id: int | None) -> dict[int, int]:
    query = (
        select(Invitation.campaign_id, func.count(ResponseAnalysis.id))
        .select_from(ResponseAnalysis)
        .join(Response, Response.id == ResponseAnalysis.response_id)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .group_by(Invitation.campaign_id)
    )
    if campaign_id is not None:
        query = query.where(Invitation.campaign_id == campaign_id)
    return {campaign: count for campaign, count in db.session.execute(query)}


def _category_counts(pairs: Iterable[tuple[str, int]]) -> str:
    ordered = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
    return LIST_SEPARATOR.join(f"{category}:{count}" for category, count in ordered)


def item_rows(options: ExportOptions) -> Iterator[tuple[Cell, ...]]:
    """Yield the items export's rows, in the order of ITEM_COLUMNS."""
    # Counts are held per promised item (a campaign's catalogue), never per response.
    mentions, reports, categories = _item_counts(options.campaign_id)
    respondents = _respondents(options.campaign_id)
    query = (
        select(PromisedItem.id, PromisedItem.campaign_id, Campaign.key, PromisedItem.kind, PromisedItem.label,
               PromisedItem.city)
        .join(Campaign, Campaign.id == PromisedItem.campaign_id)
        .order_by(Campaign.key, PromisedItem.position, PromisedItem.id)
    )
    if options.campaign_id is not None:
        query = query.where(PromisedItem.campaign_id == options.campaign_id)
    for item_id, campaign_id, key, kind, label, city in _stream(query, options.batch_size):
        n = respondents.get(campaign_id, 0)
        failed = reports.get(item_id, 0)
        share: float | None = None
        low: float | None = None
        high: float | None = None
        if n:
            interval = wilson_interval(failed, n)
            share, low, high = failed / n, interval.low, interval.high
        yield (key, kind, label, city, mentions.get(item_id, 0), failed, n, share, low, high,
               _category_counts(categories.get(item_id, ())))


def export_items(options: ExportOptions) -> Iterator[str]:
    """Yield the items export as CSV text chunks."""
    return iter_csv(ITEM_COLUMNS, item_rows(options), options.fmt, options.batch_size)


EXPORTS = {"responses": export_responses, "campaigns": export_campaigns, "items": export_items}


def export(kind: str, options: ExportOptions) -> Iterator[str]:
    """Yield the named export (responses, campaigns or items) as CSV text chunks."""
    if kind not in EXPORTS:
        raise ExportError(f"no export named {kind!r}; choose one of {', '.join(EXPORT_KINDS)}")
    return EXPORTS[kind](options)
