"""Import an ESP event export (CSV) through the ingestion core, in two streaming passes.

Pass 1 reads the file record by record, validates every row and spools the valid events, in
chunks, to an anonymous temporary file; bad rows are reported with the physical line on which
their record starts (the header is line 1). Only when every row is valid (or the caller asked
to skip invalid rows) does pass 2 read the spool back and store it chunk by chunk, each chunk in
one short transaction. Neither pass holds the file in memory. Re-importing a file inserts
nothing: every event is deduplicated on (source, provider_event_id). Rows of erased people are
counted as suppressed and dropped (see survey_app.services.events).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from survey_app.csv_safety import CsvFormat, SafeWriter
from survey_app.extensions import db
from survey_app.models import EVENT_TYPES
from survey_app.services.events import (
    DEFAULT_TIMEZONE,
    FIELDS,
    Catalog,
    EventValidator,
    EventWriter,
    StoreResult,
    ValidEvent,
    event_type_key,
    valid_source_name,
)

DEFAULT_SOURCE = "csv"
CHUNK_SIZE = 20_000
MAX_REPORTED_ERRORS = 1000
REJECTS_SUFFIX = ".rejects.csv"

# ESP export column names, compared after lower-casing and turning every run of characters
# other than letters and digits into "_" ("Email Address" -> "email_address").
BUILTIN_COLUMNS: dict[str, str] = {
    **{name: name for name in FIELDS},
    "event_id": "provider_event_id",
    "sg_event_id": "provider_event_id",
    "message_event_id": "provider_event_id",
    "campaign_key": "campaign",
    "campaign_id": "campaign",
    "utm_campaign": "campaign",
    "customer": "customer_id",
    "external_id": "customer_id",
    "contact_id": "customer_id",
    "subscriber_id": "customer_id",
    "profile_id": "customer_id",
    "user_id": "customer_id",
    "email_address": "email",
    "e_mail": "email",
    "recipient": "email",
    "lang": "language",
    "locale": "language",
    "event": "event_type",
    "type": "event_type",
    "activity": "event_type",
    "metric_name": "event_type",
    "timestamp": "occurred_at",
    "time": "occurred_at",
    "date": "occurred_at",
    "datetime": "occurred_at",
    "event_time": "occurred_at",
    "event_date": "occurred_at",
    "url": "clicked",
    "link": "clicked",
    "clicked_url": "clicked",
    "clicked_item": "clicked",
    "promised_item": "clicked",
    "item": "clicked",
}

_NOT_WORD = re.compile(r"[^0-9a-z]+")
_QUOTED = re.compile(r'"[^"]*"')

Progress = Callable[[str, int, int], None]


class ImportFailed(ValueError):
    """The import could not run: a bad file, header, mapping or source name."""


def normalize_header(name: str) -> str:
    """Return a column name in the form the built-in mapping uses."""
    return _NOT_WORD.sub("_", name.strip().casefold()).strip("_")


@dataclass(frozen=True)
class ColumnMapping:
    """Extra column names and event type names, read from a JSON mapping file."""

    columns: dict[str, str | None] = field(default_factory=dict)
    event_types: dict[str, str] = field(default_factory=dict)


def parse_mapping(document: Any) -> ColumnMapping:
    """Check a mapping document ({"columns": {...}, "event_types": {...}}) and return it."""
    if not isinstance(document, dict) or not set(document) <= {"columns", "event_types"}:
        raise ImportFailed('a mapping is a JSON object with "columns" and/or "event_types"')
    columns = document.get("columns", {})
    event_types = document.get("event_types", {})
    if not isinstance(columns, dict) or not isinstance(event_types, dict):
        raise ImportFailed('"columns" and "event_types" must be JSON objects')
    for column, target in columns.items():
        if target is not None and target not in FIELDS:
            raise ImportFailed(f"mapping: column {column!r} maps to {target!r}, which is not one of {', '.join(FIELDS)}")
    for name, target in event_types.items():
        if target not in EVENT_TYPES:
            raise ImportFailed(f"mapping: event type {name!r} maps to {target!r}, not one of {', '.join(EVENT_TYPES)}")
    return ColumnMapping(
        columns={normalize_header(str(name)): target for name, target in columns.items()},
        event_types={event_type_key(str(name)): target for name, target in event_types.items()},
    )


def load_mapping(path: str | os.PathLike[str]) -> ColumnMapping:
    """Read a JSON mapping file."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImportFailed(f"cannot read the mapping file: {error}") from None
    return parse_mapping(document)


def resolve_columns(header: list[str], mapping: ColumnMapping | None = None) -> list[tuple[int, str]]:
    """Return (column index, field) pairs for a header, or raise naming what is missing."""
    explicit = mapping.columns if mapping else {}
    chosen: dict[str, tuple[int, bool]] = {}
    for index, name in enumerate(header):
        key = normalize_header(name)
        if key in explicit:
            target = explicit[key]
            if target is None:
                continue
            is_explicit = True
        elif key in BUILTIN_COLUMNS:
            target, is_explicit = BUILTIN_COLUMNS[key], False
        else:
            continue
        if target in chosen:
            other_index, other_explicit = chosen[target]
            if other_explicit and not is_explicit:
                continue
            if is_explicit == other_explicit:
                raise ImportFailed(
                    f"columns {header[other_index]!r} and {name!r} both give {target}; "
                    "name the one to use (and null for the other) in a mapping file"
                )
        chosen[target] = (index, is_explicit)
    missing = [name for name in ("campaign", "event_type", "occurred_at") if name not in chosen]
    if "customer_id" not in chosen and "email" not in chosen:
        missing.append("customer_id (or email)")
    if missing:
        raise ImportFailed(
            f"line 1: the header has no column for {', '.join(missing)} "
            f"(columns found: {', '.join(repr(name) for name in header) or 'none'})"
        )
    return sorted((index, target) for target, (index, _explicit) in chosen.items())


