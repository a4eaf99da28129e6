"""CSV exports of responses, campaigns and promised items: read back with csv and pandas,
formulas neutralised, numbers numeric, privacy rules per role, streamed from a cursor."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from survey_app import auth
from survey_app.extensions import db
from survey_app.models import (
    CampaignVerdict,
    Flag,
    Invitation,
    ResponseAnalysis,
    ResponseFinding,
    ResponseItemMention,
)
from survey_app.services import exports
from survey_app.services.users import create_user
from tests import factories

PASSWORD = "a long enough password"
HOSTILE_NAME = '=HYPERLINK("http://evil.example","klik")'
# Every trigger PostgreSQL can store (it refuses NUL in text; tests/test_csv_safety.py covers it).
HOSTILE_COMMENTS = ["+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\n=1", '=1+2";=1+2']
ANSWERED = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)
EXPORT_ENDPOINTS = ("responses", "campaigns", "items")


@dataclass(frozen=True)
class Data:
    campaign_id: int
    campaign_key: str
    empty_campaign_id: int
    first_response_id: int
    tokens: tuple[str, ...]
    token_hashes: tuple[str, ...]
    repeat_customer: str


def analysis(response, *, broken: bool, polarity: float, keywords: list[str]) -> ResponseAnalysis:
    row = ResponseAnalysis(
        response=response, response_revision=1, analyzer_version="test-1", language="nl", polarity=polarity,
        subjectivity=0.5, sentiment_analyzer="lexicon", broken_promise=broken, keywords=keywords,
    )
    db.session.add(row)
    db.session.flush()
    return row


def build(app) -> Data:
    """One campaign with a hostile name, two items, analysed answers and a flagged verdict;
    an empty campaign beside it; and a customer who answered both an earlier campaign and this one."""
    with app.app_context():
        campaign = factories.campaign(key="demo-huur", name=HOSTILE_NAME, channel="email", language="nl")
        zuid = factories.promised_item(campaign, kind="location", label="Amsterdam Zuid", city="Amsterdam")
        utrecht = factories.promised_item(campaign, kind="location", label="Utrecht Centraal", city="Utrecht")
        factories.promised_item(campaign, kind="offer", label="-gratis dag")
        empty = factories.campaign(key="leeg", name="Lege campagne")
        other = factories.campaign(key="eerder", name="Eerdere campagne")
        repeat = factories.customer(external_id="crm-42", email="jan@example.com")
        tokens, hashes = [], []
        first = None
        for index, comment in enumerate(["Zuid en Utrecht waren dicht, en duurder", *HOSTILE_COMMENTS]):
            customer = repeat if index == 0 else factories.customer()
            factories.event(campaign, customer, "clicked")
            invitation, token = factories.invitation(campaign, customer)
            tokens.append(token)
            hashes.append(invitation.token_hash)
            response = factories.response(invitation, comment=comment, score=index % 11, language="nl",
                                          answered_at=ANSWERED, updated_at=ANSWERED)
            first = first or response.id
            row = analysis(response, broken=index == 0, polarity=-0.75 if index == 0 else 0.25,
                           keywords=["dicht", "duur"] if index == 0 else [])
            if index == 0:
                db.session.add_all([
                    ResponseFinding(analysis=row, category="closed_location", promised_item_id=utrecht.id,
                                    confidence=0.9, span_start=0, span_end=4),
                    ResponseFinding(analysis=row, category="closed_location", promised_item_id=zuid.id,
                                    confidence=0.9, span_start=5, span_end=9),
                    ResponseFinding(analysis=row, category="price_mismatch", promised_item_id=None,
                                    confidence=0.7, span_start=30, span_end=37),
                    ResponseItemMention(analysis=row, promised_item_id=zuid.id, span_start=0, span_end=4),
                ])
        # One unanalysed answer: its analysis columns are empty, the row is still there.
        invitation, token = factories.invitation(campaign)
        tokens.append(token)
        hashes.append(invitation.token_hash)
        factories.response(invitation, comment="nog niet geanalyseerd", score=10)
        earlier, token = factories.invitation(other, repeat)
        tokens.append(token)
        hashes.append(earlier.token_hash)
        factories.response(earlier, comment="prima", score=9)
        verdict = CampaignVerdict(
            campaign_id=campaign.id, analyzer_version="test-1", flagged=True, severity="high", n_respondents=8,
            n_broken=1, share=0.125, share_low=0.02, share_high=0.47, nps=-62.5, nps_low=-90.0, nps_high=-20.0,
            details={"reasons": ["=1 in 8 said a location was closed", "Utrecht Centraal failed"]},
        )
        db.session.add(verdict)
        db.session.flush()
        db.session.add(Flag(campaign_id=campaign.id, verdict_id=verdict.id, state="open"))
        create_user("admin@example.com", PASSWORD, role="admin")
        create_user("researcher@example.com", PASSWORD)  # commits
        return Data(campaign.id, campaign.key, empty.id, first, tuple(tokens), tuple(hashes), "crm-42")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Hash test passwords with tiny argon2 parameters: the exports are under test, not the hashing."""
    monkeypatch.setattr(auth, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def data(app) -> Data:
    return build(app)


def login(client, role: str) -> None:
    response = client.post("/auth/login", data={"email": f"{role}@example.com", "password": PASSWORD})
    assert response.status_code == 302


def download(client, kind: str, **params) -> tuple[str, object]:
    response = client.get(f"/dashboard/exports/{kind}.csv", query_string=params)
    assert response.status_code == 200, response.status
    return response.get_data(as_text=True), response


def rows_of(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter))


