"""The public API: names, frozen results, input validation, version string."""

from __future__ import annotations

import dataclasses

import pytest

import survey_app.analysis as analysis
from survey_app.analysis import (
    ANALYZER_VERSION,
    CATEGORIES,
    CommentAnalysis,
    InvalidInputError,
    PromisedItem,
    analyze_comment,
)


def test_the_example_from_the_issue() -> None:
    item = PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS",))
    result = analyze_comment("De vestiging in Utrecht CS was gewoon dicht", score=None, language=None,
                             promised_items=[item])
    assert isinstance(result, CommentAnalysis)
    assert result.language == "nl"
    assert result.broken_promise
    assert result.findings[0].category == "closed_location"
    assert result.findings[0].item == item
    assert [m.item for m in result.item_mentions] == [item]
    assert "dicht" in result.keywords
    assert result.analyzer_version == ANALYZER_VERSION


def test_results_are_frozen() -> None:
    result = analyze_comment("prima", language="nl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.language = "en"  # type: ignore[misc]


def test_every_category_is_exported() -> None:
    assert set(CATEGORIES) == {
        "closed_location", "offer_not_honoured", "out_of_stock", "price_mismatch",
        "link_or_site_broken", "wrong_information", "other",
    }
    assert {
        "analyze_comment", "PromisedItem", "ANALYZER_VERSION", "CATEGORIES",
        "nps_summary", "distinctive_terms", "campaign_verdict",
    } <= set(analysis.__all__)
    for name in analysis.__all__:
        assert hasattr(analysis, name)


@pytest.mark.parametrize("score", [-1, 11, 3.5, True, "7"])
def test_scores_outside_0_to_10_are_rejected(score: object) -> None:
    with pytest.raises(InvalidInputError):
        analyze_comment("prima", score=score)  # type: ignore[arg-type]


def test_empty_text_is_analysed_without_error() -> None:
    result = analyze_comment("   ", score=7, language="en")
    assert result.language == "en"
    assert not result.broken_promise
    assert result.keywords == ()


def test_analyzer_version_is_a_non_empty_string() -> None:
    assert isinstance(ANALYZER_VERSION, str) and ANALYZER_VERSION


TRICKY = [
    "",
    "👍",
    "...!!!",
    "Ｄｅ　ｖｅｓｔｉｇｉｎｇ　ｗａｓ　ｄｉｃｈｔ",  # full-width letters and ideographic spaces
    "cafe\u0301 in Utrecht CS was\u00a0dicht\t\t!!",
    "👨‍👩‍👧 familie, de winkel was dicht 🙄🙄",
    "the code didn\u2019t work\u2026 at all",
    "ﬁliaal Zwolle: ‘uitverkocht’",
    "a" * 5000 + " dicht",
]


@pytest.mark.parametrize("text", TRICKY)
def test_every_span_indexes_the_original_text(text: str) -> None:
    items = [PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS",))]
    result = analyze_comment(text, promised_items=items)
    for start, end in [f.span for f in result.findings] + [m.span for m in result.item_mentions]:
        assert 0 <= start <= end <= len(text)
    for mention in result.item_mentions:
        assert text[mention.span[0]:mention.span[1]] == mention.matched_text


def test_full_width_text_is_analysed_like_plain_text() -> None:
    result = analyze_comment("Ｄｅ　ｖｅｓｔｉｇｉｎｇ　ｗａｓ　ｄｉｃｈｔ")
    assert result.categories == ("closed_location",)
    start, end = result.findings[0].span
    assert "ｄｉｃｈｔ" in result.text[start:end]


def test_text_must_be_a_string() -> None:
    with pytest.raises(InvalidInputError):
        analyze_comment(None)  # type: ignore[arg-type]
