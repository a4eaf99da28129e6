"""Terms that set one group of comments apart from another, by log-odds with a Dirichlet prior."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from survey_app.analysis.types import CommentAnalysis

__all__ = ["DistinctiveTerm", "Tokens", "compare_terms", "distinctive_terms"]

Tokens = Sequence[str]
"""One comment as its tokens (lemmas), when no CommentAnalysis is at hand."""



@dataclass(frozen=True)
class DistinctiveTerm:
    """A term's counts in both groups, its log-odds ratio (delta) and delta's z-score."""

    term: str
    count_group: int
    count_reference: int
    log_odds: float
    z: float


def _comment_terms(item: CommentAnalysis | Tokens, language: str | None) -> set[str] | None:
    if isinstance(item, CommentAnalysis):
        if language is not None and item.language != language:
            return None
        tokens: Iterable[str] = item.keywords
    elif isinstance(item, str):
        # A bare string is a sequence of characters; counting letters is never what was meant.
        raise TypeError("pass a comment's tokens (a sequence of str), not a single str")
    else:
        tokens = item
    # A set: one angry respondent repeating a word ten times is still one respondent's word.
    return {token for token in tokens if token}


def _count(items: Iterable[CommentAnalysis | Tokens], language: str | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        terms = _comment_terms(item, language)
        if terms is not None:
            counts.update(terms)
    return counts


def compare_terms(
    group: Iterable[CommentAnalysis | Tokens],
    reference: Iterable[CommentAnalysis | Tokens],
    *,
    language: str | None = None,
    prior_strength: float | None = None,
    min_count: int = 0,
) -> tuple[DistinctiveTerm, ...]:
    """Score every term of either group by log-odds ratio, positive and negative, by z descending.

    Monroe, Colaresi & Quinn (2008), "Fightin' Words", Political Analysis 16(4), section 3.5:
    with y the counts, n the totals and an informative Dirichlet prior alpha,

        delta_w = log((y_gw + a_w) / (n_g + a_0 - y_gw - a_w))
                - log((y_rw + a_w) / (n_r + a_0 - y_rw - a_w))
        var(delta_w) ~= 1 / (y_gw + a_w) + 1 / (y_rw + a_w),   z_w = delta_w / sqrt(var)

    where the prior a_w is the combined share of w in both groups times a_0 = prior_strength
    (pseudo-tokens); by default a_0 is the combined token count, so the prior weighs as much
    as the data and a_w is simply w's combined count. A term is counted at most once per
    comment. ``min_count`` is the least
    number of comments of ``group`` that must use a term. CommentAnalysis items contribute
    their ``keywords``; with ``language`` set, only CommentAnalysis items in that language
    count, while plain token sequences, which carry no language, always count.
    """
    if prior_strength is not None:
        if isinstance(prior_strength, bool) or not isinstance(prior_strength, (int, float)):
            raise TypeError("prior_strength must be a number or None")
        if not prior_strength > 0 or math.isinf(prior_strength):
            raise ValueError(f"prior_strength must be a positive finite number, got {prior_strength!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
        raise ValueError(f"min_count must be a non-negative integer, got {min_count!r}")

    group_counts = _count(group, language)
    reference_counts = _count(reference, language)
    n_group = sum(group_counts.values())
    n_reference = sum(reference_counts.values())
    n_total = n_group + n_reference
    if n_group == 0 or n_reference == 0:
        # Against nothing (or for nothing) no term can be said to stand out.
        return ()

    # A fixed default would be overwhelming for one small campaign and negligible for a year of
    # answers; tying it to the data keeps the shrinkage comparable across corpus sizes.
    a_0 = float(n_total if prior_strength is None else prior_strength)
    scored: list[DistinctiveTerm] = []
    for term in group_counts.keys() | reference_counts.keys():
        y_g = group_counts[term]
        y_r = reference_counts[term]
        if y_g < min_count:
            continue
        a_w = a_0 * (y_g + y_r) / n_total
        rest_g = n_group + a_0 - y_g - a_w
        rest_r = n_reference + a_0 - y_r - a_w
        if rest_g <= 0 or rest_r <= 0:
            # Only when one term is the whole vocabulary: its odds are infinite on both sides.
            continue
        delta = math.log((y_g + a_w) / rest_g) - math.log((y_r + a_w) / rest_r)
        variance = 1.0 / (y_g + a_w) + 1.0 / (y_r + a_w)
        scored.append(DistinctiveTerm(term, y_g, y_r, delta, delta / math.sqrt(variance)))

    scored.sort(key=lambda t: (-t.z, t.term))
    return tuple(scored)


def distinctive_terms(
    group: Iterable[CommentAnalysis | Tokens],
    reference: Iterable[CommentAnalysis | Tokens],
    *,
    language: str | None = None,
    prior_strength: float | None = None,
    min_count: int = 2,
    limit: int = 20,
) -> tuple[DistinctiveTerm, ...]:
    """Return up to ``limit`` terms over-represented in ``group`` against ``reference``.

    Typical pairs: one campaign's comments against all other campaigns', or detractors'
    comments against promoters'. Only terms with a positive z are returned, highest first;
    see :func:`compare_terms` for the method and the meaning of the arguments. Run it once
    per language: Dutch and English lemmas never share a term, so a mixed corpus mostly
    measures the language mix.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
    scored = compare_terms(
        group, reference, language=language, prior_strength=prior_strength, min_count=min_count
    )
    return tuple(term for term in scored if term.z > 0)[:limit]
