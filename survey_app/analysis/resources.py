"""Load the package data files (lexicons, rules, model) once per process."""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from .errors import DataFileError

DATA_PACKAGE = "survey_app.analysis.data"


@functools.cache
def load_json(name: str) -> Any:
    """Return the parsed contents of a JSON file under analysis/data/ (cached)."""
    return read_json(name)


def read_json(name: str) -> Any:
    """Parse a JSON file under analysis/data/ without keeping it (for large files)."""
    try:
        raw = resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise DataFileError(f"analysis data file {name!r} is missing") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"analysis data file {name!r} is not valid JSON: {exc}") from exc


def has_data_file(name: str) -> bool:
    """Tell whether a data file ships with the package."""
    return resources.files(DATA_PACKAGE).joinpath(name).is_file()


def data_digest() -> str:
    """Return a short digest of every data file, so any rule or model change shows."""
    digest = hashlib.blake2b(digest_size=6)
    root = resources.files(DATA_PACKAGE)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(".json"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()
