"""CSV that spreadsheets open as data, never as formulas: the one cell-neutralising writer.

OWASP's CSV-injection rule (ASVS 5.0 1.2.10): a text cell that starts with `=`, `+`, `-`, `@`,
tab, CR, LF or NUL gets a leading `'`, header cells included, and RFC 4180 quoting is applied
independently afterwards. Only text is touched: numbers stay numbers, so a negative score or
polarity is never turned into text. Every CSV the app writes should go through `SafeWriter`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Protocol

# A spreadsheet reads a cell starting with one of these as a formula, or strips it into one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
UTF8_BOM = "\ufeff"

Cell = str | int | float | Decimal | bool | datetime | date | None


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is laid out: delimiter, byte-order mark and decimal separator."""

    delimiter: str = ","
    bom: bool = False
    # Dutch Excel reads "0.25" as text or as 25 (the dot groups thousands there): it wants "0,25".
    decimal: str = "."


PLAIN = CsvFormat()
EXCEL_NL = CsvFormat(delimiter=";", bom=True, decimal=",")


def csv_format(excel: bool) -> CsvFormat:
    """Return the Dutch-Excel layout when asked for, else plain RFC 4180 CSV."""
    return EXCEL_NL if excel else PLAIN


def neutralize(text: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def iso_utc(value: datetime) -> str:
    """Return an aware datetime as ISO 8601 in UTC to the second, e.g. 2024-05-01T12:00:00Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell_converter(decimal: str) -> Callable[[Cell], str | int | None]:
    def convert(value: Cell) -> str | int | None:
        kind = type(value)
        if kind is str:
            return neutralize(value)  # type: ignore[arg-type]
        if value is None or kind is int:
            return value  # type: ignore[return-value]
        if kind is bool:
            # 1/0, not True/False: a number every spreadsheet and pandas can sum and average.
            return int(value)  # type: ignore[arg-type]
        if kind is float or kind is Decimal:
            # A number is written as a number even when negative: only text can carry a formula.
            text = repr(value) if kind is float else str(value)
            return text if decimal == "." else text.replace(".", decimal)
        if isinstance(value, datetime):
            return iso_utc(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return convert(float(value))
        # Anything else is shown as its text, and text is what formulas hide in.
        return neutralize(str(value))

    return convert


class SafeWriter:
    """A `csv.writer` whose text cells are neutralised; numbers, None and dates pass as values."""

    def __init__(self, stream: TextSink, fmt: CsvFormat = PLAIN) -> None:
        self.format = fmt
        # RFC 4180: quote a cell only when it holds a delimiter, quote or line break; CRLF rows.
        self._writer = csv.writer(stream, delimiter=fmt.delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        self._convert = _cell_converter(fmt.decimal)

    def write_bom(self, stream: TextSink) -> None:
        """Write the byte-order mark Excel needs to read UTF-8, when the format asks for one."""
        if self.format.bom:
            stream.write(UTF8_BOM)

    def writerow(self, row: Iterable[Cell]) -> None:
        """Write one row with every text cell neutralised."""
        convert = self._convert
        self._writer.writerow([convert(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        """Write many rows with every text cell neutralised."""
        for row in rows:
            self.writerow(row)


def write_csv(stream: IO[str], header: Iterable[str], rows: Iterable[Iterable[Cell]], fmt: CsvFormat = PLAIN) -> int:
    """Write a BOM (if the format has one), the header and the rows; return the number of rows."""
    writer = SafeWriter(stream, fmt)
    writer.write_bom(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def iter_csv(
    header: Iterable[str], rows: Iterable[Iterable[Cell]], fmt: CsvFormat = PLAIN, rows_per_chunk: int = 1000
) -> Iterator[str]:
    """Yield a CSV document as text chunks of a few rows each, so it can be streamed."""
    buffer = io.StringIO()
    writer = SafeWriter(buffer, fmt)
    writer.write_bom(buffer)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    tail = buffer.getvalue()
    # Never an empty chunk; the header alone when there are no rows.
    if tail:
        yield tail
