"""Promised-item matching: aliases, typos, near-duplicates, bare cities, spans."""

from __future__ import annotations

import pytest

from survey_app.analysis import PromisedItem, analyze_comment

UTRECHT = PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS", "Utrecht C.S."), city="Utrecht")
ZUID = PromisedItem(kind="location", label="Amsterdam Zuid", aliases=("A'dam Zuid", "Amsterdam South", "Zuidas"), city="Amsterdam")
NOORD = PromisedItem(kind="location", label="Amsterdam Noord", aliases=("A'dam Noord", "Amsterdam North"), city="Amsterdam")
AIRFRYER = PromisedItem(kind="product", label="Philips Airfryer XL", aliases=("airfryer", "Airfryer XL"))
PRICE = PromisedItem(kind="price", label="89 euro", aliases=("€89", "89,-"), promised_value="89.00")
ITEMS = [UTRECHT, ZUID, NOORD, AIRFRYER, PRICE]


def mentioned(text: str) -> list[PromisedItem | None]:
    return [m.item for m in analyze_comment(text, language="nl", promised_items=ITEMS).item_mentions]


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("Ik was bij Utrecht Centraal", UTRECHT),
        ("Ik was bij Utrecht CS", UTRECHT),
        ("Ik was bij Utrecht C.S.", UTRECHT),
        ("Ik was bij utrecht cs", UTRECHT),
        ("Ik was bij Utrecht Cantraal", UTRECHT),  # typo
        ("A'dam Zuid was dicht", ZUID),
        ("Amsterdam South was closed", ZUID),
        ("De Zuidas was dicht", ZUID),
        ("de airfyer was weg", AIRFRYER),  # typo
        ("voor €89 gekocht", PRICE),
        ("voor 89,- gekocht", PRICE),
    ],
)
def test_aliases_abbreviations_and_typos_match(text: str, item: PromisedItem) -> None:
    assert mentioned(text) == [item]


def test_zuid_and_noord_are_told_apart() -> None:
    assert mentioned("Amsterdam Noord was dicht") == [NOORD]
    assert mentioned("Amsterdam Zuid was dicht") == [ZUID]
    assert mentioned("Eerst Amsterdam Noord, toen Amsterdam Zuid") == [NOORD, ZUID]


def test_a_bare_city_with_two_branches_is_not_guessed() -> None:
    result = analyze_comment("De vestiging in Amsterdam was dicht", language="nl", promised_items=ITEMS)
    (mention,) = result.item_mentions
    assert mention.item is None
    assert mention.city == "Amsterdam"
    assert result.findings[0].item is None


def test_mention_span_points_at_the_matched_text() -> None:
    text = "Gisteren   bij Utrecht  CS geweest"
    (mention,) = analyze_comment(text, language="nl", promised_items=ITEMS).item_mentions
    start, end = mention.span
    assert text[start:end] == "Utrecht  CS"
    assert mention.matched_text == "Utrecht  CS"
    assert 0.85 <= mention.similarity <= 1.0


def test_unrelated_words_match_nothing() -> None:
    assert mentioned("De medewerker was heel vriendelijk") == []


def test_mentions_are_reported_whether_or_not_anything_broke() -> None:
    result = analyze_comment("Utrecht CS was prima", language="nl", promised_items=ITEMS)
    assert not result.broken_promise
    assert [m.item for m in result.item_mentions] == [UTRECHT]


def test_a_city_known_only_from_the_items_is_still_a_city() -> None:
    maastricht_a = PromisedItem(kind="location", label="Maastricht Noord", city="Maastricht")
    maastricht_b = PromisedItem(kind="location", label="Maastricht Zuid", city="Maastricht")
    result = analyze_comment("In Maastricht was alles dicht", language="nl", promised_items=[maastricht_a, maastricht_b])
    assert [(m.item, m.city) for m in result.item_mentions] == [(None, "Maastricht")]


def test_a_bare_city_with_a_single_branch_names_that_branch() -> None:
    assert mentioned("In Utrecht was het druk") == [UTRECHT]


def test_letters_left_out_of_a_branch_name_still_match_that_branch_only() -> None:
    assert mentioned("Amsterdam Sth was dicht") == [ZUID]
    assert mentioned("Amsterdam Nrd was dicht") == [NOORD]


def test_ordinals_written_with_digits_match_their_word_or_day() -> None:
    second_free = PromisedItem(kind="offer", label="2 halen 1 betalen", aliases=("tweede gratis",))
    deadline = PromisedItem(kind="date", label="30 June", aliases=("June 30",))
    found = analyze_comment("de 2e gratis kreeg ik niet", language="nl", promised_items=[second_free])
    assert [m.item for m in found.item_mentions] == [second_free]
    found = analyze_comment("the mail said book before June 30th", language="en", promised_items=[deadline])
    assert [m.item for m in found.item_mentions] == [deadline]