def frame_of(text: str, excel: bool = False) -> pandas.DataFrame:
    if excel:
        return pandas.read_csv(io.BytesIO(text.encode("utf-8")), sep=";", decimal=",", encoding="utf-8-sig",
                               keep_default_na=False, na_values=[""])
    return pandas.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


def test_exports_need_a_login(client):
    for kind in EXPORT_ENDPOINTS:
        response = client.get(f"/dashboard/exports/{kind}.csv")
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]


def test_responses_export_reads_back_with_csv_and_pandas(client, data):
    login(client, "admin")
    text, _ = download(client, "responses", campaign_id=data.campaign_id)
    rows = rows_of(text)
    assert list(rows[0]) == [
        "response_id", "campaign_key", "campaign_name", "customer_external_id", "email", "language", "score",
        "score_group", "comment", "answered_at", "updated_at", "broken_promise", "categories", "promised_items",
        "polarity", "subjectivity", "sentiment_analyzer", "keywords", "analyzer_version",
    ]
    assert len(rows) == 1 + len(HOSTILE_COMMENTS) + 1
    first = rows[0]
    assert first["response_id"] == str(data.first_response_id)
    assert first["campaign_name"] == "'" + HOSTILE_NAME
    assert (first["customer_external_id"], first["email"]) == ("crm-42", "jan@example.com")
    assert (first["score"], first["score_group"]) == ("0", "detractor")
    assert first["answered_at"] == first["updated_at"] == "2024-05-01T12:30:05Z"
    assert first["broken_promise"] == "1"
    assert first["categories"] == "closed_location|price_mismatch"
    assert first["promised_items"] == "Amsterdam Zuid|Utrecht Centraal"
    assert first["polarity"] == "-0.75"  # a negative number stays a number, no quote
    assert first["keywords"] == "dicht|duur"
    assert [row["comment"] for row in rows[1:-1]] == ["'" + comment for comment in HOSTILE_COMMENTS]
    assert rows[-1]["broken_promise"] == rows[-1]["polarity"] == ""

    frame = frame_of(text)
    assert list(frame.columns) == list(rows[0])
    for column in ("response_id", "score"):
        assert frame[column].dtype.kind == "i", column
    for column in ("polarity", "subjectivity", "broken_promise"):
        assert frame[column].dtype.kind == "f", column  # float because the unanalysed row is empty
    assert frame["polarity"][0] == -0.75
    assert list(frame["comment"][1:-1]) == ["'" + comment for comment in HOSTILE_COMMENTS]
    assert set(frame["score_group"]) == {"detractor", "passive", "promoter"}


def test_the_owasp_example_survives_rfc_4180_quoting_in_the_export(client, data):
    login(client, "researcher")
    text, _ = download(client, "responses", campaign_id=data.campaign_id)
    assert '"\'=1+2"";=1+2"' in text


def test_excel_variant_has_bom_semicolons_and_numbers_pandas_reads(client, data):
    login(client, "admin")
    text, _ = download(client, "responses", campaign_id=data.campaign_id, excel="1")
    assert text.startswith("\ufeffresponse_id;campaign_key;")
    frame = frame_of(text, excel=True)
    assert frame["response_id"].dtype.kind == "i"
    assert frame["polarity"].dtype.kind == "f"
    assert frame["polarity"][0] == -0.75
    assert frame["campaign_name"][0] == "'" + HOSTILE_NAME
    rows = rows_of(text, delimiter=";")
    assert list(frame.columns) == list(rows[0])
    assert rows[0]["polarity"] == "-0,75"
    assert rows[1]["comment"] == "'" + HOSTILE_COMMENTS[0]


