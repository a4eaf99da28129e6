"""Turn one campaign's analysed answers into a broken-promise verdict with its reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from survey_app.analysis.stats import (
    Interval,
    ProportionComparison,
    compare_proportions,
    wilson_interval,
    z_for_confidence,
)
from survey_app.analysis.types import CATEGORIES, CommentAnalysis, Finding, PromisedItem, Span

__all__ = [
    "SEVERITIES",
    "Baseline",
    "CampaignVerdict",
    "EvidenceQuote",
    "ItemReport",
    "Severity",
    "campaign_verdict",
]

Severity = Literal["none", "low", "medium", "high"]
SEVERITIES: tuple[str, ...] = ("none", "low", "medium", "high")
"""Severity levels, mildest first, so ``SEVERITIES.index`` orders them."""

_DETRACTOR_MAX_SCORE = 6
_MAX_ITEM_REASONS = 5


@dataclass(frozen=True)
class Baseline:
    """How often broken promises were reported elsewhere (other campaigns, say)."""

    respondents: int
    broken: int
    label: str = "other campaigns"

    def __post_init__(self) -> None:
        if isinstance(self.respondents, bool) or isinstance(self.broken, bool):
            raise TypeError("baseline counts must be integers")
        if not 0 <= self.broken <= self.respondents:
            raise ValueError("a baseline needs 0 <= broken <= respondents")


@dataclass(frozen=True)
class ItemReport:
    """How many respondents named a promised item, and how many said it failed them."""

    item: PromisedItem
    mentions: int
    reports: int
    share: float
    interval: Interval
    categories: tuple[tuple[str, int], ...]
    flagged: bool

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with the item by its label."""
        return {
            "item": self.item.label,
            "kind": self.item.kind,
            "city": self.item.city,
            "mentions": self.mentions,
            "reports": self.reports,
            "share": self.share,
            "interval": [self.interval.low, self.interval.high],
            "categories": dict(self.categories),
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class EvidenceQuote:
    """One finding as evidence: the whole comment, the span that broke the promise, and context."""

    text: str
    span: Span
    category: str
    item: PromisedItem | None
    score: int | None
    confidence: float

    @property
    def excerpt(self) -> str:
        """Return the part of the comment the finding points at."""
        return self.text[self.span[0] : self.span[1]]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with the item by its label."""
        return {
            "text": self.text,
            "span": [self.span[0], self.span[1]],
            "excerpt": self.excerpt,
            "category": self.category,
            "item": None if self.item is None else self.item.label,
            "score": self.score,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class CampaignVerdict:
    """Whether a campaign broke its promises, how badly, the numbers behind it and why."""

    flagged: bool
    severity: Severity
    n_respondents: int
    n_broken: int
    share: float
    interval: Interval
    threshold: float
    item_threshold: float
    confidence: float
    categories: tuple[tuple[str, int], ...]
    items: tuple[ItemReport, ...]
    quotes: tuple[EvidenceQuote, ...]
    comparison: ProportionComparison | None
    baseline: Baseline | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (items by label) for storing the verdict."""
        comparison: dict[str, object] | None = None
        if self.comparison is not None and self.baseline is not None:
            comparison = {
                "baseline": self.baseline.label,
                "baseline_respondents": self.baseline.respondents,
                "baseline_broken": self.baseline.broken,
                "baseline_share": self.comparison.share_2,
                "difference": self.comparison.difference,
                "interval": [self.comparison.interval.low, self.comparison.interval.high],
                "p_value": self.comparison.p_value,
            }
        return {
            "flagged": self.flagged,
            "severity": self.severity,
            "n_respondents": self.n_respondents,
            "n_broken": self.n_broken,
            "share": self.share,
            "interval": [self.interval.low, self.interval.high],
            "threshold": self.threshold,
            "item_threshold": self.item_threshold,
            "confidence": self.confidence,
            "categories": dict(self.categories),
            "items": [item.to_dict() for item in self.items],
            "quotes": [quote.to_dict() for quote in self.quotes],
            "comparison": comparison,
            "reasons": list(self.reasons),
        }


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _ci(interval: Interval, confidence: float) -> str:
    return f"{confidence:.0%} CI {_percent(interval.low)}-{_percent(interval.high)}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _category_order(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    def rank(category: str) -> int:
        return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)

    return tuple(sorted(counts.items(), key=lambda pair: (-pair[1], rank(pair[0]), pair[0])))


