"""With a broker configured, sending runs as Celery tasks on a real worker (Redis as broker)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest
import redis
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Invitation
from tests.conftest import requirement_missing
from tests.support import smtp_server
from tests.test_invitations import clickers

REDIS_ENV = "SURVEY_APP_TEST_REDIS_URL"
# Read at import: the app fixture removes SURVEY_APP_* variables from the environment.
REDIS_URL = os.environ.get(REDIS_ENV)


@pytest.fixture
def redis_url() -> str:
    url = REDIS_URL
    if not url:
        requirement_missing(f"the Celery worker test needs {REDIS_ENV}, e.g. redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        requirement_missing(f"Redis at {url} is not reachable: {error}")
    return url


def test_a_celery_worker_sends_the_invitations_in_batches(app, runner, redis_url):
    campaign_id, _ids = clickers(app, 7)
    queue = f"survey_app_test_{secrets.token_hex(4)}"
    with smtp_server() as mailbox:
        settings = {
            "BROKER_URL": redis_url, "CELERY_QUEUE": queue, "MAIL_BACKEND": "smtp", "SMTP_HOST": mailbox.host,
            "SMTP_PORT": mailbox.port, "MAIL_BATCH_SIZE": 3, "MAIL_RATE_LIMIT_PER_MINUTE": 6000,
        }
        env = dict(os.environ)
        env.update({f"SURVEY_APP_{name}": str(value) for name, value in settings.items()})
        env.update({"SURVEY_APP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "SURVEY_APP_SECRET_KEY": app.config["SECRET_KEY"], "SURVEY_APP_BASE_URL": app.config["BASE_URL"]})
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "survey_app.jobs", "worker", "--pool=solo", "-Q", queue,
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            app.config.update(settings)
            result = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
            assert result.exit_code == 0, result.output
            assert "Queued 3 sending batches for the workers." in result.output
            deadline = time.monotonic() + 60
            while len(mailbox.messages) < 7 and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.2)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert len(mailbox.messages) == 7
    assert len({message["To"].addresses[0].addr_spec for message in mailbox.messages}) == 7
    with app.app_context():
        assert set(db.session.execute(select(Invitation.state)).scalars()) == {"sent"}


def test_dispatch_runs_inline_without_a_broker(app):
    from survey_app import jobs

    campaign_id, _ids = clickers(app, 2)
    with smtp_server() as mailbox, app.app_context():
        from tests.test_invitations import smtp_config

        app.config.update(smtp_config(mailbox, MAIL_BATCH_SIZE=1))
        from survey_app.services import invitations

        invitations.create_invitations(campaign_id)
        result = jobs.dispatch(jobs.send_invitation_batch, campaign_id)
        assert result["sent"] == 1  # one batch of MAIL_BATCH_SIZE
        assert jobs.schedule_pending_invitations(campaign_id) == 1
    assert len(mailbox.messages) == 2
    with pytest.raises(KeyError):
        jobs.task_name("os.system")
