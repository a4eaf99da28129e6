"""Stored answers are analysed incrementally and turned into verdicts and flags."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, CampaignVerdict, Flag, Response, ResponseAnalysis, ResponseFinding
from tests import factories

CLOSED = [
    "De vestiging in Utrecht CS was gewoon dicht.",
    "Utrecht Centraal zat op slot, niemand te zien",
    "Stond voor een dichte deur bij Utrecht Centraal",
    "Utrecht CS closed, nobody there",
    "vestiging utrecht centraal was gesloten, gratis dag kon ik dus vergeten",
    "De locatie in Utrecht was dicht. Jammer.",
]
HAPPY = ["Prima geholpen, snel een auto mee", "Great service, friendly staff", "Alles ging soepel"]


def build_campaign(app, comments, scores):
    with app.app_context():
        campaign = factories.campaign()
        factories.promised_item(campaign, kind="location", label="Utrecht Centraal", aliases=["Utrecht CS"],
                                city="Utrecht")
        for comment, score in zip(comments, scores, strict=True):
            invitation, _ = factories.invitation(campaign)
            factories.response(invitation, comment=comment, score=score)
        db.session.commit()
        return campaign.id


def count(app, model, *where):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_analyze_stores_findings_tied_to_the_promised_item_and_flags_the_campaign(app):
    campaign_id = build_campaign(app, CLOSED + HAPPY, [1, 2, 0, 3, 2, 4, 9, 10, 8])
    result = app.test_cli_runner().invoke(args=["analyze"])
    assert result.exit_code == 0, result.output
    assert "Analysed 9 answers" in result.output and "1 flagged" in result.output
    with app.app_context():
        findings = db.session.execute(select(ResponseFinding)).scalars().all()
        assert len({f.analysis_id for f in findings}) >= 5
        assert {f.category for f in findings} >= {"closed_location"}
        assert any(f.promised_item is not None and f.promised_item.label == "Utrecht Centraal" for f in findings)
        verdict = db.session.execute(select(CampaignVerdict).filter_by(campaign_id=campaign_id)).scalar_one()
        assert verdict.flagged and verdict.n_respondents == 9
        assert any("Utrecht Centraal" in reason for reason in verdict.details["reasons"])
        assert verdict.nps is not None and verdict.nps < 0
        flag = db.session.execute(select(Flag)).scalar_one()
        assert (flag.campaign_id, flag.state, flag.verdict_id) == (campaign_id, "open", verdict.id)


def test_a_healthy_campaign_is_not_flagged(app):
    build_campaign(app, HAPPY * 3, [9, 10, 8, 9, 10, 9, 7, 10, 9])
    app.test_cli_runner().invoke(args=["analyze"])
    assert count(app, Flag) == 0
    with app.app_context():
        assert db.session.execute(select(CampaignVerdict.flagged)).scalar_one() is False


def test_analyze_is_incremental(app):
    build_campaign(app, CLOSED, [1, 2, 0, 3, 2, 4])
    runner = app.test_cli_runner()
    runner.invoke(args=["analyze"])
    again = runner.invoke(args=["analyze"])
    assert "Analysed 0 answers" in again.output
    with app.app_context():
        response = db.session.execute(select(Response).order_by(Response.id)).scalars().first()
        response.comment = "Eigenlijk was alles prima"
        response.revision += 1
        db.session.commit()
        changed_id = response.id
    changed = runner.invoke(args=["analyze"])
    assert "Analysed 1 answers" in changed.output
    with app.app_context():
        analysis = db.session.execute(select(ResponseAnalysis).filter_by(response_id=changed_id)).scalar_one()
        assert analysis.response_revision == 2 and analysis.broken_promise is False
    assert "Analysed 6 answers" in runner.invoke(args=["analyze", "--all"]).output
    assert count(app, ResponseAnalysis) == 6


def test_a_second_verdict_keeps_one_unresolved_flag(app):
    campaign_id = build_campaign(app, CLOSED, [1, 2, 0, 3, 2, 4])
    runner = app.test_cli_runner()
    runner.invoke(args=["analyze"])
    runner.invoke(args=["analyze", "--all", "--campaign", str(campaign_id)])
    assert count(app, Flag) == 1
    assert count(app, CampaignVerdict) == 2


def test_analyze_names_an_unknown_campaign(app):
    result = app.test_cli_runner().invoke(args=["analyze", "--campaign", "nope"])
    assert result.exit_code != 0
    assert "no campaign with id or key 'nope'" in result.output


def test_analyze_text_shows_the_finding_with_the_campaigns_item_and_stores_nothing(app):
    campaign_id = build_campaign(app, CLOSED[:1], [1])
    result = app.test_cli_runner().invoke(
        args=["analyze-text", "De vestiging in Utrecht CS was gewoon dicht", "--campaign", str(campaign_id),
              "--score", "2"])
    assert result.exit_code == 0, result.output
    assert "broken promise  yes" in result.output
    assert 'closed_location: Utrecht Centraal' in result.output
    assert 'Utrecht Centraal as "Utrecht CS"' in result.output
    assert count(app, ResponseAnalysis) == 0


def test_analyze_text_as_json_names_evidence_and_source(app):
    result = app.test_cli_runner().invoke(args=["analyze-text", "-", "--json", "--language", "en"],
                                          input="Discount code didn't work at checkout")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["language"] == "en" and document["broken_promise"] is True
    [finding] = document["findings"]
    assert finding["category"] == "offer_not_honoured" and finding["item"] is None
    assert finding["evidence"] in "Discount code didn't work at checkout" and finding["evidence"]
    assert finding["source"] in ("rule", "model")


def test_analyze_text_says_no_for_a_kept_promise_and_names_an_unknown_campaign(app):
    runner = app.test_cli_runner()
    kept = runner.invoke(args=["analyze-text", "Prima geholpen, auto stond klaar", "--score", "9"])
    assert kept.exit_code == 0 and "broken promise  no" in kept.output
    unknown = runner.invoke(args=["analyze-text", "dicht", "--campaign", "nope"])
    assert unknown.exit_code != 0 and "no campaign with id or key 'nope'" in unknown.output


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_demo_flags_the_car_rental_campaign_and_not_the_healthy_ones(unmigrated_app):
    result = unmigrated_app.test_cli_runner().invoke(args=["demo", "--no-serve", "--customers", "1500"])
    assert result.exit_code == 0, result.output
    with unmigrated_app.app_context():
        flags = {flag.campaign.key: flag for flag in db.session.execute(select(Flag)).scalars()}
        car_rental = flags["demo-gratis-dag"]
        assert car_rental.verdict.severity == "high"
        assert "closed_location" in " ".join(car_rental.verdict.details["reasons"])
        # The two healthy campaigns; the weekend deal is mixed by design (some real price complaints).
        assert "demo-lente-bestelbus" not in flags and "demo-summer-ev-upgrade" not in flags


def test_an_erased_comment_keeps_its_findings_through_reanalysis(app):
    from survey_app.models import utcnow

    campaign_id = build_campaign(app, CLOSED, [1, 2, 0, 3, 2, 4])
    runner = app.test_cli_runner()
    runner.invoke(args=["analyze"])
    with app.app_context():
        response = db.session.execute(select(Response).order_by(Response.id)).scalars().first()
        findings_before = count(app, ResponseFinding)
        response.comment = ""
        response.comment_erased_at = utcnow()
        db.session.commit()
    assert "Analysed 0 answers" in runner.invoke(args=["analyze"]).output
    assert "Analysed 5 answers" in runner.invoke(args=["analyze", "--all"]).output
    assert count(app, ResponseFinding) == findings_before
    with app.app_context():
        verdict = db.session.execute(
            select(CampaignVerdict).filter_by(campaign_id=campaign_id).order_by(CampaignVerdict.id.desc())
        ).scalars().first()
        assert all(quote["text"].strip() for quote in verdict.details["quotes"])


def analysed_campaign_with_a_late_answer(app) -> int:
    """Five answers analysed with their verdict, then a sixth stored: return the sixth's id."""
    campaign_id = build_campaign(app, CLOSED[:5], [1, 2, 0, 3, 2])
    app.test_cli_runner().invoke(args=["analyze"])
    with app.app_context():
        invitation, _ = factories.invitation(db.session.get(Campaign, campaign_id))
        late = factories.response(invitation, comment=CLOSED[5], score=1)
        db.session.commit()
        return late.id


