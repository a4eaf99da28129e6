"""Statistics checked against published worked figures, and by hand where none were found."""

from __future__ import annotations

import math

import pytest

from survey_app.analysis.stats import (
    Interval,
    compare_proportions,
    nps_summary,
    wilson_interval,
    z_for_confidence,
)

# --- Wilson score interval -------------------------------------------------------------------
#
# Source: R. G. Newcombe (1998), "Two-sided confidence intervals for the single proportion:
# comparison of seven methods", Statistics in Medicine 17, 857-872, Table II, method 3
# (Wilson score interval without continuity correction), 95% intervals printed to 4 decimals.


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998_table_ii(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_empty_sample_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == Interval(0.0, 1.0)


def test_wilson_extremes_touch_the_bounds_exactly() -> None:
    assert wilson_interval(0, 7).low == 0.0
    assert wilson_interval(7, 7).high == 1.0
    assert wilson_interval(7, 7).low > 0.5


def test_wilson_narrows_with_lower_confidence() -> None:
    assert wilson_interval(30, 100, 0.90).width < wilson_interval(30, 100, 0.99).width


@pytest.mark.parametrize(
    ("successes", "n", "error"),
    [
        (5, 4, ValueError),
        (-1, 4, ValueError),
        (1, -4, ValueError),
        (True, 4, TypeError),
        (1.0, 4, TypeError),
    ],
)
def test_wilson_rejects_impossible_counts(successes: object, n: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        wilson_interval(successes, n)  # type: ignore[arg-type]


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, -0.5])
def test_confidence_outside_open_unit_interval_is_rejected(confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence)


def test_z_for_95_percent_is_the_familiar_1_96() -> None:
    assert z_for_confidence(0.95) == pytest.approx(1.959964, abs=1e-6)


# --- Net Promoter Score, adjusted-Wald interval ----------------------------------------------
#
# Method: B. Rocks (2016), "Interval estimation for the Net Promoter Score", The American
# Statistician 70(4), as described by J. Lewis and J. Sauro at MeasuringU ("Confidence
# intervals for Net Promoter Scores"; "Evaluating NPS confidence intervals with real-world
# data", 2021): add 3 to n and 3/4 to both the promoters and the detractors, then use the
# variance of a difference of two proportions from one sample.
#
# No worked example with counts and a published interval could be retrieved while writing this
# test, so the figures below are NOT published figures: they were computed by hand from that
# formula, step by step, and are written out so that anyone can redo them.
#
# 41 promoters, 35 passives, 21 detractors: n = 97, NPS = (41 - 21) / 97 = 20.619
#   n'      = 97 + 3               = 100
#   p'_pro  = (41 + 0.75) / 100    = 0.4175
#   p'_det  = (21 + 0.75) / 100    = 0.2175
#   NPS'    = 0.4175 - 0.2175      = 0.2000
#   Var     = (0.4175 + 0.2175 - 0.2000**2) / 100 = (0.6350 - 0.0400) / 100 = 0.00595
#   SE      = sqrt(0.00595)        = 0.0771362
#   margin  = 1.959964 * 0.0771362 = 0.1511843
#   95% CI  = 0.2000 -/+ 0.1511843 = (0.048816, 0.351184)  ->  (4.88, 35.12) on the NPS scale


def test_nps_adjusted_wald_hand_computed_example() -> None:
    summary = nps_summary([9] * 20 + [10] * 21 + [7] * 15 + [8] * 20 + [0] * 3 + [6] * 18)
    assert summary.n == 97
    assert (summary.promoters.count, summary.passives.count, summary.detractors.count) == (41, 35, 21)
    assert summary.nps == pytest.approx(100 * 20 / 97)
    assert summary.nps_interval.low == pytest.approx(4.8816, abs=1e-3)
    assert summary.nps_interval.high == pytest.approx(35.1184, abs=1e-3)
    # The adjusted interval is centred on NPS' = 20.0, not on the raw 20.6.
    centre = (summary.nps_interval.low + summary.nps_interval.high) / 2
    assert centre == pytest.approx(20.0)


