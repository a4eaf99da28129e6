"""The rule layer: cue lemmas from data files, matched in any order within a clause.

A rule names a category, cue patterns whose negation state matters, optional context groups that
must co-occur, and veto groups (idioms, announced closures). Patterns are lemmas or surface forms;
"*code" matches compounds ending in code (kortingscode, actiecodes), "kortings*" their start, and
"op slot" consecutive words. Tokens of five letters or more also match cue words with a typo.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from .errors import DataFileError
from .resources import load_json
from .text import Token, is_negator
from .types import CATEGORIES, LANGUAGES

FUZZY_CUTOFF = 88.0


def _phrase_words(phrase: tuple[str, ...]) -> frozenset[str]:
    """Return the words a phrase needs somewhere in the comment ("<end>" is no word)."""
    return frozenset(word for word in phrase if word != "<end>")


@dataclass(frozen=True)
class Rule:
    """One cue-in-context rule read from rules_<language>.json."""

    id: str
    category: str
    cue: frozenset[str]
    cue_phrases: tuple[tuple[str, ...], ...]
    negated: bool | None
    context: tuple[frozenset[str], ...]
    context_phrases: tuple[tuple[tuple[str, ...], ...], ...]
    unless: tuple[frozenset[str], ...]
    scope: str
    confidence: float
    ambiguous: bool
    # The rule only applies when a promised item's label or alias contains one of these
    # ("took five days" breaks a next-day delivery promise, not a free-shipping one).
    requires_item_text: tuple[str, ...] = ()
    # Words that, right after the cue, undo it ("dicht bij" is "close to", not "closed").
    not_followed_by: frozenset[str] = frozenset()
    # Distinctive enough to apply to the other language's text too ("out of stock" in Dutch).
    portable: bool = False
    # Only counts when another finding backs it up (a "the mail said open" next to a closure).
    needs_other_finding: bool = False
    # A weak reading (sarcasm, "turned out") that only counts when no other rule explains the comment.
    fallback: bool = False
    # An unstated condition ("89 only with the store card, otherwise 109") explains the two
    # prices it names: the price heuristic then reports no price mismatch.
    explains_prices: bool = False
    # The words each cue phrase, and each phrase of each context group, needs somewhere in the
    # comment: worked out once here, since the matcher asks for them for every comment.
    cue_phrase_words: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    context_phrase_words: tuple[tuple[frozenset[str], ...], ...] = field(init=False, repr=False, compare=False)
    # Each context group as (words, phrases, the words each phrase needs): the matcher walks
    # them together for every candidate rule, and a tuple spares it a zip() each time.
    context_groups: tuple[tuple[frozenset[str], tuple[tuple[str, ...], ...], tuple[frozenset[str], ...]], ...] = (
        field(init=False, repr=False, compare=False))

    def __post_init__(self) -> None:
        object.__setattr__(self, "cue_phrase_words", tuple(map(_phrase_words, self.cue_phrases)))
        object.__setattr__(self, "context_phrase_words",
                           tuple(tuple(map(_phrase_words, phrases)) for phrases in self.context_phrases))
        object.__setattr__(self, "context_groups",
                           tuple(zip(self.context, self.context_phrases, self.context_phrase_words, strict=True)))


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, with the token positions that are its evidence."""

    rule: Rule
    positions: tuple[int, ...]
    cue_position: int

    @property
    def category(self) -> str:
        return self.rule.category


