"""Commands of the ingest feature: import an event export, and manage webhook sources."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from survey_app.services import csv_import, webhooks
from survey_app.services.events import DEFAULT_TIMEZONE

SHOWN_ERRORS = 50


class _ProgressBars:
    """Show one click progress bar per import phase."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.close()
            label = {"validate": "Validating", "store": "Importing "}.get(phase, phase)
            self.bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
            self.bar.__enter__()
            self.phase, self.done = phase, 0
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("import-events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--source", default=csv_import.DEFAULT_SOURCE, show_default=True,
              help="Source name; events are deduplicated per source and provider event id.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, readable=True),
              help="JSON file naming extra columns and event types (see docs/ingestion.md).")
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid rows and write the invalid ones to the rejects file.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True),
              help="Where to write rejected rows [default with --skip-invalid: FILE.rejects.csv].")
@with_appcontext
def import_events_command(file: str, source: str, mapping: str | None, skip_invalid: bool,
                          rejects_path: str | None) -> None:
    """Import events from an ESP export (CSV): all rows, or none when any row is invalid."""
    if skip_invalid and rejects_path is None:
        rejects_path = csv_import.default_rejects_path(file)
    bars = _ProgressBars()
    try:
        column_mapping = csv_import.load_mapping(mapping) if mapping else None
        report = csv_import.import_events(
            file,
            source=source,
            mapping=column_mapping,
            skip_invalid=skip_invalid,
            rejects_path=rejects_path,
            default_zone=current_app.config.get("EVENTS_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE,
            progress=bars,
        )
    except csv_import.ImportFailed as error:
        raise click.ClickException(str(error)) from None
    finally:
        bars.close()
    for error in report.errors[:SHOWN_ERRORS]:
        click.echo(str(error), err=True)
    if report.rejected > SHOWN_ERRORS:
        click.echo(f"... and {report.rejected - SHOWN_ERRORS} more rejected rows", err=True)
    if report.rejects_path and report.rejected:
        click.echo(f"Rejected rows written to {report.rejects_path}", err=True)
    elif report.rejects_path and os.path.exists(report.rejects_path) and not report.rejected:
        os.remove(report.rejects_path)
    click.echo(f"Summary: {report.summary()}")
    if report.rejected and not skip_invalid:
        raise click.ClickException(
            f"{report.rejected} invalid rows; nothing was imported. Fix them, or use --skip-invalid."
        )


@click.command("create-source")
@click.argument("name")
@with_appcontext
def create_source_command(name: str) -> None:
    """Create a webhook source and print its secret (shown once, never stored)."""
    try:
        secret = webhooks.create_source(name, current_app.config["SECRET_KEY"])
    except webhooks.SourceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created source {name}. Its webhook secret (shown once; store it in the sender):")
    click.echo(secret)


@click.command("rotate-source")
@click.argument("name")
@with_appcontext
def rotate_source_command(name: str) -> None:
    """Issue a new secret for a webhook source; the old one stops working at once."""
    try:
        secret = webhooks.rotate_source(name, current_app.config["SECRET_KEY"])
    except webhooks.SourceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"New webhook secret for {name} (shown once):")
    click.echo(secret)


COMMANDS = [import_events_command, create_source_command, rotate_source_command]