def test_nps_shares_carry_wilson_intervals() -> None:
    summary = nps_summary([10] * 81 + [0] * 182)
    assert summary.promoters.share == pytest.approx(81 / 263)
    # Same counts as Newcombe's 81/263 example above.
    assert summary.promoters.interval.low == pytest.approx(0.2553, abs=5e-5)
    assert summary.promoters.interval.high == pytest.approx(0.3662, abs=5e-5)
    assert summary.passives.count == 0


# All promoters, n = 10, worked by hand:
#   n' = 13, p'_pro = 10.75/13 = 0.826923, p'_det = 0.75/13 = 0.057692, NPS' = 0.769231
#   Var = (0.884615 - 0.591716) / 13 = 0.0225307, margin = 1.959964 * 0.150102 = 0.294194
#   CI = (0.475036, 1.063425) -> the upper limit is clipped to 1, i.e. (47.50, 100).


def test_nps_all_promoters_is_100_and_interval_is_clipped() -> None:
    summary = nps_summary([10] * 10)
    assert summary.nps == 100.0
    assert summary.nps_interval.high == 100.0
    assert summary.nps_interval.low == pytest.approx(47.50, abs=1e-2)
    assert summary.detractors.count == 0


def test_nps_all_detractors_mirrors_all_promoters() -> None:
    promoters = nps_summary([9] * 10)
    detractors = nps_summary([0] * 10)
    assert detractors.nps == -100.0
    assert detractors.nps_interval.low == -100.0
    assert detractors.nps_interval.high == pytest.approx(-promoters.nps_interval.low)


def test_nps_empty_has_no_score_and_a_full_interval() -> None:
    summary = nps_summary([])
    assert summary.n == 0
    assert summary.nps is None
    assert summary.nps_interval == Interval(-100.0, 100.0)
    assert summary.promoters.interval == Interval(0.0, 1.0)


@pytest.mark.parametrize(("score", "group"), [(0, "detractors"), (6, "detractors"), (7, "passives"), (8, "passives"), (9, "promoters"), (10, "promoters")])
def test_nps_group_boundaries(score: int, group: str) -> None:
    summary = nps_summary([score])
    assert getattr(summary, group).count == 1


def test_nps_accepts_any_iterable_once() -> None:
    assert nps_summary(iter([10, 0, 8])).nps == pytest.approx(0.0)


@pytest.mark.parametrize("bad", [-1, 11, 100])
def test_nps_rejects_scores_outside_0_to_10(bad: int) -> None:
    with pytest.raises(ValueError):
        nps_summary([5, bad])


@pytest.mark.parametrize("bad", [True, False, 7.0, "9", None])
def test_nps_rejects_booleans_and_non_integers(bad: object) -> None:
    with pytest.raises(TypeError):
        nps_summary([9, bad])  # type: ignore[list-item]


# --- Two independent proportions --------------------------------------------------------------
#
# Source: R. G. Newcombe (1998), "Interval estimation for the difference between independent
# proportions: comparison of eleven methods", Statistics in Medicine 17, 873-890, Table II,
# method 10 (hybrid score interval from two Wilson intervals), 95% limits to 4 decimals.


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_difference_interval_matches_newcombe_1998_method_10(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    comparison = compare_proportions(x1, n1, x2, n2)
    assert comparison.difference == pytest.approx(x1 / n1 - x2 / n2)
    assert comparison.interval.low == pytest.approx(low, abs=5e-5)
    assert comparison.interval.high == pytest.approx(high, abs=5e-5)


def test_pooled_z_test_p_value_by_hand() -> None:
    # 56/70 vs 48/80: pooled p = 104/150; SE = sqrt(p(1-p)(1/70 + 1/80)); z = 0.2 / SE = 2.6502;
    # two-sided p = 2 * (1 - Phi(2.6502)) = 0.00805.
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert z == pytest.approx(2.6502, abs=1e-4)
    comparison = compare_proportions(56, 70, 48, 80)
    assert comparison.p_value == pytest.approx(0.00805, abs=1e-4)


def test_comparison_with_an_empty_group_has_no_p_value() -> None:
    comparison = compare_proportions(3, 10, 0, 0)
    assert comparison.p_value is None
    assert comparison.interval == Interval(-1.0, 1.0)


def test_comparison_of_two_all_zero_groups_has_no_p_value() -> None:
    assert compare_proportions(0, 10, 0, 20).p_value is None
