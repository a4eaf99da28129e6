"""The customer's survey page: scanner-safe GETs, strict POSTs, one stored answer."""

from __future__ import annotations

import re
import secrets
import threading
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Invitation, Response, ResponseAnalysis, utcnow
from tests import factories
from tests.test_survey_limits import redis_url  # noqa: F401 - the Redis test database fixture


@pytest.fixture
def link(app):
    """An open invitation for a Dutch-speaking customer; returns its token."""
    with app.app_context():
        campaign = factories.campaign(name="Gratis dag")
        factories.promised_item(campaign, label="Utrecht Centraal", aliases=["Utrecht CS"])
        customer = factories.customer(language="nl")
        _, token = factories.invitation(campaign, customer, language="nl")
        db.session.commit()
    return token


def responses(app):
    with app.app_context():
        return db.session.execute(select(Response)).scalars().all()


def analyses(app):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(ResponseAnalysis)).scalar()


def invitation_row(app):
    with app.app_context():
        return db.session.execute(select(Invitation)).scalar_one()


def test_the_page_asks_in_dutch_with_the_emailed_score_selected(client, link):
    page = client.get(f"/s/{link}?score=3").get_data(as_text=True)
    assert "Hoe waarschijnlijk is het dat je ons aanbeveelt aan vrienden of collega's?" in page
    assert 'id="score-3" value="3" checked' in page
    assert '<span class="why-detractor chosen">Wat ging er mis?</span>' in page
    assert "<fieldset" in page and "<legend>" in page
    assert "/privacy" in page


@pytest.mark.parametrize(("score", "wording"), [(7, "Wat kunnen we beter doen?"), (10, "Wat vond je goed?")])
def test_the_why_question_follows_the_score_group(client, link, score, wording):
    page = client.get(f"/s/{link}?score={score}").get_data(as_text=True)
    assert f"chosen\">{wording}</span>" in page


def test_without_a_score_the_wording_is_neutral(client, link):
    page = client.get(f"/s/{link}").get_data(as_text=True)
    assert '<span class="why-neutral">Waarom geef je dit cijfer?</span>' in page
    assert " checked" not in page


def test_english_customers_get_english_and_can_switch(app, client):
    with app.app_context():
        _, token = factories.invitation(customer_=factories.customer(language="en"), language="en")
        db.session.commit()
    assert "How likely is it that you would recommend us" in client.get(f"/s/{token}").get_data(as_text=True)
    assert "Hoe waarschijnlijk" in client.get(f"/s/{token}?lang=nl").get_data(as_text=True)


def test_a_scanner_opening_every_score_link_records_nothing(app, client, link):
    for score in range(11):
        assert client.get(f"/s/{link}?score={score}").status_code == 200
        assert client.head(f"/s/{link}?score={score}").status_code == 200
    assert responses(app) == []
    invitation = invitation_row(app)
    assert invitation.opened_at is not None  # a click without an answer, visible to researchers
    assert invitation.expires_at > utcnow()
    assert client.post(f"/s/{link}", data={"score": "8", "comment": ""}).status_code == 302


def test_only_a_get_records_the_first_opening_and_later_ones_keep_its_time(app, client, link):
    before = utcnow()
    assert client.head(f"/s/{link}?score=4").status_code == 200
    assert invitation_row(app).opened_at is None  # a HEAD shows nobody a page
    assert client.get(f"/s/{link}?score=4").status_code == 200
    first = invitation_row(app).opened_at
    assert first is not None and before <= first <= utcnow() and first.tzinfo is not None
    assert client.get(f"/s/{link}?score=9").status_code == 200
    assert invitation_row(app).opened_at == first
    assert responses(app) == []


@pytest.mark.parametrize("state", ["expired", "cancelled"])
def test_an_expired_or_cancelled_link_is_not_marked_opened(app, client, state):
    with app.app_context():
        if state == "expired":
            _, token = factories.invitation(expires_at=utcnow() - timedelta(days=1))
        else:
            _, token = factories.invitation(state="cancelled")
        db.session.commit()
    assert client.get(f"/s/{token}").status_code == (410 if state == "expired" else 404)
    assert invitation_row(app).opened_at is None


def test_a_reminder_link_opens_the_same_invitation(app, client):
    from survey_app.models import ReminderLink
    from survey_app.services.tokens import new_token

    with app.app_context():
        invitation, _ = factories.invitation()
        reminder_token, reminder_hash = new_token()
        db.session.add(ReminderLink(invitation_id=invitation.id, token_hash=reminder_hash))
        db.session.commit()
    assert client.get(f"/s/{reminder_token}?score=6").status_code == 200
    assert invitation_row(app).opened_at is not None


