"""Broken-promise detection: rules (precise, explainable), a text model, and a combiner.

Rules give categories and evidence spans; the text model gives a probability per label. A small
combiner (one logistic regression per category over the rule confidences, the model's log-odds
and the NPS group) decides which categories are reported. It is fitted on out-of-fold model
probabilities of the train split by evaluation/train_model.py, so it learns how far each rule
and the model can be trusted on text they have not seen, instead of hand-set thresholds. A
reported category keeps a rule's evidence span when a rule found it, otherwise the clause the
model scores highest. Without a model (or a combiner) the rules decide alone, as before: a 9 or
10 drops cues marked ambiguous, and the model adds findings above fixed thresholds.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import DataFileError
from .items import MatchedMention, token_similarity
from .model import LinearTextModel, model_available, model_input, predict, predict_many
from .resources import has_data_file, load_json
from .rules import match_comment
from .text import NormalizedText, Token
from .types import CATEGORIES, Finding, PromisedItem

# Which kinds of promised item a category is about, most likely first (as labelled in train:
# a refused offer is sometimes about the promised product or price, "the mail said" about any).
# (An out-of-stock complaint names a location only when its sentence or a heading does:
# "Rotterdam CS had no cars left", "AMS airport: no cars left" happened there; a branch named
# elsewhere in the comment is not the point, _NEAR_ONLY.)
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    "closed_location": ("location",),
    "offer_not_honoured": ("offer", "product", "price"),
    "out_of_stock": ("product", "location"),
    "price_mismatch": ("price", "product"),
    "link_or_site_broken": ("other",),
    "wrong_information": ("date", "location", "offer", "price", "product", "other"),
    "other": ("offer", "product"),
}

_NEAR_ONLY = frozenset({("out_of_stock", "location")})

PRICE_CONTEXT = frozenset(
    """
    kassa bon kassabon folder prijs actieprijs schap schapkaartje site website webshop advertentie
    betalen betaald betaalde rekenen gerekend afrekenen winkelmandje mandje bevestiging productpagina
    checkout till receipt price paid pay charged charge advertised ad listed tag shelf flyer basket
    cart bill invoice ipv instead zei said
    """.split()
)
_UNIT_AFTER = frozenset(
    "min minuten minuut uur uren dagen dag days day km kg keer times x jaar year years maanden months "
    "weken weeks stuks pm am".split()
)
_NUMBER_RE = re.compile(r"^[€$£]?(\d+(?:[.,]\d{1,2})?)(?:,-)?$")
_HAS_DIGIT = re.compile(r"\d").search
_PRICE_KINDS = frozenset({"money", "word", "number"})


COMBINER_FILE = "combiner.json"
# A model log-odds beyond this says nothing more; clipping keeps one n-gram from dominating.
_LOGIT_CLIP = 6.0
Candidate = tuple[str, float, tuple[int, ...], str]


@dataclass(frozen=True)
class Combiner:
    """Logistic regressions over combiner_features(): one for "any broken promise", one per category.

    See evaluation/train_model.py. A comment is reported when the first reaches its threshold,
    or when one category alone reaches `sure` (a clear "the branch was closed" even where the
    model's binary head hesitates); then every category at its own threshold is reported, or
    else the most probable one.
    """

    labels: tuple[str, ...]  # "broken_promise", then categories
    weights: np.ndarray  # (labels, features)
    intercepts: np.ndarray  # (labels,)
    thresholds: np.ndarray  # (labels,)
    sure: float = 1.0

    def probabilities(self, features: np.ndarray) -> list[float]:
        # ndarray.dot rather than @: the same BLAS product (bit for bit), with less dispatch
        # before it, which on 8 x 33 numbers costs more than the product.
        logits = self.weights.dot(features)
        # -(logits + intercepts) in one step, exactly: (-b) - x rounds to what -(x + b) does.
        np.subtract(self._negated_intercepts, logits, out=logits)
        # 1 / (1 + e) on plain floats: the same IEEE operations as numpy's, without two calls.
        return [1.0 / (1.0 + e) for e in np.exp(logits, out=logits).tolist()]

    @functools.cached_property
    def _negated_intercepts(self) -> np.ndarray:
        return -self.intercepts

    @functools.cached_property
    def threshold_list(self) -> list[float]:
        """The thresholds as plain floats, for comparing with one comment's probabilities."""
        return self.thresholds.tolist()  # type: ignore[no-any-return]


_MENTION_KINDS = ("location", "offer", "product", "price", "date", "other", "city")


def combiner_feature_names() -> tuple[str, ...]:
    """Name the combiner's inputs, in order (written next to the weights, checked on load)."""
    return (
        *(f"rule:{c}" for c in CATEGORIES),
        *(f"model:{label}" for label in ("broken_promise", *CATEGORIES)),
        "score:detractor", "score:passive", "score:promoter", "rule:count",
        *(f"mentions:{kind}" for kind in _MENTION_KINDS),
        *(f"rule*model:{c}" for c in CATEGORIES),
    )


_CATEGORY_INDEX = {category: index for index, category in enumerate(CATEGORIES)}
_KIND_INDEX = {kind: index for index, kind in enumerate(_MENTION_KINDS)}
_MODEL_LABELS = ("broken_promise", *CATEGORIES)
_P_FLOOR = 1e-6
_P_CEILING = 1 - _P_FLOOR
_ZEROS = (0.0,) * len(_MODEL_LABELS)


def combiner_features(
    candidates: Sequence[Candidate], probabilities: dict[str, float], score: int | None,
    mentions: Sequence[MatchedMention] = (),
) -> np.ndarray:
    """Return the combiner's input for one comment: what the rules, the model, the score say,
    and which kinds of promised item (or a bare city) the comment names."""
    # Plain lists and math: this runs once per comment, and numpy's per-call overhead on a few
    # dozen numbers costs more than the arithmetic.
    rule = [0.0] * len(CATEGORIES)
    for category, confidence, _positions, _source in candidates:
        index = _CATEGORY_INDEX[category]
        if confidence > rule[index]:
            rule[index] = confidence
    logits = []
    log = math.log
    for p in map(probabilities.get, _MODEL_LABELS, _ZEROS):
        # Clamped by the comparisons max() and min() would make, without their calls, which cost
        # more than the arithmetic: p = min(max(p, floor), ceiling), then the log-odds likewise.
        p = _P_FLOOR if _P_FLOOR > p else p
        p = _P_CEILING if _P_CEILING < p else p
        logit = log(p / (1 - p))
        logit = logit if logit < _LOGIT_CLIP else _LOGIT_CLIP
        logits.append((logit if logit > -_LOGIT_CLIP else -_LOGIT_CLIP) / _LOGIT_CLIP)
    groups = [0.0, 0.0, 0.0]
    if score is not None:
        groups[0 if score <= 6 else 1 if score <= 8 else 2] = 1.0
    fired = len(rule) - rule.count(0.0)  # each value is 0.0 or a confidence above it
    kinds = [0.0] * len(_MENTION_KINDS)
    for matched in mentions:
        item = matched.mention.item
        kinds[_KIND_INDEX["city" if item is None else item.kind if item.kind in _KIND_INDEX else "other"]] = 1.0
    # A rule and the model agreeing on a category says more than either alone.
    features = rule + logits
    features += groups
    features.append(fired / 2.0)
    features += kinds
    features += map(operator.mul, rule, logits[1:])
    return np.fromiter(features, np.float64, len(features))  # cheaper than np.array on a list


def combiner_from_dict(data: dict) -> Combiner:
    """Build a combiner from its exported form, refusing one written for other features."""
    try:
        if tuple(data["features"]) != combiner_feature_names():
            raise DataFileError(f"{COMBINER_FILE} was trained on other features; retrain it")
        labels = tuple(data["labels"])
        if labels[:1] != ("broken_promise",) or set(labels[1:]) - set(CATEGORIES):
            raise DataFileError(f"{COMBINER_FILE} names an unknown label")
        return Combiner(
            labels=labels,
            weights=np.asarray(data["weights"], dtype=np.float64),
            intercepts=np.asarray(data["intercepts"], dtype=np.float64),
            thresholds=np.asarray(data["thresholds"], dtype=np.float64),
            sure=float(data.get("sure", 1.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"{COMBINER_FILE} is malformed: {exc!r}") from exc


@functools.cache
def load_combiner() -> Combiner | None:
    """Read the packaged combiner once per process (None when none ships)."""
    if not has_data_file(COMBINER_FILE):
        return None
    return combiner_from_dict(load_json(COMBINER_FILE))


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds for combining rules and model; defaults were tuned by cross-validation."""

    model_threshold: float = 0.7
    detractor_threshold: float = 0.5
    category_threshold: float = 0.5
    high_score_penalty: float = 0.85
    use_model: bool = True
    # None means the packaged model; training scripts pass their own for cross-validation.
    model: LinearTextModel | None = None
    # Decide with the combiner when one ships (or is given); False uses the fixed thresholds.
    use_combiner: bool = True
    combiner: Combiner | None = None


DEFAULT_CONFIG = DetectorConfig()


def detect(
    normalized: NormalizedText,
    tokens: Sequence[Token],
    language: str,
    mentions: Sequence[MatchedMention],
    items: Sequence[PromisedItem],
    score: int | None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> tuple[Finding, ...]:
    """Return the broken-promise findings of one comment."""
    candidates = rule_candidates(tokens, language, mentions, items, score, config)
    if config.use_model and (config.model is not None or model_available()):
        combiner = config.combiner if config.combiner is not None else (
            load_combiner() if config.use_combiner else None)
        if combiner is not None:
            probabilities = model_probabilities(normalized, tokens, language, config.model)
            candidates = _combine(combiner, normalized, tokens, language, candidates, probabilities, score,
                                  mentions, config.model)
        else:
            candidates += _model_candidates(normalized, tokens, language, candidates, score, config)
    return _attribute(normalized, tokens, candidates, mentions)


def model_probabilities(
    normalized: NormalizedText, tokens: Sequence[Token], language: str, model: LinearTextModel | None = None
) -> dict[str, float]:
    """Return the text model's probability per label for one comment."""
    lemmas = [t.lemma for t in tokens if t.is_word]
    return predict(model_input(normalized.text, lemmas), language, model)


def rule_candidates(
    tokens: Sequence[Token],
    language: str,
    mentions: Sequence[MatchedMention],
    items: Sequence[PromisedItem],
    score: int | None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> list[Candidate]:
    """Return what the rules find: (category, confidence, evidence positions, "rule")."""
    # Customers mix languages ("SM700 out of stock op de dag van de launch"): the other
    # language's portable rules run too, on the same tokens (match_comment).
    marks: dict[int, frozenset[str]] = {}
    for matched in mentions:
        if matched.mention.item is not None:
            for index in range(matched.first, matched.last + 1):
                marks[index] = marks.get(index, frozenset()) | {f"<{matched.mention.item.kind}>"}
    hits = match_comment(tokens, language, extra=marks)
    if hits:  # most comments set off no rule, and the filters below leave an empty list as it is
        if any(hit.rule.requires_item_text for hit in hits):
            # Only then the items' own words are needed (few rules ask, few comments set them off).
            item_text = " ".join(text.lower() for item in items for text in (item.label, *item.aliases))
            hits = [hit for hit in hits
                    if not hit.rule.requires_item_text or any(t in item_text for t in hit.rule.requires_item_text)]
        if any(not hit.rule.fallback for hit in hits):
            hits = [hit for hit in hits if not hit.rule.fallback]
        if all(hit.rule.needs_other_finding for hit in hits):
            hits = []
    candidates: list[Candidate] = []
    for hit in hits:
        confidence = _adjust(hit.rule.confidence, hit.rule.ambiguous, score, config)
        if confidence is None:
            continue
        candidates.append((hit.category, confidence, hit.positions, "rule"))
    stock = _negated_product(tokens, mentions)
    if stock is not None and not any(c[0] == "out_of_stock" for c in candidates):
        confidence = _adjust(0.7, True, score, config)
        if confidence is not None:
            candidates.append(("out_of_stock", confidence, stock, "rule"))
    price = None if any(hit.rule.explains_prices for hit in hits) else _price_mismatch(tokens, items)
    if price is not None and not any(c[0] == "price_mismatch" for c in candidates):
        confidence = _adjust(0.75, True, score, config)
        if confidence is not None:
            candidates.append(("price_mismatch", confidence, price, "rule"))
    return candidates


def _combine(
    combiner: Combiner,
    normalized: NormalizedText,
    tokens: Sequence[Token],
    language: str,
    candidates: list[Candidate],
    probabilities: dict[str, float],
    score: int | None,
    mentions: Sequence[MatchedMention],
    model: LinearTextModel | None,
) -> list[Candidate]:
    """Keep the categories the combiner accepts, with the rules' evidence where they have it."""
    # numpy for the 8 x 33 product, plain floats after it: indexing an array element by element
    # costs more than the product.
    features = combiner_features(candidates, probabilities, score, mentions)
    decided = combiner.probabilities(features)
    thresholds = combiner.threshold_list
    if decided[0] < thresholds[0] and max(decided[1:]) < combiner.sure:
        return []
    chosen = [k for k in range(1, len(decided)) if decided[k] >= thresholds[k]]
    if not chosen:
        # The first of equals, as numpy's argmax.
        chosen = [max(range(1, len(decided)), key=decided.__getitem__)]
    kept: list[Candidate] = []
    for k in chosen:
        category = combiner.labels[k]
        # The report's confidence is the "any broken promise" probability when that is the
        # surer of the two: the category was then picked as the most likely explanation.
        confidence = round(min(max(decided[k], decided[0]) if len(chosen) == 1 else decided[k], 0.99), 3)
        from_rules = [c for c in candidates if c[0] == category]
        if from_rules:
            kept += [(category, confidence, positions, "rule") for _c, _conf, positions, _s in from_rules]
        else:
            kept.append((category, confidence,
                         _strongest_clause(normalized, tokens, language, category, model), "model"))
    return kept


def _adjust(confidence: float, ambiguous: bool, score: int | None, config: DetectorConfig) -> float | None:
    if score is None:
        return confidence
    if score >= 9:
        # A promoter rarely reports a broken promise; an ambiguous cue is then more likely noise.
        return None if ambiguous else round(confidence * config.high_score_penalty, 3)
    if score <= 6:
        return round(min(0.99, confidence + 0.05), 3)
    return confidence


def _negated_product(tokens: Sequence[Token], mentions: Sequence[MatchedMention]) -> tuple[int, ...] | None:
    """Return evidence when a promised product is named under a negation ("no airfryers")."""
    for matched in mentions:
        item = matched.mention.item
        if item is None or item.kind != "product" or not tokens[matched.first].negated:
            continue
        if not _names_the_product(matched.mention.matched_text, item):
            continue  # "geen koffiedrinker" is about the customer, not the coffee
        clause = tokens[matched.first].clause
        negators = [i for i, t in enumerate(tokens) if t.clause == clause and t.negated and t.lower in _STOCK_NEGATORS]
        if negators:
            return tuple(sorted({negators[0], matched.first, matched.last}))
    return None


def _names_the_product(text: str, item: PromisedItem) -> bool:
    words = [w for w in text.lower().split() if w]
    names = {w for name in (item.label, *item.aliases) for w in name.lower().split()}
    return all(any(token_similarity(w, n) >= 85 for n in names) for w in words)


_STOCK_NEGATORS = frozenset({"no", "none", "nowhere", "geen", "nergens", "zero"})


def _price_values(tokens: Sequence[Token]) -> list[tuple[float, int]]:
    values = []
    known = _PRICE_FORMS
    for index, token in enumerate(tokens):
        kind = token.kind
        if kind not in _PRICE_KINDS or token.lower.isalpha():
            continue  # no price, as _price_form would say: most tokens need no lookup
        # Whether a token reads as a price, and which, depends on its text and kind alone:
        # remembered, so a number or code seen before costs one lookup instead of a string of tests.
        key = (token.lower, kind)
        parsed = known.get(key)
        if parsed is None:
            parsed = _price_form(token.lower, kind) or False
            if len(known) < _PRICE_FORM_LIMIT:
                known[key] = parsed
        if parsed is False:
            continue
        value, is_money = parsed
        following = tokens[index + 1].lower if index + 1 < len(tokens) else ""
        # A colon glued to the number is part of a time ("17 :00"); one after a word is a label
        # ("kassabon: 139 euro").
        glued_before = index > 0 and tokens[index - 1].lower == ":" and tokens[index - 1].end == token.start
        glued_after = following == ":" and tokens[index + 1].start == token.end
        if following in _UNIT_AFTER or glued_after or glued_before or following.startswith("%"):
            continue
        if not is_money and (value < 10 or value > 5000 or following in ("/",)):
            continue
        values.append((value, index))
    return values


def _price_form(lower: str, kind: str) -> tuple[float, bool] | None:
    """Return the value a token would state as a price and whether it is money, or None."""
    if kind not in _PRICE_KINDS or lower.endswith("%"):
        return None
    if lower.isdecimal():
        # Digits alone, the commonest number and new in most comments that have one: what the
        # pattern below would read, without its string steps.
        return float(lower), kind == "money"
    # A price needs a digit: most words have none, and skipping them spares the regex.
    if lower.isalpha() or not _HAS_DIGIT(lower):
        return None
    text = lower.replace(" ", "").replace("euro", "").replace("eur", "")
    match = _NUMBER_RE.match(text)
    if not match:
        return None
    raw = match.group(1)
    return float(raw.replace(",", ".")), kind == "money" or "," in raw or "." in raw


# (lower, kind) of a token to _price_form's answer (False: no price); bounded like the other
# per-word caches.
_PRICE_FORMS: dict[tuple[str, str], tuple[float, bool] | Literal[False]] = {}
_PRICE_FORM_LIMIT = 100_000


def _price_mismatch(tokens: Sequence[Token], items: Sequence[PromisedItem] = ()) -> tuple[int, ...] | None:
    """Return evidence positions when a comment quotes two different prices in a price context,
    or one price near but not at a promised price ("149 on the site" against a promised 129)."""
    values = _price_values(tokens)
    distinct = {value for value, _index in values}
    if len(distinct) == 1:
        promised = _promised_prices(items)
        value = next(iter(distinct))
        # Within a factor of two: "2 euro for a bag" is another price, not the promised one.
        if not promised or value in promised or not any(p / 2 <= value <= p * 2 for p in promised):
            return None
    elif len(distinct) < 2:
        return None
    lemmas = {token.lemma for token in tokens} | {token.lower for token in tokens}
    if not lemmas & PRICE_CONTEXT:
        return None
    positions = sorted(index for _value, index in values)
    return (positions[0], positions[-1])


def _promised_prices(items: Sequence[PromisedItem]) -> frozenset[float]:
    prices = set()
    for item in items:
        if item.kind == "price" and item.promised_value:
            try:
                prices.add(float(item.promised_value.replace(",", ".")))
            except ValueError:
                continue
    return frozenset(prices)


def _model_candidates(
    normalized: NormalizedText,
    tokens: Sequence[Token],
    language: str,
    candidates: list[tuple[str, float, tuple[int, ...], str]],
    score: int | None,
    config: DetectorConfig,
) -> list[tuple[str, float, tuple[int, ...], str]]:
    lemmas = [t.lemma for t in tokens if t.is_word]
    probabilities = predict(model_input(normalized.text, lemmas), language, config.model)
    binary = probabilities.get("broken_promise", 0.0)
    if score is not None and score >= 9:
        binary *= config.high_score_penalty
    threshold = config.model_threshold
    if score is not None and score <= 6:
        # A detractor who writes something failure-like is more likely reporting one.
        threshold = config.detractor_threshold
    if binary < threshold:
        return []
    found = {c[0] for c in candidates}
    ranked = sorted(
        ((probabilities.get(category, 0.0), category) for category in CATEGORIES), reverse=True
    )
    if found:
        # Rules already explain this comment; the model may only add a category it is sure of.
        chosen = [c for p, c in ranked if c not in found and p >= config.category_threshold + 0.15]
    else:
        chosen = [ranked[0][1]] + [c for p, c in ranked[1:] if p >= config.category_threshold]
    added: list[tuple[str, float, tuple[int, ...], str]] = []
    for category in chosen:
        added.append((category, round(min(binary, 0.99), 3),
                      _strongest_clause(normalized, tokens, language, category, config.model), "model"))
    return added


def _strongest_clause(
    normalized: NormalizedText, tokens: Sequence[Token], language: str, category: str,
    model: LinearTextModel | None,
) -> tuple[int, ...]:
    clauses: dict[int, list[int]] = {}
    for index, token in enumerate(tokens):
        if token.is_word or token.kind in ("money", "number"):
            clauses.setdefault(token.clause, []).append(index)
    if not clauses:
        return ()
    units = list(clauses.values())
    if len(units) == 1:
        return (units[0][0], units[0][-1])
    texts = [
        model_input(normalized.text[tokens[unit[0]].start:tokens[unit[-1]].end],
                    [tokens[i].lemma for i in unit if tokens[i].is_word])
        for unit in units
    ]
    scores = predict_many(texts, language, model)
    best = max(range(len(units)), key=lambda k: scores[k].get(category, 0.0) + scores[k].get("broken_promise", 0.0))
    return (units[best][0], units[best][-1])


def _attribute(
    normalized: NormalizedText,
    tokens: Sequence[Token],
    candidates: list[tuple[str, float, tuple[int, ...], str]],
    mentions: Sequence[MatchedMention],
) -> tuple[Finding, ...]:
    findings: dict[tuple[str, int], Finding] = {}
    for category, confidence, positions, source in candidates:
        if positions:
            span = normalized.original_span(tokens[positions[0]].start, tokens[positions[-1]].end)
        else:
            span = (0, len(normalized.original))
        for item in _items_for(category, positions, tokens, mentions):
            finding = Finding(category=category, item=item, span=span, confidence=confidence, source=source)
            key = (category, id(item) if item is not None else 0)
            current = findings.get(key)
            if current is None or (current.source, current.confidence) < (finding.source, finding.confidence):
                # "rule" sorts after "model": a rule's explainable evidence wins a tie.
                findings[key] = finding
    if len(findings) < 2:
        return tuple(findings.values())  # nothing to order or make redundant (most comments)
    ordered = sorted(findings.values(), key=lambda f: (f.span[0], CATEGORIES.index(f.category)))
    # A finding with an item makes the same category without one redundant.
    with_item = {f.category for f in ordered if f.item is not None}
    return tuple(f for f in ordered if f.item is not None or f.category not in with_item)


def _items_for(
    category: str, positions: tuple[int, ...], tokens: Sequence[Token], mentions: Sequence[MatchedMention]
) -> list[PromisedItem | None]:
    kinds = CATEGORY_KINDS.get(category, ())
    usable = [m for m in mentions if m.mention.item is not None and m.mention.item.kind in kinds]
    if not usable or not positions:
        if usable and len({id(m.mention.item) for m in usable}) == 1:
            return [usable[0].mention.item]
        return [None]
    anchor = positions[0]
    by_kind = [(kind, [m for m in usable if m.mention.item is not None and m.mention.item.kind == kind])
               for kind in kinds]
    # The kind decides first (a price complaint names the price before the product), then
    # closeness: the evidence's sentence, a heading ("AMS airport: no cars left"), or the only
    # such item in the comment.
    for kind, of_kind in by_kind:
        for distance in _DISTANCES:
            if distance == "anywhere" and (category, kind) in _NEAR_ONLY:
                continue
            found = _items_within(distance, of_kind, anchor, tokens)
            if found:
                return found
    return [None]


_DISTANCES = ("near", "heading", "anywhere")


def _items_within(
    distance: str, of_kind: Sequence[MatchedMention], anchor: int, tokens: Sequence[Token]
) -> list[PromisedItem | None]:
    """Return the items of one kind named within a distance of the evidence, if any."""
    if distance == "near":
        same_clause = [m for m in of_kind if tokens[m.first].clause == tokens[anchor].clause]
        if same_clause:
            return list({id(m.mention.item): m.mention.item for m in same_clause}.values())
        same_sentence = [m for m in of_kind if tokens[m.first].sentence == tokens[anchor].sentence]
        if same_sentence:
            return [min(same_sentence, key=lambda m: abs(m.first - anchor)).mention.item]
        return []
    if distance == "heading":
        # An item followed by a colon heads what comes after it: "Rotterdam CS: closed".
        headings = [m for m in of_kind if m.last < anchor and m.last + 1 < len(tokens)
                    and tokens[m.last + 1].lower == ":"]
        return [max(headings, key=lambda m: m.last).mention.item] if headings else []
    if not of_kind:
        return []
    distinct = {id(m.mention.item): m.mention.item for m in of_kind}
    if len(distinct) == 1:
        return list(distinct.values())
    return [min(of_kind, key=lambda m: abs(m.first - anchor)).mention.item]

