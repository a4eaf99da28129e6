"""Commands of the privacy feature: erasure on request, the access export, the retention purge."""

from __future__ import annotations

import json
from typing import Any

import click

from survey_app.services import privacy


def _identifier_options(function: Any) -> Any:
    function = click.option("--external-id", help="The customer's id at the email service provider or CRM.")(function)
    return click.option("--email", help="The customer's email address (every record with it).")(function)


def _check_identifier(email: str | None, external_id: str | None) -> None:
    if bool(email) == bool(external_id):
        raise click.UsageError("give exactly one of --email or --external-id")


@click.command("forget-customer")
@_identifier_options
@click.option("--by", "actor", default="cli", show_default=True, help="Who asked, for the audit trail (no personal data).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def forget_customer_command(email: str | None, external_id: str | None, actor: str, yes: bool) -> None:
    """Erase a customer's personal data and keep them from ever being invited again."""
    _check_identifier(email, external_id)
    if not yes:
        click.confirm("Erase this customer's personal data? This cannot be undone", abort=True)
    try:
        result = privacy.erase_customer(email=email, external_id=external_id, actor_label=actor)
    except privacy.PrivacyError as error:
        raise click.UsageError(str(error)) from None
    if not result.changed:
        click.echo("Nothing to erase: no stored customer matches, and the identifier is already suppressed.")
        return
    click.echo(
        f"Erased {result.customers} customer record(s): {result.comments} comment(s), {result.events} event(s), "
        f"{result.invitations_cancelled} invitation(s) cancelled, {result.outbox_files} outbox file(s) deleted; "
        f"{result.suppressions_added} suppression entr{'y' if result.suppressions_added == 1 else 'ies'} added."
    )


@click.command("export-customer")
@_identifier_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              show_default=True, help="Where to write the JSON ('-' is standard output).")
def export_customer_command(email: str | None, external_id: str | None, output: str) -> None:
    """Write everything stored about one customer as JSON (a GDPR access request)."""
    _check_identifier(email, external_id)
    try:
        document = privacy.export_customer(email=email, external_id=external_id)
    except privacy.PrivacyError as error:
        raise click.UsageError(str(error)) from None
    except privacy.CustomerNotFound as error:
        raise click.ClickException(str(error)) from None
    with click.open_file(output, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")
    if output != "-":
        click.echo(f"Wrote {len(document['customers'])} customer record(s) to {output}", err=True)


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Report what would be anonymised or erased; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Apply the retention periods: anonymise old comments, erase long-silent non-respondents."""
    try:
        report = privacy.purge(dry_run=dry_run)
    except privacy.PrivacyError as error:
        raise click.ClickException(str(error)) from None
    def period(days: int | None) -> str:
        return "kept forever" if days is None else f"after {days} days"
    verb = "Would anonymise" if dry_run else "Anonymised"
    click.echo(f"Comments: {period(report.comment_days)}; non-respondents: {period(report.nonrespondent_days)}.")
    click.echo(
        f"{verb} {report.comments} comment(s); {'would erase' if dry_run else 'erased'} {report.customers} "
        f"non-respondent(s) ({report.events} event(s) kept anonymous), {report.outbox_files} outbox file(s)."
    )
    if report.import_rejects:
        click.echo(f"Deleted {report.import_rejects} expired upload rejects file(s).")


COMMANDS: list[click.Command] = [forget_customer_command, export_customer_command, purge_command]