def test_a_database_error_on_the_drivers_cursor_is_sqlalchemys(app):
    """The lookup and mark-opened run on the driver's cursor (database.DriverConnection); their
    errors must still reach the error handlers (503 for a lost database) as SQLAlchemy's."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from survey_app.database import DriverStatement, driver_connection

    with app.app_context(), driver_connection(db.engine) as connection:
        with pytest.raises(DBAPIError) as failure:
            connection.first(DriverStatement(text("SELECT missing FROM no_such_table")), {})
        assert "no_such_table" in str(failure.value)
        assert not failure.value.connection_invalidated


def sent(reply):
    """Close a reply as a server does once it has sent it; work queued for after the reply runs then."""
    reply.close()
    return reply


def test_a_post_stores_the_answer_analyses_it_and_thanks(app, client, link):
    reply = sent(client.post(f"/s/{link}", data={"score": "2", "comment": "De vestiging in Utrecht CS was dicht"}))
    assert reply.status_code == 302
    thanks = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "Bedankt!" in thanks and "Mijn antwoord wijzigen" in thanks
    [stored] = responses(app)
    assert (stored.score, stored.comment, stored.language, stored.revision) == (2, "De vestiging in Utrecht CS was dicht", "nl", 1)
    with app.app_context():
        analysis = db.session.execute(select(ResponseAnalysis)).scalar_one()
        assert analysis.broken_promise is True


def test_a_second_submit_changes_the_answer_and_keeps_answered_at(app, client, link):
    client.post(f"/s/{link}", data={"score": "2", "comment": "dicht"})
    [first] = responses(app)
    client.post(f"/s/{link}", data={"score": "9", "comment": "Toch snel geholpen"})
    [second] = responses(app)
    assert (second.id, second.score, second.comment, second.revision) == (first.id, 9, "Toch snel geholpen", 2)
    assert second.answered_at == first.answered_at
    assert second.updated_at > first.updated_at
    reply = client.get(f"/s/{link}")
    page = reply.get_data(as_text=True)
    assert 'id="score-9" value="9" checked' in page and "Toch snel geholpen" in page
    # A page that shows a stored answer is kept by no cache, nor is the thank-you page.
    assert reply.headers["Cache-Control"] == "no-store"
    assert client.get(f"/s/{link}/thanks").headers["Cache-Control"] == "no-store"
    assert client.post(f"/s/{link}", data={"score": "x"}).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scores", [["11"], ["-1"], ["٩"], ["1_0"], [" 9"], ["10.0"], ["+7"], ["9", "3"], [""], []])
def test_anything_but_one_ascii_score_is_refused_and_nothing_stored(app, client, link, scores):
    reply = client.post(f"/s/{link}", data={"score": scores, "comment": "kept text"})
    assert reply.status_code == 400
    page = reply.get_data(as_text=True)
    assert "Kies één cijfer van 0 tot en met 10." in page
    assert "kept text" in page  # the typed text survives
    assert responses(app) == []


def test_a_comment_over_2000_characters_is_refused(app, client, link):
    assert client.post(f"/s/{link}", data={"score": "5", "comment": "x" * 2001}).status_code == 400
    assert responses(app) == []
    assert client.post(f"/s/{link}", data={"score": "5", "comment": "x" * 2000}).status_code == 302


def test_control_characters_are_removed_and_output_is_escaped(app, client, link):
    comment = "<script>alert(1)</script>\x00\x07 dicht\r\nregel twee"
    reply = client.post(f"/s/{link}", data={"score": "1", "comment": comment})
    [stored] = responses(app)
    assert stored.comment == "<script>alert(1)</script> dicht\nregel twee"
    page = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_a_post_without_csrf_keeps_the_text_and_stores_nothing(app, client, link, app_config):
    reply = client.post(f"/s/{link}", data={"score": "4", "comment": "mijn verhaal"},
                        headers={"Referer": f"https://localhost/s/{link}"})
    assert reply.status_code == 400
    page = reply.get_data(as_text=True)
    assert "mijn verhaal" in page and "nog niet opgeslagen" in page
    assert responses(app) == []


def bad_token_pages(client, tokens):
    return [client.get(f"/s/{token}") for token in tokens]


def test_unknown_malformed_and_expired_links_look_the_same(app, client, link):
    with app.app_context():
        _, expired = factories.invitation(expires_at=utcnow() - timedelta(minutes=1))
        db.session.commit()
    unknown, long, sqlish = bad_token_pages(
        client, ["A" * 43, "x" * 10_000, "1' OR '1'='1"]
    )
    gone = client.get(f"/s/{expired}")
    assert [unknown.status_code, long.status_code, sqlish.status_code, gone.status_code] == [404, 404, 404, 410]
    bodies = {page.get_data(as_text=True) for page in (unknown, long, sqlish, gone)}
    assert len(bodies) == 1
    assert "Deze enquête is niet beschikbaar" in bodies.pop()
    assert client.post(f"/s/{expired}", data={"score": "3"}).status_code == 410
    assert responses(app) == []


def test_two_simultaneous_submits_store_one_row_and_never_fail(app, link):
    barrier = threading.Barrier(4)
    statuses = []

    def submit(score):
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(f"/s/{link}", data={"score": str(score), "comment": f"poging {score}"}).status_code)

    threads = [threading.Thread(target=submit, args=(score,)) for score in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302, 302, 302, 302]
    [stored] = responses(app)
    assert stored.revision == 4
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar() == 1


def test_the_privacy_page_speaks_both_languages(client):
    assert "Hoe we met je antwoord omgaan" in client.get("/privacy?lang=nl").get_data(as_text=True)
    assert "How we handle your answer" in client.get("/privacy?lang=en").get_data(as_text=True)


def test_a_changed_answer_is_analysed_again(app, client, link):
    sent(client.post(f"/s/{link}", data={"score": "2", "comment": "De vestiging in Utrecht CS was dicht"}))
    sent(client.post(f"/s/{link}", data={"score": "9", "comment": "Alles prima geregeld"}))
    with app.app_context():
        analysis = db.session.execute(select(ResponseAnalysis)).scalar_one()
        assert (analysis.response_revision, analysis.broken_promise) == (2, False)


def test_without_a_broker_the_analysis_runs_after_the_reply_not_before(app, client, link):
    reply = client.post(f"/s/{link}", data={"score": "2", "comment": "De vestiging in Utrecht CS was dicht"})
    assert reply.status_code == 302
    assert analyses(app) == 0  # the respondent got the reply without waiting for the analysis
    sent(reply)
    assert analyses(app) == 1


def test_a_failing_analysis_never_costs_the_answer(app, client, link, monkeypatch, caplog):
    from survey_app.services import analysis

    def broken(response_id):
        raise RuntimeError("analysis down")

    monkeypatch.setattr(analysis, "analyze_one", broken)
    assert sent(client.post(f"/s/{link}", data={"score": "2", "comment": "dicht"})).status_code == 302
    assert "analysis of response" in caplog.text
    assert [(row.score, row.comment) for row in responses(app)] == [(2, "dicht")]


class FakeCelery:
    """Stands in for Celery's send_task: records what would be queued."""

    def __init__(self):
        self.queued = []

    def send_task(self, name, args):
        self.queued.append((name, tuple(args)))


