"""Exceptions raised by the analysis library."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class for every error the analysis library raises on purpose."""


class InvalidInputError(AnalysisError, ValueError):
    """An argument is outside what the library accepts (a score of 11, a language of "de")."""


class DataFileError(AnalysisError):
    """A packaged lexicon, rule or model file is missing or malformed."""