def test_a_word_does_not_match_a_code_that_differs_by_its_digits() -> None:
    code = PromisedItem(kind="offer", label="WEEKEND20", aliases=("weekend code",))
    model = PromisedItem(kind="product", label="SM700")
    assert analyze_comment("weekend verpest", language="nl", promised_items=[code]).item_mentions == ()
    assert [m.item for m in analyze_comment("wkend20 was refused", language="en",
                                            promised_items=[code]).item_mentions] == [code]
    assert analyze_comment("they sent the SM500", language="en", promised_items=[model]).item_mentions == ()


def test_the_glue_length_bound_never_rejects_a_window_that_reaches_the_bar() -> None:
    import random

    from rapidfuzz import fuzz

    from survey_app.analysis.items import _GLUE_BAR, _Alias, _can_reach_ratio

    rng = random.Random(7)
    reached = 0
    for _ in range(5000):
        wanted = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 16)))
        seen = list(wanted)
        for _edit in range(rng.randint(0, 3)):
            position = rng.randint(0, len(seen))
            if rng.random() < 0.5:
                seen.insert(position, rng.choice("abcdefgh"))
            elif seen:
                del seen[min(position, len(seen) - 1)]
        window = "".join(seen)
        if fuzz.ratio(window, wanted) >= _GLUE_BAR:
            reached += 1
            assert _can_reach_ratio(len(window), len(wanted), _GLUE_BAR), (window, wanted)
            assert len(window) in _Alias(UTRECHT, (wanted,)).glue_lengths, (window, wanted)
    assert reached > 500


def _random_edit(rng, word: str, letters: str) -> str:
    seen = list(word)
    for _edit in range(rng.randint(0, 3)):
        position = rng.randint(0, len(seen))
        choice = rng.random()
        if choice < 0.4:
            seen.insert(position, rng.choice(letters))
        elif choice < 0.7 and seen:
            del seen[min(position, len(seen) - 1)]
        elif len(seen) >= 2:
            position = min(position, len(seen) - 2)
            seen[position], seen[position + 1] = seen[position + 1], seen[position]
    return "".join(seen)


def test_the_word_plan_bounds_never_reject_a_glued_window_or_pair_that_reaches_the_bar() -> None:
    # A word plan drops glued windows and glued pairs that cannot reach their bar whatever
    # words follow the first one: check that on near misses of random targets.
    import random

    from rapidfuzz import fuzz

    from survey_app.analysis.items import (
        _GLUE_BAR,
        _PAIR_GLUE_BAR,
        _Alias,
        _glued_window_can_reach,
        _pair_next_lengths,
        token_similarity,
    )

    rng = random.Random(11)
    letters = "abcdefgh12"
    windows = pairs = 0
    for _ in range(4000):
        wanted = "".join(rng.choice(letters) for _ in range(rng.randint(5, 16)))
        seen = _random_edit(rng, wanted, letters)
        if len(seen) < 2:
            continue
        cut = rng.randint(1, len(seen) - 1)
        first, rest = seen[:cut], seen[cut:]
        alias = _Alias(UTRECHT, (wanted,))
        if len(seen) in alias.glue_lengths and fuzz.ratio(seen, wanted) >= _GLUE_BAR:
            windows += 1
            assert _glued_window_can_reach(first, alias), (first, rest, wanted)
        if token_similarity(seen, wanted) >= _PAIR_GLUE_BAR:
            pairs += 1
            assert len(rest) in _pair_next_lengths(first, wanted, _PAIR_GLUE_BAR), (first, rest, wanted)
    assert windows > 500 and pairs > 500


def test_remembered_canonical_forms_equal_canonical() -> None:
    # find_mentions reads canonical forms from a per-(text, kind) memo.
    from survey_app.analysis.items import _CANONICAL_FORMS, _remember_canonical, canonical

    for text, kind in [("C.S.", "abbr"), ("€89,-", "money"), ("89,00", "number"), ("3rd", "word"),
                       ("21:00", "number"), ("auto's", "word"), ("Next-Day", "word"), ("20%", "money")]:
        assert _remember_canonical(text, kind) == canonical(text, kind)
        assert _CANONICAL_FORMS[(text, kind)] == canonical(text, kind)


def test_the_last_campaigns_index_is_reused_only_for_the_same_item_objects() -> None:
    from survey_app.analysis.items import _campaign_index, _item_index

    first = (PromisedItem(kind="location", label="Utrecht Centraal", key=1),)
    same_fields_other_key = (PromisedItem(kind="location", label="Utrecht Centraal", key=2),)
    index = _campaign_index(first)
    assert _campaign_index(first) is index
    assert _campaign_index(tuple(first)) is index
    other = _campaign_index(same_fields_other_key)
    assert other is _item_index(same_fields_other_key, (2,)) and other is not index
    assert _campaign_index(first) is index  # back to the first campaign: the lru cache's entry