def sniff_delimiter(header_line: str) -> str:
    """Return ';' when the header line has more semicolons than commas outside quotes, else ','."""
    bare = _QUOTED.sub("", header_line)
    return ";" if bare.count(";") > bare.count(",") else ","


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: the line its record starts on and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import read, stored and refused."""

    read: int = 0
    valid: int = 0
    inserted: int = 0
    duplicates: int = 0
    # Valid rows of suppressed (erased) people: accepted and dropped, never stored.
    suppressed: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    rejects_path: str | None = None

    @property
    def more_errors(self) -> int:
        return self.rejected - len(self.errors)

    def summary(self) -> str:
        return (
            f"read {self.read}, inserted {self.inserted}, duplicates {self.duplicates}, rejected {self.rejected}"
            + (f", suppressed {self.suppressed}" if self.suppressed else "")
        )


class _RejectsWriter:
    def __init__(self, path: str, header: list[str], delimiter: str) -> None:
        self.path = path
        # Same delimiter as the input, so the rejects open like the file they came from.
        self.handle: IO[str] = open(path, "w", encoding="utf-8", newline="")
        self.writer = SafeWriter(self.handle, CsvFormat(delimiter=delimiter, bom=True))
        self.writer.write_bom(self.handle)
        self.writer.writerow(["line", "reason", *header])

    def write(self, line: int, reason: str, row: list[str]) -> None:
        self.writer.writerow([line, reason, *row])

    def close(self) -> None:
        self.handle.close()


def import_events(
    path: str | os.PathLike[str],
    *,
    source: str = DEFAULT_SOURCE,
    mapping: ColumnMapping | None = None,
    skip_invalid: bool = False,
    rejects_path: str | None = None,
    default_zone: str = DEFAULT_TIMEZONE,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate a whole event export, then store it: all rows, or (skip_invalid) the good ones.

    Rejected rows go to rejects_path (a CSV with line and reason columns) when it is given.
    """
    if not valid_source_name(source):
        raise ImportFailed(f"invalid source name {source!r}: letters, digits, '.', '-', '_', at most 80")
    session = db.session()
    catalog = Catalog.load(session)
    session.rollback()  # end the read transaction: pass 1 may take a while
    validator = EventValidator(catalog, default_zone=default_zone, extra_event_types=mapping.event_types if mapping else None)
    report = ImportReport()
    with tempfile.TemporaryFile(prefix="survey-app-import-") as spool:
        _validate_pass(path, validator, mapping, skip_invalid, rejects_path, chunk_size, progress, report, spool)
        if report.rejected and not skip_invalid:
            return report
        spool.seek(0)
        writer = EventWriter(session, source)
        stored = StoreResult()
        while True:
            try:
                # Plain tuples in ValidEvent's field order: they pickle without per-row calls.
                chunk = list(map(ValidEvent._make, pickle.load(spool)))
            except EOFError:
                break
            stored.add(writer.write(chunk))
            report.committed = True
            if progress:
                progress("store", stored.received, report.valid)
    report.inserted, report.duplicates, report.suppressed = stored.inserted, stored.duplicates, stored.suppressed
    return report


def _validate_pass(
    path: str | os.PathLike[str],
    validator: EventValidator,
    mapping: ColumnMapping | None,
    skip_invalid: bool,
    rejects_path: str | None,
    chunk_size: int,
    progress: Progress | None,
    report: ImportReport,
    spool: IO[bytes],
) -> None:
    size = os.path.getsize(path)
    rejects: _RejectsWriter | None = None
    line = 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            delimiter = sniff_delimiter(handle.readline())
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            header = [name.strip() for name in next(reader, [])]
            if not any(header):
                raise ImportFailed("line 1: the file is empty; expected a header line")
            columns = resolve_columns(header, mapping)
            width = len(header)
            if rejects_path:
                rejects = _RejectsWriter(rejects_path, header, delimiter)
                report.rejects_path = rejects_path
            chunk: list[ValidEvent] = []
            validate = validator.validate
            previous_end = reader.line_num
            for row in reader:
                line = previous_end + 1
                previous_end = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                report.read += 1
                if len(row) > width:
                    outcome: Any = f"the row has {len(row)} fields, the header has {width}"
                else:
                    raw = {name: row[index] for index, name in columns if index < len(row)}
                    outcome = validate(raw, dict(zip(header, row)))
                if isinstance(outcome, ValidEvent):
                    report.valid += 1
                    chunk.append(outcome)
                    if len(chunk) >= chunk_size:
                        pickle.dump(list(map(tuple, chunk)), spool, protocol=pickle.HIGHEST_PROTOCOL)
                        chunk = []
                        if progress:
                            progress("validate", handle.buffer.tell(), size)
                    continue
                reason = outcome if isinstance(outcome, str) else "; ".join(str(error) for error in outcome)
                report.rejected += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append(RowError(line, reason))
                if rejects:
                    rejects.write(line, reason, row)
            if chunk:
                pickle.dump(list(map(tuple, chunk)), spool, protocol=pickle.HIGHEST_PROTOCOL)
            if progress:
                progress("validate", size, size)
    except UnicodeDecodeError:
        raise ImportFailed(f"near line {line}: the file is not UTF-8 text") from None
    except csv.Error as error:
        raise ImportFailed(f"line {line}: {error}") from None
    finally:
        if rejects:
            rejects.close()


def default_rejects_path(path: str | os.PathLike[str]) -> str:
    """Return where the rejects of FILE go by default: FILE.rejects.csv."""
    return os.fspath(path) + REJECTS_SUFFIX
