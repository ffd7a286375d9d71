"""`flask criteria load`, `flask campaign load|start|list` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, Campaign, Case, CriteriaSet

PLAN = str(ROOT / "examples" / "plan-nui-thanh-2023.yaml")
CRITERIA = str(ROOT / "examples" / "criteria-quang-dien-xa-2019.json")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=list(args))

    return run


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_criteria_load_then_reload_is_unchanged(cli, db, tmp_path):
    first = cli("criteria", "load", CRITERIA)
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "criteria set quang-dien-xa-2019 v1 loaded: 120 items, 84 sub-criteria, 100.00 points"
    # the same content from another file (a copy elsewhere): no second version
    copy = tmp_path / "copy.json"
    copy.write_bytes(Path(CRITERIA).read_bytes())
    again = cli("criteria", "load", str(copy))
    assert again.exit_code == 0
    assert "unchanged" in again.output
    assert _count(db, CriteriaSet) == 1
    listing = cli("criteria", "list")
    assert "quang-dien-xa-2019 v1" in listing.output and "1 criteria set version(s)" in listing.output


def test_a_bad_criteria_file_lists_every_problem_and_exits_non_zero(cli, db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x", "title_vi": "t", "year": 2023, "total_points": 2, "items": ['
                   '{"code": "1", "title_vi": "a", "max_points": 1.234, "method": "self"}]}', encoding="utf-8")
    result = cli("criteria", "load", str(bad))
    assert result.exit_code == 2
    assert "criteria file refused (2 problem(s))" in result.stderr
    assert "items[0].max_points: at most two decimals (got 1.234)" in result.stderr
    assert "items[0].evidence_required: required on a sub-criterion" in result.stderr
    assert "Traceback" not in result.output
    assert _count(db, CriteriaSet) == 0


def test_campaign_load_start_and_list(cli, db):
    assert cli("criteria", "load", CRITERIA).exit_code == 0
    loaded = cli("campaign", "load", PLAN)
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("campaign nui-thanh-2023: created 1 authority, 1 campaign, 17 communes, 42 users")
    assert "17 cases" in loaded.output

    reloaded = cli("campaign", "load", PLAN)
    assert reloaded.exit_code == 0
    assert reloaded.output.strip() == "campaign nui-thanh-2023: unchanged (the plan was already loaded)"

    started = cli("campaign", "start", "--campaign", "nui-thanh-2023", "--actor", "Mai.NoiVu@example.vn",
                  "--now", "2023-10-20T08:00")
    assert started.exit_code == 0, started.output
    assert started.stdout.strip() == "campaign nui-thanh-2023: opened 17 case(s); 0 of 17 were already open"
    assert _count(db, Case, Case.stage == "self_assessment") == 17
    opened = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.transition")).all()
    assert len(opened) == 17 and {e.actor for e in opened} == {"mai.noivu@example.vn"}

    again = cli("campaign", "start", "--campaign", "nui-thanh-2023", "--actor", "mai.noivu@example.vn")
    assert again.exit_code == 0
    assert again.stdout.strip() == "campaign nui-thanh-2023: opened 0 case(s); 17 of 17 were already open"
    assert _count(db, AuditEvent, AuditEvent.action == "case.transition") == 17

    listing = cli("campaign", "list")
    assert "nui-thanh-2023\t2023\tUBND huyện Núi Thành\tquang-dien-xa-2019 v1\tself_assessment 17" in listing.output


def test_campaign_load_with_an_actor_records_who(cli, db, make):
    make.user("admin@example.vn")
    assert cli("criteria", "load", CRITERIA, "--actor", "admin@example.vn").exit_code == 0
    assert cli("campaign", "load", PLAN, "--actor", "admin@example.vn").exit_code == 0
    actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action != "case.transition")))
    assert actors == {"admin@example.vn"}


def test_a_bad_plan_is_refused_with_every_problem_and_nothing_written(cli, db, tmp_path):
    assert cli("criteria", "load", CRITERIA).exit_code == 0
    text = Path(PLAN).read_text(encoding="utf-8")
    text = text.replace("cchc.tamtien@example.vn", "cchc.tamtien@").replace('quorum: "2/3"', 'quorum: "4/3"')
    bad = tmp_path / "plan.yaml"
    bad.write_text(text, encoding="utf-8")
    result = cli("campaign", "load", str(bad))
    assert result.exit_code == 2
    assert "plan file refused (2 problem(s))" in result.stderr
    assert "communes[3].officers[0].email: not a valid e-mail address" in result.stderr
    assert "council.quorum: a fraction between 0 and 1 is needed, not 4/3" in result.stderr
    assert _count(db, Campaign) == 0 and _count(db, Case) == 0


def test_a_yaml_error_names_its_line(cli, db, tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("campaign:\n  key: x\n   year: 2023\n", encoding="utf-8")
    result = cli("campaign", "load", str(bad))
    assert result.exit_code == 2
    assert "line 3, column" in result.stderr and "YAML error" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (("campaign", "load", "/no/such/plan.yaml"), "does not exist"),
    (("campaign", "start", "--campaign", "nope", "--actor", "x@example.vn"), "no campaign with key 'nope'"),
    (("campaign", "load", PLAN, "--actor", "ghost@example.vn"), "no user with e-mail ghost@example.vn"),
    (("campaign", "load", PLAN, "--now", "yesterday"), "not an ISO date"),
])
def test_bad_arguments_give_one_line_and_a_non_zero_exit(cli, db, args, fragment):
    result = cli(*args)
    assert result.exit_code != 0
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_start_refused_for_a_commune_officer(cli, db):
    assert cli("criteria", "load", CRITERIA).exit_code == 0
    assert cli("campaign", "load", PLAN).exit_code == 0
    result = cli("campaign", "start", "--campaign", "nui-thanh-2023", "--actor", "cchc.tamtra@example.vn")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert _count(db, Case, Case.stage == "planning") == 17
