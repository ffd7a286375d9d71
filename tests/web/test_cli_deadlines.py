"""`flask deadlines schedule` and `flask deadlines sweep` as an operator runs them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from models import OutboxMessage, SchedulerState
from states import Stage

K = "tiny-2023.example.vn"
POLICY = {
    "before_working_days": [5, 2, 0],
    "overdue_notice": True,
    "escalations": [{"after_working_days": 2, "to": ["commune_chair", "secretariat_head"]},
                    {"after_working_days": 5, "to": ["authority_leader"]}],
}


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=list(args))

    return run


@pytest.fixture
def world(make, db):
    """10001 is self-assessing (due Fri 10/11/2023); 10002 is still in planning."""
    campaign = make.campaign()
    campaign.reminders = POLICY
    db.session.commit()
    make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    return campaign


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def _outbox(db) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def test_schedule_json_lists_the_whole_future_and_sends_nothing(cli, world, db):
    result = cli("deadlines", "schedule", "--campaign", "tiny-2023", "--json", "--as-of", "2023-11-01T09:00")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 60  # 2 communes x 5 stages x 6 notices
    assert rows[0] == {"date": "2023-11-03", "due": "2023-11-10", "commune_code": "10001",
                       "stage": "self_assessment", "kind": "reminder", "level": 5,
                       "recipients": [f"officer10001@{K}"], "planned": False}
    assert rows[1]["commune_code"] == "10002" and rows[1]["date"] == "2023-11-03"
    council = [r for r in rows if r["commune_code"] == "10001" and r["stage"] == "council_meeting"]
    # due Sun 10/12/2023 -> Mon 11/12 (art. 148)
    assert [(r["date"], r["kind"], r["level"]) for r in council] == [
        ("2023-12-04", "reminder", 5), ("2023-12-07", "reminder", 2), ("2023-12-11", "reminder", 0),
        ("2023-12-12", "overdue", 0), ("2023-12-13", "escalation", 1), ("2023-12-18", "escalation", 2)]
    assert {r["due"] for r in council} == {"2023-12-11"}
    assert council[4]["recipients"] == [f"chair10001@{K}", f"head@{K}"]
    # the open self-assessment deadlines count as they are; later stages are planned from the plan's dues
    planned = sum(1 for r in rows if r["planned"])
    assert {(r["commune_code"], r["stage"]) for r in rows if not r["planned"]} == {("10001", "self_assessment")}
    assert (f"60 notice(s) for campaign tiny-2023: 30 reminder(s), 10 overdue, 20 escalation(s); {planned} planned "
            "for stages not reached yet") in result.stderr
    assert _outbox(db) == 0


def test_schedule_as_text_ends_with_a_summary(cli, world):
    result = cli("deadlines", "schedule", "--campaign", "tiny-2023", "--as-of", "2023-12-12T09:00")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    # left after 12/12 09:00, per commune: council escalations 13/12 and 18/12; appraisal and publication
    # each 13/12 (2 days), 15/12 (0), 18/12 overdue, 19/12 and 22/12 escalations (8/12 has gone)
    assert lines[-1] == ("24 notice(s) for campaign tiny-2023: 8 reminder(s), 4 overdue, 12 escalation(s); "
                         "24 planned for stages not reached yet")
    assert lines[0].startswith("2023-12-13  due 2023-12-15  10001    appraisal        reminder    2  planned  head@")
    assert lines[1].startswith("2023-12-13  due 2023-12-11  10001    council_meeting  escalation  1")


def test_sweep_as_of_queues_the_due_messages_once(cli, world, db):
    result = cli("deadlines", "sweep", "--as-of", "2023-11-14T08:30")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "sweep as of 2023-11-14T01:30:00+00:00: 1 deadline(s) due, 2 message(s) queued, "
        "0 already queued, 4 notice(s) skipped")
    assert sorted(db.session.scalars(select(OutboxMessage.recipient))) == [f"chair10001@{K}", f"head@{K}"]
    again = cli("deadlines", "sweep", "--campaign", "tiny-2023", "--as-of", "2023-11-14T08:30")
    assert again.exit_code == 0
    assert "0 deadline(s) due, 0 message(s) queued" in again.stdout
    assert _outbox(db) == 2
    state = db.session.get(SchedulerState, "sweep")
    assert state.last_as_of == dt.datetime(2023, 11, 14, 1, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("args, fragment", [
    (("deadlines", "schedule", "--campaign", "nope"), "no campaign with key 'nope'"),
    (("deadlines", "sweep", "--campaign", "nope"), "no campaign with key 'nope'"),
    (("deadlines", "sweep", "--as-of", "yesterday"), "--as-of 'yesterday' is not a date"),
    (("deadlines", "schedule", "--campaign", "tiny-2023", "--as-of", "6/2/2024"), "is not a date"),
])
def test_bad_arguments_give_one_line_errors(cli, world, db, args, fragment):
    one_line_error(cli(*args), fragment)
    assert _outbox(db) == 0
