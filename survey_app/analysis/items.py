"""Find the promised items (locations, offers, products, prices, dates) a comment names.

Fuzzy matching runs over short token windows, not over the whole comment: a whole-comment
partial match maps a bare city onto some branch and cannot tell Amsterdam Zuid from Noord.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, LCSseq

from .resources import load_json
from .text import _WORD_KINDS, NormalizedText, Token
from .types import ItemMention, PromisedItem

# Words that never identify an item on their own, even when only one item contains them:
# function words, and words customers use all the time ("dag", "free", "mail").
COMMON_TOKENS = frozenset(
    """
    de het een the a an in op at of van voor for to met with en and bij naar from uit
    dag day days gratis free extra week weekend mail email e-mail next first eerste maand month
    euro eur off winkel store shop 1 2 3 all alle elke every any den booking boeken
    """.split()
)
_ARTICLES = frozenset({"de", "het", "een", "the", "a", "an"})
# The kinds of comment tokens compared with item names: words (token.is_word) and numbers.
_COMPARED_KINDS = _WORD_KINDS | {"money", "number"}

_MONEY_RE = re.compile(r"\d+(?:[.,]\d+)?")
# Ordinals written with digits compare as words: "de 2e gratis" names "tweede gratis".
_ORDINALS = {
    "1e": "eerste", "1ste": "eerste", "2e": "tweede", "2de": "tweede", "3e": "derde", "3de": "derde",
    "1st": "first", "2nd": "second", "3rd": "third",
}
# Other ordinals are days of the month: "June 30th" and "de 20e" compare as "30" and "20".
_DAY_ORDINAL_RE = re.compile(r"^(\d{1,2})(?:st|nd|rd|th|e|ste|de)$")
_STRIP_RE = re.compile(r"['.\-]")
# How close a window written without spaces must come to an alias written without spaces, and
# (at least) two neighbouring words glued together to a distinctive word.
_GLUE_BAR = 92.0
_PAIR_GLUE_BAR = 90.0


def canonical(token_text: str, kind: str = "word") -> str:
    """Return the form used to compare tokens: lowercase, no dots or apostrophes, bare numbers."""
    lower = token_text.lower()
    if lower.isalpha() or lower.isdecimal():
        # Most words: no ordinal, time, price, dot, hyphen or apostrophe in them, so none of the
        # cases below changes them. (isdecimal is re's \d: a number is its own price match.)
        return lower
    if lower in _ORDINALS:
        return _ORDINALS[lower]
    day = _DAY_ORDINAL_RE.match(lower)
    if day:
        return day.group(1)
    if ":" in lower:
        return lower  # a time of day, not a price
    if kind in ("money", "number") or lower[:1] in "€$£" or lower.endswith(",-"):
        found = _MONEY_RE.search(lower)
        if found:
            number = found.group().replace(",", ".")
            if "." in number and kind in ("money", "number") and not lower.endswith("%"):
                whole, _, cents = number.partition(".")
                return whole if cents.strip("0") == "" else number
            return number + ("%" if lower.endswith("%") else "")
    return _STRIP_RE.sub("", lower)


_CANONICAL_FORMS: dict[tuple[str, str], str] = {}
_CANONICAL_LIMIT = 100_000


def _remember_canonical(token_text: str, kind: str) -> str:
    """Return canonical(token_text, kind), remembering it for find_mentions (canonical's only
    caller per comment word; a plain dict is looked up inline there, cheaper than lru_cache)."""
    form = canonical(token_text, kind)
    if len(_CANONICAL_FORMS) < _CANONICAL_LIMIT:
        _CANONICAL_FORMS[(token_text, kind)] = form
    return form


def _label_tokens(text: str) -> tuple[str, ...]:
    from .text import _raw_tokens

    tokens: list[str] = []
    for surface, kind, _start, _end in _raw_tokens(text):
        if kind in ("word", "abbr", "money", "number"):
            form = canonical(surface, kind)
            if form in ("euro", "eur") and tokens and tokens[-1][:1].isdigit():
                continue  # "89 euro" compares as "89", like "€89" and "89,-"
            tokens.append(form)
    # "de link", "the 700s": the article is not part of the name.
    while len(tokens) > 1 and tokens[0] in _ARTICLES:
        tokens.pop(0)
    return tuple(tokens)


@functools.cache
def _places() -> dict[str, str]:
    data = load_json("places.json")
    return {str(key): str(value) for key, value in data["cities"].items()}


@functools.lru_cache(maxsize=256)
def _city_index(item_cities: tuple[str, ...]) -> tuple[dict[str, str], frozenset[str]]:
    """Return the known city names (the gazetteer plus the items' own cities) and first words."""
    cities = dict(_places())
    for city in item_cities:
        cities.setdefault(city.lower(), city)
    return cities, frozenset(name.split()[0] for name in cities if " " in name)


@dataclass(frozen=True)
class _Alias:
    item: PromisedItem
    tokens: tuple[str, ...]
    # The alias written without spaces, and the lengths of a glued window whose fuzz.ratio
    # against it can reach the glue bar at all (see _can_reach_ratio): set once, read per word.
    glued: str = field(init=False)
    glue_lengths: range = field(init=False)

    def __post_init__(self) -> None:
        glued = "".join(self.tokens)
        possible = [length for length in range(2 * len(glued) + 2) if _can_reach_ratio(length, len(glued), _GLUE_BAR)]
        object.__setattr__(self, "glued", glued)
        # The possible lengths are one run around the alias's own length (the bound falls off
        # on both sides of it).
        object.__setattr__(self, "glue_lengths", range(possible[0], possible[-1] + 1) if possible else range(0))


@dataclass(frozen=True)
class MatchedMention:
    """An item mention plus the token positions it covers, for attributing findings."""

    mention: ItemMention
    first: int
    last: int


def token_similarity(a: str, b: str) -> float:
    """Return 0..100: exact for short tokens and numbers, typo-tolerant for long ones."""
    if a == b:
        return 100.0
    if a[:1].isdigit() or b[:1].isdigit():
        return 0.0
    if _digits(a) != _digits(b):
        # Codes and model numbers differ by their digits: "weekend" is not "WEEKEND20",
        # "sm500" is not "sm700"; "wkend20" still is.
        return 0.0
    if len(a) < 5 or len(b) < 5:
        # Short words only forgive two swapped letters ("cdoe", "dya").
        return 85.0 if len(a) == len(b) >= 3 and _one_swap(a, b) else 0.0
    return max(fuzz.ratio(a, b), DamerauLevenshtein.normalized_similarity(a, b) * 100.0)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _one_swap(a: str, b: str) -> bool:
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _abbreviates(short: str, word: str) -> bool:
    """Tell whether `short` is `word` clipped ("Utr") or with letters left out ("Sth", "Ctr")."""
    if word.startswith(short):
        return True
    if short[0] != word[0] or short[:1].isdigit() or len(short) >= len(word):
        return False
    rest = iter(word)
    return all(letter in rest for letter in short)


def _plausible(seen: str, wanted: str) -> bool:
    """Cheap pre-check before fuzzy matching a window: shares a first or second letter."""
    return bool(seen) and (seen[0] == wanted[0] or seen[:1] == wanted[1:2] or seen[1:2] == wanted[:1])


# The most pair scores and word plans one campaign's index keeps: customers reuse a few
# thousand words, and the cap keeps a long-running worker's memory bounded whatever it is fed.
_WORD_CACHE_LIMIT = 50_000


def _pair_score(seen: str, wanted: str, multi_word: bool, threshold: float) -> tuple[float, bool]:
    """Score one window word against one alias word, as far as the word alone decides.

    Returns the similarity (raised to the threshold for an abbreviation) and whether the word
    would still pass as one typo when the rest of the name matches exactly.
    """
    score = token_similarity(seen, wanted)
    # "Utr CS", "Amsterdam Sth": a clipped or vowel-less word counts when the rest of the
    # alias matches exactly.
    if score < threshold and len(seen) >= 3 and multi_word and _abbreviates(seen, wanted):
        score = threshold
    # One typo in a short word ("frst month") passes when the rest of the name is exact.
    one_typo = (score < threshold and multi_word and min(len(seen), len(wanted)) >= 3
                and not seen[:1].isdigit() and DamerauLevenshtein.distance(seen, wanted) <= 1)
    return score, one_typo


def _can_reach_ratio(length_a: int, length_b: int, wanted: float) -> bool:
    """Tell whether fuzz.ratio of two strings of these lengths can reach `wanted` at all.

    The ratio is 100 * (1 - indel distance / total length) and the distance is at least the
    difference in length, so most glued windows are settled without calling rapidfuzz. (The
    same bound holds for token_similarity, whose Damerau-Levenshtein score is lower still.)
    """
    total = length_a + length_b
    return total == 0 or 100.0 * (total - abs(length_a - length_b)) >= wanted * total - 1e-6


class _AliasStart(NamedTuple):
    """An alias that a window starting at one comment word can match."""

    alias: _Alias
    # Whether the word can be the alias's first word (else only glued windows can match).
    first_can_pass: bool
    # The widths of the glued windows starting at the word that can reach the glue bar at all,
    # in the order they are tried (one word less than the alias, then one more).
    glue_widths: tuple[int, ...]
    # fuzz.ratio(word, glued alias) for a two-word alias (its one-word glued window), else 0.
    alone: float


class _WordPlan(NamedTuple):
    """What one comment word can start, worked out once per word and campaign."""

    alias_starts: tuple[_AliasStart, ...]
    # (similarity, item) of each distinctive word this word names on its own.
    distinctive: tuple[tuple[float, PromisedItem], ...]
    # (item, distinctive word, lengths of a next word with which the glued pair can reach the
    # word) for each word that this word glued to the next one might name ("next day").
    glue_targets: tuple[tuple[PromisedItem, str, frozenset[int]], ...]


_NO_PLAN = _WordPlan((), (), ())


class _WordFacts(NamedTuple):
    """Everything find_mentions needs of one comment word (text and kind), in one lookup."""

    form: str
    plan: _WordPlan
    # The city this word names on its own, and whether it starts a multi-word city name.
    city: str | None
    starts_city: bool
    # Whether any candidate can start at this word; most words start none.
    active: bool


# Glued windows and pairs start with a known word and go on with words not known in advance.
# Whatever those are (`rest` characters), the longest common subsequence (LCS) of the whole
# and a target is at most LCS(word, target[:k]) + min(rest, len(target) - k) for the best split
# k. fuzz.ratio is 200 * LCS / total length, so most common words ("the", "day") are ruled out
# once per word and campaign, instead of joining windows for every comment.


def _prefix_lcs(word: str, target: str) -> list[int]:
    """Return LCS(word, target[:k]) for k = 0 .. len(target)."""
    return [LCSseq.similarity(word, target[:k]) for k in range(len(target) + 1)]


def _most_in_common(prefix_lcs: list[int], rest: int) -> int:
    """Return the longest LCS a word (see _prefix_lcs) followed by `rest` characters can have
    with the target."""
    target_length = len(prefix_lcs) - 1
    return max(common + min(rest, target_length - k) for k, common in enumerate(prefix_lcs))


def _glued_window_can_reach(word: str, alias: _Alias) -> bool:
    """Tell whether a glued window of several words starting with `word` can reach the glue bar."""
    prefix_lcs = _prefix_lcs(word, alias.glued)
    total = len(alias.glued)
    return any(
        200.0 * _most_in_common(prefix_lcs, length - len(word)) >= _GLUE_BAR * (length + total) - 1e-6
        for length in alias.glue_lengths
        if length >= len(word)
    )


def _pair_next_lengths(word: str, token: str, wanted: float) -> frozenset[int]:
    """Return the lengths of a next word with which token_similarity(word + next, token) can
    reach `wanted` (at least 90, so the 85 of a short swapped word never does).

    Beyond an equal pair, token_similarity needs both to start with a letter, the same digits,
    five characters or more, and its fuzz.ratio or Damerau-Levenshtein score to reach the bar:
    the Damerau-Levenshtein distance is at least half the indel distance (each of its edits is
    at most two insertions or deletions), and the indel distance is the total length less
    twice the LCS.
    """
    if not _digits(token).startswith(_digits(word)):
        return frozenset()
    fuzzy = not word[:1].isdigit() and not token[:1].isdigit()
    prefix_lcs = _prefix_lcs(word, token)
    lengths: set[int] = set()
    for rest in range(2 * len(token) + 2):
        length = len(word) + rest
        if length == len(token) and token.startswith(word):
            lengths.add(rest)  # the pair may equal the token
        elif fuzzy and length >= 5 and _can_reach_ratio(length, len(token), wanted):
            common = _most_in_common(prefix_lcs, rest)
            total = length + len(token)
            ratio = 200.0 * common / total
            damerau = 100.0 * (1.0 - (total - 2 * common) / (2.0 * max(length, len(token))))
            if max(ratio, damerau) >= wanted - 1e-6:
                lengths.add(rest)
    return frozenset(lengths)


class _ItemIndex:
    """A campaign's aliases and distinctive words, and per-word results about them.

    Built once per items tuple (the items are the same for every answer of a campaign). The
    per-word caches only hold what one word decides on its own; windows are still scored per
    comment.
    """

    __slots__ = ("aliases", "distinctive", "by_letter", "cities", "_plans", "_pairs", "_words")

    def __init__(self, items: tuple[PromisedItem, ...]) -> None:
        self.aliases = tuple(
            _Alias(item, tokens)
            for item in items
            for text in (item.label, *item.aliases)
            if (tokens := _label_tokens(text))
        )
        by_letter: dict[str, list[_Alias]] = {}
        for alias in self.aliases:
            for letter in {alias.tokens[0][:1], alias.tokens[0][1:2]}:
                by_letter.setdefault(letter, []).append(alias)
        self.by_letter = by_letter
        self.distinctive = _distinctive_tokens(items)
        cities, city_starts = _city_index(tuple(item.city for item in items if item.city))
        # The known city names, and the first words of multi-word ones.
        self.cities = (cities, city_starts)
        self._plans: dict[float, dict[str, _WordPlan]] = {}
        self._pairs: dict[tuple[str, str, bool, float], tuple[float, bool]] = {}
        self._words: dict[float, dict[str, dict[str, _WordFacts]]] = {}

    def pair_score(self, seen: str, wanted: str, multi_word: bool, threshold: float) -> tuple[float, bool]:
        """_pair_score, remembered."""
        key = (seen, wanted, multi_word, threshold)
        found = self._pairs.get(key)
        if found is None:
            found = _pair_score(seen, wanted, multi_word, threshold)
            if len(self._pairs) >= _WORD_CACHE_LIMIT:
                self._pairs.clear()
            self._pairs[key] = found
        return found

    def words(self, threshold: float) -> dict[str, dict[str, _WordFacts]]:
        """Return the word facts made so far for a threshold, by kind and text (see word()).

        Every compared kind has its dict from the start. (By kind, then text: a lookup needs
        no (text, kind) key tuple built and hashed per word.)
        """
        found = self._words.get(threshold)
        if found is None:
            found = self._words.setdefault(threshold, {kind: {} for kind in _COMPARED_KINDS})
        return found

    def word(self, text: str, kind: str, threshold: float) -> _WordFacts:
        """Return the facts of a comment word of this kind (computed on first sight)."""
        form = _CANONICAL_FORMS.get((text, kind))
        if form is None:
            form = _remember_canonical(text, kind)
        plan = self.plan(form, threshold)
        cities, city_starts = self.cities
        lower = text.lower()
        city = cities.get(lower)
        starts_city = lower in city_starts
        active = bool(plan.alias_starts or plan.distinctive or plan.glue_targets) or city is not None or starts_city
        found = _WordFacts(form, plan, city, starts_city, active)
        known = self.words(threshold).setdefault(kind, {})
        if len(known) >= _WORD_CACHE_LIMIT:
            known.clear()
        known[text] = found
        return found

    def plan(self, form: str, threshold: float) -> _WordPlan:
        """Return what `form` can start in this campaign (computed on first sight)."""
        # Only aliases whose first word shares a first letter with this word (or has the first
        # two letters swapped) can match here; this keeps fuzzy matching off most windows. Most
        # new words (numbers, names) start nothing: settled before the cache, not remembered.
        by_letter = self.by_letter
        if form[:1] not in by_letter and form[1:2] not in by_letter and form[:1] not in self.distinctive:
            return _NO_PLAN
        known = self._plans.get(threshold)
        if known is None:
            known = self._plans.setdefault(threshold, {})
        found = known.get(form)
        if found is None:
            found = self._make_plan(form, threshold)
            if len(known) >= _WORD_CACHE_LIMIT:
                known.clear()
            known[form] = found
        return found

    def _make_plan(self, form: str, threshold: float) -> _WordPlan:
        by_letter = self.by_letter
        starts: list[_AliasStart] = []
        seen: set[int] = set()
        for alias in (*by_letter.get(form[:1], ()), *by_letter.get(form[1:2], ())) if form else ():
            if id(alias) in seen or not _plausible(form, alias.tokens[0]):
                continue
            seen.add(id(alias))
            score, one_typo = self.pair_score(form, alias.tokens[0], len(alias.tokens) > 1, threshold)
            # A window whose first word fails fails as a whole, whatever follows it.
            first_can_pass = score >= threshold or one_typo
            size = len(alias.tokens)
            glued = alias.glued
            alone = fuzz.ratio(form, glued) if len(glued) >= 5 and size == 2 else 0.0
            glue_widths: tuple[int, ...] = ()
            if len(glued) >= 5:
                several_can_reach = _glued_window_can_reach(form, alias)
                # A one-word window only arises for a two-word alias, and scores `alone`.
                glue_widths = tuple(
                    width for width in (size - 1, size + 1)
                    if width >= 1 and (alone >= _GLUE_BAR if width == 1 else several_can_reach)
                )
            if first_can_pass or glue_widths:
                starts.append(_AliasStart(alias, first_can_pass, glue_widths, alone))
        distinctive: list[tuple[float, PromisedItem]] = []
        for item, token in self.distinctive.get(form[:1], []):
            score = token_similarity(form, token)
            if score < threshold and len(token) >= 6 and form.startswith(token):
                score = 90.0  # a compound that starts with the name: "airfryerdeal", "koffieactie"
            if score >= threshold:
                distinctive.append((score, item))
        glue_wanted = max(threshold, _PAIR_GLUE_BAR)
        glue_targets = tuple(
            (item, token, next_lengths)
            for item, token in self.distinctive.get(form[:1], [])
            if len(token) >= 5
            and (next_lengths := _pair_next_lengths(form, token, glue_wanted))
        )
        return _WordPlan(tuple(starts), tuple(distinctive), glue_targets)


def _score_window(
    window: Sequence[str], alias: tuple[str, ...], threshold: float, index: _ItemIndex
) -> float:
    multi_word = len(alias) > 1
    scores = []
    for seen, wanted in zip(window, alias, strict=False):
        score, one_typo = index.pair_score(seen, wanted, multi_word, threshold)
        if score < threshold:
            if not (one_typo and sum(a == b for a, b in zip(window, alias, strict=False)) >= len(alias) - 1):
                return 0.0
            score = threshold
        scores.append(score)
    joined = fuzz.ratio("".join(window), "".join(alias))
    return min(sum(scores) / len(scores), max(joined, threshold))


def find_mentions(
    normalized: NormalizedText,
    tokens: Sequence[Token],
    items: Sequence[PromisedItem],
    threshold: float = 85.0,
) -> list[MatchedMention]:
    """Return the promised items and bare cities a comment names, best match per text span."""
    # (The tokens themselves, not (position, token) pairs: a chosen mention looks its
    # positions up, and most comments have none.)
    words = [token for token in tokens if token.kind in _COMPARED_KINDS]
    index = _campaign_index(tuple(items))
    # A word's canonical form, plan and city depend on its text and kind alone: remembered per
    # campaign, bounded like the other per-word caches.
    known = index.words(threshold)
    facts = [known[token.kind].get(token.text) or index.word(token.text, token.kind, threshold) for token in words]
    forms = [fact.form for fact in facts]
    # Drop a currency word after a number, as in the labels: "89 euro" compares as "89".
    # (Most comments have no currency word: the list scans settle that without a loop.)
    if "euro" in forms or "eur" in forms:
        keep = [
            not (form in ("euro", "eur") and position > 0 and forms[position - 1][:1].isdigit())
            for position, form in enumerate(forms)
        ]
        words = [word for word, kept in zip(words, keep) if kept]
        facts = [fact for fact, kept in zip(facts, keep) if kept]
        forms = [form for form, kept in zip(forms, keep) if kept]

    count = len(forms)
    cities = index.cities[0]
    glue_wanted = max(threshold, _PAIR_GLUE_BAR)
    # (rank, similarity, first word, last word, item, city); rank favours longer matches.
    # Every candidate found at a word starts there, so collecting them word by word (aliases,
    # distinctive words, glued pairs, cities) orders ties in the sort below as collecting each
    # kind over the whole comment would.
    candidates: list[tuple[float, float, int, int, PromisedItem | None, str | None]] = []
    for start, fact in enumerate(facts):
        if not fact.active:
            continue
        plan = fact.plan
        for alias, first_can_pass, glue_widths, alone in plan.alias_starts:
            size = len(alias.tokens)
            if first_can_pass:
                if start + size <= count:
                    score = _score_window(forms[start:start + size], alias.tokens, threshold, index)
                    if score:
                        candidates.append((score + 5.0 * size, score, start, start + size - 1, alias.item, None))
                # "eerste maand niet gratis" still names "eerste maand gratis": one inserted word.
                if size >= 2 and start + size < count:
                    window = forms[start:start + size + 1]
                    if _plausible(window[-1], alias.tokens[-1]):
                        for skip in range(1, size):
                            score = _score_window(window[:skip] + window[skip + 1:], alias.tokens, threshold, index)
                            if score:
                                candidates.append((score - 5.0 + 5.0 * size, score - 5.0, start, start + size,
                                                   alias.item, None))
                                break
            # "SM 700" for "SM700", "airfryer xl" for "Airfryer XL": compare glued windows too.
            for width in glue_widths:
                if start + width > count:
                    continue
                if width == 1:
                    score = alone
                else:
                    joined = "".join(forms[start:start + width])
                    if len(joined) not in alias.glue_lengths:
                        continue
                    score = fuzz.ratio(joined, alias.glued)
                if score >= _GLUE_BAR:
                    candidates.append((score + 5.0 * width, score, start, start + width - 1, alias.item, None))
        for score, item in plan.distinctive:
            candidates.append((score - 10.0, score, start, start, item, None))
        # "next day" for the distinctive "next-day": glue neighbouring words.
        if plan.glue_targets and start + 1 < count:
            following = forms[start + 1]
            for item, token, next_lengths in plan.glue_targets:
                if len(following) in next_lengths and token_similarity(fact.form + following, token) >= glue_wanted:
                    candidates.append((80.0, 90.0, start, start + 1, item, None))
        # Cities: a word that starts a multi-word city name, or that names one on its own.
        if fact.starts_city and start + 1 < count:
            pair = f"{words[start].lower} {words[start + 1].lower}"
            if pair in cities:
                candidates.append((50.0, 100.0, start, start + 1, None, cities[pair]))
        if fact.city is not None:
            candidates.append((50.0, 100.0, start, start, None, fact.city))
    if not candidates:
        return []  # most comments name nothing
    # Best first; a longer, better match claims its tokens, weaker overlapping ones drop out.
    candidates.sort(key=lambda c: (-c[0], c[2]))
    taken: set[int] = set()
    chosen: list[MatchedMention] = []
    for _rank, similarity, first, last, found_item, city in candidates:
        span_positions = set(range(first, last + 1))
        if span_positions & taken:
            continue
        taken |= span_positions
        start_token = words[first]
        end_token = words[last]
        span = normalized.original_span(start_token.start, end_token.end)
        matched = normalized.original[span[0]:span[1]]
        mention = ItemMention(item=found_item, span=span, matched_text=matched,
                              similarity=round(similarity / 100.0, 3),
                              city=city if found_item is None else found_item.city)
        # Tokens differ in their offsets, so the first equal token is the token itself.
        chosen.append(MatchedMention(mention, tokens.index(start_token), tokens.index(end_token)))
    chosen.sort(key=lambda m: m.first)
    return chosen


# The last campaign's items (held, so their ids stay theirs) and index. Callers pass the same
# item objects comment after comment; the same objects are equal with the same keys, so they
# skip _item_index's key, which hashes every field of every item. (Rebinding one global is
# atomic: a thread sees the old pair or the new one.)
_LAST_CAMPAIGN: tuple[tuple[PromisedItem, ...], _ItemIndex] | None = None


def _campaign_index(items: tuple[PromisedItem, ...]) -> _ItemIndex:
    global _LAST_CAMPAIGN
    last = _LAST_CAMPAIGN
    if last is not None:
        last_items, index = last
        if len(items) == len(last_items) and all(map(operator.is_, items, last_items)):
            return index
    index = _item_index(items, tuple(item.key for item in items))
    _LAST_CAMPAIGN = (items, index)
    return index


@functools.lru_cache(maxsize=256)
def _item_index(items: tuple[PromisedItem, ...], keys: tuple[object, ...]) -> _ItemIndex:
    """Tokenize the labels and aliases of a campaign's items once, not once per comment.

    `keys` is part of the cache key because PromisedItem equality ignores `key`: without it, a
    campaign whose items equal another's would get the other campaign's items (and ids) back.
    """
    return _ItemIndex(items)


def _distinctive_tokens(items: Sequence[PromisedItem]) -> dict[str, list[tuple[PromisedItem, str]]]:
    """Index tokens that belong to exactly one item and are not common words.

    Within one campaign "code" or "link" names the one item that has them; "Amsterdam" in a
    campaign with two Amsterdam branches belongs to both, so it stays a bare city.
    """
    owners: dict[str, set[int]] = {}
    for number, item in enumerate(items):
        for text in (item.label, *item.aliases):
            for token in _label_tokens(text):
                owners.setdefault(token, set()).add(number)
    index: dict[str, list[tuple[PromisedItem, str]]] = {}
    for token, numbers in owners.items():
        if len(numbers) != 1 or token in COMMON_TOKENS or len(token) < 2:
            continue
        if token.isdigit() and len(token) < 2:
            continue
        item = items[next(iter(numbers))]
        if item.kind == "date":
            continue  # "30" or "June" alone is some other day; a date needs its full form
        index.setdefault(token[:1], []).append((item, token))
        if len(token) >= 3 and not token[:1].isdigit():
            # A swapped first letter still has to find its entry.
            index.setdefault(token[1:2], []).append((item, token))
    return index


def mentioned_items(mentions: Sequence[MatchedMention]) -> tuple[ItemMention, ...]:
    """Return the plain ItemMention values in text order."""
    return tuple(m.mention for m in mentions)
