"""Fixtures: `app`, `client` and `runner` on a fresh database per test.

Every test that asks for `app` runs twice: on SQLite, and on PostgreSQL when
SURVEY_APP_TEST_POSTGRES_URL names a server. Each test session creates its own PostgreSQL
database, so parallel runs never see each other's rows. Under CI=true a missing server is an
error, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

import survey_app.models  # noqa: F401 - registers every table on db.metadata before any schema is built
from survey_app import create_app
from survey_app.extensions import db

POSTGRES_ENV = "SURVEY_APP_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() == "true"
# Generated per test run: no key is written into the code.
TEST_SECRET_KEY = secrets.token_hex(32)


def requirement_missing(reason: str) -> None:
    """Skip a test whose service is missing, except in CI, where it must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


def psycopg_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


class PostgresDatabases:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = psycopg_url(server_url)
        self.admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self, purpose: str) -> URL:
        name = f"survey_app_test_{purpose}_{os.getpid()}_{secrets.token_hex(4)}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.server_url.set(database=name)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None
        return
    databases = PostgresDatabases(url)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_app_url(postgres: PostgresDatabases | None) -> Iterator[URL | None]:
    """One database for the whole session; tests get it emptied."""
    if postgres is None:
        yield None
        return
    url = postgres.create("app")
    engine = create_engine(url)
    db.metadata.create_all(engine)
    engine.dispose()
    yield url


def empty_postgres(url: URL) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def clean_environment(monkeypatch: pytest.MonkeyPatch, instance_path: str) -> None:
    """Keep the developer's SURVEY_APP_* settings out of the tests."""
    for name in list(os.environ):
        if name.startswith("SURVEY_APP_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("SURVEY_APP_INSTANCE_PATH", instance_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path, postgres_app_url: URL | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if postgres_app_url is None:
        requirement_missing(f"PostgreSQL tests need {POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test")
    assert postgres_app_url is not None
    empty_postgres(postgres_app_url)
    return postgres_app_url.render_as_string(hide_password=False)


def make_app(monkeypatch: pytest.MonkeyPatch, instance_path: str, **config) -> Flask:
    clean_environment(monkeypatch, instance_path)
    settings = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": False,
        "BASE_URL": "https://surveys.example.test",
    }
    settings.update(config)
    return create_app(settings)


@pytest.fixture
def app_config() -> dict:
    """Extra configuration for the `app` fixture; override in a test module to change it."""
    return {}


@pytest.fixture
def app(monkeypatch, tmp_path, database_url: str, app_config: dict) -> Iterator[Flask]:
    """A configured app on an empty database. It pushes no app context: a test that holds one
    while using the client would share one SQLAlchemy session with the requests it makes,
    and hide missing commits. Use `with app.app_context():` around direct database work."""
    application = make_app(
        monkeypatch, str(tmp_path / "instance"), SQLALCHEMY_DATABASE_URI=database_url, **app_config
    )
    with application.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def empty_database_url(backend: str, tmp_path, postgres: PostgresDatabases | None) -> str:
    """A database with no tables at all, for tests of migrations and commands that run them."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    if postgres is None:
        requirement_missing(f"PostgreSQL tests need {POSTGRES_ENV}")
    assert postgres is not None
    return postgres.create("empty").render_as_string(hide_password=False)


@pytest.fixture
def unmigrated_app(monkeypatch, tmp_path, empty_database_url: str) -> Iterator[Flask]:
    application = make_app(monkeypatch, str(tmp_path / "instance"), SQLALCHEMY_DATABASE_URI=empty_database_url)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
