"""Campaign verdicts from hand-built analyses of one campaign's answers."""

from __future__ import annotations

import json

import pytest

from survey_app.analysis.stats import wilson_interval
from survey_app.analysis.types import CommentAnalysis, Finding, ItemMention, PromisedItem, Sentiment
from survey_app.analysis.verdict import SEVERITIES, Baseline, campaign_verdict

ZUID = PromisedItem("location", "Amsterdam Zuid", city="Amsterdam", key=11)
CS = PromisedItem("location", "Utrecht CS", city="Utrecht", key=12)
WEEKEND = PromisedItem("offer", "Gratis weekenddag", key=13)


def answer(
    score: int | None,
    *findings: Finding,
    text: str = "De vestiging was gesloten toen we de auto kwamen ophalen.",
    mentions: tuple[PromisedItem, ...] = (),
) -> CommentAnalysis:
    return CommentAnalysis(
        text=text,
        language="nl",
        score=score,
        sentiment=Sentiment(0.0, 0.0, "test"),
        findings=findings,
        item_mentions=tuple(ItemMention(item, (0, 4), item.label, 1.0) for item in mentions),
        keywords=(),
        analyzer_version="test",
    )


def closed(item: PromisedItem | None, confidence: float = 0.9, span: tuple[int, int] = (3, 12)) -> Finding:
    return Finding("closed_location", item, span, confidence)


def reporting(count: int, item: PromisedItem | None = None, score: int = 3) -> list[CommentAnalysis]:
    return [answer(score, closed(item)) for _ in range(count)]


def content(count: int, score: int = 9) -> list[CommentAnalysis]:
    return [answer(score, text="Prima geregeld.") for _ in range(count)]


def test_car_rental_with_closed_locations_is_flagged_and_names_the_locations() -> None:
    analyses = reporting(5, ZUID) + reporting(4, CS) + content(31)
    verdict = campaign_verdict(analyses, promised_items=(ZUID, CS, WEEKEND))
    assert verdict.flagged
    assert (verdict.n_respondents, verdict.n_broken) == (40, 9)
    assert verdict.interval.low > 0.10
    assert verdict.reasons[0] == (
        "9 of 40 respondents (22%, 95% CI 12%-38%) reported a broken promise, above the 10% threshold."
    )
    text = " ".join(verdict.reasons)
    assert "Amsterdam Zuid: 5 reports of closed_location" in text
    assert "Utrecht CS: 4 reports of closed_location" in text
    assert "Gratis weekenddag" not in text
    assert [r.item for r in verdict.items] == [ZUID, CS]
    assert [r.reports for r in verdict.items] == [5, 4]
    assert dict(verdict.categories) == {"closed_location": 9}


def test_healthy_campaign_is_not_flagged() -> None:
    verdict = campaign_verdict(reporting(1, ZUID) + content(39))
    assert not verdict.flagged
    assert verdict.severity == "none"
    assert "not above the 10% threshold" in verdict.reasons[0]
    assert not any("Amsterdam Zuid" in reason for reason in verdict.reasons)


def test_too_few_respondents_is_not_flagged_and_says_why() -> None:
    verdict = campaign_verdict(reporting(3, ZUID))
    assert not verdict.flagged
    assert verdict.severity == "none"
    assert verdict.reasons[0] == "Only 3 respondents; at least 5 are needed for a verdict."
    assert not verdict.items[0].flagged


def test_no_respondents_at_all() -> None:
    verdict = campaign_verdict([])
    assert not verdict.flagged
    assert verdict.n_respondents == 0
    assert verdict.reasons == ("No respondents; at least 5 are needed for a verdict.",)
    assert verdict.quotes == ()


def test_respondents_without_a_comment_still_count_in_n() -> None:
    silent = [answer(8, text="") for _ in range(20)]
    verdict = campaign_verdict(reporting(4) + silent)
    assert verdict.n_respondents == 24
    assert verdict.share == pytest.approx(4 / 24)


def test_the_lower_bound_decides_not_the_point_estimate() -> None:
    # 7 of 40 is 17.5%, well above 10%, but its Wilson lower bound (8.7%) is not.
    below = campaign_verdict(reporting(7) + content(33))
    assert below.share > 0.10
    assert below.interval.low < 0.10
    assert not below.flagged
    assert "could be chance" in below.reasons[0]
    # 8 of 40: lower bound 10.5%, just above.
    above = campaign_verdict(reporting(8) + content(32))
    assert above.interval.low > 0.10
    assert above.flagged


def test_a_lower_bound_equal_to_the_threshold_is_not_above_it() -> None:
    analyses = reporting(8) + content(32)
    bound = wilson_interval(8, 40).low
    assert not campaign_verdict(analyses, threshold=bound).flagged
    assert campaign_verdict(analyses, threshold=bound - 1e-9).flagged


def test_one_item_concentrating_reports_flags_when_the_overall_bound_does_not() -> None:
    # 6 of 40 (15%): overall lower bound 7.1% is below the 10% threshold, but all six name
    # Amsterdam Zuid, and 7.1% is above the default item threshold of 5%.
    analyses = reporting(6, ZUID) + content(34)
    verdict = campaign_verdict(analyses, promised_items=(ZUID, CS))
    assert verdict.interval.low < 0.10
    assert verdict.flagged
    assert verdict.severity == "low"
    assert verdict.items[0].item == ZUID and verdict.items[0].flagged
    assert any(r.startswith("Amsterdam Zuid: 6 reports of closed_location") and "item threshold" in r for r in verdict.reasons)
    # The same reports spread over items with no item in common do not flag.
    spread = campaign_verdict(reporting(6) + content(34))
    assert not spread.flagged
    # Holding items to the overall threshold switches the item rule off.
    assert not campaign_verdict(analyses, item_threshold=0.10).flagged


