"""Background jobs: Celery tasks on workers when a broker is configured, plain calls otherwise.

    celery -A survey_app.jobs worker --loglevel=INFO      # the workers
    celery -A survey_app.jobs beat                        # the periodic schedule (reminders, left-over sends, stale verdicts)

The Celery app is built from the Flask app's configuration (BROKER_URL), and every task runs
inside that Flask app's context. Without a broker, `dispatch` runs the same function in the
calling process, so a laptop needs neither Redis nor a worker.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask, current_app

log = logging.getLogger(__name__)

TASK_PREFIX = "survey_app."


def send_invitation_batch(campaign_id: int | None = None) -> dict[str, Any]:
    """Claim one batch of pending invitations (of a campaign, or of all) and send it."""
    from survey_app.services import invitations

    report = invitations.send_pending(campaign_id=campaign_id, limit=int(invitations.setting("MAIL_BATCH_SIZE")))
    return {"sent": report.sent, "failed": report.failed, "cancelled": report.cancelled,
            "deferred": report.deferred, "stopped": report.stopped}


def send_reminder_batch() -> dict[str, Any]:
    """Claim one batch of due reminders and send it."""
    from survey_app.services import invitations, reminders

    report = reminders.send_due_reminders(limit=int(invitations.setting("MAIL_BATCH_SIZE")))
    return {"sent": report.sent, "failed": report.failed, "skipped": report.cancelled,
            "deferred": report.deferred, "stopped": report.stopped}


def schedule_reminders() -> int:
    """Queue one reminder batch per MAIL_BATCH_SIZE reminders due now; return how many batches."""
    from survey_app.services import invitations, reminders

    due = sum(reminders.count_due().values())
    batches = math.ceil(due / int(invitations.setting("MAIL_BATCH_SIZE")))
    for _ in range(batches):
        dispatch(send_reminder_batch)
    return batches


def schedule_pending_invitations(campaign_id: int | None = None) -> int:
    """Queue one sending batch per MAIL_BATCH_SIZE pending invitations; return how many batches."""
    from survey_app.services import invitations

    pending = invitations.pending_count(campaign_id)
    batches = math.ceil(pending / int(invitations.setting("MAIL_BATCH_SIZE")))
    for _ in range(batches):
        dispatch(send_invitation_batch, campaign_id)
    return batches


def analyze_response(response_id: int) -> None:
    """Analyse one stored answer and update its campaign's verdict."""
    from survey_app.services import analysis

    analysis.analyze_one(response_id)


# Answers from the survey page wait for analysis on a Redis list beside the Celery queue, with
# at most one analyze_answer_backlog job queued for them: Celery's send_task costs the request
# about a millisecond (building the message, kombu's publish), a pipelined push a tenth of that.
ANALYSIS_BACKLOG_BATCH = 500
# The "a job is waiting" marker expires in case its message is lost; the next answer then queues
# another job, and `survey-app analyze` analyses whatever a lost job left.
ANALYSIS_JOB_MARKER_SECONDS = 120


def analysis_backlog_keys(config: Any) -> tuple[str, str]:
    """Return the Redis keys of the answers waiting for analysis and of the waiting-job marker."""
    queue = config.get("CELERY_QUEUE") or "survey_app"
    return f"{queue}:answers-to-analyse", f"{queue}:analysis-job-queued"


