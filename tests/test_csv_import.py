"""Importing ESP event exports: the CLI command, the rules for bad rows, and the upload page."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from survey_app.extensions import db
from survey_app.models import CampaignEvent, Customer, ImportRejects
from survey_app.services.users import create_user
from tests import factories

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HEADER = "provider_event_id,campaign,customer_id,email,language,event_type,occurred_at,clicked"
GOOD = "e{n},spring-2026,cust-{n},c{n}@example.nl,nl,clicked,2026-03-01T09:13:30+01:00,Utrecht Centraal"
PASSWORD = "correct horse battery staple"
# The test client speaks https (BASE_URL is https), where Flask-WTF also checks the Referer.
SAME_ORIGIN = {"Referer": "https://localhost/dashboard/imports/"}


@pytest.fixture
def campaign(app):
    with app.app_context():
        row = factories.campaign(key="spring-2026")
        factories.promised_item(row, label="Utrecht Centraal", aliases=["utrecht"], url="https://rijdnu.example/utrecht")
        factories.promised_item(row, label="Breda Station", url="https://rijdnu.example/breda")
        db.session.commit()
        return row.key


def write(tmp_path: Path, text: str, name: str = "events.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def good_rows(count: int, start: int = 1) -> list[str]:
    return [GOOD.format(n=n) for n in range(start, start + count)]


def count(app, model=CampaignEvent) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def summary(output: str) -> tuple[int, int, int, int]:
    match = re.search(r"read (\d+), inserted (\d+), duplicates (\d+), rejected (\d+)", output)
    assert match, output
    return tuple(int(group) for group in match.groups())  # type: ignore[return-value]


def test_import_stores_every_row_and_prints_a_summary(app, runner, campaign, tmp_path):
    path = write(tmp_path, "\n".join([HEADER, *good_rows(12)]) + "\n")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 0, result.output
    assert summary(result.output) == (12, 12, 0, 0)
    assert count(app) == 12 and count(app, Customer) == 12
    with app.app_context():
        sources = db.session.execute(select(CampaignEvent.source).distinct()).scalars().all()
        assert sources == ["csv"]


def test_reimporting_the_same_file_changes_nothing(app, runner, campaign, tmp_path):
    path = write(tmp_path, "\n".join([HEADER, *good_rows(7)]) + "\n")
    runner.invoke(args=["import-events", str(path)])
    again = runner.invoke(args=["import-events", str(path)])
    assert again.exit_code == 0, again.output
    assert summary(again.output) == (7, 0, 7, 0)
    assert count(app) == 7


def test_rows_without_ids_are_deduplicated_on_their_natural_key(app, runner, campaign, tmp_path):
    text = "\n".join(
        [
            "campaign,customer_id,event_type,occurred_at,clicked",
            "spring-2026,c1,clicked,2026-03-01T08:13:30Z,utrecht",
            # The same click, written in another accepted format: the same natural key.
            "spring-2026,c1,click,01-03-2026 09:13:30,utrecht",
            "spring-2026,c1,clicked,2026-03-01T08:13:30Z,Breda Station",
        ]
    )
    path = write(tmp_path, text)
    first = runner.invoke(args=["import-events", str(path)])
    assert summary(first.output) == (3, 2, 1, 0)
    second = runner.invoke(args=["import-events", str(path)])
    assert summary(second.output) == (3, 0, 3, 0)
    with app.app_context():
        ids = db.session.execute(select(CampaignEvent.provider_event_id)).scalars().all()
        assert len(ids) == 2 and all(re.fullmatch(r"nk-[0-9a-f]{64}", value) for value in ids)


BAD_ROWS = [
    ("e9,autumn,cust-9,c9@example.nl,nl,clicked,2026-03-01T09:00:00Z,", "unknown campaign 'autumn'"),
    ("e9,spring-2026,cust-9,not-an-email,nl,clicked,2026-03-01T09:00:00Z,", "invalid email address"),
    ("e9,spring-2026,cust-9,c9@example.nl,nl,teleported,2026-03-01T09:00:00Z,", "unknown event type 'teleported'"),
    ("e9,spring-2026,cust-9,c9@example.nl,nl,clicked,gisteren,", "unparseable date 'gisteren'"),
    ("e9,spring-2026,cust-9,c9@example.nl,nl,clicked,,", "occurred_at is required"),
    ("e9,spring-2026,,,nl,clicked,2026-03-01T09:00:00Z,", "customer_id is required"),
    ("e9,,cust-9,c9@example.nl,nl,clicked,2026-03-01T09:00:00Z,", "campaign is required"),
    (f"{'x' * 201},spring-2026,cust-9,,nl,clicked,2026-03-01T09:00:00Z,", "provider_event_id is longer than 200"),
    ("e9,spring-2026,cust-9,,nl,clicked,2026-03-01T09:00:00Z,Nowhere", "unknown promised item 'Nowhere'"),
    ("e9,spring-2026,cust-9,,xx,clicked,2026-03-01T09:00:00Z,", "unknown language 'xx'"),
    ("e9,spring-2026,cust-9,,nl,clicked,2026-03-01T09:00:00Z,,,surplus", "the row has 10 fields, the header has 9"),
    ("e9,spring-2026,cust-9,,nl,clicked,2026-03-01T09:00:00Z,\"utrecht\n\"", "clicked contains a control character"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_a_bad_row_is_reported_with_its_line_and_nothing_is_imported(app, runner, campaign, tmp_path, row, reason):
    # A quoted newline in a note on line 3 makes record numbers and physical line numbers differ.
    lines = [HEADER + ",note", GOOD.format(n=1), 'q2,spring-2026,cust-q,,nl,opened,2026-03-01T09:00:00Z,,"two\nlines"',
             *good_rows(2, start=2), row]
    path = write(tmp_path, "\n".join(lines) + "\n")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 1
    assert f"line 7: {reason}" in result.output, result.output
    assert summary(result.output) == (5, 0, 0, 1)
    assert "nothing was imported" in result.output
    assert count(app) == 0 and count(app, Customer) == 0


def test_skip_invalid_imports_the_good_rows_and_writes_neutralized_rejects(app, runner, campaign, tmp_path):
    rows = [
        HEADER,
        *good_rows(3),
        "=HYPERLINK(\"http://evil.example\"),autumn,cust-x,,nl,clicked,2026-03-01T09:00:00Z,",
        "e8,spring-2026,@cust,c8@example.nl,nl,opened,yesterday,",
        *good_rows(1, start=4),
    ]
    path = write(tmp_path, "\n".join(rows) + "\n")
    result = runner.invoke(args=["import-events", str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert summary(result.output) == (6, 4, 0, 2)
    assert count(app) == 4
    rejects = Path(str(path) + ".rejects.csv")
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["line", "reason", *HEADER.split(",")]
    assert [row[0] for row in table[1:]] == ["5", "6"]
    assert "unknown campaign 'autumn'" in table[1][1]
    assert table[1][2] == "'=HYPERLINK(\"http://evil.example\")"
    assert "unparseable date 'yesterday'" in table[2][1] and table[2][4] == "'@cust"


def test_rejects_path_can_be_chosen(app, runner, campaign, tmp_path):
    path = write(tmp_path, "\n".join([HEADER, "e1,nope,c,,nl,open,2026-03-01T09:00:00Z,"]))
    target = tmp_path / "out" / "bad.csv"
    target.parent.mkdir()
    result = runner.invoke(args=["import-events", str(path), "--skip-invalid", "--rejects", str(target)])
    assert result.exit_code == 0 and target.exists()
    assert not Path(str(path) + ".rejects.csv").exists()



def test_bom_semicolons_crlf_and_quoted_newlines(app, runner, campaign, tmp_path):
    text = "\ufeff" + "\r\n".join(
        [
            HEADER.replace(",", ";") + ";note",
            'e1;spring-2026;c1;"a@example.nl";nl;clicked;2026-03-01T09:00:00Z;"Utrecht Centraal"',
            'e2;spring-2026;c2;b@example.nl;en;opened;"2026-03-01T09:00:00Z";',
            '"e3";spring-2026;"c3";;en;opened;2026-03-01T09:00:00Z;;"a note\r\non two lines"',
            "e4;spring-2026;c4;bad-address;en;opened;2026-03-01T09:00:00Z;",
        ]
    ) + "\r\n"
    path = write(tmp_path, text)
    result = runner.invoke(args=["import-events", str(path)])
    # The record starting on line 4 spans two lines, so the bad record starts on line 6.
    assert "line 6: invalid email address 'bad-address'" in result.output, result.output
    result = runner.invoke(args=["import-events", str(path), "--skip-invalid"])
    assert summary(result.output) == (4, 3, 0, 1)
    with app.app_context():
        customer = db.session.execute(select(Customer).filter_by(external_id="c3")).scalar_one()
        event = db.session.execute(select(CampaignEvent).filter_by(provider_event_id="e3")).scalar_one()
        assert customer.language == "en"
        assert event.payload is not None and event.payload["note"] == "a note\r\non two lines"


def test_common_esp_column_names_are_understood(app, runner, campaign, tmp_path):
    text = "\n".join(
        [
            "sg_event_id,Email Address,Campaign ID,event,timestamp,url",
            "sg1,Jan@Example.nl,spring-2026,click,1772353020,https://rijdnu.example/breda",
            "sg2,jan@example.nl,spring-2026,Delivered,1772352000,",
        ]
    )
    result = runner.invoke(args=["import-events", str(write(tmp_path, text)), "--source", "sendgrid"])
    assert summary(result.output) == (2, 2, 0, 0), result.output
    with app.app_context():
        click_event = db.session.execute(select(CampaignEvent).filter_by(provider_event_id="sg1")).scalar_one()
        assert click_event.source == "sendgrid" and click_event.clicked_item is not None
        assert click_event.clicked_item.label == "Breda Station"
        # Without a customer id column the address is the id.
        assert click_event.customer.external_id == "jan@example.nl"


def test_a_mapping_file_names_other_columns_and_event_types(app, runner, campaign, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"columns": {"Wie": "customer_id", "Actie": "event_type", "Wanneer": "occurred_at",
                                               "Mailing": "campaign"}, "event_types": {"Klik": "clicked"}}))
    text = "Wie,Actie,Wanneer,Mailing\nc1,Klik,2026-03-01T09:00:00Z,spring-2026\n"
    path = write(tmp_path, text)
    without = runner.invoke(args=["import-events", str(path)])
    assert without.exit_code == 1 and "line 1: the header has no column for campaign" in without.output
    result = runner.invoke(args=["import-events", str(path), "--mapping", str(mapping)])
    assert summary(result.output) == (1, 1, 0, 0), result.output


def test_a_bad_mapping_file_is_refused(runner, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"columns": {"Wie": "who"}}))
    path = write(tmp_path, HEADER + "\n")
    result = runner.invoke(args=["import-events", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 1 and "maps to 'who'" in result.output


def test_two_columns_for_one_field_need_a_mapping(runner, tmp_path, campaign):
    path = write(tmp_path, "email,Email Address,campaign,event,timestamp\n")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 1 and "both give email" in result.output


def test_a_file_that_is_not_utf8_is_refused(app, runner, campaign, tmp_path):
    path = write(tmp_path, HEADER + "\n" + GOOD.format(n=1).replace("Utrecht", "Ütrecht") + "\n", encoding="latin-1")
    result = runner.invoke(args=["import-events", str(path)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    assert count(app) == 0


@pytest.mark.parametrize("name", ["events.csv", "events-semicolon-bom.csv"])
def test_the_documented_examples_import_cleanly(app, runner, campaign, name):
    result = runner.invoke(args=["import-events", str(EXAMPLES / name)])
    assert result.exit_code == 0, result.output
    read, inserted, duplicates, rejected = summary(result.output)
    assert read == inserted > 0 and rejected == duplicates == 0


def test_the_documented_mapping_example_is_valid(app, runner, campaign, tmp_path):
    text = "Message Event,Mailing,Subscriber,Recipient,Activity,When,Link,Campaign Name\n" \
           "m1,spring-2026,s1,s1@example.nl,Klik,2026-03-01T09:00:00Z,utrecht,Lente\n"
    result = runner.invoke(args=["import-events", str(write(tmp_path, text)), "--mapping", str(EXAMPLES / "esp-mapping.json")])
    assert summary(result.output) == (1, 1, 0, 0), result.output


# The upload page.


@pytest.fixture
def signed_in(app, client):
    return sign_in_as(app, client, "researcher@example.com")


def sign_in_as(app, client, email: str):
    with app.app_context():
        create_user(email, PASSWORD)
    data = {"email": email, "password": PASSWORD}
    if token := csrf_token(client, "/auth/login"):
        data["csrf_token"] = token
    client.post("/auth/login", data=data, headers=SAME_ORIGIN)
    return client


def csrf_token(client, url: str) -> str | None:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).get_data(as_text=True))
    return match.group(1) if match else None


def upload(client, text: str, **fields):
    data = {"file": (io.BytesIO(text.encode("utf-8")), "../../etc/passwd.csv"), "source": "csv", **fields}
    return client.post("/dashboard/imports/", data=data, content_type="multipart/form-data", headers=SAME_ORIGIN)


def test_the_upload_page_needs_a_signed_in_user(client):
    assert client.get("/dashboard/imports/").status_code == 302
    response = upload(client, HEADER + "\n" + GOOD.format(n=1))
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_an_upload_imports_and_a_double_submit_is_a_no_op(app, signed_in, campaign):
    text = "\n".join([HEADER, *good_rows(5)])
    first = upload(signed_in, text)
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "Import finished" in page and "<dt>Inserted</dt><dd>5</dd>" in page
    second = upload(signed_in, text)
    assert "<dt>Inserted</dt><dd>0</dd>" in second.get_data(as_text=True)
    assert "<dt>Duplicates</dt><dd>5</dd>" in second.get_data(as_text=True)
    assert count(app) == 5


def test_an_upload_with_a_bad_row_shows_the_line_and_imports_nothing(app, signed_in, campaign):
    text = "\n".join([HEADER, *good_rows(2), "e9,<script>alert(1)</script>,c,,nl,clicked,2026-03-01T09:00:00Z,"])
    response = upload(signed_in, text)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nothing was imported" in page and "<td>4</td>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert count(app) == 0
    skipped = upload(signed_in, text, skip_invalid="y")
    assert skipped.status_code == 200 and count(app) == 2


def test_an_upload_with_a_bad_header_says_why(signed_in, campaign):
    response = upload(signed_in, "a,b,c\n1,2,3\n")
    assert response.status_code == 422
    assert "the header has no column for campaign" in response.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_the_upload_form_needs_its_csrf_token(app, signed_in, campaign):
    response = upload(signed_in, HEADER + "\n" + GOOD.format(n=1))
    assert response.status_code == 400
    assert count(app) == 0
    token = csrf_token(signed_in, "/dashboard/imports/")
    assert token
    accepted = upload(signed_in, HEADER + "\n" + GOOD.format(n=1), csrf_token=token)
    assert accepted.status_code == 200 and count(app) == 1


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 2048}])
def test_a_too_large_upload_gets_a_clear_413(app, signed_in, campaign):
    response = upload(signed_in, "\n".join([HEADER, *good_rows(60)]))
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    assert count(app) == 0


# Every rejected row of an upload, for its uploader to download.

BAD = "b{n},spring-2026,cust-b{n},not-an-address,nl,clicked,2026-03-01T09:00:00Z,"


def bad_upload(count_bad: int) -> str:
    return "\n".join([HEADER, *good_rows(2), *(BAD.format(n=n) for n in range(count_bad)),
                      'f1,spring-2026,cust-f1,"=HYPERLINK(""http://evil"")",nl,clicked,2026-03-01T09:00:00Z,'])


def rejects_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_every_rejected_row_of_an_upload_can_be_downloaded_by_its_uploader(app, signed_in, campaign):
    response = upload(signed_in, bad_upload(250))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "… and 51 more rejected rows" in page
    assert 'href="/dashboard/imports/rejects.csv"' in page and "Download all 251 rejected rows" in page
    download = signed_in.get("/dashboard/imports/rejects.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    # The upload was called ../../etc/passwd.csv: the download is named after it, path removed.
    assert download.headers["Content-Disposition"] == 'attachment; filename="passwd.rejects.csv"'
    assert download.headers["Cache-Control"] == "no-store"
    rows = rejects_rows(download)
    assert rows[0][:2] == ["line", "reason"] and rows[0][2:] == HEADER.split(",")
    assert [row[0] for row in rows[1:]] == [str(line) for line in range(4, 4 + 251)]
    assert rows[1][2] == "b0" and "email" in rows[1][1].lower()
    # A formula from the file comes back as text, not as a formula a spreadsheet would run.
    assert rows[-1][2] == "f1" and rows[-1][5] == "'=HYPERLINK(\"http://evil\")"
    assert count(app) == 0


def test_rejects_are_for_their_uploader_only(app, client, signed_in, campaign):
    upload(signed_in, bad_upload(3))
    assert signed_in.get("/dashboard/imports/rejects.csv").status_code == 200
    signed_in.post("/auth/logout", headers=SAME_ORIGIN)
    assert client.get("/dashboard/imports/rejects.csv").status_code == 302
    other = sign_in_as(app, client, "colleague@example.com")
    assert other.get("/dashboard/imports/rejects.csv").status_code == 404


def test_a_clean_upload_keeps_nothing_and_a_later_upload_replaces_the_rejects(app, signed_in, campaign):
    first = upload(signed_in, "\n".join([HEADER, *good_rows(3)]))
    assert "rejected rows" not in first.get_data(as_text=True)
    assert signed_in.get("/dashboard/imports/rejects.csv").status_code == 404
    upload(signed_in, bad_upload(5))
    upload(signed_in, bad_upload(1), skip_invalid="y")
    rows = rejects_rows(signed_in.get("/dashboard/imports/rejects.csv"))
    assert len(rows) == 1 + 2  # the header, then the last upload's two rejected rows
    assert count(app) == 3  # the first upload's rows; the later uploads' good rows were the same


@pytest.mark.parametrize("app_config", [{"IMPORT_REJECTS_KEEP_HOURS": 0}])
def test_keeping_rejects_can_be_switched_off(app, signed_in, campaign):
    page = upload(signed_in, bad_upload(3)).get_data(as_text=True)
    assert "Nothing was imported" in page and "Download all" not in page
    assert signed_in.get("/dashboard/imports/rejects.csv").status_code == 404
    assert count(app, ImportRejects) == 0


def test_rejects_expire_and_purge_and_erasure_delete_them(app, signed_in, campaign):
    from survey_app.services import privacy

    upload(signed_in, bad_upload(3))
    with app.app_context():
        kept_at = db.session.execute(select(ImportRejects.created_at)).scalar_one()
        assert privacy.purge(now=kept_at + timedelta(hours=23)).import_rejects == 0
    assert signed_in.get("/dashboard/imports/rejects.csv").status_code == 200
    with app.app_context():
        db.session.execute(update(ImportRejects).values(created_at=kept_at - timedelta(hours=25)))
        db.session.commit()
    assert signed_in.get("/dashboard/imports/rejects.csv").status_code == 404
    with app.app_context():
        assert privacy.purge().import_rejects == 1
    assert count(app, ImportRejects) == 0

    upload(signed_in, bad_upload(3))
    assert count(app, ImportRejects) == 1
    with app.app_context():
        privacy.erase_customer(email="someone@example.nl")
    assert count(app, ImportRejects) == 0