def _item_reports(
    analyses: tuple[CommentAnalysis, ...],
    promised_items: tuple[PromisedItem, ...],
    n: int,
    threshold: float,
    item_min_reports: int,
    min_respondents: int,
    confidence: float,
) -> tuple[ItemReport, ...]:
    mentions: Counter[PromisedItem] = Counter()
    reports: Counter[PromisedItem] = Counter()
    categories: dict[PromisedItem, Counter[str]] = {}
    # First-seen order, catalogue first, so ties come out in a stable, meaningful order.
    order: dict[PromisedItem, int] = {item: i for i, item in enumerate(promised_items)}
    for analysis in analyses:
        named = {m.item for m in analysis.item_mentions if m.item is not None}
        failed: dict[PromisedItem, set[str]] = {}
        for finding in analysis.findings:
            if finding.item is not None:
                failed.setdefault(finding.item, set()).add(finding.category)
        # Each respondent counts once per item, however many sentences repeat the complaint.
        for item in named | failed.keys():
            order.setdefault(item, len(order))
            mentions[item] += 1
        for item, item_categories in failed.items():
            reports[item] += 1
            categories.setdefault(item, Counter()).update(item_categories)

    result = []
    for item in mentions:
        count = reports[item]
        interval = wilson_interval(count, n, confidence)
        flagged = n >= min_respondents and count >= item_min_reports and interval.low > threshold
        result.append(
            ItemReport(
                item=item,
                mentions=mentions[item],
                reports=count,
                share=count / n if n else 0.0,
                interval=interval,
                categories=_category_order(categories.get(item, Counter())),
                flagged=flagged,
            )
        )
    result.sort(key=lambda r: (-r.reports, -r.mentions, order[r.item]))
    return tuple(result)


def _select_quotes(analyses: tuple[CommentAnalysis, ...], max_quotes: int) -> tuple[EvidenceQuote, ...]:
    candidates: list[tuple[tuple[float, int, int, int], int, EvidenceQuote]] = []
    for a_index, analysis in enumerate(analyses):
        if not analysis.text.strip():
            # An erased comment keeps its findings for the counts, but has no words to quote.
            continue
        is_detractor = analysis.score is not None and analysis.score <= _DETRACTOR_MAX_SCORE
        for f_index, finding in enumerate(analysis.findings):
            quote = _quote(analysis, finding)
            # Confident findings first; among equals a detractor's words carry the complaint best.
            key = (-finding.confidence, 0 if is_detractor else 1, a_index, f_index)
            candidates.append((key, a_index, quote))
    candidates.sort(key=lambda c: c[0])

    chosen: list[EvidenceQuote] = []
    used: set[int] = set()
    used_comments: set[int] = set()
    seen_items: set[PromisedItem | None] = set()
    # Pass 1 spreads quotes over items and comments; later passes fill any slots left.
    passes: tuple[Callable[[int, EvidenceQuote], bool], ...] = (
        lambda a, q: a not in used_comments and q.item not in seen_items,
        lambda a, q: a not in used_comments,
        lambda a, q: True,
    )
    for accept in passes:
        for position, (_, a_index, quote) in enumerate(candidates):
            if len(chosen) >= max_quotes:
                return tuple(chosen)
            if position in used or not accept(a_index, quote):
                continue
            used.add(position)
            used_comments.add(a_index)
            seen_items.add(quote.item)
            chosen.append(quote)
    return tuple(chosen)


def _quote(analysis: CommentAnalysis, finding: Finding) -> EvidenceQuote:
    return EvidenceQuote(
        text=analysis.text,
        span=finding.span,
        category=finding.category,
        item=finding.item,
        score=analysis.score,
        confidence=finding.confidence,
    )


def _severity(flagged: bool, overall_low: float, threshold: float, flagged_items: int) -> Severity:
    if not flagged:
        return "none"
    if overall_low >= 2 * threshold or flagged_items >= 3:
        return "high"
    if overall_low > threshold or flagged_items >= 2:
        return "medium"
    return "low"


