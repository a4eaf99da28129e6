"""Per-comment keywords: lemmas without stop words, negators and words like "open" kept."""

from __future__ import annotations

from survey_app.analysis import analyze_comment


def test_keywords_are_lemmas_without_stop_words() -> None:
    keywords = analyze_comment("De vestigingen waren gesloten", language="nl").keywords
    assert "vestiging" in keywords
    assert "sluiten" in keywords
    assert "de" not in keywords


def test_dutch_negators_and_open_are_kept() -> None:
    keywords = analyze_comment("De winkel was niet open en er was geen personeel", language="nl").keywords
    assert "niet" in keywords and "geen" in keywords and "open" in keywords


def test_english_negators_and_good_are_kept() -> None:
    keywords = analyze_comment("The code didn't work, never good, no discount", language="en").keywords
    assert {"not", "never", "no", "good", "code", "discount"} <= set(keywords)
    assert "the" not in keywords
