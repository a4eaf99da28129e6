"""Plain, immutable values that flow in and out of the analysis library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Literal, get_args

ItemKind = Literal["location", "offer", "product", "price", "date", "other"]
ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)

Category = Literal[
    "closed_location",
    "offer_not_honoured",
    "out_of_stock",
    "price_mismatch",
    "link_or_site_broken",
    "wrong_information",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)

Language = Literal["nl", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)

Span = tuple[int, int]
"""Start and end offsets into the original (un-normalized) comment text."""


@dataclass(frozen=True)
class PromisedItem:
    """One thing a campaign promised: a location, an offer, a product, a price, a date."""

    kind: str
    label: str
    aliases: tuple[str, ...] = ()
    city: str | None = None
    address: str | None = None
    promised_value: str | None = None
    # The caller's own identifier (a database id, say), carried through untouched.
    key: Hashable | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sentiment:
    """Lexicon polarity (-1..1) and subjectivity (0..1), and the analyzer that produced them."""

    polarity: float
    subjectivity: float
    analyzer: str


@dataclass(frozen=True)
class ItemMention:
    """A promised item (or, when item is None, a bare city) named in a comment."""

    item: PromisedItem | None
    span: Span
    matched_text: str
    similarity: float
    city: str | None = None


@dataclass(frozen=True)
class Finding:
    """One broken-promise signal: what broke, which promised item, where in the text."""

    category: str
    item: PromisedItem | None
    span: Span
    confidence: float
    source: str = "rule"


@dataclass(frozen=True)
class CommentAnalysis:
    """Everything the library says about one comment."""

    text: str
    language: str
    score: int | None
    sentiment: Sentiment
    findings: tuple[Finding, ...]
    item_mentions: tuple[ItemMention, ...]
    keywords: tuple[str, ...]
    analyzer_version: str

    @property
    def broken_promise(self) -> bool:
        return bool(self.findings)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.category for f in self.findings))
