"""Normalization keeps offsets into the original text; tokens, clauses and negation scope."""

from __future__ import annotations

import pytest

from survey_app.analysis.text import normalize, tokenize


@pytest.mark.parametrize(
    "original",
    [
        "De  vestiging\twas\n\ndicht",
        "  leading and trailing  ",
        "ﬁliaal Ｚｗｏｌｌｅ was dicht",  # ligature and full-width letters
        "cafe\u0301 was gesloten",  # combining accent
        "Rotterdam CS 👏 dicht",
    ],
)
def test_normalized_spans_map_back_to_the_same_words(original: str) -> None:
    normalized = normalize(original)
    for token in tokenize(normalized, "nl"):
        start, end = normalized.original_span(token.start, token.end)
        assert normalize(original[start:end]).text == token.text


def test_normalize_collapses_whitespace_and_applies_nfkc() -> None:
    normalized = normalize("  ﬁliaal   Ｚｗｏｌｌｅ\n")
    assert normalized.text == "filiaal Zwolle"


def test_curly_apostrophes_become_straight() -> None:
    assert normalize("didn\u2019t").text == "didn't"


def test_tokenizer_keeps_abbreviations_prices_and_emoji_whole() -> None:
    tokens = tokenize(normalize("Utrecht C.S. vroeg €89 en 89,- voor 20% 👏"), "nl")
    texts = [token.text for token in tokens]
    assert "C.S." in texts
    assert "€89" in texts and "89,-" in texts and "20%" in texts
    assert "👏" in texts


def test_lemmas_come_from_simplemma() -> None:
    tokens = tokenize(normalize("alle vestigingen waren gesloten"), "nl")
    assert [token.lemma for token in tokens][1:] == ["vestiging", "zijn", "sluiten"]


def test_abbreviation_dot_does_not_end_the_sentence() -> None:
    tokens = tokenize(normalize("Utrecht C.S. was dicht"), "nl")
    assert len({token.sentence for token in tokens}) == 1


@pytest.mark.parametrize(
    ("text", "language", "word", "negated"),
    [
        ("De code werkte niet", "nl", "werkte", True),  # Dutch "niet" after the verb
        ("De vestiging was niet dicht", "nl", "dicht", True),
        ("De code werkte niet. De vestiging was dicht!", "nl", "dicht", False),  # new sentence
        ("Hij was niet open, maar de code werkte", "nl", "werkte", False),  # "maar" ends the clause
        ("The code did not work", "en", "work", True),
        ("It wasn't closed", "en", "closed", True),
        ("Not closed, but the link was broken", "en", "broken", False),
        ("No discount at all", "en", "discount", True),
    ],
)
def test_negation_scope_stays_inside_its_clause(text: str, language: str, word: str, negated: bool) -> None:
    tokens = tokenize(normalize(text), language)
    token = next(t for t in tokens if t.lower == word)
    assert token.negated is negated


def test_word_facts_are_remembered_per_language() -> None:
    # "dont" negates in English only, "maar" starts a clause in Dutch only: the tokenizer's
    # per-word memo must not carry one language's answer into the other.
    english = tokenize(normalize("i dont like it maar ok"), "en")
    dutch = tokenize(normalize("i dont like it maar ok"), "nl")
    assert english[1].negated and not dutch[1].negated
    assert english[4].clause == english[3].clause
    assert dutch[4].clause == dutch[3].clause + 1
    assert tokenize(normalize("i dont like it maar ok"), "en") == english


def test_an_unknown_language_is_refused() -> None:
    from survey_app.analysis.errors import DataFileError

    with pytest.raises(DataFileError):
        tokenize(normalize("bonjour"), "fr")


def test_is_word_follows_the_kind_however_a_token_is_made() -> None:
    import pickle

    from survey_app.analysis.text import Token

    made = Token("C.S.", "c.s.", "c.s.", "abbr", 0, 4, 0, 0)
    assert made.is_word and not Token("!", "!", "!", "punct", 4, 5, 0, 0).is_word
    assert pickle.loads(pickle.dumps(made)) == made
    assert made._replace(negated=True).is_word
    for token in tokenize(normalize("De code werkte niet! €89, C.S. 👏 ok"), "nl"):
        assert token.is_word == (token.kind in ("word", "abbr")), token


@pytest.mark.parametrize(
    "text",
    [
        "In de folder 89 euro, aan de kassa 119. Laten liggen dus",
        "€ 89 of € 89,- of $5 en 20 % korting, 89 eur, 12 euros, 1+1 gratis",
        "tot 21:00 open, om 20:15 dicht. C.S. Utrecht 🙄 👏",
        "prijs 89.99 € of 89,99€; 3 x 40 min ,- en 5 ,-",
        "£ 7 £7 $ 7 7 $ 10 %% e.g. 1st 2nd",
        "auto's next-day a  b",
        "",
        "€",
        "9",
    ],
)
def test_tokenize_by_segment_matches_the_whole_text(text: str) -> None:
    # tokenize reads the text in remembered segments split at spaces no token match can span;
    # the matches must be those of the token pattern over the whole text.
    from survey_app.analysis.text import NormalizedText, _raw_tokens

    normalized = normalize(text)
    for language in ("nl", "en"):
        for given in (normalized, NormalizedText(text, text, tuple(range(len(text))), tuple(range(1, len(text) + 1)))):
            found = [(t.text, t.start, t.end) for t in tokenize(given, language)]
            assert found == [(surface, start, end) for surface, _kind, start, end in _raw_tokens(given.text)]
            assert found == [(t.text, t.start, t.end) for t in tokenize(given, language)]  # from the memo
