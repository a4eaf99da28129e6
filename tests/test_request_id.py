"""Every request has an id: the proxy's well-formed X-Request-ID or a generated one. It is echoed
in the response and carried by every log line of the request; JSON logs hold it as a field."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from flask import Flask

from survey_app.logs import JsonFormatter, RedactingFilter, RequestIdFilter, valid_request_id

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123_X.y", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("has space", False),
        ("line\nbreak", False),
        ('quote"d', False),
        ("ümlaut", False),
        ("a/b", False),
    ],
)
def test_only_short_plain_ids_are_taken_from_the_header(value, valid):
    assert valid_request_id(value) is valid


def test_a_well_formed_header_is_kept_and_echoed(client):
    reply = client.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert reply.headers["X-Request-ID"] == "proxy-7f3a.1"


@pytest.mark.parametrize("header", [None, "bad id with spaces", "x" * 200, "semi;colon"])
def test_a_missing_or_malformed_header_gets_a_generated_id(client, header):
    headers = {"X-Request-ID": header} if header is not None else {}
    first = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


def test_error_responses_carry_the_id_too(client):
    reply = client.get("/no-such-page", headers={"X-Request-ID": "req-404"})
    assert reply.status_code == 404 and reply.headers["X-Request-ID"] == "req-404"


def json_handler() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    return handler, stream


def test_every_log_line_of_a_request_has_its_id_in_json(app: Flask):
    @app.get("/_log_twice")
    def log_twice() -> str:
        logging.getLogger("survey_app.test").warning("first line for jan@example.nl")
        app.logger.warning("second line")
        return "ok"

    handler, stream = json_handler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        app.test_client().get("/_log_twice", headers={"X-Request-ID": "trace-42"})
        logging.getLogger("survey_app.test").warning("outside any request")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["message"] in ("first line for [email]", "second line")]
    assert len(ours) == 2
    for line in ours:
        assert set(line) >= {"timestamp", "level", "logger", "message", "request_id"}
        assert line["request_id"] == "trace-42" and line["level"] == "WARNING"
    assert ours[0]["logger"] == "survey_app.test"
    outside = [line for line in lines if line["message"] == "outside any request"]
    assert outside and outside[0]["request_id"] == "-"


def test_log_format_json_gives_a_bare_process_a_json_handler(monkeypatch, tmp_path):
    from survey_app.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    monkeypatch.setattr(root, "handlers", [])
    app = Flask("probe")
    app.config.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    level = root.level
    try:
        configure_logging(app)
        assert [type(handler.formatter) for handler in root.handlers] == [JsonFormatter]
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
