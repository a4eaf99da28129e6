"""The rule matcher only tries rules a comment's words can start: that index must never lose a hit.

The reference here is the same matcher with the index switched off (every rule tried on every
comment), run on texts built from the rule files themselves, so the check follows the rules as
they are edited and retrained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import pytest

from survey_app.analysis import rules
from survey_app.analysis.language import detect_language
from survey_app.analysis.rules import RuleSet, load_rules, match_comment, match_rules
from survey_app.analysis.text import normalize, tokenize

LANGUAGES = ("nl", "en")


class _EveryRule(Mapping[str, tuple[int, ...]]):
    """A starter index under which every pattern starts every rule: no rule is ever skipped."""

    def __init__(self, count: int) -> None:
        self._all = tuple(range(count))

    def __getitem__(self, pattern: str) -> tuple[int, ...]:
        return self._all

    def __contains__(self, pattern: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _unindexed(ruleset: RuleSet) -> RuleSet:
    everything = _EveryRule(len(ruleset.rules))
    return dataclasses.replace(ruleset, starters=everything, portable_starters=everything)


def _rule_texts(language: str) -> list[str]:
    """Texts that should set off each rule: its cues, next to a word of each context group."""
    texts = []
    for rule in load_rules(language).rules:
        context = [sorted(group)[0] for group in rule.context if group and not sorted(group)[0].startswith("<")]
        negator = "niet" if language == "nl" else "not"
        for cue in [*sorted(rule.cue), *(" ".join(w for w in p if w != "<end>") for p in rule.cue_phrases)]:
            words = [*context, negator if rule.negated else "", cue.strip("*")]
            texts.append(" ".join(w for w in words if w))
    return texts


def _hits(tokens, language, portable_only=False, extra=None):  # type: ignore[no-untyped-def]
    return [(hit.rule.id, hit.positions, hit.cue_position)
            for hit in match_rules(tokens, language, portable_only=portable_only, extra=extra)]


@pytest.fixture(scope="module")
def comments() -> list[tuple[str, object]]:
    texts = [
        *_rule_texts("nl"), *_rule_texts("en"),
        "De vestiging in Utrecht CS was gewoon dicht, niemand te bekennen",
        "SM700 out of stock op de dag van de launch",
        "Went to FitLife Delft on saturday morning, doors locked and lights off.",
        "de winkel was niet open. Eigen fout, ik was te laat",
        "Kortingscode werkte niet bij het afrekenen 🙄",
    ]
    found = []
    for text in texts:
        normalized = normalize(text)
        found.append((text, tokenize(normalized, detect_language(normalized.text))))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_starter_index_never_drops_a_hit(language: str, comments, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    indexed = [(_hits(tokens, language), _hits(tokens, language, portable_only=True),
                _hits(tokens, language, extra={0: frozenset({"<location>"}), 1: frozenset({"<offer>"})}))
               for _text, tokens in comments]
    assert any(own for own, _portable, _marked in indexed), "the texts set off no rule at all"
    reference = _unindexed(load_rules(language))
    monkeypatch.setattr(rules, "load_rules", lambda _language: reference)
    for (text, tokens), (own, portable, marked) in zip(comments, indexed, strict=True):
        assert _hits(tokens, language) == own, text
        assert _hits(tokens, language, portable_only=True) == portable, text
        assert _hits(tokens, language, extra={0: frozenset({"<location>"}), 1: frozenset({"<offer>"})}) == marked, text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_cue_starts_its_rule_by_a_word_it_needs(language: str) -> None:
    # Each cue word, and at least one word of each cue phrase, starts the rule (any cue can set
    # it off), and nothing else does: a phrase is indexed under one of its own words.
    ruleset = load_rules(language)
    for number, rule in enumerate(ruleset.rules):
        starts = {pattern for pattern, numbers in ruleset.starters.items() if number in numbers}
        assert rule.cue <= starts, rule.id
        assert all(not needed.isdisjoint(starts) for needed in rule.cue_phrase_words), rule.id
        assert starts <= rule.cue.union(*rule.cue_phrase_words), rule.id
        in_portable = {pattern for pattern, numbers in ruleset.portable_starters.items() if number in numbers}
        assert in_portable == (starts if rule.portable else set()), rule.id


def test_a_cue_phrase_is_started_by_its_least_common_word() -> None:
    def starts(ruleset: RuleSet, rule_id: str) -> set[str]:
        number = next(k for k, rule in enumerate(ruleset.rules) if rule.id == rule_id)
        return {pattern for pattern, numbers in ruleset.starters.items() if number in numbers}

    # "in plaats van": "plaats", not the stop word "in"; "op" is shared by all three phrases.
    instead_of = starts(load_rules("nl"), "nl.other.ipv")
    assert "plaats" in instead_of and "in" not in instead_of
    assert starts(load_rules("nl"), "nl.stock.op") == {"op"}
    assert starts(load_rules("en"), "en.offer.paid_for_free") == {"free", "discounted"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_pass_over_a_comment_finds_what_both_passes_find(language: str, comments) -> None:  # type: ignore[no-untyped-def]
    # The detector calls match_comment, which decides from the words' remembered answers (and
    # the item marks) whether the other language's portable pass can find anything: it must
    # find exactly what the two passes of match_rules find.
    other = "en" if language == "nl" else "nl"
    marks = [None, {0: frozenset({"<location>"}), 1: frozenset({"<offer>"})}, {1: frozenset({"<product>"})}]
    portable_found = 0
    for text, tokens in [*comments, ("Went there but the SM700 op", tokenize(normalize("Went there but the SM700 op"), "en"))]:
        for extra in marks:
            both = [*match_rules(tokens, language, extra=extra),
                    *match_rules(tokens, other, portable_only=True, extra=extra)]
            portable_found += len(match_rules(tokens, other, portable_only=True, extra=extra))
            assert match_comment(tokens, language, extra=extra) == both, (text, extra)
    assert portable_found, "no text set off a portable rule of the other language: the check would prove nothing"


def test_a_rule_fires_when_its_cue_is_present_and_not_otherwise() -> None:
    closed = tokenize(normalize("De vestiging was dicht"), "nl")
    assert "nl.closed.dicht" in {hit.rule.id for hit in match_rules(closed, "nl")}
    happy = tokenize(normalize("Prima geholpen, alles ging soepel"), "nl")
    assert match_rules(happy, "nl") == []


def test_a_portable_rule_fires_on_the_other_languages_text() -> None:
    tokens = tokenize(normalize("De airfryer was out of stock op de dag van de folder"), "nl")
    portable = match_rules(tokens, "en", portable_only=True)
    assert portable and all(hit.rule.portable for hit in portable)
    assert {hit.category for hit in portable} == {"out_of_stock"}
    # A Dutch comment with no English cue at all starts no portable English rule.
    assert match_rules(tokenize(normalize("De vestiging was dicht"), "nl"), "en", portable_only=True) == []


def test_an_item_mark_can_start_a_portable_rule_no_word_starts() -> None:
    # The words alone start no portable Dutch rule ("op" is a stop word, the phrase is indexed
    # under "<product>"): the mark the detector adds must still let the pass run.
    tokens = tokenize(normalize("Went there but the SM700 op"), "en")
    assert match_rules(tokens, "nl", portable_only=True) == []
    marked = match_rules(tokens, "nl", portable_only=True, extra={4: frozenset({"<product>"})})
    assert [hit.rule.id for hit in marked] == ["nl.stock.uitverkocht"]


def test_unless_groups_still_veto_after_the_one_word_test(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def ids(text: str) -> set[str]:
        return {hit.rule.id for hit in match_rules(tokenize(normalize(text), "nl"), "nl")}

    assert "nl.closed.dicht" in ids("De winkel is gesloten")
    assert "nl.closed.dicht" not in ids("De deal is gesloten")  # "deal" is one of its unless groups
    # An empty unless group is a subset of every sentence: it vetoes the rule everywhere.
    ruleset = load_rules("nl")
    number = next(k for k, rule in enumerate(ruleset.rules) if rule.id == "nl.closed.dicht")
    changed = list(ruleset.rules)
    changed[number] = dataclasses.replace(changed[number], unless=(*changed[number].unless, frozenset()))
    patched = dataclasses.replace(ruleset, rules=tuple(changed),
                                  unless_words=tuple(rules._words_of(rule.unless) for rule in changed))
    monkeypatch.setattr(rules, "load_rules", lambda _language: patched)
    assert "nl.closed.dicht" not in ids("De winkel is gesloten")


@pytest.mark.parametrize("language", LANGUAGES)
def test_skipping_rules_whose_context_is_absent_never_drops_a_hit(language: str, comments, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    marks = {0: frozenset({"<location>"}), 1: frozenset({"<offer>"})}
    checked = [(_hits(tokens, language), _hits(tokens, language, extra=marks)) for _text, tokens in comments]
    assert any(own for own, _marked in checked)
    monkeypatch.setattr(rules, "_context_possible", lambda _rule, _present: True)
    for (text, tokens), (own, marked) in zip(comments, checked, strict=True):
        assert _hits(tokens, language) == own, text
        assert _hits(tokens, language, extra=marks) == marked, text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_excuse_word_test_never_changes_a_hit(language: str, comments, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # excused_words settles most comments with one set test; None checks every group.
    assert load_rules(language).excused_words
    indexed = [_hits(tokens, language) for _text, tokens in comments]
    plain = dataclasses.replace(load_rules(language), excused_words=None)
    monkeypatch.setattr(rules, "load_rules", lambda _language: plain)
    assert [_hits(tokens, language) for _text, tokens in comments] == indexed
    assert any("eigen fout" in text.lower() for text, _tokens in comments)
