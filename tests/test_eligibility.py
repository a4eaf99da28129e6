"""Who may be surveyed for a campaign: every exclusion rule, the report, the cap and the CLI,
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from survey_app.extensions import db
from survey_app.models import Campaign, Customer, Invitation
from survey_app.services.eligibility import (
    EligibilityError,
    eligibility_report,
    eligible_customer_ids,
    eligible_customers,
    find_campaign_id,
)
from tests import factories

# Microseconds on purpose: SQLite's datetime() would drop them, so the boundaries below fail
# if the window arithmetic loses them.
NOW = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
WINDOW = timedelta(hours=72)


def clicker(campaign: Campaign, clicked_at: datetime = NOW - timedelta(days=5), **fields: Any) -> Customer:
    """Return a customer who clicked once in the campaign."""
    customer = factories.customer(**fields)
    factories.event(campaign, customer, "clicked", occurred_at=clicked_at)
    return customer


def eligible(campaign: Campaign, **options: Any) -> list[int]:
    db.session.commit()
    return eligible_customer_ids(campaign.id, now=options.pop("now", NOW), **options)


def report_counts(campaign: Campaign, **options: Any) -> dict[str, int]:
    db.session.commit()
    report = eligibility_report(campaign.id, now=options.pop("now", NOW), **options)
    counts = {"clicked": report.clicked, "eligible": report.eligible}
    counts.update({label: count for label, count in report.excluded() if count})
    return counts


def test_a_clicker_who_did_not_convert_is_eligible_and_other_events_are_not_clicks(app):
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign)
        only_opened = factories.customer()
        factories.event(campaign, only_opened, "opened", occurred_at=NOW - timedelta(days=5))
        assert eligible(campaign) == [customer.id]
        assert report_counts(campaign) == {"clicked": 1, "eligible": 1}


# The click sits just before midnight ending February, so the window crosses a leap day and a
# month boundary with all six digits of microseconds in play.
LEAP_CLICK = datetime(2024, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("converted_after_click", "is_eligible"),
    [
        (timedelta(0), False),
        (HOUR, False),
        (WINDOW - MICROSECOND, False),
        (WINDOW, False),  # the window's last instant still belongs to it
        (WINDOW + MICROSECOND, True),
        (timedelta(days=30), True),
    ],
)
def test_a_conversion_counts_up_to_and_including_the_end_of_the_window(app, converted_after_click, is_eligible):
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=72)
        customer = clicker(campaign, LEAP_CLICK)
        factories.event(campaign, customer, "converted", occurred_at=LEAP_CLICK + converted_after_click)
        assert eligible(campaign) == ([customer.id] if is_eligible else [])
        if not is_eligible:
            assert report_counts(campaign) == {"clicked": 1, "eligible": 0, "converted within the window": 1}


def test_the_campaigns_own_window_is_used(app):
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=24)
        customer = clicker(campaign, NOW - timedelta(days=10))
        factories.event(campaign, customer, "converted", occurred_at=NOW - timedelta(days=10) + 25 * HOUR)
        assert eligible(campaign) == [customer.id]


def test_the_window_runs_from_the_last_click(app):
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=72)
        first_click = NOW - timedelta(days=20)
        last_click = NOW - timedelta(days=10)
        customer = clicker(campaign, first_click)
        factories.event(campaign, customer, "clicked", occurred_at=last_click)
        # Long after the first click's window, but within the last click's.
        factories.event(campaign, customer, "converted", occurred_at=last_click + 70 * HOUR)
        assert eligible(campaign) == []


def test_a_conversion_between_two_clicks_counts_as_converted(app):
    """Decided: whoever converted after their first click converted, even if they came back to
    click again later; the window only extends the period after the last click."""
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=72)
        customer = clicker(campaign, NOW - timedelta(days=20))
        factories.event(campaign, customer, "converted", occurred_at=NOW - timedelta(days=19))
        factories.event(campaign, customer, "clicked", occurred_at=NOW - timedelta(days=10))
        assert eligible(campaign) == []
        assert report_counts(campaign)["converted within the window"] == 1


def test_a_conversion_before_the_first_click_does_not_count(app):
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign, NOW - timedelta(days=10))
        factories.event(campaign, customer, "converted", occurred_at=NOW - timedelta(days=10) - MICROSECOND)
        assert eligible(campaign) == [customer.id]


def test_clicks_in_another_campaign_do_not_count(app):
    with app.app_context():
        campaign = factories.campaign()
        other = factories.campaign()
        clicker(other)
        assert eligible(campaign) == []
        assert report_counts(campaign) == {"clicked": 0, "eligible": 0}


def test_a_conversion_in_another_campaign_does_not_count(app):
    with app.app_context():
        campaign = factories.campaign()
        other = factories.campaign()
        customer = clicker(campaign, NOW - timedelta(days=5))
        factories.event(other, customer, "converted", occurred_at=NOW - timedelta(days=5) + HOUR)
        assert eligible(campaign) == [customer.id]


@pytest.mark.parametrize(
    ("now_after_window", "is_eligible"), [(-HOUR, False), (timedelta(0), False), (MICROSECOND, True)]
)
def test_a_customer_whose_window_is_still_open_waits(app, now_after_window, is_eligible):
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=72)
        clicked_at = NOW - timedelta(days=1)
        customer = clicker(campaign, clicked_at)
        now = clicked_at + WINDOW + now_after_window
        assert eligible(campaign, now=now) == ([customer.id] if is_eligible else [])
        if not is_eligible:
            assert report_counts(campaign, now=now)["window still open"] == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"opted_out_at": NOW - timedelta(days=100)}, "opted out"),
        ({"bounced_at": NOW - timedelta(days=1)}, "bounced"),
        ({"erased_at": NOW - timedelta(days=1), "external_id": None}, "erased or no email"),
        ({"email": None}, "erased or no email"),
        ({"email": "  "}, "erased or no email"),
    ],
)
def test_customers_who_cannot_be_emailed_are_excluded(app, fields, reason):
    with app.app_context():
        campaign = factories.campaign()
        clicker(campaign, **fields)
        assert eligible(campaign) == []
        assert report_counts(campaign) == {"clicked": 1, "eligible": 0, reason: 1}


@pytest.mark.parametrize("state", ["pending", "sent", "failed", "cancelled"])
def test_a_customer_already_invited_for_this_campaign_is_excluded(app, state):
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign)
        factories.invitation(campaign, customer, state=state, sent_at=None, created_at=NOW - timedelta(days=400))
        assert eligible(campaign) == []
        assert report_counts(campaign)["already invited for this campaign"] == 1


CONTACT = timedelta(days=90)


@pytest.mark.parametrize(
    ("invitation_fields", "is_eligible"),
    [
        ({"sent_at": NOW - timedelta(days=1)}, False),
        ({"sent_at": NOW - CONTACT + MICROSECOND}, False),
        ({"sent_at": NOW - CONTACT}, True),  # exactly 90 days ago: the 90 days are over
        ({"sent_at": NOW - timedelta(days=91)}, True),
        # Not sent yet but on its way: it will reach the customer.
        ({"sent_at": None, "state": "pending", "created_at": NOW - timedelta(days=2)}, False),
        ({"sent_at": None, "state": "sending", "created_at": NOW - timedelta(days=2)}, False),
        # Never sent and never will be.
        ({"sent_at": None, "state": "cancelled", "created_at": NOW - timedelta(days=2)}, True),
        ({"sent_at": None, "state": "failed", "created_at": NOW - timedelta(days=2)}, True),
        # A reminder is not a new contact: only the initial send counts.
        ({"sent_at": NOW - timedelta(days=100), "reminders_sent": 2, "last_reminder_at": NOW - timedelta(days=5)}, True),
    ],
)
def test_an_invitation_for_another_campaign_within_90_days_excludes(app, invitation_fields, is_eligible):
    with app.app_context():
        campaign = factories.campaign()
        other = factories.campaign()
        customer = clicker(campaign)
        factories.invitation(other, customer, **invitation_fields)
        assert eligible(campaign) == ([customer.id] if is_eligible else [])
        if not is_eligible:
            assert report_counts(campaign)["invited recently for another campaign"] == 1


def test_the_contact_frequency_comes_from_the_configuration(app):
    app.config["CONTACT_FREQUENCY_DAYS"] = 30
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign)
        factories.invitation(factories.campaign(), customer, sent_at=NOW - timedelta(days=31))
        assert eligible(campaign) == [customer.id]
        assert eligible(campaign, contact_frequency_days=40) == []


def test_customers_last_invited_at_is_not_read(app):
    """Documented: the invitations table is the record of contact; last_invited_at may be
    bumped by reminders, which must not count."""
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign, last_invited_at=NOW - timedelta(days=5))
        assert eligible(campaign) == [customer.id]


def test_the_report_counts_each_customer_under_the_first_reason_and_adds_up(app):
    with app.app_context():
        campaign = factories.campaign(conversion_window_hours=72)
        other = factories.campaign()
        old_click = NOW - timedelta(days=10)
        # Converted and opted out: counted as converted, the first reason.
        converted = clicker(campaign, old_click, opted_out_at=NOW)
        factories.event(campaign, converted, "converted", occurred_at=old_click + HOUR)
        # Window open and bounced: counted as window still open.
        clicker(campaign, NOW - HOUR, bounced_at=NOW)
        clicker(campaign, old_click, opted_out_at=NOW, bounced_at=NOW)
        clicker(campaign, old_click, bounced_at=NOW, email=None)
        clicker(campaign, old_click, email=None)
        invited_here = clicker(campaign, old_click)
        factories.invitation(campaign, invited_here, sent_at=NOW - timedelta(days=1))
        invited_elsewhere = clicker(campaign, old_click)
        factories.invitation(other, invited_elsewhere, sent_at=NOW - timedelta(days=1))
        for _ in range(3):
            clicker(campaign, old_click)

        db.session.commit()
        report = eligibility_report(campaign.id, now=NOW)
        assert [count for _label, count in report.excluded()] == [1, 1, 1, 1, 1, 1, 1]
        assert report.eligible == 3
        assert report.clicked == 10 == sum(count for _label, count in report.excluded()) + report.eligible
        assert (report.cap, report.capped, report.selected) == (None, 0, 3)
        assert len(eligible_customer_ids(campaign.id, now=NOW)) == report.eligible


def make_clickers(campaign: Campaign, count: int) -> list[int]:
    return sorted(clicker(campaign, NOW - timedelta(days=10)).id for _ in range(count))


def test_the_cap_samples_reproducibly_and_never_exceeds_the_cap(app):
    with app.app_context():
        campaign = factories.campaign(invitation_cap=10)
        everyone = make_clickers(campaign, 40)
        first = eligible(campaign, seed=7)
        assert len(first) == 10
        assert set(first) <= set(everyone)
        assert first == sorted(first)
        assert eligible(campaign, seed=7) == first
        samples = {tuple(eligible(campaign, seed=seed)) for seed in range(8)}
        assert len(samples) > 1
        assert all(len(sample) == 10 for sample in samples)

        report = eligibility_report(campaign.id, now=NOW)
        assert (report.eligible, report.cap, report.capped, report.selected) == (40, 10, 30, 10)


def test_the_cap_counts_the_invitations_the_campaign_has_already(app):
    with app.app_context():
        campaign = factories.campaign(invitation_cap=10)
        make_clickers(campaign, 20)
        for _ in range(4):
            factories.invitation(campaign, factories.customer(), sent_at=NOW - timedelta(days=1))
        assert len(eligible(campaign, seed=1)) == 6
        report = eligibility_report(campaign.id, now=NOW)
        assert (report.eligible, report.invited_before, report.capped, report.selected) == (20, 4, 14, 6)
        for _ in range(6):
            factories.invitation(campaign, factories.customer(), sent_at=NOW - timedelta(days=1))
        assert eligible(campaign, seed=1) == []


def test_a_cap_above_the_eligible_count_keeps_everyone(app):
    with app.app_context():
        campaign = factories.campaign(invitation_cap=50)
        everyone = make_clickers(campaign, 5)
        assert eligible(campaign) == everyone


def test_eligible_customers_carry_what_the_csv_needs(app):
    with app.app_context():
        campaign = factories.campaign()
        customer = clicker(campaign, external_id="crm-1", email="a@example.com", language="en")
        db.session.commit()
        [row] = eligible_customers(campaign.id, now=NOW)
        assert (row.id, row.external_id, row.email, row.language) == (customer.id, "crm-1", "a@example.com", "en")


def test_a_campaign_is_found_by_key_or_id_and_ambiguity_is_refused(app):
    with app.app_context():
        first = factories.campaign(key="spring-sale")
        second = factories.campaign()
        third = factories.campaign(key=str(second.id))
        db.session.commit()
        assert find_campaign_id("spring-sale") == first.id
        assert find_campaign_id(str(first.id)) == first.id
        with pytest.raises(EligibilityError, match="both"):
            find_campaign_id(str(second.id))
        with pytest.raises(EligibilityError, match="no campaign"):
            find_campaign_id("nope")
        with pytest.raises(EligibilityError, match="no campaign"):
            find_campaign_id("99999999999999999999")
        with pytest.raises(EligibilityError, match="no campaign"):
            eligibility_report(third.id + 100)


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def statements_for(campaign: Campaign) -> int:
    db.session.commit()
    campaign_id = campaign.id  # reloads the expired campaign before counting starts
    with counted_statements() as statements:
        eligible_customer_ids(campaign_id, now=NOW, seed=3)
        eligibility_report(campaign_id, now=NOW)
    # SQLite's explicit BEGIN is transaction handling, not a query.
    return sum(statement != "BEGIN" for statement in statements)


def test_eligibility_issues_a_bounded_number_of_statements_whatever_the_number_of_customers(app):
    with app.app_context():
        small = factories.campaign(invitation_cap=2)
        large = factories.campaign(invitation_cap=2)
        other = factories.campaign()
        for campaign, size in ((small, 3), (large, 60)):
            for number in range(size):
                customer = clicker(campaign, NOW - timedelta(days=10))
                factories.event(campaign, customer, "clicked", occurred_at=NOW - timedelta(days=9))
                if number % 3 == 0:
                    factories.event(campaign, customer, "converted", occurred_at=NOW - timedelta(days=9))
                if number % 4 == 0:
                    factories.invitation(other, customer, sent_at=NOW - timedelta(days=5))
        # Per call: one to read the campaign and its invitation count, one for the customers.
        assert statements_for(small) == statements_for(large) == 4


# --- the command line ------------------------------------------------------------------------

def cli_population(app) -> tuple[str, int]:
    """Create a campaign with one eligible customer whose id is a formula and a few excluded ones."""
    with app.app_context():
        campaign = factories.campaign(key="spring-sale")
        past = datetime.now(UTC) - timedelta(days=10)
        clicker(campaign, past, external_id="=HYPERLINK(\"http://evil\")", email="a@example.com", language="en")
        clicker(campaign, past, opted_out_at=past)
        clicker(campaign, past, opted_out_at=past)
        clicker(campaign, past, email=None)
        db.session.commit()
        return campaign.key, campaign.id


def invitation_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Invitation)).scalar_one()


def test_the_dry_run_prints_the_counts_and_no_csv(app, runner):
    key, _ = cli_population(app)
    result = runner.invoke(args=["eligible", "--campaign", key, "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in result.output.splitlines()[1:]}
    assert lines["clicked"] == "4"
    assert lines["excluded: opted out"] == "2"
    assert lines["excluded: erased or no email"] == "1"
    assert lines["excluded: converted within the window"] == "0"
    assert lines["eligible"] == "1"
    assert "external_id" not in result.output
    assert invitation_count(app) == 0


def test_the_command_writes_a_csv_safe_for_spreadsheets_and_nothing_to_the_database(app, runner):
    key, campaign_id = cli_population(app)
    result = runner.invoke(args=["eligible", "--campaign", str(campaign_id)])
    assert result.exit_code == 0, result.output
    # The table went to standard error, so standard output is the CSV alone.
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [["external_id", "email", "language"], ["'=HYPERLINK(\"http://evil\")", "a@example.com", "en"]]
    assert "opted out" in result.stderr
    assert invitation_count(app) == 0


def test_the_command_writes_the_csv_to_a_file(app, runner, tmp_path):
    key, _ = cli_population(app)
    target = tmp_path / "eligible.csv"
    result = runner.invoke(args=["eligible", "--campaign", key, "--output", str(target), "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 customers" in result.output
    assert "eligible" in result.output
    with target.open(newline="", encoding="utf-8") as stream:
        assert [row[1] for row in csv.reader(stream)] == ["email", "a@example.com"]


def test_the_dry_run_shows_what_the_cap_leaves_out(app, runner):
    with app.app_context():
        campaign = factories.campaign(key="capped", invitation_cap=3)
        past = datetime.now(UTC) - timedelta(days=10)
        for _ in range(5):
            clicker(campaign, past)
        factories.invitation(campaign, factories.customer())
        db.session.commit()
    result = runner.invoke(args=["eligible", "--campaign", "capped", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["eligible", "5"] in lines
    assert ["left", "out", "by", "the", "cap", "of", "3", "(1", "invited", "before)", "3"] in lines
    assert ["selected", "2"] in lines


def test_the_command_reports_an_unknown_campaign(app, runner):
    result = runner.invoke(args=["eligible", "--campaign", "nope", "--dry-run"])
    assert result.exit_code != 0
    assert "no campaign with id or key 'nope'" in result.output


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+31", "'+31"), ("-2", "'-2"), ("@SUM", "'@SUM"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("\nx", "'\nx"), ("\0x", "'\0x"), ("plain", "plain"), (None, ""), ("a=b", "a=b")],
)
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(value, cell):
    import csv
    import io

    from survey_app.cli.eligibility import write_csv

    out = io.StringIO()
    assert write_csv(out, [(value, "a@example.com", "nl")]) == 1
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == ["external_id", "email", "language"]
    assert row[0] == cell