@dataclass(frozen=True)
class RuleSet:
    """All rules of one language plus the pattern index used to match tokens quickly."""

    language: str
    rules: tuple[Rule, ...]
    exact: frozenset[str]
    suffixes: tuple[str, ...]
    prefixes: tuple[str, ...]
    fuzzy_words: tuple[str, ...]
    announced: tuple[frozenset[str], ...]
    # For each rule, the patterns that can start it: a rule is only tried when one is present.
    triggers: tuple[frozenset[str], ...] = ()
    # Words a wildcard must not match: "postcode" is not a kind of discount code.
    no_wildcard: frozenset[str] = frozenset()
    # Pattern -> numbers of the rules it can start (a cue word, or one word of a cue phrase).
    starters: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # Anywhere in a comment, these make a closure no broken promise: the customer's own mistake
    # ("my bad", "eigen fout"). A public holiday is no excuse on its own: unannounced, it broke one.
    excused: tuple[frozenset[str], ...] = ()
    # The same for the portable rules only, for the pass over the other language's text.
    portable_starters: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    # For each rule, every word of its `unless` groups: a sentence with none of them cannot
    # veto the rule, and most sentences are settled by this one test instead of one per group.
    # None where a group is empty (an empty group vetoes everything, so each group is checked).
    unless_words: tuple[frozenset[str] | None, ...] = ()
    # The same for the `announced` groups (None: check each group).
    announced_words: frozenset[str] | None = None
    # The same for the `excused` groups (None: check each group).
    excused_words: frozenset[str] | None = None

    @functools.cached_property
    def numbers_match_exactly(self) -> bool:
        """Whether a word of digits alone can only be a pattern by its exact form.

        True unless a wildcard is empty or digits alone: no other can start or end such a word,
        and typos are only looked for in words of letters.
        """
        return not any(not part or part.isdigit() for part in (*self.suffixes, *self.prefixes))


def _split_patterns(patterns: Sequence[str]) -> tuple[frozenset[str], tuple[tuple[str, ...], ...]]:
    singles = frozenset(p for p in patterns if " " not in p)
    phrases = tuple(tuple(p.split()) for p in patterns if " " in p)
    return singles, phrases


