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
    from survey_app.analysis.language import _WORD_RE, _clear_from_function_words

    assert _clear_from_function_words(_WORD_RE.findall(words)) == expected
