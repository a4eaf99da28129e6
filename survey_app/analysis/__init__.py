"""The text-analysis library: plain text and plain data in, frozen dataclasses out.

No Flask, no database, no app configuration: usable from a notebook or a worker alike.
Lexicons, rules and the model are package data under analysis/data/, loaded once per process.
"""

from __future__ import annotations

from .comment import analyze_comment, analyzer_version
from .errors import AnalysisError, DataFileError, InvalidInputError
from .types import (
    CATEGORIES,
    CommentAnalysis,
    Finding,
    ItemMention,
    PromisedItem,
    Sentiment,
)

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
]

# The corpus-level functions live in modules written alongside this one; re-export them when
# present so the package stays importable while they are being written.
try:
    from .stats import nps_summary
except ImportError:  # pragma: no cover - only while stats.py does not exist yet
    pass
else:
    __all__.append("nps_summary")
try:
    from .keywords import distinctive_terms
except ImportError:  # pragma: no cover
    pass
else:
    __all__.append("distinctive_terms")
try:
    from .verdict import campaign_verdict
except ImportError:  # pragma: no cover
    pass
else:
    __all__.append("campaign_verdict")
