"""The caller's `key` on a PromisedItem comes back untouched, even for equal-looking items."""

from survey_app.analysis import PromisedItem, analyze_comment


def test_equal_items_of_two_campaigns_keep_their_own_keys():
    first = PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS",), key=1)
    second = PromisedItem(kind="location", label="Utrecht Centraal", aliases=("Utrecht CS",), key=13)
    text = "De vestiging in Utrecht CS was gewoon dicht"
    before = analyze_comment(text, promised_items=[first])
    after = analyze_comment(text, promised_items=[second])
    assert {m.item.key for m in before.item_mentions} == {1}
    assert {m.item.key for m in after.item_mentions} == {13}
    assert all(f.item is None or f.item.key == 13 for f in after.findings)
