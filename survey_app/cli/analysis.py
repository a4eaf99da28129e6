"""Commands of the analysis feature."""

from __future__ import annotations

import click


@click.command("analyze")
@click.option("--campaign", "campaign", metavar="ID_OR_KEY", help="Only this campaign's answers.")
@click.option("--all", "everything", is_flag=True,
              help="Re-analyse every answer, not only new or changed ones (e.g. after a model change).")
def analyze_command(campaign: str | None, everything: bool) -> None:
    """Analyse new and changed answers and recompute the campaign verdicts.

    An answer counts as changed when its text was edited or when the analyzer (rules or model)
    changed since it was analysed, so running this again does only the remaining work.
    """
    from survey_app.services import analysis

    campaign_id = None
    if campaign:
        try:
            campaign_id = analysis.campaign_ids([campaign])[0]
        except LookupError as error:
            raise click.ClickException(str(error)) from None
    total = analysis.count_stale(campaign_id, everything)
    with click.progressbar(length=total, label=f"Analysing {total} answers", show_pos=True) as bar:
        summary = analysis.analyze_responses(campaign_id, everything, progress=bar.update)
    click.echo(f"Analysed {summary.analysed} answers; verdicts recomputed for {summary.campaigns} "
               f"campaigns, {summary.flagged} flagged.")


COMMANDS = [analyze_command]
