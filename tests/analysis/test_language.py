"""Language detection: nl/en only, the survey language wins for very short answers."""

from __future__ import annotations

import pytest

from survey_app.analysis import InvalidInputError, analyze_comment
from survey_app.analysis.language import DEFAULT_LANGUAGE, detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("De kortingscode werkte niet bij het afrekenen", "nl"),
        ("The discount code did not work at checkout", "en"),
        ("alle vestigingen waren dicht", "nl"),
    ],
)
def test_sentences_are_detected(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["prima", "ok", "top service"])
@pytest.mark.parametrize("fallback", ["nl", "en"])
def test_one_or_two_words_follow_the_survey_language(text: str, fallback: str) -> None:
    assert detect_language(text, fallback=fallback) == fallback


def test_a_clear_sentence_overrides_the_survey_language() -> None:
    assert detect_language("The location was closed when we arrived", fallback="nl") == "en"


def test_nothing_known_defaults_to_dutch() -> None:
    assert detect_language("👍👍", fallback=None) == DEFAULT_LANGUAGE == "nl"


def test_unsupported_language_argument_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        analyze_comment("Das Geschäft war geschlossen", language="de")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("de code werkte niet bij het afrekenen", "nl"),
        ("the code did not work at the desk", "en"),
        ("Ontbijt was out of this world, alleen de kamer was wel erg klein", None),  # mixed
        ("doors locked", None),  # "door" is no proof of Dutch
    ],
)
def test_function_words_settle_only_clear_cases(words: str, expected: str | None) -> None:
    from survey_app.analysis.language import _clear_from_function_words

    assert _clear_from_function_words(words)[1] == expected


@pytest.mark.parametrize(
    "text",
    [
        "De DE de code werkte niet bij het afrekenen",
        "THE The the code did not work",
        "de the",
        "de de the",
        "Ontbijt was out of this world, alleen de kamer was wel erg klein",
        "doors locked and the lights off",
        "",
        "prima",
    ],
)
def test_function_words_match_counting_per_language(text: str) -> None:
    # The one-pass count with per-piece and per-word memos gives what ranking each language's count does.
    from survey_app.analysis.language import _WORD_RE, _clear_from_function_words, _function_words

    words = _WORD_RE.findall(text)
    lowered = [w.lower() for w in words]
    counts = sorted(((sum(w in stop for w in lowered), language) for language, stop in _function_words().items()),
                    key=lambda pair: pair[0], reverse=True)
    expected = counts[0][1] if counts[0][0] >= 2 and counts[1][0] == 0 else None
    assert _clear_from_function_words(text) == (len(words), expected)
    assert _clear_from_function_words(text) == (len(words), expected)  # and again, from the memos
