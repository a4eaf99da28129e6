"""Commands of the eligibility feature."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

import click

from survey_app import csv_safety
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from survey_app.services.eligibility import EligibilityReport

CSV_HEADER = ("external_id", "email", "language")


def report_lines(report: EligibilityReport) -> list[str]:
    """Return the report as an aligned table of reasons and counts."""
    rows: list[tuple[str, int]] = [("clicked", report.clicked)]
    rows += [(f"  excluded: {label}", count) for label, count in report.excluded()]
    rows.append(("eligible", report.eligible))
    if report.cap is not None:
        cap = f"  left out by the cap of {report.cap} ({report.invited_before} invited before)"
        rows.append((cap, report.capped))
        rows.append(("selected", report.selected))
    width = max(len(label) for label, _count in rows)
    return [f"{label.ljust(width)}  {count:>9}" for label, count in rows]


def write_csv(stream: IO[str], customers: Iterable[tuple[str | None, str, str | None]]) -> int:
    """Write the customers as formula-safe CSV with a header; return how many rows were written."""
    return csv_safety.write_csv(stream, CSV_HEADER, customers)


@click.command("eligible")
@click.option("--campaign", "campaign", required=True, metavar="ID_OR_KEY", help="The campaign's key or numeric id.")
@click.option("--dry-run", is_flag=True, help="Print the counts only, without the list of customers.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random sample a campaign's cap takes.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default="-", show_default=True,
              help="Where to write the CSV of eligible customers; - is standard output.")
@with_appcontext
def eligible_command(campaign: str, dry_run: bool, seed: int, output: str) -> None:
    """Show who may be surveyed for a campaign and why the others may not; write nothing to the database."""
    from survey_app.services.eligibility import (
        EligibilityError,
        eligibility_report,
        eligible_customers,
        find_campaign_id,
    )

    try:
        campaign_id = find_campaign_id(campaign)
    except EligibilityError as error:
        raise click.ClickException(str(error)) from None
    report = eligibility_report(campaign_id)
    # With the CSV on standard output the table goes to standard error, so the CSV stays clean.
    table_to_stderr = not dry_run and output == "-"
    click.echo(f"Campaign {campaign} (id {campaign_id}) at {report.now:%Y-%m-%d %H:%M:%S} UTC", err=table_to_stderr)
    for line in report_lines(report):
        click.echo(line, err=table_to_stderr)
    if dry_run:
        return
    # The same `now` as the report, so the list and the counts describe the same moment.
    customers = eligible_customers(campaign_id, now=report.now, seed=seed)
    rows = ((customer.external_id, customer.email, customer.language) for customer in customers)
    if output == "-":
        write_csv(sys.stdout, rows)
        return
    # newline="": the csv module writes its own line endings.
    with open(output, "w", encoding="utf-8", newline="") as stream:
        written = write_csv(stream, rows)
    click.echo(f"Wrote {written} customers to {output}.")


COMMANDS: list[click.Command] = [eligible_command]
