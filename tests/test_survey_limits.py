"""Rate limits on survey links: per client address, spoof-proof without trusted proxies, shared
between app instances through Redis."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Response
from tests import factories
from tests.conftest import requirement_missing

REDIS_ENV = "SURVEY_APP_TEST_REDIS_URL"
ROOT = Path(__file__).resolve().parents[1]
SMALL_LIMITS = {"SURVEY_RATE_LIMIT": "3 per minute", "SURVEY_BAD_LINK_RATE_LIMIT": "2 per minute"}


@pytest.fixture
def link(app) -> str:
    """An open English invitation; returns its token."""
    with app.app_context():
        _, token = factories.invitation(customer_=factories.customer(language="en"), language="en")
        db.session.commit()
    return token


def statuses(client, url: str, times: int, **headers: str) -> list[int]:
    return [client.get(url, headers=headers).status_code for _ in range(times)]


@pytest.mark.parametrize("app_config", [SMALL_LIMITS])
def test_the_budget_per_address_ends_in_a_localized_429(app, client, link):
    assert statuses(client, f"/s/{link}", 3) == [200, 200, 200]
    spent = client.get(f"/s/{link}?lang=en")
    assert spent.status_code == 429
    page = spent.get_data(as_text=True)
    assert "Please wait a minute and open it again." in page
    assert 'href="/static/survey.css"' in page and "<script" not in page
    assert int(spent.headers["Retry-After"]) > 0
    # The thank-you page draws on the same budget; Dutch when the link asks for it.
    thanks = client.get(f"/s/{link}/thanks?lang=nl")
    assert thanks.status_code == 429
    assert '<html lang="nl">' in thanks.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [SMALL_LIMITS])
def test_a_post_counts_too_and_a_blocked_post_stores_nothing(app, client, link):
    assert statuses(client, f"/s/{link}", 3) == [200, 200, 200]
    assert client.post(f"/s/{link}", data={"score": "4"}).status_code == 429
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar() == 0


@pytest.mark.parametrize("app_config", [SMALL_LIMITS])
def test_guessing_tokens_is_stopped_sooner_and_then_blocks_good_links_too(app, client, link):
    guesses = [client.get(f"/s/{secrets.token_urlsafe(32)}").status_code for _ in range(2)]
    assert guesses == [404, 404]
    assert client.get(f"/s/{secrets.token_urlsafe(32)}").status_code == 429
    assert client.get(f"/s/{link}").status_code == 429


@pytest.mark.parametrize("app_config", [{"SURVEY_RATE_LIMIT": "10 per minute", "SURVEY_BAD_LINK_RATE_LIMIT": "2 per minute"}])
def test_good_links_do_not_spend_the_guessing_budget(app, client, link):
    assert statuses(client, f"/s/{link}", 5) == [200] * 5
    assert statuses(client, f"/s/{secrets.token_urlsafe(32)}", 3) == [404, 404, 429]


@pytest.mark.parametrize("app_config", [SMALL_LIMITS])
def test_a_bad_link_on_the_thank_you_page_spends_the_guessing_budget_too(app, client, link):
    # Not answered yet: the thank-you page is a 404 like an unknown link, and counts as one.
    assert statuses(client, f"/s/{link}/thanks", 3) == [404, 404, 429]


@pytest.mark.parametrize("app_config", [{**SMALL_LIMITS, "RATELIMIT_ENABLED": False}])
def test_with_rate_limits_switched_off_nothing_is_refused(app, client, link):
    assert statuses(client, f"/s/{link}", 5) == [200] * 5
    assert statuses(client, f"/s/{secrets.token_urlsafe(32)}", 5) == [404] * 5


@pytest.mark.parametrize("app_config", [SMALL_LIMITS])
def test_another_client_address_has_its_own_budget(app, link):
    first = app.test_client()
    second = app.test_client()
    first.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    second.environ_base["REMOTE_ADDR"] = "192.0.2.11"
    assert statuses(first, f"/s/{link}", 4) == [200, 200, 200, 429]
    assert statuses(second, f"/s/{link}", 1) == [200]


@pytest.mark.parametrize("app_config", [{**SMALL_LIMITS, "PROXY_FIX_X_FOR": 1}])
def test_behind_a_trusted_proxy_the_forwarded_address_has_its_own_budget(app, client, link):
    assert statuses(client, f"/s/{link}", 4, **{"X-Forwarded-For": "198.51.100.1"}) == [200, 200, 200, 429]
    assert statuses(client, f"/s/{link}", 1, **{"X-Forwarded-For": "198.51.100.2"}) == [200]
    # The proxy appends the real peer: only the last entry is trusted, a forged first one is not.
    forged = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
    assert statuses(client, f"/s/{link}", 1, **forged) == [429]


@pytest.mark.parametrize("app_config", [{**SMALL_LIMITS, "PROXY_FIX_X_FOR": 0}])
def test_without_trusted_proxies_a_forged_forwarded_address_does_not_reset_the_budget(app, client, link):
    assert statuses(client, f"/s/{link}", 3) == [200, 200, 200]
    for forged in ("198.51.100.1", "198.51.100.2", "203.0.113.9"):
        assert client.get(f"/s/{link}", headers={"X-Forwarded-For": forged}).status_code == 429


@pytest.fixture
def redis_url() -> str:
    """The Redis test database, or a skip (a failure under CI) when none answers."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        requirement_missing(f"the shared-counter test needs {REDIS_ENV}, e.g. redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        requirement_missing(f"Redis at {url} does not answer: {error}")
    return url


