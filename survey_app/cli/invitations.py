"""Commands of the invitations feature: send invitations and reminders, look into the outbox."""

from __future__ import annotations

import sys
from email import message_from_bytes, policy
from pathlib import Path

import click
from flask import current_app

from survey_app.mail import mask_email


def _report_lines(report: object) -> list[str]:
    lines = [
        f"sent      {getattr(report, 'sent'):>8}",
        f"failed    {getattr(report, 'failed'):>8}",
        f"skipped   {getattr(report, 'cancelled'):>8}",
        f"deferred  {getattr(report, 'deferred'):>8}",
    ]
    for invitation_id, reason in getattr(report, "failures")[:20]:
        lines.append(f"  invitation {invitation_id}: {reason}")
    if getattr(report, "stopped"):
        lines.append(f"stopped early: {getattr(report, 'stopped')}; run the command again later")
    return lines


@click.command("send-invitations")
@click.option("--campaign", required=True, metavar="ID_OR_KEY", help="The campaign's key or numeric id.")
@click.option("--dry-run", is_flag=True, help="Say how many invitations would be created and sent; change nothing.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Create at most this many new invitations.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random sample a campaign's cap takes.")
def send_invitations_command(campaign: str, dry_run: bool, limit: int | None, seed: int) -> None:
    """Invite the campaign's eligible customers and email them (safe to run again after a crash)."""
    from survey_app import jobs
    from survey_app.services import invitations
    from survey_app.services.eligibility import EligibilityError, find_campaign_id

    try:
        campaign_id = find_campaign_id(campaign)
    except EligibilityError as error:
        raise click.ClickException(str(error)) from None
    if dry_run:
        plan = invitations.plan_invitations(campaign_id, limit=limit)
        click.echo(f"Campaign {campaign} (id {campaign_id}): {plan.report.eligible} eligible, "
                   f"{plan.to_create} invitations would be created, {plan.pending} earlier ones wait to be sent.")
        click.echo("Dry run: nothing was written or sent.")
        return
    created = invitations.create_invitations(campaign_id, limit=limit, seed=seed)
    click.echo(f"Created {created} invitations for campaign {campaign} (id {campaign_id}).")
    if jobs.has_broker():
        batches = jobs.schedule_pending_invitations(campaign_id)
        click.echo(f"Queued {batches} sending batches for the workers.")
        return
    total = invitations.pending_count(campaign_id)
    with click.progressbar(length=total, label="Sending", file=sys.stderr) as bar:
        report = invitations.send_pending(campaign_id=campaign_id, progress=bar.update)
    for line in _report_lines(report):
        click.echo(line)
    if report.stopped:
        raise SystemExit(1)


@click.command("send-reminders")
@click.option("--dry-run", is_flag=True, help="Count the reminders due now; send nothing.")
def send_reminders_command(dry_run: bool) -> None:
    """Send the reminders due now (run it hourly from cron or Celery beat)."""
    from survey_app import jobs
    from survey_app.services import reminders

    due = reminders.count_due()
    click.echo(f"Due now: {due.get(1, 0)} first reminders, {due.get(2, 0)} second reminders.")
    if dry_run:
        click.echo("Dry run: nothing was sent.")
        return
    if jobs.has_broker():
        click.echo(f"Queued {jobs.schedule_reminders()} reminder batches for the workers.")
        return
    with click.progressbar(length=sum(due.values()), label="Sending", file=sys.stderr) as bar:
        report = reminders.send_due_reminders(progress=bar.update)
    for line in _report_lines(report):
        click.echo(line)
    if report.stopped:
        raise SystemExit(1)


@click.command("outbox")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show this many, newest first.")
def outbox_command(limit: int) -> None:
    """List the newest messages in the outbox folder (MAIL_BACKEND=outbox)."""
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    files = sorted(folder.glob("*.eml"), reverse=True)[:limit] if folder.is_dir() else []
    if not files:
        click.echo(f"The outbox {folder} is empty.")
        return
    click.echo(f"{len(files)} newest of the messages in {folder}:")
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        to = message["To"].addresses[0].addr_spec if message["To"] and message["To"].addresses else ""
        click.echo(f"{path.name}  {message.get('Content-Language', '--')}  {mask_email(to)}  {message['Subject']}")


COMMANDS: list[click.Command] = [send_invitations_command, send_reminders_command, outbox_command]
