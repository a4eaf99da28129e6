"""Erasure on request, the access export, the retention purge, and the privacy page."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import (
    AuditEvent,
    Customer,
    Invitation,
    Response,
    ResponseAnalysis,
    ResponseFinding,
    Suppression,
    utcnow,
)
from survey_app.services import privacy
from survey_app.services.analysis import analyze_responses, recompute_verdict
from survey_app.services.users import create_user
from tests import factories
from tests.conftest import requirement_missing

EMAIL = "jan.devries@example.nl"
EXTERNAL_ID = "crm-4711"
FIRST_NAME = "Jantje"
COMMENT = "Utrecht Centraal was dicht toen ik er kwam, het filiaal bleek gesloten"
OTHER_COMMENTS = (
    "De vestiging Utrecht Centraal was gesloten",
    "Utrecht Centraal was dicht, de gratis dag kon ik niet gebruiken",
    "Locatie Utrecht Centraal bleek dicht te zijn",
    "Ik stond voor een dichte deur bij Utrecht Centraal",
    "Alles prima geregeld, snelle service",
    "Utrecht Centraal dicht, erg jammer",
)
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"Referer": "https://localhost/dashboard/privacy/"}


def write_eml(directory: Path, name: str, to: str, body: str) -> Path:
    message = EmailMessage()
    message["From"] = "RijdNu <survey@example.com>"
    message["To"] = f"Jan <{to}>"
    message["Subject"] = "Hoe was het?"
    message.set_content(body)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    path.write_bytes(bytes(message))
    return path


@pytest.fixture
def world(app) -> dict[str, Any]:
    """A flagged campaign with six respondents besides Jan, who also has events, a pending
    invitation elsewhere and emails in the outbox."""
    with app.app_context():
        spring = factories.campaign(key="spring")
        factories.promised_item(spring, label="Utrecht Centraal", aliases=["Utrecht CS"])
        autumn = factories.campaign(key="autumn")
        for number, comment in enumerate(OTHER_COMMENTS):
            other = factories.customer(external_id=f"other-{number}", email=f"other{number}@example.org")
            factories.event(spring, other, "clicked")
            invitation, _token = factories.invitation(spring, other)
            factories.response(invitation, score=2 + number, comment=comment)
        jan = factories.customer(external_id=EXTERNAL_ID, email="  Jan.DeVries@Example.NL ", first_name=FIRST_NAME)
        factories.event(spring, jan, "clicked", provider_event_id="nk-" + "0" * 64,
                        clicked_url=f"https://rijdnu.example/utrecht?u={EMAIL}",
                        payload={"email": EMAIL, "customer_id": EXTERNAL_ID, "first_name": FIRST_NAME})
        invitation, token = factories.invitation(spring, jan, failure_reason=f"550 {EMAIL} greylisted")
        factories.response(invitation, score=1, comment=COMMENT)
        pending, _ = factories.invitation(autumn, jan, state="pending", sent_at=None)
        db.session.commit()
        outbox = Path(app.config["MAIL_OUTBOX_DIR"])
        jan_files = [
            write_eml(outbox, "first", EMAIL, f"Beste {FIRST_NAME}, https://surveys.example.test/s/{token}"),
            write_eml(outbox / "reminders", "second", EMAIL.upper(), "Herinnering"),
        ]
        other_file = write_eml(outbox, "other", "other1@example.org", "Beste klant")
        return {"jan_id": jan.id, "token": token, "pending_id": pending.id, "spring_id": spring.id,
                "jan_files": jan_files, "other_file": other_file}


@pytest.fixture
def analysed(app, world) -> dict[str, Any]:
    """The world with every answer analysed and the campaigns' verdicts computed."""
    with app.app_context():
        analyze_responses()
    return world


def copies_in_database(needles: list[str]) -> list[str]:
    """Return table.column for every stored value that contains any needle (case-insensitive)."""
    lowered = [needle.lower() for needle in needles]
    found = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                if isinstance(value, (dict, list)):
                    value = json.dumps(value, ensure_ascii=False)
                if isinstance(value, str) and any(needle in value.lower() for needle in lowered):
                    found.append(f"{table.name}.{column}")
    return found


