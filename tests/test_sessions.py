"""The session cookie: skipped work for visitors without one, Flask's behaviour for the rest."""

from __future__ import annotations

from flask import session

from survey_app.services.users import create_user
from survey_app.sessions import CookieSessionInterface


def test_the_app_uses_the_cookie_session_interface(app):
    assert isinstance(app.session_interface, CookieSessionInterface)


def test_a_visitor_without_a_cookie_gets_no_cookie_but_vary_cookie(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    # The page's layout asks Flask-Login who is signed in, which reads the session, so caches
    # must key on the cookie.
    assert "Cookie" in response.headers.get("Vary", "")


def test_a_survey_page_neither_reads_nor_sets_the_session(app, client):
    from survey_app.extensions import db
    from tests import factories

    with app.app_context():
        _, token = factories.invitation()
        db.session.commit()
    # The first view of a page renders its template, the next one fills the compiled page in.
    for url in (f"/s/{token}?score=7", f"/s/{token}?score=7", "/privacy"):
        response = client.get(url)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        # Nothing on these pages depends on a cookie: Flask-Login's after-request hook is
        # skipped there, and their templates never load the user.
        assert "Cookie" not in response.headers.get("Vary", "")


def test_a_signed_in_researcher_stays_signed_in_across_a_survey_page(app, client):
    from survey_app.extensions import db
    from tests import factories

    with app.app_context():
        create_user("r@example.com", "a long enough password")
        _, token = factories.invitation()
        db.session.commit()
    client.post("/auth/login", data={"email": "r@example.com", "password": "a long enough password"})
    assert client.get(f"/s/{token}").status_code == 200
    assert client.get("/dashboard/").status_code == 200


def test_a_session_written_without_a_cookie_is_set_and_read_back(app):
    @app.get("/test-session-write")
    def write() -> str:
        session["seen"] = "yes"
        return "written"

    @app.get("/test-session-read")
    def read() -> str:
        return str(session.get("seen"))

    client = app.test_client()
    written = client.get("/test-session-write")
    assert "Set-Cookie" in written.headers
    assert client.get("/test-session-read").get_data(as_text=True) == "yes"
    # Another cookie in the header, but not the session's: still an empty session, not an error.
    other = app.test_client()
    other.set_cookie("unrelated", "1")
    assert other.get("/test-session-read").get_data(as_text=True) == "None"


def test_signing_in_still_keeps_the_researcher_signed_in(app, client):
    with app.app_context():
        create_user("r@example.com", "a long enough password")
    signed_in = client.post("/auth/login", data={"email": "r@example.com", "password": "a long enough password"})
    assert signed_in.status_code == 302
    assert client.get("/dashboard/").status_code == 200
