"""The flag workflow: acknowledge, resolve with a note, who and when, audit rows and history."""

from __future__ import annotations

import re

import pytest

from survey_app.extensions import db
from survey_app.models import AuditEvent, Flag, User
from survey_app.services import flags
from tests.test_dashboard import build_scenario, sign_in, text_of


@pytest.fixture
def scenario(app):
    with app.app_context():
        return build_scenario()


@pytest.fixture
def signed_in(app, client):
    return sign_in(app, client)


def stored_flag(app, flag_id: int) -> Flag:
    with app.app_context():
        flag = db.session.get(Flag, flag_id)
        db.session.expunge(flag)
        return flag


def test_open_flags_are_listed_with_their_reasons_in_plain_words(signed_in, scenario):
    page = text_of(signed_in.get("/dashboard/flags"))
    assert "Gratis dag" in page and "Flag open" in page
    assert re.search(r"\d+ of 6 respondents \(\d+%, 95% CI \d+%-\d+%\) reported a broken promise", page)
    assert "Lentekorting" not in page


def test_acknowledging_records_who_and_when_and_an_audit_event(app, signed_in, scenario):
    response = signed_in.post(f"/dashboard/flags/{scenario.flag_id}/acknowledge",
                              data={f"ack{scenario.flag_id}-note": "Calling the branch managers", "back": "flags"})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/flags"
    flag = stored_flag(app, scenario.flag_id)
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        audit = db.session.execute(db.select(AuditEvent)).scalars().all()
    assert flag.state == "acknowledged"
    assert flag.acknowledged_by_id == user.id and flag.acknowledged_at is not None
    assert flag.note == "Calling the branch managers"
    assert [(a.action, a.actor_id, a.subject_id, a.details["to"]) for a in audit] == [
        ("flag.acknowledged", user.id, scenario.flag_id, "acknowledged")
    ]
    page = text_of(signed_in.get("/dashboard/flags"))
    assert "Acknowledged" in page and "r@example.com" in page


def test_resolving_needs_a_note_and_keeps_the_flag_in_the_campaign_history(app, signed_in, scenario):
    url = f"/dashboard/flags/{scenario.flag_id}/resolve"
    refused = signed_in.post(url, data={f"res{scenario.flag_id}-note": "   "})
    assert refused.status_code == 302
    assert stored_flag(app, scenario.flag_id).state == "open"
    assert "Say in a note what was done" in text_of(signed_in.get(refused.headers["Location"]))

    done = signed_in.post(url, data={f"res{scenario.flag_id}-note": "Locations reopened; <b>mail</b> sent"})
    assert done.headers["Location"] == f"/dashboard/campaign/{scenario.broken_id}"
    flag = stored_flag(app, scenario.flag_id)
    assert flag.state == "resolved" and flag.resolved_at is not None and flag.resolved_by_id is not None
    # Resolving straight from open counts as acknowledging too.
    assert flag.acknowledged_at == flag.resolved_at
    assert "Gratis dag" not in text_of(signed_in.get("/dashboard/flags"))
    page = text_of(signed_in.get(f"/dashboard/campaign/{scenario.broken_id}"))
    history = page.split("Flag history", 1)[1].split("</table>", 1)[0]
    assert "resolved" in history and "r@example.com" in history
    assert "Locations reopened; &lt;b&gt;mail&lt;/b&gt; sent" in history
    overview = text_of(signed_in.get("/dashboard/?flag=resolved"))
    assert "Gratis dag" in overview


def test_a_flag_cannot_be_acknowledged_twice_or_resolved_twice(app, signed_in, scenario):
    with app.app_context():
        user_id = db.session.execute(db.select(User.id)).scalar_one()
        flags.acknowledge(scenario.flag_id, user_id)
        with pytest.raises(flags.FlagError, match="acknowledged already"):
            flags.acknowledge(scenario.flag_id, user_id)
        flags.resolve(scenario.flag_id, user_id, "Fixed")
        with pytest.raises(flags.FlagError, match="resolved already"):
            flags.resolve(scenario.flag_id, user_id, "Again")
        with pytest.raises(LookupError):
            flags.acknowledge(9999, user_id)
        actions = db.session.execute(db.select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert actions == ["flag.acknowledged", "flag.resolved"]
    again = signed_in.post(f"/dashboard/flags/{scenario.flag_id}/acknowledge")
    assert "This flag is resolved already." in text_of(signed_in.get(again.headers["Location"]))


def test_flag_actions_are_posts_only(signed_in, scenario):
    assert signed_in.get(f"/dashboard/flags/{scenario.flag_id}/acknowledge").status_code == 405
    assert signed_in.get(f"/dashboard/flags/{scenario.flag_id}/resolve").status_code == 405
    assert signed_in.post("/dashboard/flags/9999/acknowledge").status_code == 404


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_flag_actions_need_the_csrf_token(app, signed_in, scenario, app_config):
    same_site = {"Referer": "https://localhost/dashboard/flags"}
    rejected = signed_in.post(f"/dashboard/flags/{scenario.flag_id}/acknowledge", headers=same_site)
    assert rejected.status_code == 400
    assert stored_flag(app, scenario.flag_id).state == "open"
    page = text_of(signed_in.get("/dashboard/flags"))
    token = re.search(rf'id="ack{scenario.flag_id}-csrf_token" name="ack{scenario.flag_id}-csrf_token" '
                      r'type="hidden" value="([^"]+)"', page).group(1)
    accepted = signed_in.post(f"/dashboard/flags/{scenario.flag_id}/acknowledge",
                              data={f"ack{scenario.flag_id}-csrf_token": token}, headers=same_site)
    assert accepted.status_code == 302
    assert stored_flag(app, scenario.flag_id).state == "acknowledged"


def test_two_researchers_acknowledging_at_once_record_one_acknowledgement(app, scenario):
    import threading

    with app.app_context():
        ids = []
        for email in ("a@example.com", "b@example.com"):
            user = User(email=email, password_hash="unused")
            db.session.add(user)
            db.session.commit()
            ids.append(user.id)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def press(user_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                flags.acknowledge(scenario.flag_id, user_id)
                outcomes.append("acknowledged")
            except flags.FlagError:
                outcomes.append("refused")

    threads = [threading.Thread(target=press, args=(user_id,)) for user_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["acknowledged", "refused"]
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one() == 1
