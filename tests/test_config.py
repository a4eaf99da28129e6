"""Configuration layers, the generated secret key, and database URLs."""

from __future__ import annotations

import os
import stat

from survey_app import create_app
from survey_app.config import database_uri
from tests.conftest import clean_environment


def build(monkeypatch, tmp_path, **config):
    clean_environment(monkeypatch, str(tmp_path / "instance"))
    return create_app(config or None)


def test_first_run_generates_a_private_secret_key_and_reuses_it(monkeypatch, tmp_path):
    first = build(monkeypatch, tmp_path)
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 64
    second = build(monkeypatch, tmp_path)
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_two_instances_get_different_generated_keys(monkeypatch, tmp_path):
    one = build(monkeypatch, tmp_path / "a")
    other = build(monkeypatch, tmp_path / "b")
    assert one.config["SECRET_KEY"] != other.config["SECRET_KEY"]


def test_a_configured_secret_key_means_no_key_file(monkeypatch, tmp_path):
    clean_environment(monkeypatch, str(tmp_path / "instance"))
    monkeypatch.setenv("SURVEY_APP_SECRET_KEY", "from-the-environment")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_layers_apply_in_order_defaults_instance_environment_test(monkeypatch, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        'BASE_URL = "https://from-instance.example"\nCONTACT_FREQUENCY_DAYS = 30\nSMTP_HOST = "mail.instance"\n'
    )
    clean_environment(monkeypatch, str(instance))
    monkeypatch.setenv("SURVEY_APP_SMTP_HOST", "mail.environment")
    monkeypatch.setenv("SURVEY_APP_SMTP_PORT", "2525")
    app = create_app({"CONTACT_FREQUENCY_DAYS": 7})
    assert app.config["INVITATION_EXPIRY_DAYS"] == 14  # default
    assert app.config["BASE_URL"] == "https://from-instance.example"  # instance/config.py
    assert app.config["SMTP_HOST"] == "mail.environment"  # environment beats instance
    assert app.config["SMTP_PORT"] == 2525  # parsed, not a string
    assert app.config["CONTACT_FREQUENCY_DAYS"] == 7  # test overrides beat everything


def test_https_base_url_makes_cookies_secure(monkeypatch, tmp_path):
    app = build(monkeypatch, tmp_path, BASE_URL="https://surveys.example.com/")
    assert app.config["BASE_URL"] == "https://surveys.example.com"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_default_database_is_a_sqlite_file_in_the_instance_folder(monkeypatch, tmp_path):
    app = build(monkeypatch, tmp_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + os.path.join(app.instance_path, "survey_app.db")


def test_postgresql_urls_use_psycopg_3(monkeypatch, tmp_path):
    clean_environment(monkeypatch, str(tmp_path / "instance"))
    monkeypatch.setenv("SURVEY_APP_DATABASE_URL", "postgresql://survey@db.internal:5432/survey")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://survey@db.internal:5432/survey"


def test_database_uri_keeps_explicit_drivers(monkeypatch, tmp_path):
    app = build(monkeypatch, tmp_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = None
    app.config["DATABASE_URL"] = "postgres://u@h/d"
    assert database_uri(app) == "postgresql+psycopg://u@h/d"
    app.config["DATABASE_URL"] = "sqlite:////tmp/x.db"
    assert database_uri(app) == "sqlite:////tmp/x.db"


def test_emailed_links_never_come_from_the_host_header(monkeypatch, tmp_path):
    app = build(monkeypatch, tmp_path, BASE_URL="https://surveys.example.com", TESTING=True)
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        assert app.config["BASE_URL"] == "https://surveys.example.com"
