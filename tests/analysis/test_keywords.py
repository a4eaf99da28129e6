"""Distinctive terms by log-odds with an informative Dirichlet prior (Monroe et al. 2008)."""

from __future__ import annotations

import math

import pytest

from survey_app.analysis.keywords import DistinctiveTerm, compare_terms, distinctive_terms
from survey_app.analysis.types import CommentAnalysis, Sentiment


def analysis(keywords: tuple[str, ...], language: str = "nl", score: int | None = 3) -> CommentAnalysis:
    return CommentAnalysis(
        text=" ".join(keywords),
        language=language,
        score=score,
        sentiment=Sentiment(0.0, 0.0, "test"),
        findings=(),
        item_mentions=(),
        keywords=keywords,
        analyzer_version="test",
    )


# One campaign whose customers found the branch closed, against campaigns that went fine.
CLOSED = [("vestiging", "dicht", "sluiten")] * 12 + [("medewerker", "vriendelijk")] * 4
FINE = [("medewerker", "vriendelijk")] * 15 + [("auto", "schoon")] * 14 + [("vestiging", "ruim")] * 3


def by_term(terms: tuple[DistinctiveTerm, ...]) -> dict[str, DistinctiveTerm]:
    return {t.term: t for t in terms}


def test_term_frequent_in_group_and_rare_in_reference_ranks_first() -> None:
    terms = distinctive_terms(CLOSED, FINE)
    assert terms[0].term in {"dicht", "sluiten"}
    assert {terms[0].term, terms[1].term} == {"dicht", "sluiten"}
    assert terms[0].z > 1.96
    assert terms[0].count_group == 12
    assert terms[0].count_reference == 0


def test_results_are_sorted_by_z_and_only_positive() -> None:
    terms = distinctive_terms(CLOSED, FINE)
    assert [t.z for t in terms] == sorted((t.z for t in terms), reverse=True)
    assert all(t.z > 0 for t in terms)
    assert "vriendelijk" not in by_term(terms)


def test_swapping_the_groups_flips_the_sign() -> None:
    forward = by_term(compare_terms(CLOSED, FINE))
    backward = by_term(compare_terms(FINE, CLOSED))
    assert forward.keys() == backward.keys()
    for term, scored in forward.items():
        assert backward[term].log_odds == pytest.approx(-scored.log_odds)
        assert backward[term].z == pytest.approx(-scored.z)
    top = distinctive_terms(CLOSED, FINE)[0].term
    assert top not in by_term(distinctive_terms(FINE, CLOSED))


def test_evenly_spread_term_scores_near_zero() -> None:
    # "prijs" is in a third of the comments of both groups, whose sizes differ.
    group = [("prijs", "hoog")] * 5 + [("wachten",)] * 10
    reference = [("prijs", "laag")] * 10 + [("snel",)] * 20
    scored = by_term(compare_terms(group, reference))
    assert abs(scored["prijs"].z) < 0.1
    assert scored["wachten"].z > 1.96


def test_prior_keeps_a_count_one_term_from_topping_the_list() -> None:
    group = [("typo_eenmalig", "dicht")] + [("dicht", "vestiging")] * 6 + [("parkeren",)] * 5
    reference = [("vestiging", "open")] * 10 + [("parkeren", "makkelijk")] * 10
    everything = compare_terms(group, reference, min_count=0)
    assert everything[0].term == "dicht"
    once = by_term(everything)["typo_eenmalig"]
    assert once.count_group == 1 and once.count_reference == 0
    assert once.z < everything[0].z
    assert once.z < 1.96
    # With the default min_count=2 it is not even listed.
    assert "typo_eenmalig" not in by_term(distinctive_terms(group, reference))


def test_log_odds_and_z_follow_the_paper_formula_by_hand() -> None:
    # Group: 2 comments {a, b}, {a, c}; reference: 2 comments {b, c}, {b, d}; prior_strength 8.
    # n_g = 4, n_r = 4, combined a: 2 of 8 -> a_w = 8 * 2/8 = 2.
    # delta = log((2+2)/(4+8-2-2)) - log((0+2)/(4+8-0-2)) = log(4/8) - log(2/10) = log(2.5)
    # var = 1/4 + 1/2 = 0.75; z = log(2.5) / sqrt(0.75)
    scored = by_term(
        compare_terms([("a", "b"), ("a", "c")], [("b", "c"), ("b", "d")], prior_strength=8)
    )
    assert scored["a"].log_odds == pytest.approx(math.log(2.5))
    assert scored["a"].z == pytest.approx(math.log(2.5) / math.sqrt(0.75))


def test_a_term_counts_once_per_comment() -> None:
    scored = by_term(compare_terms([("dicht", "dicht", "dicht")], [("open",)]))
    assert scored["dicht"].count_group == 1


def test_language_filter_keeps_one_language_of_analyses() -> None:
    group = [analysis(("gesloten", "filiaal"), "nl")] * 4 + [analysis(("closed", "branch"), "en")] * 4
    reference = [analysis(("open", "filiaal"), "nl")] * 4 + [analysis(("open", "branch"), "en")] * 4
    dutch = by_term(distinctive_terms(group, reference, language="nl"))
    assert "gesloten" in dutch
    assert "closed" not in dutch
    english = by_term(distinctive_terms(group, reference, language="en"))
    assert "closed" in english
    assert "gesloten" not in english
    both = by_term(distinctive_terms(group, reference))
    assert {"gesloten", "closed"} <= both.keys()


def test_analyses_and_token_sequences_give_the_same_answer() -> None:
    as_analyses = distinctive_terms([analysis(k) for k in CLOSED], [analysis(k) for k in FINE])
    assert as_analyses == distinctive_terms(CLOSED, FINE)


def test_limit_caps_the_list() -> None:
    assert len(distinctive_terms(CLOSED, FINE, limit=1)) == 1
    assert distinctive_terms(CLOSED, FINE, limit=0) == ()


@pytest.mark.parametrize(
    ("group", "reference"),
    [([], []), ([], FINE), (CLOSED, []), ([()], [()])],
)
def test_empty_inputs_give_an_empty_tuple(
    group: list[tuple[str, ...]], reference: list[tuple[str, ...]]
) -> None:
    assert distinctive_terms(group, reference) == ()


def test_language_with_no_comments_gives_an_empty_tuple() -> None:
    assert distinctive_terms([analysis(("dicht",))] * 3, [analysis(("open",))] * 3, language="en") == ()


def test_a_bare_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        distinctive_terms(["vestiging dicht"], FINE)


@pytest.mark.parametrize("strength", [0, -1.0, math.inf])
def test_prior_strength_must_be_positive(strength: float) -> None:
    with pytest.raises(ValueError):
        distinctive_terms(CLOSED, FINE, prior_strength=strength)


def test_default_prior_scales_with_the_data_so_more_evidence_gives_larger_z() -> None:
    once = by_term(distinctive_terms(CLOSED, FINE))["dicht"]
    twice = by_term(distinctive_terms(CLOSED * 2, FINE * 2))["dicht"]
    # Same proportions, twice the respondents: delta is unchanged, its variance halves.
    assert twice.log_odds == pytest.approx(once.log_odds)
    assert twice.z == pytest.approx(once.z * math.sqrt(2))