# A second app instance in its own process: in one process the limiter extension object is
# shared, so two in-process apps would share even an in-memory counter and prove nothing.
OTHER_INSTANCE = """
import json, sys
from survey_app import create_app
config, url, times = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = create_app(config).test_client()
print(json.dumps([client.get(url).status_code for _ in range(times)]))
"""


def other_instance(config: dict, url: str, times: int, instance_path: Path) -> list[int]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SURVEY_APP_")}
    environment["SURVEY_APP_INSTANCE_PATH"] = str(instance_path)
    finished = subprocess.run(
        [sys.executable, "-W", "error", "-c", OTHER_INSTANCE, json.dumps(config), url, str(times)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


# The counter lives outside the database, so one database backend is enough here.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_two_app_instances_share_one_counter_in_redis(monkeypatch, tmp_path, redis_url, backend, database_url):
    from redis import Redis

    from tests.conftest import TEST_SECRET_KEY, make_app

    prefix = f"survey-test-{secrets.token_hex(4)}"
    config = {
        **SMALL_LIMITS, "SECRET_KEY": TEST_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": prefix,
    }
    app = make_app(monkeypatch, str(tmp_path / "instance"), **config)
    with app.app_context():
        db.create_all()
        _, token = factories.invitation()
        db.session.commit()
    try:
        assert other_instance(config, f"/s/{token}", 2, tmp_path / "other") == [200, 200]
        assert statuses(app.test_client(), f"/s/{token}", 2) == [200, 429]
    finally:
        server = Redis.from_url(redis_url)
        keys = list(server.scan_iter(f"*{prefix}*"))
        if keys:
            server.delete(*keys)
        with app.app_context():
            db.engine.dispose()
    assert keys, "the counter should have been kept in Redis"


# The control: with per-process memory the same two instances count separately, so the test
# above could not pass by accident.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_in_memory_counters_are_per_instance(monkeypatch, tmp_path, backend, database_url):
    from tests.conftest import TEST_SECRET_KEY, make_app

    config = {
        **SMALL_LIMITS, "SECRET_KEY": TEST_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    app = make_app(monkeypatch, str(tmp_path / "instance"), **config)
    with app.app_context():
        db.create_all()
        _, token = factories.invitation()
        db.session.commit()
    try:
        assert other_instance(config, f"/s/{token}", 2, tmp_path / "other") == [200, 200]
        assert statuses(app.test_client(), f"/s/{token}", 3) == [200, 200, 200]
    finally:
        with app.app_context():
            db.engine.dispose()


# In a process of its own: Flask-Limiter keeps a configured default limit on the one limiter
# object for every later app in the process.
DEFAULT_LIMIT_INSTANCE = """
import json, sys
from survey_app import create_app
config, survey_url = json.loads(sys.argv[1]), sys.argv[2]
client = create_app(config).test_client()
print(json.dumps([[client.get("/auth/login").status_code for _ in range(3)],
                  [client.get(survey_url).status_code for _ in range(5)]]))
"""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_survey_pages_count_only_their_own_budgets(monkeypatch, tmp_path, backend, database_url):
    """Flask-Limiter's default limit applies elsewhere, but its per-request evaluation skips the
    survey pages, which check their own budgets (extensions.Limiter)."""
    from tests.conftest import TEST_SECRET_KEY, make_app

    config = {"SECRET_KEY": TEST_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_url}
    app = make_app(monkeypatch, str(tmp_path / "instance"), **config)
    with app.app_context():
        db.create_all()
        _, token = factories.invitation()
        db.session.commit()
        db.engine.dispose()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SURVEY_APP_")}
    environment["SURVEY_APP_INSTANCE_PATH"] = str(tmp_path / "other")
    other_config = {**config, "RATELIMIT_DEFAULT": "2 per minute", "WTF_CSRF_ENABLED": False}
    finished = subprocess.run(
        [sys.executable, "-W", "error", "-c", DEFAULT_LIMIT_INSTANCE, json.dumps(other_config), f"/s/{token}"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True,
    )
    login, survey_page = json.loads(finished.stdout.strip().splitlines()[-1])
    assert login == [200, 200, 429]
    assert survey_page == [200] * 5
