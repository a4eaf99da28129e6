"""Commands of the exports feature."""

from __future__ import annotations

import click
from flask import current_app


@click.command("export")
@click.argument("kind", type=click.Choice(["responses", "campaigns", "items"]))
@click.option("--campaign", "campaign", metavar="ID_OR_KEY", help="Only this campaign (its key or numeric id).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              show_default=True, help="Where to write the CSV; - is standard output.")
@click.option("--excel", is_flag=True, help="For Dutch Excel: byte-order mark, ';' between cells, decimal comma.")
@click.option("--pseudonymise", is_flag=True,
              help="Replace customer ids by stable keyed-hash pseudonyms and leave out email addresses.")
def export_command(kind: str, campaign: str | None, output: str, excel: bool, pseudonymise: bool) -> None:
    """Write responses, campaigns or promised items as CSV (UTF-8, formulas neutralised).

    The command line runs with database access, so it exports what an admin sees: the responses
    export includes email addresses unless --pseudonymise is given.
    """
    from survey_app.csv_safety import csv_format
    from survey_app.services import exports

    campaign_id = None
    if campaign:
        try:
            campaign_id, _key = exports.find_campaign(campaign)
        except exports.ExportError as error:
            raise click.ClickException(str(error)) from None
    options = exports.ExportOptions(
        campaign_id=campaign_id,
        include_email=True,
        pseudonym_key=exports.pseudonym_key(current_app.config["SECRET_KEY"]) if pseudonymise else None,
        fmt=csv_format(excel),
    )
    # Bytes: UTF-8 whatever the locale, and the CRLF rows exactly as the csv module wrote them.
    with click.open_file(output, "wb") as stream:
        for chunk in exports.export(kind, options):
            stream.write(chunk.encode("utf-8"))
    if output != "-":
        click.echo(f"Wrote the {kind} export to {output}.", err=True)

COMMANDS: list[click.Command] = [export_command]