def aggregates(campaign_id: int) -> dict[str, Any]:
    """The anonymous figures that must survive an erasure."""
    scores = sorted(db.session.execute(
        select(Response.score).join(Invitation).where(Invitation.campaign_id == campaign_id)
    ).scalars())
    categories = sorted(db.session.execute(
        select(ResponseFinding.category, ResponseFinding.promised_item_id)
        .join(ResponseAnalysis).join(Response).join(Invitation).where(Invitation.campaign_id == campaign_id)
    ).all())
    broken = db.session.execute(
        select(func.count()).select_from(ResponseAnalysis).join(Response).join(Invitation)
        .where(Invitation.campaign_id == campaign_id, ResponseAnalysis.broken_promise)
    ).scalar_one()
    verdict = recompute_verdict(campaign_id)
    return {
        "scores": scores, "categories": categories, "broken": broken,
        "verdict": (verdict.flagged, verdict.severity, verdict.n_respondents, verdict.n_broken, verdict.share,
                    verdict.nps),
    }


def test_erasure_leaves_no_copy_and_keeps_the_aggregates(app, runner, analysed):
    world = analysed
    needles = [EMAIL, EXTERNAL_ID, FIRST_NAME, COMMENT]
    with app.app_context():
        before = aggregates(world["spring_id"])
        assert before["categories"] and before["verdict"][0], "the fixture must give a flagged campaign"
        assert set(copies_in_database(needles)) >= {"customers.email", "campaign_events.payload", "responses.comment",
                                                    "campaign_verdicts.details"}

    result = runner.invoke(args=["forget-customer", "--email", " JAN.devries@example.NL ", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased 1 customer record(s)" in result.output

    with app.app_context():
        assert copies_in_database(needles) == []
        assert aggregates(world["spring_id"]) == before
        jan = db.session.get(Customer, world["jan_id"])
        assert jan.erased_at is not None and jan.email is None and jan.external_id is None
        assert db.session.get(Invitation, world["pending_id"]).state == "cancelled"
        analysis = db.session.execute(
            select(ResponseAnalysis).join(Response).join(Invitation).where(Invitation.customer_id == jan.id)
        ).scalar_one()
        assert analysis.keywords == [] and analysis.findings
        assert all((f.span_start, f.span_end) == (0, 0) for f in analysis.findings)
        assert privacy.is_suppressed(EMAIL)
        audit = db.session.execute(select(AuditEvent).where(AuditEvent.action == "customer.erased")).scalar_one()
        assert (audit.subject_type, audit.subject_id, audit.actor_label) == ("customer", jan.id, "cli")
        assert audit.details["comments"] == 1 and audit.details["outbox_files"] == 2
    assert [path.exists() for path in world["jan_files"]] == [False, False]
    assert world["other_file"].exists()
    # The emailed link is dead: the token no longer finds an invitation.
    assert app.test_client().get(f"/s/{world['token']}").status_code == 404


def test_exports_made_after_an_erasure_hold_no_copy(app, analysed):
    if importlib.util.find_spec("survey_app.services.exports") is None:
        requirement_missing("survey_app.services.exports does not exist yet")
    from survey_app.services import exports

    with app.app_context():
        privacy.erase_customer(external_id=EXTERNAL_ID)
        for kind in exports.EXPORTS:
            text = "".join(exports.export(kind, exports.ExportOptions(include_email=True))).lower()
            for needle in (EMAIL, EXTERNAL_ID, FIRST_NAME, COMMENT):
                assert needle.lower() not in text, (kind, needle)
        responses = "".join(exports.export("responses", exports.ExportOptions(include_email=True)))
        assert responses.count("\n") > len(OTHER_COMMENTS), "the erased answer's row (its score) stays"


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    return {
        table.name: sorted((tuple(map(repr, row)) for row in db.session.execute(select(table))))
        for table in db.metadata.sorted_tables
    }


def test_erasing_twice_changes_nothing_the_second_time(app, runner, world):
    first = runner.invoke(args=["forget-customer", "--external-id", EXTERNAL_ID, "--yes"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        before = snapshot()
    again = runner.invoke(args=["forget-customer", "--external-id", EXTERNAL_ID, "--yes"])
    assert again.exit_code == 0 and "Nothing to erase" in again.output
    by_email = runner.invoke(args=["forget-customer", "--email", EMAIL, "--yes"])
    assert "Nothing to erase" in by_email.output
    with app.app_context():
        assert snapshot() == before


def test_an_erasure_that_fails_midway_changes_nothing(app, world, monkeypatch):
    def broken(_rows: dict[str, str]) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy, "_add_suppressions", broken)
    with app.app_context():
        before = snapshot()
        with pytest.raises(RuntimeError):
            privacy.erase_customer(email=EMAIL)
        assert snapshot() == before
    assert all(path.exists() for path in world["jan_files"])


def test_erasing_an_unknown_address_still_suppresses_it(app, runner):
    result = runner.invoke(args=["forget-customer", "--email", "nobody@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert privacy.is_suppressed("Nobody@Example.com")
        assert db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 1


def test_forget_customer_needs_exactly_one_identifier_and_a_confirmation(app, runner, world):
    for args in ([], ["--email", EMAIL, "--external-id", EXTERNAL_ID], ["--email", "not-an-address"]):
        result = runner.invoke(args=["forget-customer", *args, "--yes"])
        assert result.exit_code == 2, (args, result.output)
    declined = runner.invoke(args=["forget-customer", "--email", EMAIL], input="n\n")
    assert declined.exit_code == 1
    with app.app_context():
        assert db.session.get(Customer, world["jan_id"]).email is not None
        assert db.session.execute(select(func.count()).select_from(Suppression)).scalar_one() == 0


# --- access ------------------------------------------------------------------------------------


def test_export_customer_writes_everything_stored_as_json(app, runner, analysed, tmp_path):
    path = tmp_path / "jan.json"
    result = runner.invoke(args=["export-customer", "--email", EMAIL.upper(), "--output", str(path)])
    assert result.exit_code == 0, result.output
    document = json.loads(path.read_text(encoding="utf-8"))
    [customer] = document["customers"]
    assert customer["external_id"] == EXTERNAL_ID and customer["first_name"] == FIRST_NAME
    assert customer["events"][0]["payload"]["email"] == EMAIL
    answered = [i for i in customer["invitations"] if i["response"]]
    assert answered[0]["response"]["comment"] == COMMENT
    assert answered[0]["response"]["analysis"]["findings"]
    assert {i["state"] for i in customer["invitations"]} == {"sent", "pending"}
    assert document["suppressed"] is False
    with app.app_context():
        audit = db.session.execute(select(AuditEvent)).scalar_one()
        assert audit.action == "customer.exported" and EMAIL not in json.dumps(audit.details)


def test_export_customer_to_stdout_and_for_an_unknown_customer(app, runner, world):
    result = runner.invoke(args=["export-customer", "--external-id", EXTERNAL_ID])
    assert result.exit_code == 0
    assert json.loads(result.output)["customers"][0]["id"] == world["jan_id"]
    missing = runner.invoke(args=["export-customer", "--external-id", "nobody"])
    assert missing.exit_code == 1 and "no stored customer" in missing.output


# --- retention ---------------------------------------------------------------------------------


@pytest.fixture
def aged(app) -> dict[str, int]:
    """An old and a recent answer, an old and a recent non-respondent."""
    now = utcnow()
    with app.app_context():
        campaign = factories.campaign()
        old_answer = factories.response(
            factories.invitation(campaign, factories.customer(), sent_at=now - timedelta(days=500))[0],
            comment="Oud commentaar over de vestiging", updated_at=now - timedelta(days=400),
            answered_at=now - timedelta(days=400),
        )
        new_answer = factories.response(
            factories.invitation(campaign, factories.customer())[0], comment="Vers commentaar",
        )
        silent = factories.customer(email="silent@example.com", created_at=now - timedelta(days=300))
        factories.event(campaign, silent, "clicked", occurred_at=now - timedelta(days=200), payload={"a": "silent"})
        factories.invitation(campaign, silent, sent_at=now - timedelta(days=199), created_at=now - timedelta(days=199))
        recent = factories.customer()
        factories.event(campaign, recent, "clicked", occurred_at=now - timedelta(days=200))
        factories.event(campaign, recent, "opened", occurred_at=now - timedelta(days=10))
        db.session.commit()
        return {"old_answer": old_answer.id, "new_answer": new_answer.id, "silent": silent.id, "recent": recent.id,
                "old_customer": old_answer.invitation.customer_id}


def test_purge_anonymises_old_comments_and_erases_silent_non_respondents(app, aged):
    with app.app_context():
        app.config.update(RETENTION_COMMENT_DAYS=0, RETENTION_NONRESPONDENT_DAYS=600)
        kept = privacy.purge(dry_run=True)
        assert (kept.comment_days, kept.comments, kept.customers) == (None, 0, 0)
        app.config.update(RETENTION_COMMENT_DAYS=365, RETENTION_NONRESPONDENT_DAYS=180)
        report = privacy.purge()
        assert (report.comments, report.customers) == (1, 1)
        assert db.session.get(Response, aged["old_answer"]).comment == ""
        assert db.session.get(Response, aged["new_answer"]).comment == "Vers commentaar"
        silent = db.session.get(Customer, aged["silent"])
        assert silent.erased_at is not None and silent.email is None
        assert copies_in_database(["silent@example.com", '"silent"']) == []
        # Answered long ago: the comment goes, the customer stays (the answer ties them to it).
        assert db.session.get(Customer, aged["old_customer"]).email is not None
        assert db.session.get(Customer, aged["recent"]).erased_at is None
        # Purged people never asked to be forgotten: they are not suppressed.
        assert not privacy.is_suppressed("silent@example.com")


def test_purge_dry_run_reports_and_changes_nothing_and_a_second_run_changes_nothing(app, runner, aged):
    with app.app_context():
        before = snapshot()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would anonymise 1 comment(s); would erase 1 non-respondent(s)" in dry.output
    with app.app_context():
        assert snapshot() == before
    first = runner.invoke(args=["purge"])
    assert "Anonymised 1 comment(s); erased 1 non-respondent(s)" in first.output
    with app.app_context():
        after_first = snapshot()
    second = runner.invoke(args=["purge"])
    assert "Anonymised 0 comment(s); erased 0 non-respondent(s)" in second.output
    with app.app_context():
        assert snapshot() == after_first


# --- the privacy page --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch):
    """Sign-ins here test the privacy pages, not argon2: cheap parameters save seconds per test."""
    monkeypatch.setattr("survey_app.auth.password_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def sign_in(app, client, role: str) -> None:
    with app.app_context():
        create_user(f"{role}@example.com", PASSWORD, role=role)
    data = {"email": f"{role}@example.com", "password": PASSWORD}
    if app.config["WTF_CSRF_ENABLED"]:
        page = client.get("/auth/login").get_data(as_text=True)
        data["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/auth/login", data=data, headers={"Referer": "https://localhost/auth/login"})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_researchers_see_the_policy_but_may_not_erase(app, client, world):
    assert client.get("/dashboard/privacy/").status_code == 302  # to the sign-in page
    sign_in(app, client, "researcher")
    page = client.get("/dashboard/privacy/")
    assert page.status_code == 200
    assert b"365 days" in page.data and b"180" in page.data and b"Erase a customer" not in page.data
    response = client.post("/dashboard/privacy/erase", data={"email": EMAIL, "confirmed": "yes"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Customer, world["jan_id"]).email is not None


def test_an_admin_erases_after_confirming(app, client, world):
    sign_in(app, client, "admin")
    assert b"Erase a customer" in client.get("/dashboard/privacy/").data
    preview = client.post("/dashboard/privacy/erase", data={"email": EMAIL}, headers=SAME_ORIGIN)
    assert preview.status_code == 200 and b"Erase for good" in preview.data
    with app.app_context():
        assert db.session.get(Customer, world["jan_id"]).email is not None
    done = client.post("/dashboard/privacy/erase", data={"email": EMAIL, "confirmed": "yes"}, headers=SAME_ORIGIN)
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Customer, world["jan_id"]).erased_at is not None
        audit = db.session.execute(select(AuditEvent)).scalar_one()
        assert audit.actor_label == "admin@example.com" and audit.actor_id is not None


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_the_erase_form_needs_a_csrf_token(app, client, world):
    sign_in(app, client, "admin")
    response = client.post("/dashboard/privacy/erase", data={"email": EMAIL, "confirmed": "yes"}, headers=SAME_ORIGIN)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Customer, world["jan_id"]).email is not None