def test_researchers_get_no_email_column_and_admins_do(app, data):
    seen = {}
    for role in ("researcher", "admin"):
        client = app.test_client()
        login(client, role)
        seen[role], _ = download(client, "responses")
    assert "email" not in rows_of(seen["researcher"])[0]
    assert "@example.com" not in seen["researcher"]
    assert rows_of(seen["admin"])[0]["email"] == "jan@example.com"


def test_pseudonyms_are_stable_group_a_customer_and_hide_ids_and_emails(app, client, data):
    login(client, "admin")
    first, _ = download(client, "responses", pseudonymise="1")
    again, _ = download(client, "responses", pseudonymise="1")
    rows = rows_of(first)
    assert "customer_external_id" not in rows[0] and "email" not in rows[0]
    assert first == again
    pseudonyms = [row["customer_pseudonym"] for row in rows]
    assert len(set(pseudonyms)) == len(pseudonyms) - 1  # the repeat customer answered twice
    repeat = next(row["customer_pseudonym"] for row in rows if row["campaign_key"] == "eerder")
    assert repeat == rows[0]["customer_pseudonym"]
    assert repeat.startswith("p-") and len(repeat) == 2 + exports.PSEUDONYM_LENGTH
    assert data.repeat_customer not in first and "@example.com" not in first
    with app.app_context():
        key = exports.pseudonym_key(app.config["SECRET_KEY"])
        assert exports.pseudonym(key, "crm-42") == repeat
        assert exports.pseudonym(exports.pseudonym_key("another key"), "crm-42") != repeat


def test_tokens_and_their_hashes_never_appear_in_any_export(client, data):
    login(client, "admin")
    for kind in EXPORT_ENDPOINTS:
        text, _ = download(client, kind)
        for secret in (*data.tokens, *data.token_hashes):
            assert secret not in text, kind


def test_downloads_are_attachments_with_a_server_made_name_and_no_store(client, data):
    login(client, "researcher")
    today = datetime.now(UTC).date().isoformat()
    _, response = download(client, "responses", campaign_id=data.campaign_id)
    assert response.headers["Content-Disposition"] == f'attachment; filename="survey-responses-demo-huur-{today}.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    _, response = download(client, "items")
    assert response.headers["Content-Disposition"] == f'attachment; filename="survey-items-all-{today}.csv"'


def test_file_names_are_slugs_never_raw_keys():
    day = date(2024, 5, 1)
    assert exports.export_filename("responses", 'a"b\r\n/../X Y', day) == "survey-responses-a-b-x-y-2024-05-01.csv"
    assert exports.export_filename("campaigns", "=;\"", day) == "survey-campaigns-campaign-2024-05-01.csv"
    assert exports.export_filename("items", None, day) == "survey-items-all-2024-05-01.csv"


def test_the_response_body_is_streamed(client, data):
    login(client, "researcher")
    response = client.get("/dashboard/exports/responses.csv")
    assert response.is_streamed
    assert response.get_data(as_text=True).startswith("response_id,")


def test_the_service_reads_the_cursor_in_batches(app, data, monkeypatch):
    executed = []
    with app.app_context():
        real_execute = db.session.execute

        def spying_execute(statement, *args, **kwargs):
            result = real_execute(statement, *args, **kwargs)
            executed.append((statement.get_execution_options().get("yield_per"), result))
            return result

        monkeypatch.setattr(db.session, "execute", spying_execute)
        chunks = exports.export_responses(exports.ExportOptions(campaign_id=data.campaign_id, batch_size=3))
        first = next(chunks)
        # Lazy: one batch read and written, the cursor still open for the rest.
        assert first.count("\r\n") == 1 + 3
        assert [yield_per for yield_per, _ in executed] == [3]
        assert not executed[0][1].closed
        rest = list(chunks)
        assert len(rest) == 2  # 9 rows: 3 + 3 + 3
        assert executed[0][1].closed


def test_the_header_is_the_same_for_an_empty_campaign_and_a_full_one(client, data):
    login(client, "admin")
    for kind in EXPORT_ENDPOINTS:
        full, _ = download(client, kind, campaign_id=data.campaign_id)
        empty, _ = download(client, kind, campaign_id=data.empty_campaign_id)
        assert full.splitlines()[0] == empty.splitlines()[0], kind
        assert len(full.splitlines()) > 1 and len(empty.splitlines()) >= 1, kind


