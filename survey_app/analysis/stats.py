"""Proportions, Net Promoter Scores and their confidence intervals, standard library only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral
from statistics import NormalDist

__all__ = [
    "Interval",
    "NPSSummary",
    "Proportion",
    "ProportionComparison",
    "compare_proportions",
    "nps_summary",
    "wilson_interval",
    "z_for_confidence",
]

# Rocks (2016) / MeasuringU adjusted-Wald: 3/4 pseudo-promoter, 3/2 pseudo-passives, 3/4 pseudo-detractor.
_PSEUDO_PROMOTERS = 0.75
_PSEUDO_DETRACTORS = 0.75
_PSEUDO_TOTAL = 3.0


@dataclass(frozen=True)
class Interval:
    """A closed confidence interval [low, high]."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def width(self) -> float:
        """Return high minus low."""
        return self.high - self.low


@dataclass(frozen=True)
class Proportion:
    """A count out of n, its share (0..1) and the share's Wilson interval."""

    count: int
    n: int
    share: float
    interval: Interval


@dataclass(frozen=True)
class NPSSummary:
    """Counts, shares and the Net Promoter Score (-100..100) of a set of 0-10 scores.

    With no scores, ``nps`` is None and ``nps_interval`` spans the whole scale (-100, 100).
    """

    n: int
    detractors: Proportion
    passives: Proportion
    promoters: Proportion
    nps: float | None
    nps_interval: Interval
    confidence: float


@dataclass(frozen=True)
class ProportionComparison:
    """Difference p1 - p2 of two independent proportions, its interval and a two-sided p-value.

    ``p_value`` is None when the pooled test is undefined (an empty group, or both groups
    all-or-nothing so the pooled variance is zero).
    """

    share_1: float
    share_2: float
    difference: float
    interval: Interval
    p_value: float | None
    confidence: float


def z_for_confidence(confidence: float) -> float:
    """Return the two-sided standard-normal quantile for a confidence level in (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise TypeError(f"confidence must be a number, not {type(confidence).__name__}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_count(name: str, value: object) -> int:
    # bool is an int subclass; True as a count is always a caller's bug.
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return int(value)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Return the Wilson score interval (no continuity correction) for successes out of n.

    With n == 0 nothing is known and the interval is the whole range (0.0, 1.0).
    """
    successes = _check_count("successes", successes)
    n = _check_count("n", n)
    if successes > n:
        raise ValueError(f"successes ({successes}) must not exceed n ({n})")
    z = z_for_confidence(confidence)
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    # Rounding can leave -1e-17 or 1+1e-16 at the extremes, where the exact limit is 0 or 1.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return Interval(low, high)


def _proportion(count: int, n: int, confidence: float) -> Proportion:
    share = count / n if n else 0.0
    return Proportion(count, n, share, wilson_interval(count, n, confidence))


def _check_score(score: object) -> int:
    if isinstance(score, bool) or not isinstance(score, Integral):
        raise TypeError(f"an NPS score must be an integer 0-10, not {type(score).__name__}")
    value = int(score)
    if not 0 <= value <= 10:
        raise ValueError(f"an NPS score must lie in 0..10, got {value}")
    return value


def nps_summary(scores: Iterable[int], confidence: float = 0.95) -> NPSSummary:
    """Summarise 0-10 scores as detractors, passives, promoters and an NPS with its interval.

    The NPS interval is the adjusted-Wald interval of Rocks (2016), as presented by
    MeasuringU: add 3/4 of a promoter, 3/4 of a detractor and 3/2 passives, then use the
    Wald variance of a difference of two proportions from one multinomial sample, clip to
    [-1, 1] and scale by 100. Booleans and non-integers raise TypeError; integers outside
    0..10 raise ValueError.
    """
    z = z_for_confidence(confidence)
    detractors = passives = promoters = 0
    for raw in scores:
        score = _check_score(raw)
        if score <= 6:
            detractors += 1
        elif score <= 8:
            passives += 1
        else:
            promoters += 1
    n = detractors + passives + promoters

    if n == 0:
        nps: float | None = None
        nps_interval = Interval(-100.0, 100.0)
    else:
        nps = 100.0 * (promoters - detractors) / n
        n_adj = n + _PSEUDO_TOTAL
        p_pro = (promoters + _PSEUDO_PROMOTERS) / n_adj
        p_det = (detractors + _PSEUDO_DETRACTORS) / n_adj
        nps_adj = p_pro - p_det
        variance = (p_pro + p_det - nps_adj * nps_adj) / n_adj
        margin = z * math.sqrt(variance)
        nps_interval = Interval(
            100.0 * max(-1.0, nps_adj - margin),
            100.0 * min(1.0, nps_adj + margin),
        )

    return NPSSummary(
        n=n,
        detractors=_proportion(detractors, n, confidence),
        passives=_proportion(passives, n, confidence),
        promoters=_proportion(promoters, n, confidence),
        nps=nps,
        nps_interval=nps_interval,
        confidence=confidence,
    )


def compare_proportions(
    successes_1: int, n_1: int, successes_2: int, n_2: int, confidence: float = 0.95
) -> ProportionComparison:
    """Compare two independent proportions: difference, Newcombe interval, pooled z-test p-value.

    The interval is Newcombe's (1998) hybrid score interval (his method 10), built from the
    two Wilson intervals, so it stays inside [-1, 1] and behaves at 0% and 100%. With an
    empty group the difference is 0.0, the interval (-1, 1) and the p-value None.
    """
    successes_1 = _check_count("successes_1", successes_1)
    n_1 = _check_count("n_1", n_1)
    successes_2 = _check_count("successes_2", successes_2)
    n_2 = _check_count("n_2", n_2)
    if successes_1 > n_1 or successes_2 > n_2:
        raise ValueError("successes must not exceed n in either group")
    z_for_confidence(confidence)
    if n_1 == 0 or n_2 == 0:
        share_1 = successes_1 / n_1 if n_1 else 0.0
        share_2 = successes_2 / n_2 if n_2 else 0.0
        return ProportionComparison(share_1, share_2, 0.0, Interval(-1.0, 1.0), None, confidence)

    p1 = successes_1 / n_1
    p2 = successes_2 / n_2
    w1 = wilson_interval(successes_1, n_1, confidence)
    w2 = wilson_interval(successes_2, n_2, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    high = difference + math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)

    pooled = (successes_1 + successes_2) / (n_1 + n_2)
    standard_error = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_1 + 1.0 / n_2))
    p_value: float | None
    if standard_error == 0.0:
        p_value = None
    else:
        p_value = 2.0 * (1.0 - NormalDist().cdf(abs(difference) / standard_error))
    return ProportionComparison(
        p1, p2, difference, Interval(max(-1.0, low), min(1.0, high)), p_value, confidence
    )
