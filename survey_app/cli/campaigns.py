"""Commands of the campaigns feature."""

from __future__ import annotations

from pathlib import Path

import click

from survey_app.services.campaigns import CampaignError, import_campaigns, read_campaign_file


@click.command("import-campaigns")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_campaigns_command(file: Path) -> None:
    """Create or update campaigns and their promised items from a CSV or JSON FILE.

    Campaigns are matched by key and items by label; nothing is stored if any row is invalid.
    The formats are described in the README; examples/campaigns.csv and examples/campaigns.json
    show them.
    """
    try:
        summary = import_campaigns(read_campaign_file(file))
    except CampaignError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(error.problems)} problem(s) found; nothing was imported") from None
    click.echo(
        f"Campaigns: {summary.created} created, {summary.updated} updated. "
        f"Promised items: {summary.items_created} created, {summary.items_updated} updated."
    )


COMMANDS = [import_campaigns_command]