def test_campaigns_export_has_verdicts_and_numbers(client, data):
    login(client, "researcher")
    text, _ = download(client, "campaigns")
    rows = {row["campaign_key"]: row for row in rows_of(text)}
    assert list(rows) == ["demo-huur", "eerder", "leeg"]
    assert list(rows["demo-huur"]) == list(exports.CAMPAIGN_COLUMNS)
    huur = rows["demo-huur"]
    assert huur["campaign_name"] == "'" + HOSTILE_NAME
    assert (huur["clicked"], huur["invited"], huur["answered"]) == ("8", "9", "9")
    assert (huur["nps"], huur["nps_low"], huur["nps_high"]) == ("-62.5", "-90.0", "-20.0")
    assert (huur["flagged"], huur["severity"], huur["flag_state"]) == ("1", "high", "open")
    assert huur["reasons"] == "'=1 in 8 said a location was closed|Utrecht Centraal failed"
    assert rows["leeg"]["flagged"] == rows["leeg"]["response_rate"] == ""
    frame = frame_of(text).set_index("campaign_key")
    for column in ("clicked", "invited", "answered"):
        assert frame[column].dtype.kind == "i", column
    for column in ("response_rate", "nps", "nps_low", "broken_share", "broken_share_high"):
        assert frame[column].dtype.kind == "f", column
    assert frame.loc["demo-huur", "nps"] == -62.5
    assert frame.loc["demo-huur", "response_rate"] == 1.0


def test_items_export_counts_respondents_per_promised_item(client, data):
    login(client, "researcher")
    text, _ = download(client, "items", campaign_id=data.campaign_id, excel="1")
    rows = rows_of(text, delimiter=";")
    assert [row["item_label"] for row in rows] == ["Amsterdam Zuid", "Utrecht Centraal", "'-gratis dag"]
    zuid, utrecht, offer = rows
    assert (zuid["mentions"], zuid["failure_reports"], zuid["respondents"]) == ("1", "1", "8")
    assert zuid["share"] == "0,125"
    assert zuid["categories"] == "closed_location:1"
    assert (utrecht["mentions"], utrecht["failure_reports"]) == ("1", "1")
    assert (offer["mentions"], offer["failure_reports"], offer["categories"]) == ("0", "0", "")
    frame = frame_of(text, excel=True)
    assert list(frame.columns) == list(exports.ITEM_COLUMNS)
    assert frame["mentions"].dtype.kind == "i"
    assert frame["share"].dtype.kind == "f" and frame["share"][0] == 0.125
    assert 0 < frame["share_low"][0] < 0.125 < frame["share_high"][0] < 1


def test_unknown_or_malformed_campaigns_are_refused(client, data):
    login(client, "researcher")
    assert client.get("/dashboard/exports/responses.csv?campaign_id=99999").status_code == 404
    assert client.get("/dashboard/exports/responses.csv?campaign_id=1%20OR%201").status_code == 400


def test_cli_writes_each_export_to_a_file(runner, data, tmp_path):
    target = tmp_path / "out.csv"
    result = runner.invoke(args=["export", "responses", "--campaign", data.campaign_key, "--output", str(target)])
    assert result.exit_code == 0, result.output
    frame = pandas.read_csv(target, keep_default_na=False, na_values=[""])
    assert frame["email"][0] == "jan@example.com"  # the command line exports what an admin sees
    assert len(frame) == len(HOSTILE_COMMENTS) + 2
    for kind, columns in (("campaigns", exports.CAMPAIGN_COLUMNS), ("items", exports.ITEM_COLUMNS)):
        result = runner.invoke(args=["export", kind, "--output", str(target)])
        assert result.exit_code == 0, result.output
        assert list(pandas.read_csv(target).columns) == list(columns)


def test_cli_writes_excel_and_pseudonyms_to_standard_output(runner, data):
    result = runner.invoke(args=["export", "responses", "--campaign", str(data.campaign_id), "--excel",
                                 "--pseudonymise"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith("\ufeff".encode())
    frame = frame_of(result.stdout_bytes.decode("utf-8"), excel=True)
    assert "email" not in frame.columns and "customer_external_id" not in frame.columns
    assert frame["customer_pseudonym"][0].startswith("p-")
    assert b"jan@example.com" not in result.stdout_bytes


def test_cli_refuses_an_unknown_campaign(runner, data):
    result = runner.invoke(args=["export", "items", "--campaign", "bestaat-niet"])
    assert result.exit_code != 0
    assert "no campaign" in result.output


def test_an_export_changes_no_state(app, client, data):
    def snapshot():
        with app.app_context():
            return (
                db.session.execute(select(Invitation.id, Invitation.opened_at, Invitation.state)).all(),
                db.session.execute(select(Flag.id, Flag.state)).all(),
            )

    login(client, "admin")
    before = snapshot()
    for kind in EXPORT_ENDPOINTS:
        download(client, kind, pseudonymise="1")
    assert snapshot() == before
