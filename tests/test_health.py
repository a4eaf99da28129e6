"""Probes and the production start-up checks."""

from __future__ import annotations

import pytest

from survey_app import create_app
from survey_app.config import InsecureConfiguration
from tests.conftest import clean_environment


def test_healthz_answers_without_touching_anything(client):
    reply = client.get("/healthz")
    assert (reply.status_code, reply.get_json()) == (200, {"status": "ok"})


def test_readyz_reports_the_database(client):
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.get_json()["checks"] == {"database": "ok"}


@pytest.mark.parametrize("app_config", [{"BROKER_URL": "redis://127.0.0.1:1/0"}])
def test_readyz_is_503_when_the_broker_is_unreachable(client, app_config):
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unreachable")


def test_readyz_is_503_when_the_database_is_unreachable(monkeypatch, tmp_path):
    from tests.conftest import make_app

    app = make_app(monkeypatch, str(tmp_path / "instance"),
                   SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    reply = app.test_client().get("/readyz")
    assert reply.status_code == 503
    assert reply.get_json()["checks"]["database"].startswith("unreachable")
    assert "127.0.0.1" not in reply.get_data(as_text=True)


def production(monkeypatch, tmp_path, **environment):
    clean_environment(monkeypatch, str(tmp_path / "instance"))
    monkeypatch.setenv("SURVEY_APP_DEPLOYMENT", "production")
    for name, value in environment.items():
        monkeypatch.setenv(f"SURVEY_APP_{name}", value)
    return create_app()


GOOD = {"SECRET_KEY": "k" * 64, "BASE_URL": "https://surveys.example.com"}


def test_a_safe_production_configuration_starts(monkeypatch, tmp_path):
    app = production(monkeypatch, tmp_path, **GOOD)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": ""}, "SURVEY_APP_SECRET_KEY is not set"),
        ({"SECRET_KEY": "short"}, "shorter than 32 characters"),
        ({"BASE_URL": "http://surveys.example.com"}, "must use https://"),
        ({"DEBUG": "true"}, "debug mode is on"),
    ],
)
def test_production_refuses_an_insecure_configuration(monkeypatch, tmp_path, change, message):
    with pytest.raises(InsecureConfiguration, match=message):
        production(monkeypatch, tmp_path, **{**GOOD, **change})
    assert not (tmp_path / "instance" / "secret_key").exists()
