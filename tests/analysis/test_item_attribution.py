"""Which promised item a finding names: the item's kind first, then how close it is named."""

from __future__ import annotations

from survey_app.analysis import PromisedItem, analyze_comment
from survey_app.analysis.detector import DetectorConfig

RULES_ONLY = DetectorConfig(use_model=False)

ZUID = PromisedItem(kind="location", label="Amsterdam Zuid", aliases=("A'dam Zuid",), city="Amsterdam")
NOORD = PromisedItem(kind="location", label="Amsterdam Noord", aliases=("A'dam Noord",), city="Amsterdam")
FREE_DAY = PromisedItem(kind="offer", label="Gratis huurdag", aliases=("free day",))
RENTAL = [FREE_DAY, ZUID, NOORD]

FRYER = PromisedItem(kind="product", label="Philips Airfryer XL", aliases=("airfryer",))
ZWOLLE = PromisedItem(kind="location", label="Winkel Zwolle", aliases=("filiaal Zwolle",), city="Zwolle")


def _stock_items(text: str, language: str, items: list[PromisedItem]) -> list[PromisedItem | None]:
    result = analyze_comment(text, language=language, promised_items=items, config=RULES_ONLY)
    return [f.item for f in result.findings if f.category == "out_of_stock"]


def test_a_branch_named_as_a_heading_is_where_the_cars_ran_out() -> None:
    assert _stock_items("Amsterdam Noord: no cars left when I came for my booking", "en", RENTAL) == [NOORD]
    assert _stock_items("A'dam Zuid: alles was al verhuurd", "nl", RENTAL) == [ZUID]


def test_a_heading_carries_over_to_a_later_sentence() -> None:
    items = _stock_items("A'dam Zuid: came at nine. They said there were no cars left.", "en", RENTAL)
    assert items == [ZUID]


def test_a_branch_in_another_clause_of_the_sentence_is_where_the_cars_ran_out() -> None:
    items = _stock_items("Bij Amsterdam Noord aan de balie, 'alles is verhuurd' zeiden ze", "nl", RENTAL)
    assert items == [NOORD]


def test_the_branch_nearest_in_the_sentence_wins_over_a_heading_further_back() -> None:
    items = _stock_items("A'dam Zuid: closed. Then Amsterdam Noord, where there were no cars left", "en", RENTAL)
    assert items == [NOORD]


def test_a_branch_in_an_unrelated_sentence_is_not_blamed_for_a_stock_out() -> None:
    # Without a heading or the same sentence, the branch is not the point of the complaint.
    items = _stock_items("We live near Amsterdam Noord. No cars left on saturday even though I reserved",
                         "en", RENTAL)
    assert items == [None]


def test_a_mid_sentence_colon_is_no_heading_for_the_next_sentence() -> None:
    # "Zuid" here is followed by a comma, not a colon: a later sentence stays unattributed.
    items = _stock_items("I used to rent at A'dam Zuid, always fine. This time: no cars left at all",
                         "en", RENTAL)
    assert items == [None]


def test_a_stock_out_names_the_product_before_the_store_it_ran_out_in() -> None:
    items = _stock_items("Zwolle: de airfryer was om 9 uur al uitverkocht", "nl", [FRYER, ZWOLLE])
    assert items == [FRYER]
