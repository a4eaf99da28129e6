"""Each language goes to its own Pattern analyzer; analyzers are swappable."""

from __future__ import annotations

import pytest

from survey_app.analysis import analyze_comment
from survey_app.analysis.sentiment import SentimentAnalyzer


def test_english_uses_textblob_pattern_analyzer() -> None:
    result = analyze_comment("The staff were friendly and helpful")
    assert result.language == "en"
    assert result.sentiment.analyzer == "textblob.PatternAnalyzer"
    assert result.sentiment.polarity > 0


def test_dutch_uses_textblob_nl() -> None:
    result = analyze_comment("Het personeel was heel vriendelijk en behulpzaam")
    assert result.language == "nl"
    assert result.sentiment.analyzer == "textblob_nl.PatternAnalyzer"
    assert result.sentiment.polarity > 0


def test_negative_english_is_negative() -> None:
    assert analyze_comment("Terrible service, awful staff").sentiment.polarity < 0


def test_a_negation_in_one_sentence_does_not_flip_the_next() -> None:
    # Scored as a whole, "niet" from the first sentence flips "slecht" (see the project notes).
    result = analyze_comment("De kortingscode werkte niet! Echt slecht.", language="nl")
    assert result.sentiment.polarity < 0


class ConstantAnalyzer:
    name = "constant"

    def analyze(self, text: str) -> tuple[float, float]:
        return (-0.5, 0.5)


def test_a_custom_analyzer_can_be_swapped_in() -> None:
    analyzer = ConstantAnalyzer()
    assert isinstance(analyzer, SentimentAnalyzer)
    result = analyze_comment("Prima", language="nl", sentiment_analyzer=analyzer)
    assert result.sentiment.analyzer == "constant"
    assert result.sentiment.polarity < 0


SENTENCES = [
    ("en", "This is great"), ("en", "Terrible service, awful staff"), ("en", "not bad at all"),
    ("en", "The staff were really helpful. The car was dirty!"), ("en", "code worked but the queue was 40 min. 40!!"),
    ("nl", "Dit is geweldig"), ("nl", "Het personeel was niet vriendelijk"), ("nl", "Echt slecht."),
    ("nl", "De kortingscode werkte niet! Echt slecht."), ("nl", "om 9 uur 's ochtends was het dicht, auto's weg"),
    ("nl", "Het product uit de folder was al uitverkocht."), ("nl", "wachtrij van 40 min. echt verschrikkelijke service"),
]


@pytest.mark.parametrize(("language", "text"), SENTENCES)
def test_fast_loader_scores_equal_the_textblob_analyzers(language: str, text: str) -> None:
    from survey_app.analysis.sentiment import DutchPatternAnalyzer, EnglishPatternAnalyzer, PatternAnalyzer

    official = EnglishPatternAnalyzer() if language == "en" else DutchPatternAnalyzer()
    assert PatternAnalyzer(language).analyze(text) == official.analyze(text)