@functools.cache
def load_rules(language: str) -> RuleSet:
    """Read and index the rules of a language (once per process)."""
    data = load_json(f"rules_{language}.json")
    rules = []
    all_patterns: set[str] = set()
    try:
        for raw in data["rules"]:
            if raw["category"] not in CATEGORIES:
                raise DataFileError(f"rule {raw['id']}: unknown category {raw['category']!r}")
            cue, cue_phrases = _split_patterns(raw["cue"])
            groups = [_split_patterns(group) for group in raw.get("with", [])]
            unless = tuple(frozenset(group) for group in raw.get("unless", []))
            rules.append(Rule(
                id=raw["id"],
                category=raw["category"],
                cue=cue,
                cue_phrases=cue_phrases,
                negated=raw.get("negated"),
                context=tuple(g[0] for g in groups),
                context_phrases=tuple(g[1] for g in groups),
                unless=unless,
                scope=raw.get("scope", "clause"),
                confidence=float(raw.get("confidence", 0.8)),
                ambiguous=bool(raw.get("ambiguous", False)),
                requires_item_text=tuple(raw.get("requires_item_text", ())),
                not_followed_by=frozenset(raw.get("not_followed_by", ())),
                portable=bool(raw.get("portable", False)),
                needs_other_finding=bool(raw.get("needs_other_finding", False)),
                fallback=bool(raw.get("fallback", False)),
                explains_prices=bool(raw.get("explains_prices", False)),
            ))
            all_patterns |= cue
            for singles, phrases in groups:
                all_patterns |= singles
                all_patterns |= {w for phrase in phrases for w in phrase}
            all_patterns |= {w for phrase in cue_phrases for w in phrase}
            for group in unless:
                all_patterns |= group
        announced = tuple(frozenset(group) for group in data.get("announced", []))
        excused = tuple(frozenset(group) for group in data.get("excused", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"rules_{language}.json is malformed: {exc!r}") from exc
    for group in (*announced, *excused):
        all_patterns |= group
    all_patterns -= {p for p in all_patterns if p.startswith("<")}
    exact = frozenset(p for p in all_patterns if "*" not in p)
    suffixes = tuple(sorted(p[1:] for p in all_patterns if p.startswith("*")))
    prefixes = tuple(sorted(p[:-1] for p in all_patterns if p.endswith("*") and not p.startswith("*")))
    fuzzy_words = tuple(sorted(
        p for p in exact
        if len(p) >= 5 and p.isalpha() and p not in set(data.get("no_fuzzy", []))
    ))
    triggers = tuple(rule.cue for rule in rules)
    no_wildcard = frozenset(data.get("no_wildcard", ()))
    starters: dict[str, list[int]] = {}
    portable_starters: dict[str, list[int]] = {}
    common = frozenset().union(*(load_json(f"lexicon_{known}.json")["stopwords"] for known in LANGUAGES))
    for number, rule in enumerate(rules):
        for pattern in _starting_patterns(rule, common):
            starters.setdefault(pattern, []).append(number)
            if rule.portable:
                portable_starters.setdefault(pattern, []).append(number)
    return RuleSet(language, tuple(rules), exact, suffixes, prefixes, fuzzy_words, announced, triggers, no_wildcard,
                   {pattern: tuple(numbers) for pattern, numbers in starters.items()}, excused,
                   {pattern: tuple(numbers) for pattern, numbers in portable_starters.items()},
                   tuple(_words_of(rule.unless) for rule in rules), _words_of(announced), _words_of(excused))


def _starting_patterns(rule: Rule, common: frozenset[str]) -> set[str]:
    """Return patterns that start a rule: its cue words, and a word of each cue phrase.

    A phrase needs all its words, so any of them will do, and the rarer the word, the fewer
    comments the rule is tried on in vain. Words are taken one at a time until every phrase
    has one: no common word ("in", "zijn", "for": stop words of either language) nor item mark
    ("<product>") where a phrase has another, then the word most phrases share ("op" in "zijn
    op", "op is op", "op zijn"), then the longest.
    """
    starts = set(rule.cue)
    uncovered = [needed for needed in rule.cue_phrase_words if starts.isdisjoint(needed)]
    while uncovered:
        best = min(sorted(frozenset().union(*uncovered)), key=lambda word: (
            word in common or word.startswith("<"), -sum(word in needed for needed in uncovered), -len(word)))
        starts.add(best)
        uncovered = [needed for needed in uncovered if best not in needed]
    return starts


def _words_of(groups: Sequence[frozenset[str]]) -> frozenset[str] | None:
    """Return every word of the groups, or None when one group is empty (it is always a subset)."""
    if any(not group for group in groups):
        return None
    return frozenset().union(*groups)


# Per language, (lower, lemma) of a word to what the rules make of it: the patterns it matches,
# and whether it can start one of the other language's portable rules (read as a word of that
# language). One lookup per word then serves both passes over a comment: the pass over its own
# language's rules learns on the way whether the portable pass has anything to do. A plain dict
# looked up inline: cheaper than an lru_cache, whose every hit is a call that also relinks its
# list. Bounded like the other per-word caches.
_WORDS_OF: dict[str, dict[tuple[str, str], tuple[frozenset[str], bool]]] = {}
_WORDS_LIMIT = 100_000

_OTHER_LANGUAGE = dict(zip(LANGUAGES, reversed(LANGUAGES), strict=True))


def _known_words(language: str) -> dict[tuple[str, str], tuple[frozenset[str], bool]]:
    """Return the language's entry of _WORDS_OF."""
    known = _WORDS_OF.get(language)
    if known is None:
        known = _WORDS_OF.setdefault(language, {})
    return known


def _word_rules(language: str, lower: str, lemma: str) -> tuple[frozenset[str], bool]:
    """Return the rule patterns a word matches and whether it can start a portable rule of the
    other language, remembered in _WORDS_OF.

    Each language's answer needs the word's patterns in both: both answers are remembered.
    """
    key = (lower, lemma)
    known = _known_words(language)
    found = known.get(key)
    if found is None:
        other = _OTHER_LANGUAGE[language]
        own, theirs = _token_patterns(language, lower, lemma), _token_patterns(other, lower, lemma)
        found = (own, _starts_portable(load_rules(other), theirs))
        if len(known) < _WORDS_LIMIT:
            known[key] = found
        known_other = _known_words(other)
        if key not in known_other and len(known_other) < _WORDS_LIMIT:
            known_other[key] = (theirs, _starts_portable(load_rules(language), own))
    return found


def _starts_portable(ruleset: RuleSet, patterns: frozenset[str]) -> bool:
    starters = ruleset.portable_starters
    return any(pattern in starters for pattern in patterns)


def _marks_start_portable(ruleset: RuleSet, extra: Mapping[int, frozenset[str]] | None) -> bool:
    """Tell whether an item mark the detector added ("<product>") starts a portable rule."""
    return bool(extra) and any(_starts_portable(ruleset, marks) for marks in extra.values())


def _token_patterns(language: str, lower: str, lemma: str) -> frozenset[str]:
    ruleset = load_rules(language)
    if lower.isdigit() and lemma.isdigit() and ruleset.numbers_match_exactly:
        # Numbers (a price, a year, an order number) are new words in most comments that have
        # one: spare them the wildcard tests they cannot pass.
        return ruleset.exact.intersection((lower, lemma))
    found = {form for form in (lower, lemma) if form in ruleset.exact}
    if lower in ruleset.no_wildcard or lemma in ruleset.no_wildcard:
        return frozenset(found)
    suffixes, prefixes = ruleset.suffixes, ruleset.prefixes
    stems = [form.rstrip("s") if form.endswith("s") else form for form in (lemma, lower)]
    # One endswith/startswith over all wildcards first: most words (and every number) match
    # none, and are then spared the loops that name which ones match.
    if any(form.endswith(suffixes) for form in (lemma, lower, *stems)):
        for suffix in suffixes:
            for form in (lemma, lower):
                stem = form.rstrip("s") if form.endswith("s") else form
                if len(form) > len(suffix) and (form.endswith(suffix) or stem.endswith(suffix)):
                    found.add("*" + suffix)
    if lower.startswith(prefixes) or lemma.startswith(prefixes):
        for prefix in prefixes:
            if lower.startswith(prefix) or lemma.startswith(prefix):
                found.add(prefix + "*")
    if not found and len(lower) >= 5 and lower.isalpha():
        # Typos ("geslote", "vestigng", "uitverkogt"): closest cue word, same first letter.
        match = process.extractOne(lower, ruleset.fuzzy_words, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if match is not None and match[0][0] == lower[0] and abs(len(match[0]) - len(lower)) <= 2:
            found.add(match[0])
    return frozenset(found)


# A phrase ending in "<end>" must close its clause, or be followed by one of these words:
# "de airfryer was op" and "was op in Groningen", not "was op tijd".
_END_FOLLOWERS = frozenset({"in", "bij", "om", "toen", "dus", "en", "al", "at", "by", "so", "and"})


def _followed_by(tokens: Sequence[Token], index: int, words: frozenset[str]) -> bool:
    return bool(words) and index + 1 < len(tokens) and tokens[index + 1].lower in words


def match_rules(
    tokens: Sequence[Token],
    language: str,
    portable_only: bool = False,
    extra: Mapping[int, frozenset[str]] | None = None,
) -> list[RuleHit]:
    """Return every rule hit in the tokens of one comment (only portable rules if asked).

    `extra` adds patterns to tokens: the detector marks the words that name a promised item
    with "<offer>", "<product>", "<location>"... so a rule can say "WEEKEND20 werd niet
    geaccepteerd" is about an offer without knowing the code.
    """
    ruleset = load_rules(language)
    if portable_only and not _could_start_portable(ruleset, tokens, extra):
        # Most comments start none of the other language's portable rules: a remembered answer
        # per word settles that, without building their patterns and index.
        return []
    extra = extra or {}
    words, patterns, index, _starts_other = _index_tokens(tokens, language, extra)
    return _match(ruleset, tokens, portable_only, words, patterns, index)


def match_comment(
    tokens: Sequence[Token], language: str, extra: Mapping[int, frozenset[str]] | None = None,
) -> list[RuleHit]:
    """Return the hits of the language's rules, then of the other language's portable rules.

    The same as match_rules for the language and then for the other language, portable only
    (customers mix languages: "SM700 out of stock op de dag van de launch"), but the words are
    looked up once: their remembered answers say whether the portable pass can find anything.
    """
    extra = extra or {}
    words, patterns, index, starts_other = _index_tokens(tokens, language, extra)
    hits = _match(load_rules(language), tokens, False, words, patterns, index)
    other = load_rules(_OTHER_LANGUAGE[language])
    if starts_other or _marks_start_portable(other, extra):
        words, patterns, index, _starts_own = _index_tokens(tokens, other.language, extra)
        hits += _match(other, tokens, True, words, patterns, index)
    return hits


def _index_tokens(
    tokens: Sequence[Token], language: str, extra: Mapping[int, frozenset[str]],
) -> tuple[list[int], dict[int, frozenset[str]], dict[str, list[int]], bool]:
    """Return the positions of the counted tokens, their patterns, where each pattern occurs,
    and whether a word, emoji or number can start a portable rule of the other language."""
    # Emoji count as words here: "🙄" and "👏" are cues for sarcasm rules. Only these tokens'
    # patterns are ever looked at, so only theirs are computed, in one pass over the tokens.
    words: list[int] = []
    patterns: dict[int, frozenset[str]] = {}
    # Where each pattern occurs: rules then look up their cues instead of scanning every token.
    index: dict[str, list[int]] = {}
    starts_other = False
    other_starters = load_rules(_OTHER_LANGUAGE[language]).portable_starters
    known = _known_words(language)
    for i, token in enumerate(tokens):
        if token.is_word:
            found_and_starts = known.get((token.lower, token.lemma))
            if found_and_starts is None:
                found_and_starts = _word_rules(language, token.lower, token.lemma)
            found, starts = found_and_starts
            if starts:
                starts_other = True
        elif token.kind in _COUNTED_KINDS:
            found = frozenset({token.lower})
            if token.lower in other_starters:
                starts_other = True
        else:
            continue
        words.append(i)
        if i in extra:
            found = found | extra[i]
        patterns[i] = found
        for pattern in found:  # most words match no pattern
            if pattern in index:
                index[pattern].append(i)
            else:
                index[pattern] = [i]
    return words, patterns, index, starts_other


def _match(
    ruleset: RuleSet, tokens: Sequence[Token], portable_only: bool, words: list[int],
    patterns: Mapping[int, frozenset[str]], index: Mapping[str, list[int]],
) -> list[RuleHit]:
    """Return the hits of the ruleset's rules (portable ones only if asked) in indexed tokens."""
    language = ruleset.language
    # Only rules that one of the comment's patterns can start are tried at all; most comments
    # start none of the other language's portable rules, and then nothing else is built.
    starters = ruleset.portable_starters if portable_only else ruleset.starters
    candidates = sorted({number for pattern in index if pattern in starters for number in starters[pattern]})
    if not candidates:
        return []
    present = frozenset(index)
    # Most comments hold no word of any excuse: one set test settles those.
    could_excuse = ruleset.excused_words
    excused = ((could_excuse is None or not could_excuse.isdisjoint(present))
               and any(group <= present for group in ruleset.excused))
    # Built when a rule first reaches a clause: most candidate rules are settled before.
    sentence_patterns: _SentencePatterns | None = None
    clauses: dict[int, list[int]] = {}

    def phrase_starts(phrase: tuple[str, ...]) -> list[int]:
        at_end = phrase[-1] == "<end>"
        parts = phrase[:-1] if at_end else phrase
        starts = []
        for i in index.get(parts[0], ()):
            k = bisect_left(words, i)
            window = words[k:k + len(parts)]
            if len(window) < len(parts) or tokens[window[-1]].clause != tokens[i].clause:
                continue
            if not all(part in patterns[j] for part, j in zip(parts[1:], window[1:], strict=True)):
                continue
            if at_end and k + len(parts) < len(words):
                following = tokens[words[k + len(parts)]]
                if following.clause == tokens[i].clause and following.lower not in _END_FOLLOWERS:
                    continue
            starts.append(i)
        return starts

    hits: list[RuleHit] = []
    unless_words = ruleset.unless_words
    for number in candidates:
        rule = ruleset.rules[number]
        if portable_only and not rule.portable:
            continue
        if excused and rule.category == "closed_location":
            continue
        # A context group none of whose words occur anywhere in the comment leaves the rule no
        # evidence in any clause: settle that once, before finding cues clause by clause.
        if rule.context_groups and not _context_possible(rule, present):
            continue
        cue_positions_of = _cue_positions(rule, ruleset.triggers[number], present, index, phrase_starts)
        if cue_positions_of is None:
            continue
        by_clause: dict[int, list[int]] = {}
        # The two word tests are made only for the rules that have them (few do).
        negated, not_followed_by = rule.negated, rule.not_followed_by
        for i in cue_positions_of:
            token = tokens[i]
            # A negator is not negated by itself: "niemand" as a cue stands on its own.
            if negated is not None and negated != (
                    token.negated and is_negator(token.lower, language) is None):
                continue
            if not_followed_by and _followed_by(tokens, i, not_followed_by):
                continue
            if token.clause in by_clause:
                by_clause[token.clause].append(i)
            else:
                by_clause[token.clause] = [i]
        if not by_clause:
            continue
        if sentence_patterns is None:
            sentence_patterns = _SentencePatterns(tokens, words, patterns, present)
        scope = rule.scope
        for clause, cue_positions in by_clause.items():
            cue = cue_positions[0]
            sentence = tokens[cue].sentence
            if rule.unless:
                in_sentence = sentence_patterns[sentence]
                could_veto = unless_words[number] if unless_words else None
                if ((could_veto is None or not could_veto.isdisjoint(in_sentence))
                        and any(group <= in_sentence for group in rule.unless)):
                    continue
            if rule.category == "closed_location" and _announced(ruleset, sentence_patterns, sentence):
                continue
            evidence: list[int] = []
            for group_singles, group_phrases, group_needs in rule.context_groups:
                found = [i for pattern in group_singles & present for i in index[pattern]]
                for phrase, needed in zip(group_phrases, group_needs, strict=True):
                    if needed <= present:
                        found += phrase_starts(phrase)
                # In scope: the cue's clause, its sentence, or anywhere in the comment.
                if scope == "clause":
                    found = [i for i in found if i not in cue_positions and tokens[i].clause == clause]
                elif scope == "sentence":
                    found = [i for i in found if i not in cue_positions and tokens[i].sentence == sentence]
                else:
                    found = [i for i in found if i not in cue_positions]
                if not found:
                    break
                # Ties go to the earlier word: `found` comes from sets, so without the second key
                # the evidence span would depend on the process's hash seed. (Most groups have
                # one word in the comment: no min() to call.)
                evidence.append(found[0] if len(found) == 1 else min(found, key=lambda i: (abs(i - cue), i)))
            else:
                positions = {cue, *evidence}
                if negated:
                    if not clauses:
                        for i in words:
                            clauses.setdefault(tokens[i].clause, []).append(i)
                    negators = [i for i in clauses[clause] if is_negator(tokens[i].lower, language) is not None]
                    if negators:
                        positions.add(min(negators, key=lambda i: (abs(i - cue), i)))
                hits.append(RuleHit(rule, tuple(sorted(positions)), cue))
    return _resolve(hits)


def _cue_positions(
    rule: Rule, trigger: frozenset[str], present: frozenset[str], index: Mapping[str, list[int]],
    phrase_starts: Callable[[tuple[str, ...]], list[int]],
) -> list[int] | None:
    """Return, in order, where the rule's cue words and cue phrases occur (None: nowhere)."""
    singles = trigger & present
    if not rule.cue_phrases:
        if not singles:
            return None
        if len(singles) == 1:
            # One cue word (most rules that get this far): its positions are in order already.
            return index[next(iter(singles))]
        return sorted({i for pattern in singles for i in index[pattern]})
    # Phrases only count when every one of their words occurs somewhere in the comment.
    cue_phrases = [phrase for phrase, needed in zip(rule.cue_phrases, rule.cue_phrase_words, strict=True)
                   if needed <= present]
    if not (singles or cue_phrases):
        return None
    cues = {i for pattern in singles for i in index[pattern]}
    for phrase in cue_phrases:
        cues.update(phrase_starts(phrase))
    return sorted(cues)


_COUNTED_KINDS = frozenset({"money", "number", "emoji"})


def _could_start_portable(
    ruleset: RuleSet, tokens: Sequence[Token], extra: Mapping[int, frozenset[str]] | None,
) -> bool:
    """Tell whether a word, emoji or number of the tokens, or an extra pattern, starts a portable rule."""
    if _marks_start_portable(ruleset, extra):
        return True
    starters = ruleset.portable_starters
    # The answer for a word of this ruleset's language is remembered with its patterns in the
    # other language (see _WORDS_OF).
    other = _OTHER_LANGUAGE[ruleset.language]
    known = _known_words(other)
    for token in tokens:
        if token.is_word:
            found_and_starts = known.get((token.lower, token.lemma))
            if found_and_starts is None:
                found_and_starts = _word_rules(other, token.lower, token.lemma)
            if found_and_starts[1]:
                return True
        elif token.kind in _COUNTED_KINDS and token.lower in starters:
            return True
    return False


class _SentencePatterns:
    """The patterns of each sentence's counted tokens, worked out for the sentences asked about.

    Acts like the dict it replaces (`[sentence]` and `.get(sentence)`): most comments only ever
    ask about the one or two sentences that hold a cue.
    """

    __slots__ = ("_tokens", "_words", "_patterns", "_known", "_one_sentence")

    def __init__(
        self, tokens: Sequence[Token], words: list[int], patterns: Mapping[int, frozenset[str]],
        present: frozenset[str],
    ) -> None:
        self._tokens = tokens
        self._words = words
        self._patterns = patterns
        # Sentence numbers never decrease: when the first and last counted tokens share one (as
        # in most comments), that sentence holds every pattern of the comment, and no other any.
        first, last = tokens[words[0]].sentence, tokens[words[-1]].sentence
        self._one_sentence = first == last
        self._known: dict[int, frozenset[str] | None] = {first: present} if first == last else {}

    def get(self, sentence: int) -> frozenset[str] | None:
        """Return the sentence's patterns, or None when it has no counted tokens."""
        known = self._known
        if sentence not in known:
            if self._one_sentence:
                return None
            tokens, patterns = self._tokens, self._patterns
            in_sentence = [patterns[i] for i in self._words if tokens[i].sentence == sentence]
            known[sentence] = frozenset().union(*in_sentence) if in_sentence else None
        return known[sentence]

    def __getitem__(self, sentence: int) -> frozenset[str]:
        found = self.get(sentence)
        if found is None:
            raise KeyError(sentence)
        return found


def _context_possible(rule: Rule, present: frozenset[str]) -> bool:
    """Tell whether every context group of a rule has a word or phrase somewhere in the comment."""
    for singles, _phrases, phrase_needs in rule.context_groups:
        if singles.isdisjoint(present) and not (phrase_needs and any(needed <= present for needed in phrase_needs)):
            return False
    return True


def _resolve(hits: list[RuleHit]) -> list[RuleHit]:
    """Keep one category per cue token: the most confident, then the tightest evidence."""
    if len(hits) < 2:
        return hits  # nothing to choose between (most comments)
    best: dict[int, RuleHit] = {}
    for hit in hits:
        current = best.get(hit.cue_position)
        if current is None or _better(hit, current):
            best[hit.cue_position] = hit
    return sorted(best.values(), key=lambda h: h.positions[0])


def _better(a: RuleHit, b: RuleHit) -> bool:
    width_a = a.positions[-1] - a.positions[0]
    width_b = b.positions[-1] - b.positions[0]
    return (a.rule.confidence, -width_a) > (b.rule.confidence, -width_b)


def _announced(ruleset: RuleSet, sentence_patterns: _SentencePatterns, sentence: int) -> bool:
    """Tell whether this or the next sentence says the closure was announced or expected."""
    could_announce = ruleset.announced_words
    for key in (sentence, sentence + 1):
        present = sentence_patterns.get(key)
        if (present and (could_announce is None or not could_announce.isdisjoint(present))
                and any(group <= present for group in ruleset.announced)):
            return True
    return False
