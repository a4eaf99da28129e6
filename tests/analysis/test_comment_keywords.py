"""Per-comment keywords: lemmas without stop words, negators and words like "open" kept."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(("text", "language"), [
    ("De kortingscode werkte niet, NIET bij de kassa van Utrecht CS", "nl"),
    ("The code didn't work and I can't say it was OK, not at all", "en"),
])
def test_remembered_keywords_equal_the_word_by_word_rule(text: str, language: str) -> None:
    # comment_keywords remembers each word's keyword per (lower, lemma); this is the rule it replaces.
    from survey_app.analysis.comment import _keep_words, _stop_words, comment_keywords
    from survey_app.analysis.text import normalize, tokenize

    tokens = tokenize(normalize(text), language)
    stop, keep = _stop_words(language), _keep_words(language)
    seen: dict[str, None] = {}
    for token in tokens:
        if not token.is_word:
            continue
        lemma = token.lower if token.lower in keep else "not" if token.lower.endswith("n't") else token.lemma
        if lemma in stop or token.lower in stop or (len(lemma) < 2 and not lemma.isdigit()):
            continue
        seen.setdefault(lemma, None)
    assert comment_keywords(tokens, language) == tuple(seen)
    assert comment_keywords(tokens, language) == tuple(seen)  # and from the memo