def broker_redis(flask_app: Flask) -> Any:
    """Return a Redis client on the broker (one per app), or None when the broker is not Redis."""
    url = str(flask_app.config.get("BROKER_URL") or "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    client = flask_app.extensions.get("analysis_backlog_redis")
    if client is None:
        import redis

        client = flask_app.extensions["analysis_backlog_redis"] = redis.Redis.from_url(url)
    return client


def queue_answer_analysis(response_id: int) -> None:
    """Queue one answer's analysis for the workers, together with the answers around it.

    The id goes on the backlog list, and a job is queued only when none is waiting (SET NX on the
    marker, which the job clears before it takes the ids): an answer pushed before a job cleared
    the marker is taken by that job, one pushed after queues the next. A broker that is not
    Redis gets one analyze_response job per answer.
    """
    flask_app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = broker_redis(flask_app)
    if client is None:
        dispatch(analyze_response, response_id)
        return
    backlog, marker = analysis_backlog_keys(flask_app.config)
    with client.pipeline(transaction=False) as pipeline:
        pipeline.rpush(backlog, response_id)
        pipeline.set(marker, "1", nx=True, ex=ANALYSIS_JOB_MARKER_SECONDS)
        _, no_job_was_waiting = pipeline.execute()
    if no_job_was_waiting:
        try:
            dispatch(analyze_answer_backlog)
        except Exception:
            # No job went out: let the next answer try again instead of waiting for the marker to expire.
            client.delete(marker)
            raise


def analyze_answer_backlog() -> int:
    """Analyse the answers waiting on the backlog, a batch at a time; return how many."""
    from survey_app.services import analysis

    flask_app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = broker_redis(flask_app)
    if client is None:  # queued under a Redis broker, run after a move to another: nothing waits here
        return 0
    backlog, marker = analysis_backlog_keys(flask_app.config)
    client.delete(marker)
    analysed = 0
    # Batch by batch: a worker killed midway loses at most one batch from the list, and those
    # answers are still unanalysed in the database for `survey-app analyze`.
    while ids := client.lpop(backlog, ANALYSIS_BACKLOG_BATCH):
        analysis.analyze_answers([int(value) for value in ids])
        analysed += len(ids)
    return analysed


def analyze_stale_answers() -> dict[str, int]:
    """Do what `survey-app analyze` does: analyse answers a lost job left, and recompute every
    verdict older than its campaign's newest analysis (the survey page refreshes a verdict at
    most every VERDICT_REFRESH_SECONDS, so a campaign's last answers are caught up here)."""
    from survey_app.services import analysis

    summary = analysis.analyze_responses()
    return {"analysed": summary.analysed, "campaigns": summary.campaigns, "flagged": summary.flagged}


JOBS: dict[str, Callable[..., Any]] = {
    f"{TASK_PREFIX}{job.__name__}": job
    for job in (send_invitation_batch, send_reminder_batch, schedule_reminders, schedule_pending_invitations,
                analyze_response, analyze_answer_backlog, analyze_stale_answers)
}


def task_name(job: Callable[..., Any] | str) -> str:
    """Return the registered task name of a job function (or check a given name)."""
    name = job if isinstance(job, str) else f"{TASK_PREFIX}{job.__name__}"
    if name not in JOBS:
        raise KeyError(f"{name} is not a survey_app job")
    return name


def has_broker(flask_app: Flask | None = None) -> bool:
    """Return whether jobs go to Celery workers rather than run inline."""
    return bool((flask_app or current_app).config.get("BROKER_URL"))


def dispatch(job: Callable[..., Any] | str, *args: Any) -> Any:
    """Run a job: enqueue it when a broker is configured, else call it here and return its result."""
    name = task_name(job)
    if has_broker():
        return celery_for(current_app._get_current_object()).send_task(name, args=args)  # type: ignore[attr-defined]
    return JOBS[name](*args)


def celery_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Return the Celery configuration for a Flask configuration."""
    return {
        "broker_url": config.get("BROKER_URL"),
        "broker_connection_retry_on_startup": True,
        # One queue name per deployment, so two deployments can share one Redis.
        "task_default_queue": config.get("CELERY_QUEUE") or "survey_app",
        "task_ignore_result": True,
        # A task is acknowledged after it ran, so a worker killed midway leaves it to another;
        # the claims make running a batch twice harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "beat_schedule": {
            "send-due-reminders": {"task": f"{TASK_PREFIX}schedule_reminders", "schedule": crontab(minute=0)},
            "send-left-over-invitations": {
                "task": f"{TASK_PREFIX}schedule_pending_invitations", "schedule": crontab(minute="*/15"),
            },
            "refresh-stale-verdicts": {"task": f"{TASK_PREFIX}analyze_stale_answers", "schedule": crontab(minute="*/5")},
        },
    }


def celery_for(flask_app: Flask) -> Celery:
    """Return the Celery app bound to this Flask app, creating it on first use."""
    existing = flask_app.extensions.get("celery")
    if existing is not None:
        return existing

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.import_name, task_cls=FlaskTask)
    celery.conf.update(celery_settings(flask_app.config))
    for name, job in JOBS.items():
        celery.task(name=name)(job)
    flask_app.extensions["celery"] = celery
    return celery


@functools.cache
def worker_celery() -> Celery:
    """Return the Celery app of a worker process, built from a Flask app configured as usual."""
    from survey_app import create_app

    return celery_for(create_app())


def __getattr__(name: str) -> Celery:
    """Build the worker's Celery app on demand, for `celery -A survey_app.jobs`."""
    if name in ("app", "celery"):
        return worker_celery()
    raise AttributeError(name)