def test_with_a_redis_broker_answers_wait_on_the_backlog_and_one_job_analyses_them(redis_url, app, client, monkeypatch):
    from survey_app import jobs

    url = redis_url
    celery = FakeCelery()
    monkeypatch.setattr(jobs, "celery_for", lambda flask_app: celery)
    app.config.update(BROKER_URL=url, CELERY_QUEUE=f"test-{secrets.token_hex(4)}")
    with app.app_context():
        campaign = factories.campaign()
        tokens = [factories.invitation(campaign)[1] for _ in range(3)]
        db.session.commit()
    for token in tokens[:2]:
        assert sent(client.post(f"/s/{token}", data={"score": "2", "comment": "dicht"})).status_code == 302
    stored = sorted(row.id for row in responses(app))
    backlog, marker = jobs.analysis_backlog_keys(app.config)
    server = Redis.from_url(url)
    try:
        # Two answers, one job: the second found the first one's job still waiting.
        assert celery.queued == [(jobs.task_name(jobs.analyze_answer_backlog), ())]
        assert sorted(int(value) for value in server.lrange(backlog, 0, -1)) == stored
        assert analyses(app) == 0  # queued, not run in the request
        with app.app_context():
            assert jobs.analyze_answer_backlog() == 2  # what the worker runs
        assert analyses(app) == 2 and server.llen(backlog) == 0 and not server.exists(marker)
        # The job cleared its marker when it started: the next answer queues the next job.
        assert sent(client.post(f"/s/{tokens[2]}", data={"score": "9", "comment": "prima"})).status_code == 302
        assert len(celery.queued) == 2 and server.llen(backlog) == 1
    finally:
        server.delete(backlog, marker)
        server.close()


