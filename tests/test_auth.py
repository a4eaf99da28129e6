"""Sign-in, sign-out, and who may see the dashboard."""

from __future__ import annotations

import re

import pytest

from survey_app.extensions import db
from survey_app.services.users import UserError, create_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def researcher(app):
    with app.app_context():
        return create_user("Researcher@Example.com", PASSWORD).email


def login(client, email, password=PASSWORD, next_url=None):
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})


def test_dashboard_needs_a_signed_in_user(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_researcher_signs_in_with_email_in_any_case(client, researcher):
    response = login(client, "  RESEARCHER@example.com ")
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, researcher):
    wrong = login(client, researcher, "not the password at all")
    unknown = login(client, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    message = "That email and password do not match an active account."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_inactive_users_cannot_sign_in(app, client, researcher):
    from survey_app.models import User

    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        user.active = False
        db.session.commit()
    login(client, researcher)
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_next_never_redirects_off_site(client, researcher, target):
    response = login(client, researcher, next_url=target)
    assert response.headers["Location"] == "/dashboard/"


def test_next_keeps_a_local_path(client, researcher):
    response = login(client, researcher, next_url="/dashboard/?sort=name")
    assert response.headers["Location"] == "/dashboard/?sort=name"


def test_logout_ends_the_session_even_for_a_copied_cookie(app, client, researcher):
    login(client, researcher)
    stolen = client.get_cookie("session").value
    client.post("/auth/logout")
    assert client.get("/dashboard/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/dashboard/").status_code == 302


def test_logout_is_not_a_get(client, researcher):
    login(client, researcher)
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/dashboard/").status_code == 200


def test_passwords_are_stored_as_argon2id(app, researcher):
    from survey_app.models import User

    with app.app_context():
        stored = db.session.execute(db.select(User.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password", "role", "message"),
    [
        ("not-an-email", PASSWORD, "researcher", "not an email address"),
        ("a@example.com", "short", "researcher", "at least 12 characters"),
        ("a@example.com", PASSWORD, "owner", "role must be one of"),
    ],
)
def test_create_user_refuses_bad_input(app, email, password, role, message):
    with app.app_context(), pytest.raises(UserError, match=message):
        create_user(email, password, role)


def test_create_user_refuses_a_duplicate_email(app, researcher):
    with app.app_context(), pytest.raises(UserError, match="exists already"):
        create_user("researcher@example.com", PASSWORD)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_login_form_requires_its_csrf_token(client, researcher, app_config):
    rejected = login(client, researcher)
    assert rejected.status_code == 400
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    # Under https Flask-WTF also wants a same-site Referer, which Referrer-Policy: same-origin sends.
    accepted = client.post(
        "/auth/login",
        data={"email": researcher, "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/auth/login"},
    )
    assert accepted.status_code == 302


def test_session_cookie_is_httponly_samesite_lax_and_secure_under_https(client, researcher):
    # The test app's BASE_URL is https, which turns Secure on.
    cookie = login(client, researcher).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


LIMITS = {"LOGIN_RATE_LIMIT_PER_EMAIL": "2 per minute", "LOGIN_RATE_LIMIT_PER_ADDRESS": "3 per minute"}


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


@pytest.mark.parametrize("app_config", [LIMITS])
def test_failed_logins_are_limited_per_email_with_one_message_for_every_account(app, client, researcher, app_config):
    pages = {}
    for email in (researcher, "nobody@example.com"):
        for attempt in range(2):
            response = client.post("/auth/login", data={"email": email, "password": "wrong password!!"},
                                   **from_address(f"10.0.{len(pages)}.{attempt}"))
            assert response.status_code == 200
        # A third try from yet another address, now with the right password, is refused.
        limited = client.post("/auth/login", data={"email": email, "password": PASSWORD},
                              **from_address(f"10.1.{len(pages)}.9"))
        assert limited.status_code == 429
        assert "Retry-After" in limited.headers
        pages[email] = limited.get_data(as_text=True).replace(email, "EMAIL")
    assert "Too many failed sign-ins. Wait a few minutes and try again." in pages[researcher]
    assert pages[researcher] == pages["nobody@example.com"]
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize("app_config", [{**LIMITS, "LOGIN_RATE_LIMIT_PER_EMAIL": "5 per minute"}])
def test_failed_logins_are_limited_per_address_and_successes_do_not_count(client, researcher, app_config):
    for _ in range(3):
        assert login(client, researcher).status_code == 302
        client.post("/auth/logout")
    for number in range(3):
        assert login(client, f"someone{number}@example.com", "wrong password!!").status_code == 200
    assert login(client, researcher).status_code == 429
    # Another address is not affected, and X-Forwarded-For is not trusted without a proxy setting.
    assert client.post("/auth/login", data={"email": researcher, "password": PASSWORD},
                       headers={"X-Forwarded-For": "10.9.9.9"}).status_code == 429
    assert client.post("/auth/login", data={"email": researcher, "password": PASSWORD},
                       **from_address("10.9.9.9")).status_code == 302