def test_an_item_needs_item_min_reports() -> None:
    # 2 of 10 on one item: lower bound 5.7% > 5%, but fewer than 3 reports.
    analyses = reporting(2, ZUID) + content(8)
    assert not campaign_verdict(analyses).flagged
    assert campaign_verdict(analyses, item_min_reports=2).flagged


def test_items_match_by_value_not_by_key() -> None:
    same_place_other_key = PromisedItem("location", "Amsterdam Zuid", city="Amsterdam", key="elsewhere")
    verdict = campaign_verdict(reporting(3, ZUID) + reporting(3, same_place_other_key) + content(4))
    assert len(verdict.items) == 1
    assert verdict.items[0].reports == 6


def test_item_mentions_and_reports_count_each_respondent_once() -> None:
    twice = answer(2, closed(ZUID), closed(ZUID, span=(20, 30)), mentions=(ZUID,))
    only_named = answer(9, text="Zuid was prima.", mentions=(ZUID,))
    verdict = campaign_verdict([twice, only_named] + content(3))
    report = verdict.items[0]
    assert (report.mentions, report.reports) == (2, 1)
    assert report.share == pytest.approx(1 / 5)


def test_quotes_are_capped_come_from_findings_and_prefer_confident_diverse_detractors() -> None:
    analyses = (
        [answer(9, closed(ZUID, confidence=0.95), text=f"promoter {i}: Zuid dicht") for i in range(3)]
        + [answer(1, closed(ZUID, confidence=0.95), text=f"detractor {i}: Zuid dicht") for i in range(3)]
        + [answer(4, closed(CS, confidence=0.6), text="CS was ook dicht")]
        + [answer(2, Finding("offer_not_honoured", WEEKEND, (0, 5), 0.3), text="geen gratis dag")]
        + content(10)
    )
    findings = {(a.text, f.span, f.category, f.item) for a in analyses for f in a.findings}
    verdict = campaign_verdict(analyses, max_quotes=3)
    assert len(verdict.quotes) == 3
    assert all((q.text, q.span, q.category, q.item) in findings for q in verdict.quotes)
    # Most confident first, a detractor before an equally confident promoter, then other items.
    assert verdict.quotes[0].text.startswith("detractor")
    assert [q.item for q in verdict.quotes] == [ZUID, CS, WEEKEND]
    assert len(campaign_verdict(analyses, max_quotes=8).quotes) == 8
    assert campaign_verdict(analyses, max_quotes=0).quotes == ()


def test_quote_excerpt_is_the_finding_span() -> None:
    verdict = campaign_verdict([answer(2, closed(ZUID, span=(3, 12)))] + content(4))
    assert verdict.quotes[0].excerpt == "vestiging"
    assert verdict.quotes[0].score == 2


def test_severity_grows_with_the_evidence() -> None:
    none = campaign_verdict(content(40))
    low = campaign_verdict(reporting(6, ZUID) + content(34))
    medium = campaign_verdict(reporting(8) + content(32))
    high = campaign_verdict(reporting(20) + content(20))
    assert [v.severity for v in (none, low, medium, high)] == ["none", "low", "medium", "high"]
    order = [SEVERITIES.index(v.severity) for v in (none, low, medium, high)]
    assert order == sorted(order) and len(set(order)) == 4


def test_baseline_adds_a_comparison_to_the_reasons() -> None:
    verdict = campaign_verdict(reporting(10, ZUID) + content(30), baseline=Baseline(400, 20))
    assert verdict.comparison is not None
    assert verdict.comparison.difference == pytest.approx(0.25 - 0.05)
    assert verdict.comparison.p_value is not None and verdict.comparison.p_value < 0.001
    assert verdict.reasons[-1].startswith(
        "Compared with other campaigns (20 of 400 respondents, 5%): 20 percentage points higher"
    )
    assert verdict.reasons[-1].endswith("p < 0.001).")
    assert campaign_verdict(content(10)).comparison is None


def test_baseline_must_be_consistent() -> None:
    with pytest.raises(ValueError):
        Baseline(respondents=5, broken=6)


def test_categories_count_respondents() -> None:
    both = answer(2, closed(ZUID), Finding("offer_not_honoured", WEEKEND, (0, 3), 0.8))
    verdict = campaign_verdict([both, both] + reporting(1, CS) + content(2))
    assert verdict.categories == (("closed_location", 3), ("offer_not_honoured", 2))


def test_to_dict_is_json_ready_with_items_by_label() -> None:
    verdict = campaign_verdict(reporting(5, ZUID) + reporting(4, CS) + content(31), baseline=Baseline(100, 5))
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["flagged"] is True
    assert data["severity"] == verdict.severity
    assert [item["item"] for item in data["items"]] == ["Amsterdam Zuid", "Utrecht CS"]
    assert data["items"][0]["categories"] == {"closed_location": 5}
    assert data["quotes"][0]["item"] == "Amsterdam Zuid"
    assert data["reasons"] == list(verdict.reasons)
    assert data["comparison"]["baseline_broken"] == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 1.0}, {"threshold": -0.1}, {"min_respondents": -1}, {"item_min_reports": 0}, {"max_quotes": -1}, {"confidence": 1.0}],
)
def test_invalid_configuration_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        campaign_verdict(content(5), **kwargs)  # type: ignore[arg-type]