def test_with_another_broker_each_answer_is_queued_as_a_job_of_its_own(app, client, link, monkeypatch):
    from survey_app import jobs

    celery = FakeCelery()
    monkeypatch.setattr(jobs, "celery_for", lambda flask_app: celery)
    app.config["BROKER_URL"] = "amqp://guest@broker.invalid:5672//"
    assert sent(client.post(f"/s/{link}", data={"score": "2", "comment": "dicht"})).status_code == 302
    [stored] = responses(app)
    assert celery.queued == [(jobs.task_name(jobs.analyze_response), (stored.id,))]
    assert analyses(app) == 0


def test_the_privacy_page_states_the_retention_periods(client):
    page = client.get("/privacy?lang=nl").get_data(as_text=True)
    assert "Toelichtingen worden na 365 dagen geanonimiseerd." in page
    assert "na 180 dagen" in page


@pytest.mark.parametrize("app_config", [{"PRIVACY_TEXT": {"nl": "Eerste alinea <b>vet</b>.\n\nTweede alinea.",
                                                           "en": "Our own statement."}}])
def test_the_privacy_page_shows_the_operators_own_text_escaped(client, app_config):
    page = client.get("/privacy?lang=nl").get_data(as_text=True)
    assert "<p>Eerste alinea &lt;b&gt;vet&lt;/b&gt;.</p>" in page and "<p>Tweede alinea.</p>" in page
    assert "Toelichtingen worden" not in page
    assert "Our own statement." in client.get("/privacy?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_the_compiled_page_carries_each_respondents_own_token_comment_and_csrf_token(app, app_config):
    """The page is rendered once per campaign, language and score; what differs per respondent
    must still differ, and stay escaped."""
    with app.app_context():
        campaign = factories.campaign(name="Gratis <dag>")
        (first, first_token), (_, second_token) = factories.invitation(campaign), factories.invitation(campaign)
        factories.response(first, comment="<b>gesloten</b> & weg", score=3)
        db.session.commit()
    pages = [app.test_client().get(f"/s/{token}?score=3").get_data(as_text=True)
             for token in (first_token, second_token)]
    assert all("<h1>Gratis &lt;dag&gt;</h1>" in page for page in pages)
    assert "&lt;b&gt;gesloten&lt;/b&gt; &amp; weg</textarea>" in pages[0] and "gesloten" not in pages[1]
    assert f"/s/{first_token}?lang=nl" in pages[0] and first_token not in pages[1]
    assert f"/s/{second_token}?lang=nl" in pages[1]
    csrf_tokens = [re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1) for page in pages]
    assert csrf_tokens[0] != csrf_tokens[1]


# The answer form's CSRF value is bound to the survey link, not to a session (forms/survey.py).
CSRF_ON = {"WTF_CSRF_ENABLED": True, "BASE_URL": "http://localhost"}
CSRF_VALUE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def page_csrf_value(page: str) -> str:
    return CSRF_VALUE.search(page).group(1)


def post_with(client, token: str, csrf_value: str | None, comment: str = "mijn verhaal"):
    data = {"score": "4", "comment": comment}
    if csrf_value is not None:
        data["csrf_token"] = csrf_value
    return client.post(f"/s/{token}", data=data)


