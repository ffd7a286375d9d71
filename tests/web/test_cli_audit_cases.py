"""`flask audit`, `flask cases` and `flask signoff` as an operator runs them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select

from models import AuditEvent
from states import Stage
from tests.factories import NOW
from tests.workflow.test_audit import tamper
from workflow import audit, audit_export, cases, signoff

H = dt.timedelta(hours=1)


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=list(args))

    return run


def one_line_error(result, *fragments: str) -> str:
    """The command failed with exactly one line on stderr and no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def world(make, db):
    """10001 went planning -> self_assessment on 2 Nov 09:00 local and was scored on 5 Nov; 10002 waits."""
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    db.session.commit()
    make.advance(case, Stage.self_assessment, now=NOW + 24 * H)
    make.fill_self(case, now=NOW + 4 * 24 * H)
    db.session.commit()
    return campaign


# --- flask audit verify ----------------------------------------------------------------------------

def test_verify_reports_an_intact_chain(cli, world):
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"audit chain intact: {audit.verify().checked} events verified"


def test_verify_fails_naming_the_edited_event(cli, world, db):
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "score.changed").limit(1))
    seq, event_id = event.seq, event.id
    tamper(db, f"UPDATE audit_events SET actor = 'intruder@example.vn' WHERE seq = {seq}")
    line = one_line_error(cli("audit", "verify"), f"seq {seq} (id {event_id})", "edited")
    assert "BROKEN" in line


def test_verify_fails_when_the_last_event_was_deleted(cli, world, db):
    last = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    tamper(db, f"DELETE FROM audit_events WHERE seq = {last}")
    one_line_error(cli("audit", "verify"), f"seq {last}", "tail deleted")


# --- flask audit export ----------------------------------------------------------------------------

