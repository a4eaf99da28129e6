"""The shared CSV writer: OWASP formula neutralising on text cells only, RFC 4180 quoting, and
the Dutch-Excel layout; every file is read back with csv and with pandas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pandas
import pytest

from survey_app.csv_safety import EXCEL_NL, PLAIN, SafeWriter, iter_csv, neutralize, write_csv

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\0x"]


@pytest.mark.parametrize("value", HOSTILE)
def test_each_owasp_trigger_gets_a_leading_quote(value):
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", ["", "plain", "1+1", "a=b", " =1", "'=1", "€5 korting", "Zuid-As"])
def test_text_without_a_leading_trigger_is_unchanged(value):
    assert neutralize(value) == value


def written(rows, fmt=PLAIN, header=("a", "b")) -> str:
    stream = io.StringIO()
    write_csv(stream, header, rows, fmt)
    return stream.getvalue()


def test_the_owasp_example_keeps_its_quote_inside_rfc_4180_quoting():
    text = written([['=1+2";=1+2', 1]])
    assert text == 'a,b\r\n"\'=1+2"";=1+2",1\r\n'
    assert list(csv.reader(io.StringIO(text)))[1] == ["'=1+2\";=1+2", "1"]


def test_hostile_header_cells_are_neutralised_too():
    text = written([], header=("=cmd|' /C calc'!A0", "-x"))
    assert next(csv.reader(io.StringIO(text))) == ["'=cmd|' /C calc'!A0", "'-x"]


def test_hostile_text_cells_read_back_with_a_leading_quote_in_csv_and_pandas():
    rows = [[value, index] for index, value in enumerate(HOSTILE)]
    text = written(rows, header=("text", "n"))
    back = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [row[0] for row in back] == ["'" + value for value in HOSTILE]
    frame = pandas.read_csv(io.StringIO(text), keep_default_na=False)
    assert list(frame["text"]) == ["'" + value for value in HOSTILE]
    assert frame["n"].dtype.kind == "i"


def test_numbers_stay_numbers_even_when_negative():
    stamp = datetime(2024, 5, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    text = written([[-3, -0.25, Decimal("-1.5"), True, None, stamp]], header=("i", "f", "d", "b", "none", "at"))
    assert text.splitlines()[1] == "-3,-0.25,-1.5,1,,2024-05-01T12:30:05Z"
    frame = pandas.read_csv(io.StringIO(text))
    assert frame["i"].dtype.kind == "i" and frame["i"][0] == -3
    assert frame["f"].dtype.kind == "f" and frame["f"][0] == -0.25
    assert frame["d"][0] == -1.5
    assert frame["b"][0] == 1


def test_a_negative_number_written_as_text_is_neutralised():
    # The writer cannot know that text is a number; callers must pass numbers as numbers.
    assert written([["-1", 1]]).splitlines()[1] == "'-1,1"


def test_excel_layout_has_a_bom_semicolons_and_decimal_commas():
    text = written([["Zuid; \"Oost\"", -0.5], ["=1", 2.0]], EXCEL_NL, header=("name", "value"))
    assert text.startswith("\ufeffname;value\r\n")
    assert '"Zuid; ""Oost""";-0,5' in text
    frame = pandas.read_csv(io.BytesIO(text.encode("utf-8")), sep=";", decimal=",", encoding="utf-8-sig")
    assert list(frame.columns) == ["name", "value"]
    assert list(frame["name"]) == ['Zuid; "Oost"', "'=1"]
    assert frame["value"].dtype.kind == "f"
    assert list(frame["value"]) == [-0.5, 2.0]


def test_iter_csv_yields_the_same_document_in_chunks():
    rows = [[f"row {n}", n] for n in range(25)]
    chunks = list(iter_csv(("text", "n"), rows, PLAIN, rows_per_chunk=10))
    assert len(chunks) == 3
    assert "".join(chunks) == written(rows, header=("text", "n"))


def test_iter_csv_of_no_rows_is_the_header_alone():
    assert list(iter_csv(("a", "b"), [], EXCEL_NL)) == ["\ufeffa;b\r\n"]


def test_unknown_cell_types_are_written_as_neutralised_text():
    class Odd:
        def __str__(self) -> str:
            return "=odd()"

    stream = io.StringIO()
    SafeWriter(stream).writerow([Odd(), datetime(2024, 1, 1, tzinfo=UTC).date()])
    assert stream.getvalue() == "'=odd(),2024-01-01\r\n"