def assert_refused_and_kept(reply, app, comment: str = "mijn verhaal") -> None:
    """The "press once more, text kept" page: 400, the typed text still there, nothing stored."""
    assert reply.status_code == 400
    page = reply.get_data(as_text=True)
    assert comment in page and "nog niet opgeslagen" in page
    assert responses(app) == []


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_the_survey_page_sets_no_cookie_and_its_form_submits_without_one(app, link):
    viewer = app.test_client()
    first = viewer.get(f"/s/{link}?score=3")
    assert first.status_code == 200 and "Set-Cookie" not in first.headers
    value = page_csrf_value(first.get_data(as_text=True))
    # The same value on every view of the link, so any open tab of it submits.
    assert page_csrf_value(viewer.get(f"/s/{link}").get_data(as_text=True)) == value
    # Another browser, or this one after clearing its cookies: the page's value is all it takes.
    reply = post_with(app.test_client(use_cookies=False), link, value)
    assert reply.status_code == 302 and "Set-Cookie" not in reply.headers
    assert [(row.score, row.comment) for row in responses(app)] == [(4, "mijn verhaal")]


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_a_missing_or_made_up_csrf_value_is_refused_with_the_text_kept(app, client, link):
    assert_refused_and_kept(post_with(client, link, None), app)
    assert_refused_and_kept(post_with(client, link, ""), app)
    assert_refused_and_kept(post_with(client, link, secrets.token_urlsafe(32)), app)
    assert_refused_and_kept(post_with(client, link, "é" * 43), app)


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_a_value_signed_for_anything_else_is_refused(app, client, link):
    from flask_wtf.csrf import generate_csrf
    from itsdangerous import Signer

    from survey_app.forms.survey import ANSWER_CSRF_SALT
    from survey_app.services.tokens import hash_token

    with app.test_request_context("/"):
        session_token = generate_csrf()  # the session-bound token of every other form
        other_secret = Signer("another secret", salt=ANSWER_CSRF_SALT, key_derivation="hmac",
                              digest_method="sha256").get_signature(hash_token(link)).decode()
        other_salt = Signer(app.secret_key, salt="another salt", key_derivation="hmac",
                            digest_method="sha256").get_signature(hash_token(link)).decode()
    for value in (session_token, other_secret, other_salt):
        assert_refused_and_kept(post_with(client, link, value), app)


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_another_links_csrf_value_is_refused(app, client, link):
    with app.app_context():
        _, other_link = factories.invitation()
        db.session.commit()
    others_value = page_csrf_value(client.get(f"/s/{other_link}").get_data(as_text=True))
    assert_refused_and_kept(post_with(client, link, others_value), app)
    # And it still works for the link it belongs to.
    assert post_with(client, other_link, others_value).status_code == 302


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_a_refused_post_re_renders_a_page_whose_form_then_submits(app, client, link):
    reply = post_with(client, link, "forged")
    assert_refused_and_kept(reply, app)
    retry = post_with(client, link, page_csrf_value(reply.get_data(as_text=True)))
    assert retry.status_code == 302 and len(responses(app)) == 1


@pytest.mark.parametrize("app_config", [CSRF_ON])
def test_a_page_left_open_for_days_still_submits(app, link, monkeypatch):
    import time

    value = page_csrf_value(app.test_client().get(f"/s/{link}").get_data(as_text=True))
    # 13 days later by the clock signed values are timed with (the link itself lives 14 days,
    # checked against the database's expiry): a token with a time limit would be refused here.
    later = time.time() + 13 * 24 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert post_with(app.test_client(), link, value).status_code == 302
    assert len(responses(app)) == 1


def test_the_answer_form_refuses_to_be_built_without_its_link(app):
    from survey_app.forms.survey import AnswerForm

    with app.test_request_context("/s/x", method="POST"), pytest.raises(TypeError, match="survey token"):
        AnswerForm(meta={"csrf": True})


def test_the_answer_forms_signer_keeps_its_derived_key_and_signs_as_itsdangerous_does():
    import hashlib

    from itsdangerous import Signer

    from survey_app.forms.survey import ANSWER_CSRF_SALT, KeyKeepingSigner

    options = {"salt": ANSWER_CSRF_SALT, "key_derivation": "hmac", "digest_method": hashlib.sha256}
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    plain, kept = Signer([old, new], **options), KeyKeepingSigner([old, new], **options)
    for _ in range(2):  # the second round uses the kept keys
        assert kept.get_signature("a link hash") == plain.get_signature("a link hash")
        assert kept.verify_signature("a link hash", Signer(old, **options).get_signature("a link hash"))
        assert not kept.verify_signature("another hash", plain.get_signature("a link hash"))


def test_a_connection_lost_on_the_drivers_cursor_is_dropped_from_the_pool(app, monkeypatch):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from survey_app.database import DriverStatement, driver_connection

    with app.app_context():
        engine = db.engine
        with driver_connection(engine) as connection:
            lost = connection.pooled.dbapi_connection
        monkeypatch.setattr(engine.dialect, "is_disconnect", lambda *_args: True)
        with pytest.raises(DBAPIError) as failure, driver_connection(engine) as connection:
            assert connection.pooled.dbapi_connection is lost  # the pool hands the same one out again
            connection.first(DriverStatement(text("SELECT missing FROM no_such_table")), {})
        assert failure.value.connection_invalidated
        monkeypatch.undo()
        with driver_connection(engine) as connection:
            assert connection.pooled.dbapi_connection is not lost
            assert connection.first(DriverStatement(text("SELECT 1")), {}) == [1]