def campaign_verdict(
    analyses: Iterable[CommentAnalysis],
    *,
    promised_items: Iterable[PromisedItem] = (),
    baseline: Baseline | None = None,
    threshold: float = 0.10,
    item_threshold: float | None = None,
    min_respondents: int = 5,
    item_min_reports: int = 3,
    confidence: float = 0.95,
    max_quotes: int = 5,
) -> CampaignVerdict:
    """Decide whether one campaign broke its promises, from all its respondents' analyses.

    Every respondent counts in n, also those who left no comment (no findings). The
    campaign is flagged when n >= ``min_respondents`` and either the Wilson lower bound of
    the share of respondents reporting a broken promise is above ``threshold``, or some
    promised item has at least ``item_min_reports`` reporting respondents and the Wilson
    lower bound of that count over n is above ``item_threshold`` (default: half of
    ``threshold``). Lower bounds, not point estimates, decide, so a handful of answers
    cannot flag a campaign by chance.

    Why a separate, lower item threshold: an item's reports are a subset of all reports, so
    with the same threshold the item rule could never flag anything the overall rule had
    not; independent respondents naming the same broken item corroborate each other, which
    is what lets a smaller share count.

    Severity: "none" when not flagged; "high" when the overall lower bound is at least twice
    the threshold or three or more items are flagged; "medium" when the overall lower bound
    is above the threshold or two items are flagged; otherwise "low" (a single item flagged
    while the campaign as a whole is not clearly above the threshold).

    Items are matched by PromisedItem equality (``key`` is ignored); ``promised_items`` sets
    the order of ties, and only items that were named or reported appear in ``items``.
    ``baseline`` adds a comparison (difference with Newcombe's interval and a pooled z-test
    p-value) to the reasons without changing the flag. Quotes come from findings: most
    confident first, detractors before others, one per item and comment while possible.
    """
    z_for_confidence(confidence)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError("threshold must be a number")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
    if item_threshold is None:
        item_threshold = threshold / 2
    elif isinstance(item_threshold, bool) or not isinstance(item_threshold, (int, float)):
        raise TypeError("item_threshold must be a number or None")
    elif not 0.0 <= item_threshold < 1.0:
        raise ValueError(f"item_threshold must lie in [0, 1), got {item_threshold!r}")
    min_respondents = _check_int("min_respondents", min_respondents, 0)
    item_min_reports = _check_int("item_min_reports", item_min_reports, 1)
    max_quotes = _check_int("max_quotes", max_quotes, 0)

    answers = tuple(analyses)
    catalogue = tuple(dict.fromkeys(promised_items))
    n = len(answers)
    n_broken = sum(1 for a in answers if a.broken_promise)
    share = n_broken / n if n else 0.0
    interval = wilson_interval(n_broken, n, confidence)
    category_counts: Counter[str] = Counter()
    for a in answers:
        category_counts.update(a.categories)
    categories = _category_order(category_counts)
    items = _item_reports(
        answers, catalogue, n, item_threshold, item_min_reports, min_respondents, confidence
    )
    flagged_items = tuple(r for r in items if r.flagged)
    enough = n >= min_respondents
    overall = enough and interval.low > threshold
    flagged = overall or bool(flagged_items)
    severity = _severity(flagged, interval.low, threshold, len(flagged_items))
    comparison = (
        compare_proportions(n_broken, n, baseline.broken, baseline.respondents, confidence)
        if baseline is not None
        else None
    )

    reasons: list[str] = []
    if not enough:
        who = "No respondents" if n == 0 else f"Only {_plural(n, 'respondent')}"
        reasons.append(f"{who}; at least {min_respondents} are needed for a verdict.")
    if n:
        reasons.append(_share_sentence(n_broken, n, interval, threshold, confidence, enough))
    if categories:
        listed = ", ".join(f"{category} ({count})" for category, count in categories[:3])
        reasons.append(f"Most reported: {listed}.")
    if flagged:
        # Name where it broke: the items a researcher would go and check first.
        reported = [r for r in items if r.reports > 0]
        for report in reported[:_MAX_ITEM_REASONS]:
            reasons.append(_item_sentence(report, item_threshold, confidence))
        if len(reported) > _MAX_ITEM_REASONS:
            reasons.append(f"{len(reported) - _MAX_ITEM_REASONS} more items had reports.")
    if comparison is not None and baseline is not None:
        reasons.append(_baseline_sentence(comparison, baseline, confidence))

    return CampaignVerdict(
        flagged=flagged,
        severity=severity,
        n_respondents=n,
        n_broken=n_broken,
        share=share,
        interval=interval,
        threshold=threshold,
        item_threshold=item_threshold,
        confidence=confidence,
        categories=categories,
        items=items,
        quotes=_select_quotes(answers, max_quotes),
        comparison=comparison,
        baseline=baseline,
        reasons=tuple(reasons),
    )


def _share_sentence(
    n_broken: int, n: int, interval: Interval, threshold: float, confidence: float, enough: bool
) -> str:
    counted = (
        f"{n_broken} of {_plural(n, 'respondent')} ({_percent(n_broken / n)}, "
        f"{_ci(interval, confidence)}) reported a broken promise"
    )
    if not enough:
        return f"{counted}."
    if interval.low > threshold:
        return f"{counted}, above the {_percent(threshold)} threshold."
    if n_broken / n > threshold:
        return (
            f"{counted}; the share is above the {_percent(threshold)} threshold but the lower "
            f"bound of its interval is not, so it could be chance."
        )
    return f"{counted}, not above the {_percent(threshold)} threshold."


def _item_sentence(report: ItemReport, threshold: float, confidence: float) -> str:
    names = [category for category, _ in report.categories]
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    alone = f", above the {_percent(threshold)} item threshold" if report.flagged else ""
    return (
        f"{report.item.label}: {_plural(report.reports, 'report')} of {what}, "
        f"{_percent(report.share)} of respondents ({_ci(report.interval, confidence)}{alone})."
    )


def _baseline_sentence(comparison: ProportionComparison, baseline: Baseline, confidence: float) -> str:
    reference = (
        f"{baseline.label} ({baseline.broken} of {_plural(baseline.respondents, 'respondent')}, "
        f"{_percent(comparison.share_2)})"
    )
    if baseline.respondents == 0:
        return f"No comparison with {baseline.label}: they have no respondents."
    points = comparison.difference * 100
    direction = "higher" if points > 0 else "lower" if points < 0 else "no different"
    size = f"{abs(points):.0f} percentage points {direction}" if points else "no different"
    low, high = comparison.interval.low * 100, comparison.interval.high * 100
    if comparison.p_value is None:
        p_value = ""
    elif comparison.p_value < 0.001:
        p_value = "; p < 0.001"
    else:
        p_value = f"; p = {comparison.p_value:.3f}"
    return (
        f"Compared with {reference}: {size} "
        f"({confidence:.0%} CI {low:+.0f} to {high:+.0f} points{p_value})."
    )
