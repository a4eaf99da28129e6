"""Configuration layers, the generated secret key, and database URLs."""

from __future__ import annotations

import os
import re
import stat

import pytest

from survey_app import create_app
from survey_app.config import UnusableSetting, database_uri
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


def start_with_environment(monkeypatch, tmp_path, **environment):
    clean_environment(monkeypatch, str(tmp_path / "instance"))
    for name, value in environment.items():
        monkeypatch.setenv(f"SURVEY_APP_{name}", value)
    return create_app()


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        # A capital letter must not quietly skip the production checks.
        ("DEPLOYMENT", "Production", "SURVEY_APP_DEPLOYMENT is 'Production'; use one of: development, production"),
        ("MAIL_BACKEND", "smpt", "SURVEY_APP_MAIL_BACKEND is 'smpt'"),
        ("SMTP_SECURITY", "tls", "SURVEY_APP_SMTP_SECURITY is 'tls'; use one of: none, starttls, ssl"),
        ("LOG_LEVEL", "LOUD", "SURVEY_APP_LOG_LEVEL is 'LOUD'"),
        ("SMTP_PORT", "587a", "SURVEY_APP_SMTP_PORT is '587a'; it must be a whole number from 1 to 65535"),
        ("SMTP_PORT", "70000", "SURVEY_APP_SMTP_PORT is 70000"),
        ("MAIL_BATCH_SIZE", "0", "SURVEY_APP_MAIL_BATCH_SIZE is 0; it must be a whole number of at least 1"),
        ("IMPORT_REJECTS_KEEP_HOURS", "1.5", "SURVEY_APP_IMPORT_REJECTS_KEEP_HOURS is 1.5"),
        ("RETENTION_COMMENT_DAYS", "-1", "SURVEY_APP_RETENTION_COMMENT_DAYS is -1"),
        ("PROXY_FIX_X_FOR", "true", "SURVEY_APP_PROXY_FIX_X_FOR is True"),
        ("VERDICT_THRESHOLD", "1", "SURVEY_APP_VERDICT_THRESHOLD is 1; it must be a number at least 0 and below 1"),
        ("SMTP_TIMEOUT", "0", "SURVEY_APP_SMTP_TIMEOUT is 0; it must be a number above 0"),
        ("REMINDER_DAYS", "[7, 3]", "SURVEY_APP_REMINDER_DAYS is [7, 3]; it takes at most 2 increasing"),
        ("REMINDER_DAYS", "3,7,10", "SURVEY_APP_REMINDER_DAYS is [3, 7, 10]"),
        ("REMINDER_DAYS", "3 days", "SURVEY_APP_REMINDER_DAYS is ['3', 'days']; it must be a list of whole day counts"),
        ("REMINDER_DAYS", "[0]", "SURVEY_APP_REMINDER_DAYS is [0]"),
        ("CONVERSION_WINDOW_HOURS", "0", "SURVEY_APP_CONVERSION_WINDOW_HOURS is 0; it must be a whole number of at least 1"),
    ],
)
def test_a_setting_the_app_cannot_use_stops_the_start_with_its_name(monkeypatch, tmp_path, setting, value, message):
    with pytest.raises(UnusableSetting, match=re.escape(message)):
        start_with_environment(monkeypatch, tmp_path, **{setting: value})


def test_every_unusable_setting_is_named_at_once(monkeypatch, tmp_path):
    with pytest.raises(UnusableSetting) as stopped:
        start_with_environment(monkeypatch, tmp_path, SMTP_PORT="x", LOG_FORMAT="xml", MAIL_RETRY_BASE_SECONDS="-2")
    assert [line.split(" is ")[0] for line in str(stopped.value).splitlines()[1:]] == [
        "- SURVEY_APP_LOG_FORMAT", "- SURVEY_APP_SMTP_PORT", "- SURVEY_APP_MAIL_RETRY_BASE_SECONDS",
    ]


def test_usable_settings_in_any_accepted_form_start(monkeypatch, tmp_path):
    app = start_with_environment(
        monkeypatch, tmp_path, MAIL_BACKEND="SMTP", SMTP_SECURITY="StartTLS", LOG_LEVEL="debug",
        MAIL_RATE_LIMIT_PER_MINUTE="null", RETENTION_COMMENT_DAYS="0", VERDICT_THRESHOLD="0.25",
        MAIL_RETRY_BASE_SECONDS="0", SMTP_TIMEOUT="2.5",
    )
    assert app.config["MAIL_RATE_LIMIT_PER_MINUTE"] is None
    assert app.config["VERDICT_THRESHOLD"] == 0.25


@pytest.mark.parametrize(("value", "days"), [("[3, 7]", [3, 7]), ("2,5", [2, 5]), ("4", [4]), ("[]", [])])
def test_reminder_days_in_any_written_form_are_read_as_a_list(monkeypatch, tmp_path, value, days):
    assert start_with_environment(monkeypatch, tmp_path, REMINDER_DAYS=value).config["REMINDER_DAYS"] == days
