"""User administration: admins only; create, deactivate, reactivate, reset passwords."""

from __future__ import annotations

import re

import pytest

from survey_app.auth import verify_password
from survey_app.extensions import db
from survey_app.models import User
from tests.test_dashboard import sign_in

NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def admin(app, client):
    return sign_in(app, client, role="admin", email="admin@example.com")


def account(app, email: str) -> User:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        db.session.expunge(user)
        return user


def test_researchers_get_a_clear_403_and_anonymous_visitors_sign_in(app, client):
    assert client.get("/dashboard/admin/").status_code == 302
    sign_in(app, client)
    response = client.get("/dashboard/admin/")
    assert response.status_code == 403
    assert "Only administrators manage user accounts" in response.get_data(as_text=True)
    assert client.post("/dashboard/admin/", data={"email": "x@example.com", "role": "admin",
                                                  "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 403
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 1
    assert "Users</a>" not in client.get("/dashboard/").get_data(as_text=True)


def test_admin_creates_an_account_that_can_sign_in(app, admin):
    response = admin.post("/dashboard/admin/", data={
        "email": "New@Example.com", "role": "researcher", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    })
    assert response.status_code == 302
    assert "new@example.com" in admin.get("/dashboard/admin/").get_data(as_text=True)
    user = account(app, "new@example.com")
    assert user.role == "researcher" and user.password_hash.startswith("$argon2id$")
    other = app.test_client()
    assert other.post("/auth/login", data={"email": "new@example.com", "password": NEW_PASSWORD}).status_code == 302


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "admin@example.com", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "exists already"),
        ({"email": "short@example.com", "password": "short", "confirm": "short"}, "at least 12"),
        ({"email": "differ@example.com", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"}, "passwords differ"),
    ],
)
def test_admin_sees_why_an_account_was_not_created(admin, data, message):
    response = admin.post("/dashboard/admin/", data={"role": "researcher", **data})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_deactivating_ends_the_users_sessions_and_reactivating_lets_them_back(app, admin):
    researcher = sign_in(app, app.test_client())
    user = account(app, "r@example.com")
    assert admin.get(f"/dashboard/admin/users/{user.id}/active").status_code == 405
    assert admin.post(f"/dashboard/admin/users/{user.id}/active").status_code == 302
    assert account(app, "r@example.com").active is False
    assert researcher.get("/dashboard/").status_code == 302
    admin.post(f"/dashboard/admin/users/{user.id}/active")
    assert account(app, "r@example.com").active is True
    from sqlalchemy import select

    from survey_app.extensions import db
    from survey_app.models import AuditEvent

    with app.app_context():
        trail = db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [(e.action, e.actor_label, e.subject_id) for e in trail] == [
            ("user.deactivated", "admin@example.com", user.id), ("user.activated", "admin@example.com", user.id),
        ]


def test_an_admin_cannot_deactivate_themselves(app, admin):
    me = account(app, "admin@example.com")
    response = admin.post(f"/dashboard/admin/users/{me.id}/active")
    assert "cannot deactivate your own account" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert account(app, "admin@example.com").active is True


def test_admin_resets_a_password_and_ends_the_old_sessions(app, admin):
    researcher = sign_in(app, app.test_client())
    user = account(app, "r@example.com")
    page = admin.get(f"/dashboard/admin/users/{user.id}/password").get_data(as_text=True)
    assert re.search(r"New password for r@example\.com", page)
    response = admin.post(f"/dashboard/admin/users/{user.id}/password",
                          data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert verify_password(account(app, "r@example.com").password_hash, NEW_PASSWORD)
    assert researcher.get("/dashboard/").status_code == 302
