"""Commands of the analysis feature."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from survey_app.analysis import CommentAnalysis


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


@click.command("analyze-text")
@click.argument("text")
@click.option("--campaign", "campaign", metavar="ID_OR_KEY", help="Match this campaign's promised items.")
@click.option("--language", type=click.Choice(["nl", "en"]), help="The survey's language (used for very short answers).")
@click.option("--score", type=click.IntRange(0, 10), help="The answer's 0-10 score, an extra signal.")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
def analyze_text_command(text: str, campaign: str | None, language: str | None, score: int | None,
                         as_json: bool) -> None:
    """Show what the analysis finds in one answer, without storing anything.

    TEXT is the answer ("-" reads it from standard input). For trying out a wording, or checking
    a rule or a retrained model before running `analyze --all`.
    """
    from survey_app.analysis import InvalidInputError, analyze_comment
    from survey_app.services import analysis

    if text == "-":
        text = sys.stdin.read()
    items = []
    if campaign:
        try:
            items = analysis.campaign_promised_items(analysis.campaign_ids([campaign])[0])
        except LookupError as error:
            raise click.ClickException(str(error)) from None
    try:
        result = analyze_comment(text, score=score, language=language, promised_items=items)
    except InvalidInputError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(_as_document(result), ensure_ascii=False, indent=1))
        return
    for line in _as_lines(result):
        click.echo(line)


def _quote(text: str, span: tuple[int, int]) -> str:
    return json.dumps(text[span[0]:span[1]], ensure_ascii=False)


def _as_document(result: CommentAnalysis) -> dict[str, Any]:
    return {
        "language": result.language,
        "sentiment": {"polarity": result.sentiment.polarity, "subjectivity": result.sentiment.subjectivity,
                      "analyzer": result.sentiment.analyzer},
        "broken_promise": result.broken_promise,
        "findings": [
            {"category": f.category, "item": f.item.label if f.item else None, "confidence": f.confidence,
             "source": f.source, "span": list(f.span), "evidence": result.text[f.span[0]:f.span[1]]}
            for f in result.findings
        ],
        "item_mentions": [
            {"item": m.item.label if m.item else None, "city": m.city, "span": list(m.span),
             "matched_text": m.matched_text, "similarity": m.similarity}
            for m in result.item_mentions
        ],
        "keywords": list(result.keywords),
        "analyzer_version": result.analyzer_version,
    }


def _as_lines(result: CommentAnalysis) -> list[str]:
    sentiment = result.sentiment
    lines = [
        f"language        {result.language}",
        f"sentiment       polarity {sentiment.polarity:+.2f}, subjectivity {sentiment.subjectivity:.2f} "
        f"({sentiment.analyzer})",
        f"broken promise  {'yes' if result.broken_promise else 'no'}",
    ]
    for finding in result.findings:
        item = finding.item.label if finding.item else "no promised item"
        lines.append(f"  {finding.category}: {item}, confidence {finding.confidence:.2f} from the "
                     f"{finding.source}, evidence {_quote(result.text, finding.span)}")
    mentions = [
        f"{m.item.label if m.item else 'the city ' + (m.city or m.matched_text)} as {_quote(result.text, m.span)}"
        for m in result.item_mentions
    ]
    lines.append(f"mentions        {'; '.join(mentions) if mentions else 'none'}")
    lines.append(f"keywords        {', '.join(result.keywords) if result.keywords else 'none'}")
    lines.append(f"analyzer        {result.analyzer_version}")
    return lines


COMMANDS = [analyze_command, analyze_text_command]
