"""The text-analysis library: plain text and plain data in, frozen dataclasses out.

No Flask, no database, no app configuration: usable from a notebook or a worker alike.
Lexicons, rules and the model are package data under analysis/data/, loaded once per process.
"""

from __future__ import annotations

from .comment import analyze_comment, analyzer_version
from .errors import AnalysisError, DataFileError, InvalidInputError
from .keywords import distinctive_terms
from .stats import nps_summary
from .types import (
    CATEGORIES,
    CommentAnalysis,
    Finding,
    ItemMention,
    PromisedItem,
    Sentiment,
)
from .verdict import campaign_verdict

ANALYZER_VERSION: str = analyzer_version()

__all__ = [
    "ANALYZER_VERSION",
    "CATEGORIES",
    "AnalysisError",
    "CommentAnalysis",
    "DataFileError",
    "Finding",
    "InvalidInputError",
    "ItemMention",
    "PromisedItem",
    "Sentiment",
    "analyze_comment",
    "campaign_verdict",
    "distinctive_terms",
    "nps_summary",
]

