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


# Contractions, abbreviations, quotes, sarcasm marks, emoticons, paragraph breaks, modifiers and
# negations: every branch of Pattern's tokenizer and of its assessments.
TRICKY = [
    "", "   ", "!", "(!)", "( ! )", "great (!)", "I'm not sure it's good :)", "really not good : (",
    "U.S. etc. Mr. Smith said: \"very bad\". 'Quoted' text... really?! Yes!!", "x. B. o.a. bv. zgn. a.u.b.",
    "first paragraph\n\nsecond one\r\nwith a line", "\u201cgreat\u201d and \u2018awful\u2019 <3 xD =] :-/",
    "never ever good, not really bad", "END-OF-SENTENCE good", "a-123", "c_267", "om 9 uur 's ochtends dicht",
    "auto's 'n beetje vies", "niet echt goed!! heel slecht... (!)", "nooit meer, geen goede service :(",
    "very very very good!!!", "not a good day", "really is a good deal", "terribly nice", ":'( sad",
]


@pytest.mark.parametrize("language", ["en", "nl"])
def test_fast_tokenizer_and_scorer_equal_pattern_on_tricky_text(language: str) -> None:
    from survey_app.analysis import _pattern

    engine = _pattern._engine() if language == "en" else _pattern._dutch_modules()[0]
    sentiment = _pattern.english_sentiment() if language == "en" else _pattern.dutch_sentiment()
    scorer = _pattern.english_scorer() if language == "en" else _pattern.dutch_scorer()
    for text in TRICKY:
        assert sentiment.tokenizer(text) == _pattern_find_tokens(language, engine, text), text
        if language == "nl" and engine.RE_SYNSET.match(text):
            # textblob-nl reads such a text as a synset id and raises; ours scores its words.
            with pytest.raises(AttributeError):
                engine.Sentiment.__call__(sentiment, text)
            assert scorer(text) == (0.0, 0.0), text
            continue
        assert scorer(text) == tuple(engine.Sentiment.__call__(sentiment, text)), text


def _pattern_find_tokens(language: str, engine, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What textblob's and textblob_nl's parsers do, calling Pattern's own find_tokens."""
    import re

    from survey_app.analysis import _pattern

    if language == "en":
        return engine.find_tokens(text, punctuation=engine.PUNCTUATION, abbreviations=engine.ABBREVIATIONS,
                                  replace=engine.replacements, linebreak=r"\n{2,}")
    sentences = engine.find_tokens(text, punctuation=engine.PUNCTUATION, abbreviations=_pattern.DUTCH_ABBREVIATIONS,
                                   replace={"'n": " 'n"}, linebreak=r"\n{2,}")
    return [re.sub(r"' s (ochtends|morgens|middags|avonds)", "'s \\1", s) for s in sentences]


@pytest.mark.parametrize("language", ["en", "nl"])
def test_fast_scorer_equals_the_textblob_analyzers_on_random_lexicon_text(language: str) -> None:
    import random

    from survey_app.analysis import _pattern
    from survey_app.analysis.sentiment import DutchPatternAnalyzer, EnglishPatternAnalyzer

    official = EnglishPatternAnalyzer() if language == "en" else DutchPatternAnalyzer()
    sentiment = _pattern.english_sentiment() if language == "en" else _pattern.dutch_sentiment()
    scorer = _pattern.english_scorer() if language == "en" else _pattern.dutch_scorer()
    rng = random.Random(7)
    lexicon = sorted(dict.keys(sentiment))
    extra = ["not", "never", "no", "niet", "geen", "nooit", "very", "really", "heel", "echt", "!", ",", ".", "(!)",
             ":)", ":(", "a", "de", "'s", "n't", "...", "?",
             # Pieces that Pattern glues back across spaces (": )", "( ! )", "' s ochtends").
             ":", ")", "(", "-", "'", "s", "x", "D", "ochtends", "END-OF-SENTENCE"]
    for _ in range(400):
        words = [rng.choice(lexicon) if rng.random() < 0.5 else rng.choice(extra) for _ in range(rng.randint(1, 14))]
        text = " ".join(words)
        assert scorer(text) == official.analyze(text), text


def test_pattern_token_pattern_splits_like_str_split_on_every_code_point() -> None:
    # _pattern's tokenizer relies on this instead of collapsing whitespace and running TOKEN:
    # "(\S+)\s" over text plus a space gives str.split() when \s and str.isspace() agree.
    import re

    from survey_app.analysis import _pattern

    everything = "".join(map(chr, range(0x110000)))
    assert set(re.findall(r"\s", everything)) == {char for char in everything if char.isspace()}
    for engine in (_pattern._engine(), _pattern._dutch_modules()[0]):
        assert engine.TOKEN.pattern == r"(\S+)\s"
        sample = "a\u00a0b\tc\u2028d\x1ce  f\u3000g"
        assert engine.TOKEN.findall(sample + " ") == sample.split()


@pytest.mark.parametrize("text", ["a-123", "c_267", "n-1", "v_20"])
def test_a_comment_shaped_like_a_synset_id_is_analysed_not_raised(text: str) -> None:
    from survey_app.analysis import analyze_comment

    result = analyze_comment(text, score=3, language="nl")
    assert result.findings == ()