def test_export_json_lines_carry_every_chain_field(cli, world, db):
    result = cli("audit", "export", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == audit.verify().checked
    assert list(rows[0]) == list(audit_export.FIELDS)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert audit_export.check_exported(rows) == []
    scored = next(r for r in rows if r["action"] == "score.changed")
    assert (scored["campaign"], scored["commune"]) == (world.key, "10001")
    assert scored["after"]["self_score"] in ("1.00", "2.00")
    assert f"exported {len(rows)} events" in result.stderr


def test_export_csv_to_a_file_parses_back(cli, world, tmp_path):
    target = tmp_path / "audit.csv"
    result = cli("audit", "export", "--campaign", world.key, "--commune", "10001", "--format", "csv",
                 "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.stdout
    with target.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    case = cases.get_case(world.key, "10001")
    expected = list(audit_export.export_rows(case_id=case.id))
    assert len(rows) == len(expected) > 3
    assert list(rows[0]) == list(audit_export.FIELDS)
    for got, want in zip(rows, expected, strict=True):
        assert int(got["seq"]) == want["seq"] and got["hash"] == want["hash"]
        assert got["commune"] == "10001"
        assert (json.loads(got["after"]) if got["after"] else None) == want["after"]
        assert (json.loads(got["before"]) if got["before"] else None) == want["before"]


def test_export_csv_neutralises_formulas(cli, world, db):
    audit.record("note.added", actor=None, now=NOW, campaign_id=world.id, subject="=cmd|'/c calc'!A1",
                 after={"note": "+1"})
    db.session.commit()
    result = cli("audit", "export", "--campaign", world.key, "--format", "csv")
    assert result.exit_code == 0, result.output
    last = list(csv.DictReader(io.StringIO(result.stdout)))[-1]
    assert last["subject"] == "'=cmd|'/c calc'!A1"
    assert last["action"] == "note.added" and last["after"] == '{"note": "+1"}'  # JSON text starts with {


@pytest.mark.parametrize("args, fragment", [
    (("--campaign", "nope", "--format", "json"), "no campaign with key 'nope'"),
    (("--campaign", "tiny-2023", "--commune", "99999", "--format", "json"), "99999"),
    (("--commune", "10001", "--format", "json"), "--commune needs --campaign"),
    (("--format", "xlsx"), "unknown format"),
    (("--format", "csv", "--output", "/nonexistent-dir/audit.csv"), "cannot write /nonexistent-dir/audit.csv"),
])
def test_export_refuses_bad_arguments_in_one_line(cli, world, args, fragment):
    one_line_error(cli("audit", "export", *args), fragment)


# --- flask audit replay ----------------------------------------------------------------------------

def test_replay_reads_a_naive_moment_as_local_time(cli, world):
    # opened at 02:00 UTC on 2 Nov = 09:00 in Hà Nội
    before = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-11-02T08:59")
    assert before.exit_code == 0, before.output
    assert "stage: planning" in before.stdout
    assert "scores: none yet" in before.stdout
    after = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-11-02T09:00")
    assert "stage: self_assessment" in after.stdout
    explicit = cli("audit", "replay", "--campaign", world.key, "--commune", "10001",
                   "--as-of", "2023-11-02T08:59+07:00")
    assert "stage: planning" in explicit.stdout


def test_replay_prints_scores_with_a_decimal_comma_and_as_json(cli, world):
    text = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-11-06")
    assert text.exit_code == 0, text.output
    assert "1.1.2: self 2,00" in text.stdout
    assert "sign-offs: none" in text.stdout
    data = json.loads(cli("audit", "replay", "--campaign", world.key, "--commune", "10001",
                          "--as-of", "2023-11-06", "--json").stdout)
    assert data["stage"] == "self_assessment"
    assert data["scores"]["1.1.2"]["self_score"] == "2.00"
    assert data["as_of"] == "2023-11-05T17:00:00+00:00"
    early = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-10-01")
    assert "did not exist yet" in early.stdout


def test_replay_lists_evidence_as_it_stood(cli, world, make, db):
    from workflow import evidence

    case = cases.get_case(world.key, "10001")
    evidence.add_evidence(case, "2.1.1", make.officers["10001"], now=NOW + 5 * 24 * H, file_name="niem-yet.pdf",
                          data=b"%PDF-1.7 list", media_type="application/pdf", locator="trang 1")
    db.session.commit()
    before = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-11-06")
    assert "evidence: none" in before.stdout
    after = cli("audit", "replay", "--campaign", world.key, "--commune", "10001", "--as-of", "2023-11-06T09:00")
    assert "    2.1.1: niem-yet.pdf (trang 1), sha256 " in after.stdout


@pytest.mark.parametrize("args, fragment", [
    (("--campaign", "nope", "--commune", "10001", "--as-of", "2023-11-06"), "no campaign"),
    (("--campaign", "tiny-2023", "--commune", "99999", "--as-of", "2023-11-06"), "99999"),
    (("--campaign", "tiny-2023", "--commune", "10001", "--as-of", "15/11/2023"), "--as-of"),
    (("--campaign", "tiny-2023", "--commune", "10001", "--as-of", "yesterday"), "not an ISO date"),
])
def test_replay_refuses_bad_arguments_in_one_line(cli, world, args, fragment):
    one_line_error(cli("audit", "replay", *args), fragment)


# --- flask cases list / show -----------------------------------------------------------------------

def test_cases_list_as_json_lines(cli, world):
    result = cli("cases", "list", "--campaign", world.key, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_code = {r["commune_code"]: r for r in rows}
    assert set(by_code) == {"10001", "10002"}
    assert by_code["10001"]["stage"] == "self_assessment" and by_code["10001"]["due"] == "2023-11-10"
    assert by_code["10002"] == {"commune_code": "10002", "commune_name": "Xã 10002", "stage": "planning",
                                "due": None, "version": cases.get_case(world.key, "10002").version}
    only = cli("cases", "list", "--campaign", world.key, "--stage", "planning", "--json")
    assert [json.loads(line)["commune_code"] for line in only.stdout.splitlines()] == ["10002"]


def test_cases_list_as_a_table(cli, world):
    result = cli("cases", "list", "--campaign", world.key)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["commune", "name", "stage", "due", "version"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:5] == ["10001", "Xã", "10001", "self_assessment", "2023-11-10"]
    assert lines[3].split()[3:5] == ["planning", "-"]
    assert lines[-1] == f"2 case(s) in {world.key}"
    # columns line up
    assert lines[2].index("self_assessment") == lines[3].index("planning") == lines[0].index("stage")


@pytest.mark.parametrize("args, fragment", [
    (("--campaign", "nope"), "no campaign"),
    (("--campaign", "tiny-2023", "--stage", "drafting"), "unknown stage 'drafting'"),
])
def test_cases_list_refuses_bad_arguments(cli, world, args, fragment):
    one_line_error(cli("cases", "list", *args), fragment)


def test_cases_show_explains_the_case(cli, world, make, db):
    result = cli("cases", "show", "--campaign", world.key, "--commune", "10001")
    assert result.exit_code == 0, result.output
    out = result.stdout
    case = cases.get_case(world.key, "10001")
    assert f"stage: self_assessment   version: {case.version}" in out
    assert "deadline: 2023-11-10 (stage;" in out
    assert "total: 0,00/7,00 (0,00%)   self-assessed: 5,00" in out
    assert "submit -> appraisal: ready" in out
    assert "pending sign-off: none" in out
    empty = cli("cases", "show", "--campaign", world.key, "--commune", "10002", "--actor",
                make.officers["10001"].email)
    assert "open -> self_assessment: blocked by:" in empty.stdout
    assert "'open' needs one of the roles" in empty.stdout


def test_cases_show_lists_each_blocker_and_a_pending_sign_off(cli, world, make, db):
    blocked = cli("cases", "show", "--campaign", world.key, "--commune", "10002")
    assert "open -> self_assessment: ready" in blocked.stdout
    case = cases.get_case(world.key, "10002")
    make.advance(case, Stage.self_assessment, now=NOW + 24 * H)
    out = cli("cases", "show", "--campaign", world.key, "--commune", "10002").stdout
    assert "submit -> appraisal: blocked by:" in out
    for code in ("1.1.1", "1.1.2", "2.1.1"):
        assert f"      {code}: no score" in out
    make.advance(case, Stage.council_meeting, now=NOW + 48 * H)
    cases.fire(case, "approve", make.secretariat, now=NOW + 49 * H)
    db.session.commit()
    signoff.sign(case, make.council[0], "approve", now=NOW + 50 * H, comment="Đồng ý")
    db.session.commit()
    out = cli("cases", "show", "--campaign", world.key, "--commune", "10002").stdout
    assert "approve -> publication (needs council sign-off): blocked by:" in out
    assert "pending sign-off of 'approve' (requested 2023-11-03 10:00): 1 of 2 approvals needed" in out
    assert f"{make.council[0].email}: approve (Đồng ý)" in out


@pytest.mark.parametrize("args, fragment", [
    (("--campaign", "nope", "--commune", "10001"), "no campaign"),
    (("--campaign", "tiny-2023", "--commune", "99999"), "No case for commune 99999"),
    (("--campaign", "tiny-2023", "--commune", "10001", "--actor", "ghost@example.vn"), "ghost@example.vn"),
])
def test_cases_show_refuses_bad_arguments(cli, world, args, fragment):
    one_line_error(cli("cases", "show", *args), fragment)


# --- flask cases fire ------------------------------------------------------------------------------

def test_fire_moves_the_case_through_the_service(cli, world, make, db):
    result = cli("cases", "fire", "--campaign", world.key, "--commune", "10002", "open",
                 "--actor", make.secretariat.email)
    assert result.exit_code == 0, result.output
    assert "open fired, planning -> self_assessment" in result.stdout
    assert "due 2023-11-10" in result.stdout
    db.session.expire_all()
    case = cases.get_case(world.key, "10002")
    assert case.stage == "self_assessment"
    last = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert (last.action, last.subject, last.actor, last.case_id) == (
        "case.transition", "open", make.secretariat.email, case.id)
    assert audit.verify().ok


def test_fire_refusal_lists_every_blocking_sub_criterion(cli, world, make, db):
    case = cases.get_case(world.key, "10002")
    make.advance(case, Stage.self_assessment, now=NOW)
    version = case.version
    result = cli("cases", "fire", "--campaign", world.key, "--commune", "10002", "submit",
                 "--actor", make.officers["10002"].email)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: 'submit' refused; blocking items:"
    assert lines[1:] == ["  1.1.1: no score", "  1.1.2: no score", "  2.1.1: no score"]
    db.session.expire_all()
    assert (case.stage, case.version) == ("self_assessment", version)


def test_fire_returns_for_revision_with_reason_and_date(cli, world, make, db):
    case = cases.get_case(world.key, "10001")
    make.advance(case, Stage.appraisal, now=NOW + 5 * 24 * H)
    base = ("cases", "fire", "--campaign", world.key, "--commune", "10001", "return_for_revision",
            "--actor", make.secretariat.email)
    refused = cli(*base)
    assert refused.exit_code == 2
    # no date given: the page's default is offered, so only the missing reason blocks
    assert "a reason is required" in refused.stderr and "a revision deadline is required" not in refused.stderr
    one_line_error(cli(*base, "--reason", "x", "--revision-due", "31/12/2099"), "--revision-due", "YYYY-MM-DD")
    one_line_error(cli(*base, "--reason", "x", "--revision-due", "2099-12-31", "--expected-version", "abc"),
                   "--expected-version")
    stale = cli(*base, "--reason", "x", "--revision-due", "2099-12-31", "--expected-version",
                str(case.version - 1))
    one_line_error(stale, "changed by someone else")
    ok = cli(*base, "--reason", "Thiếu báo cáo giải trình", "--revision-due", "2099-12-31",
             "--expected-version", str(case.version))
    assert ok.exit_code == 0, ok.output
    assert "appraisal -> self_assessment" in ok.stdout and "due 2099-12-31" in ok.stdout



def test_return_for_revision_without_a_date_takes_five_working_days(cli, world, make, db):
    from workflow import assessment_forms
    from workflow.clock import utcnow

    case = cases.get_case(world.key, "10001")
    make.advance(case, Stage.appraisal, now=NOW + 5 * 24 * H)
    offered = assessment_forms.default_revision_due(case, utcnow())
    ok = cli("cases", "fire", "--campaign", world.key, "--commune", "10001", "return_for_revision",
             "--actor", make.secretariat.email, "--reason", "Thiếu báo cáo")
    assert ok.exit_code == 0, ok.output
    db.session.expire_all()
    assert case.stage == "self_assessment" and case.revision_due == offered


def test_fire_under_sign_off_opens_one(cli, world, make, db):
    case = cases.get_case(world.key, "10001")
    make.advance(case, Stage.council_meeting, now=NOW + 5 * 24 * H)
    result = cli("cases", "fire", "--campaign", world.key, "--commune", "10001", "approve",
                 "--actor", make.secretariat.email)
    assert result.exit_code == 0, result.output
    assert "council sign-off of 'approve' opened" in result.stdout
    assert "0 of 2 approvals needed (3 members); chair not yet signed" in result.stdout
    db.session.expire_all()
    assert case.stage == "council_meeting"


@pytest.mark.parametrize("args, fragment", [
    (("--campaign", "nope", "--commune", "10001", "open", "--actor", "x@example.vn"), "no campaign"),
    (("--campaign", "tiny-2023", "--commune", "99999", "open", "--actor", "secretariat@tiny-2023.example.vn"),
     "No case for commune 99999"),
    (("--campaign", "tiny-2023", "--commune", "10002", "open", "--actor", "ghost@example.vn"),
     "no user with e-mail ghost@example.vn"),
    (("--campaign", "tiny-2023", "--commune", "10002", "fly", "--actor", "secretariat@tiny-2023.example.vn"),
     "unknown transition 'fly'"),
    (("--campaign", "tiny-2023", "--commune", "10002", "open", "--actor", "officer10002@tiny-2023.example.vn"),
     "needs one of the roles"),
])
def test_fire_refuses_bad_arguments_in_one_line(cli, world, args, fragment):
    one_line_error(cli("cases", "fire", *args), fragment)


# --- flask signoff ---------------------------------------------------------------------------------

@pytest.fixture
def pending(cli, world, make, db):
    case = cases.get_case(world.key, "10001")
    make.advance(case, Stage.council_meeting, now=NOW + 5 * 24 * H)
    result = cli("cases", "fire", "--campaign", world.key, "--commune", "10001", "approve",
                 "--actor", make.secretariat.email)
    assert result.exit_code == 0, result.output
    return case


def test_signoff_list_shows_pending_and_what_awaits_a_member(cli, world, make, pending):
    everything = cli("signoff", "list")
    assert everything.exit_code == 0, everything.output
    assert f"{world.key}  10001 Xã 10001  'approve'  0 of 2 approvals needed" in everything.stdout
    assert everything.stdout.splitlines()[-1] == "1 pending sign-off(s)"
    mine = cli("signoff", "list", "--actor", make.council[1].email, "--json")
    (row,) = [json.loads(line) for line in mine.stdout.splitlines()]
    assert (row["commune_code"], row["transition"], row["approvals"], row["needed"]) == ("10001", "approve", 0, 2)
    assert cli("signoff", "list", "--campaign", world.key).stdout.splitlines()[-1] == "1 pending sign-off(s)"
    # an officer sits on no council: nothing awaits them
    assert cli("signoff", "list", "--actor", make.officers["10001"].email).stdout.strip() == \
        f"0 pending sign-off(s) awaiting {make.officers['10001'].email}"


def test_signoff_approve_to_quorum_fires_the_transition(cli, world, make, db, pending):
    first = cli("signoff", "approve", "--campaign", world.key, "--commune", "10001",
                "--actor", make.council[1].email, "--comment", "Đồng ý")
    assert first.exit_code == 0, first.output
    assert "1 of 2 approvals needed (3 members); chair not yet signed" in first.stdout
    assert "sign-off still pending; the case stays in council_meeting" in first.stdout
    # after signing, nothing more awaits that member
    assert cli("signoff", "list", "--actor", make.council[1].email).stdout.startswith("0 pending")
    again = cli("signoff", "approve", "--campaign", world.key, "--commune", "10001",
                "--actor", make.council[1].email)
    one_line_error(again, "already signed")
    chair = cli("signoff", "approve", "--campaign", world.key, "--commune", "10001",
                "--actor", make.council[0].email)
    assert chair.exit_code == 0, chair.output
    assert "2 of 2 approvals needed (3 members); chair approved" in chair.stdout
    assert "quorum reached: 'approve' fired, council_meeting -> publication" in chair.stdout
    db.session.expire_all()
    assert pending.stage == "publication"
    assert cli("signoff", "list").stdout.strip() == "0 pending sign-off(s)"
    assert audit.verify().ok


def test_signoff_reject_needs_a_comment_and_closes(cli, world, make, db, pending):
    base = ("signoff", "reject", "--campaign", world.key, "--commune", "10001", "--actor", make.council[2].email)
    one_line_error(cli(*base), "needs a comment")
    result = cli(*base, "--comment", "Điểm khảo sát chưa khớp")
    assert result.exit_code == 0, result.output
    assert "rejected 'approve'" in result.stdout
    assert "sign-off rejected and closed; the case stays in council_meeting" in result.stdout
    db.session.expire_all()
    assert pending.stage == "council_meeting"


@pytest.mark.parametrize("args, fragment", [
    (("approve", "--campaign", "nope", "--commune", "10001", "--actor", "council0@tiny-2023.example.vn"),
     "no campaign"),
    (("approve", "--campaign", "tiny-2023", "--commune", "99999", "--actor", "council0@tiny-2023.example.vn"),
     "99999"),
    (("approve", "--campaign", "tiny-2023", "--commune", "10001", "--actor", "ghost@example.vn"),
     "ghost@example.vn"),
    (("approve", "--campaign", "tiny-2023", "--commune", "10001", "--actor", "secretariat@tiny-2023.example.vn"),
     "Only members of this campaign's council"),
    (("approve", "--campaign", "tiny-2023", "--commune", "10002", "--actor", "council0@tiny-2023.example.vn"),
     "no pending sign-off"),
    (("list", "--campaign", "nope"), "no campaign"),
    (("list", "--actor", "ghost@example.vn"), "ghost@example.vn"),
])
def test_signoff_refuses_bad_arguments_in_one_line(cli, world, pending, args, fragment):
    one_line_error(cli("signoff", *args), fragment)