def test_answers_refresh_the_verdict_at_most_once_per_interval_and_analyze_catches_up(app, client):
    """Each answer is analysed at once; the campaign-wide verdict is not recomputed per answer."""
    from survey_app.services.analysis import analyze_one

    late_id = analysed_campaign_with_a_late_answer(app)
    with app.app_context():
        analyze_one(late_id)  # analysed now, but the verdict of a moment ago is still fresh
        assert db.session.execute(select(ResponseAnalysis).filter_by(response_id=late_id)).scalar_one()
    assert count(app, CampaignVerdict) == 1
    result = app.test_cli_runner().invoke(args=["analyze"])
    assert "Analysed 0 answers; verdicts recomputed for 1 campaigns" in result.output
    with app.app_context():
        newest = db.session.execute(
            select(CampaignVerdict).order_by(CampaignVerdict.id.desc())
        ).scalars().first()
        assert newest.n_respondents == 6


@pytest.mark.parametrize("app_config", [{"VERDICT_REFRESH_SECONDS": 0}])
def test_with_no_refresh_interval_every_answer_refreshes_the_verdict(app, app_config):
    from survey_app.services.analysis import analyze_one

    late_id = analysed_campaign_with_a_late_answer(app)
    with app.app_context():
        analyze_one(late_id)
    assert count(app, CampaignVerdict) == 2


def test_the_scheduled_job_catches_up_a_verdict_the_survey_page_deferred(app):
    """Under workers no cron runs `survey-app analyze`: Celery beat runs the same catch-up."""
    from survey_app import jobs
    from survey_app.services.analysis import analyze_one

    scheduled = {entry["task"] for entry in jobs.celery_settings(app.config)["beat_schedule"].values()}
    assert jobs.task_name(jobs.analyze_stale_answers) in scheduled
    late_id = analysed_campaign_with_a_late_answer(app)
    with app.app_context():
        analyze_one(late_id)  # the verdict of a moment ago is still fresh: not recomputed
        assert jobs.analyze_stale_answers() == {"analysed": 0, "campaigns": 1, "flagged": 1}
        newest = db.session.execute(select(CampaignVerdict).order_by(CampaignVerdict.id.desc())).scalars().first()
        assert newest.n_respondents == 6
        # Nothing new since: the next scheduled run recomputes nothing.
        assert jobs.analyze_stale_answers() == {"analysed": 0, "campaigns": 0, "flagged": 0}
