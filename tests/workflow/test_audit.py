"""The audit log as an auditor relies on it: a verifiable chain, tampering named, replay, concurrency."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from models import AuditEvent, User
from states import Stage
from tests.factories import NOW
from workflow import audit, audit_export, cases, scores, txn
from workflow.errors import Conflict

H = dt.timedelta(hours=1)

SQLITE_TRIGGERS = (
    ("audit_events_no_update", "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                               "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END"),
    ("audit_events_no_delete", "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                               "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END"),
)


def tamper(db, *statements: str) -> None:
    """Run SQL past the append-only triggers, as someone with database-owner rights could."""
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # replica mode skips ordinary triggers for this transaction only
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        for sql in statements:
            db.session.execute(text(sql))
    else:
        for name, _ in SQLITE_TRIGGERS:
            db.session.execute(text(f"DROP TRIGGER {name}"))
        for sql in statements:
            db.session.execute(text(sql))
        for _, create in SQLITE_TRIGGERS:
            db.session.execute(text(create))
    db.session.commit()
    db.session.expire_all()


def busy_case(make, db):
    """A campaign whose case 10001 went to publication (with a return for revision and a sign-off)."""
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal, now=NOW)
    cases.fire(case, "return_for_revision", make.secretariat, now=NOW + H, reason="Thiếu tài liệu kiểm chứng",
               revision_due=dt.date(2023, 11, 20))
    db.session.commit()
    make.advance(case, Stage.publication, now=NOW + 2 * H)
    return campaign, case


def seqs(db) -> list[int]:
    return list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))


def test_the_chain_verifies_after_real_activity(make, db):
    busy_case(make, db)
    result = audit.verify()
    assert result.ok, result.describe()
    assert result.checked == db.session.scalar(select(func.count(AuditEvent.id)))
    assert seqs(db) == list(range(1, result.checked + 1))
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"case.created", "case.transition", "score.changed", "signoff.requested", "signoff.signed",
            "signoff.closed"} <= actions


def test_the_database_moves_the_head_with_every_appended_event(make, db):
    """The head is kept by a trigger (migration 0013), for one event and for a bulk append alike."""
    def head():
        return tuple(db.session.execute(text("SELECT seq, last_hash FROM audit_head WHERE id = 1")).one())

    def last():
        return tuple(db.session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                        .order_by(AuditEvent.seq.desc()).limit(1)).one())

    make.campaign()
    db.session.commit()
    one = audit.record("test.one", actor=None, now=NOW, subject="a")
    assert head() == (one.seq, one.hash) == last()
    audit.record_many([audit.Entry("test.many", subject=str(n)) for n in range(5)], actor=None, now=NOW)
    assert head() == last() and head()[0] == one.seq + 5
    db.session.commit()
    assert audit.verify().ok


@pytest.mark.parametrize("column, value", [
    ("actor", "'someone.else@example.vn'"),
    ("after", "'{\"self_score\": \"0.00\"}'"),
    ("occurred_at", "'2023-10-01 00:00:00+00:00'"),
])
def test_an_edited_event_is_detected_and_named(make, db, column, value):
    busy_case(make, db)
    target = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "score.changed")
                               .order_by(AuditEvent.seq).offset(2).limit(1))
    seq, event_id = target.seq, target.id
    tamper(db, f"UPDATE audit_events SET {column} = {value} WHERE seq = {seq}")
    result = audit.verify()
    assert not result.ok
    assert (result.first_bad_seq, result.first_bad_id) == (seq, event_id)
    assert "edited" in result.problem
    assert f"seq {seq} (id {event_id})" in result.describe()


def test_a_deleted_middle_event_leaves_a_named_gap(make, db):
    busy_case(make, db)
    victim = seqs(db)[5]
    tamper(db, f"DELETE FROM audit_events WHERE seq = {victim}")
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_seq == victim + 1
    assert result.checked == victim - 1
    assert "missing" in result.problem


def test_a_deleted_last_event_no_longer_matches_the_head(make, db):
    busy_case(make, db)
    last = seqs(db)[-1]
    tamper(db, f"DELETE FROM audit_events WHERE seq = {last}")
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_seq == last
    assert result.checked == last - 1
    assert "tail deleted" in result.problem


def test_reordered_events_are_detected(make, db):
    busy_case(make, db)
    a = seqs(db)[3]
    b = a + 1
    # three steps because seq is unique
    tamper(db, f"UPDATE audit_events SET seq = -1 WHERE seq = {a}",
           f"UPDATE audit_events SET seq = {a} WHERE seq = {b}",
           f"UPDATE audit_events SET seq = {b} WHERE seq = -1")
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_seq == a
    assert result.checked == a - 1
    assert "prev_hash" in result.problem


def test_tampering_helper_restores_the_triggers(make, db):
    busy_case(make, db)
    tamper(db, "UPDATE audit_events SET actor = actor WHERE seq = 1")
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 1"))
    db.session.rollback()
    assert audit.verify().ok  # the no-op edit changed nothing


@pytest.mark.parametrize("sql", [
    "UPDATE audit_events SET actor = 'intruder@example.vn'",
    "UPDATE audit_events SET hash = prev_hash WHERE seq = 2",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
    "TRUNCATE audit_events",
])
def test_the_database_refuses_to_change_or_remove_events(make, db, dialect, sql):
    if sql.startswith("TRUNCATE") and dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is its equivalent")
    busy_case(make, db)
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(sql))
    db.session.rollback()
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before
    assert audit.verify().ok


def test_the_orm_cannot_edit_an_event_either(make, db):
    busy_case(make, db)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
    event.actor = "intruder@example.vn"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert audit.verify().ok


def test_replay_shows_the_case_as_it_stood_at_each_moment(make, db):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    db.session.commit()
    t_open, t_self, t_submit, t_appraised = (NOW + d * 24 * H for d in (1, 4, 7, 19))
    make.advance(case, Stage.self_assessment, now=t_open)
    make.fill_self(case, now=t_self)
    db.session.commit()
    make.advance(case, Stage.appraisal, now=t_submit)
    make.advance(case, Stage.survey, now=t_appraised)
    make.advance(case, Stage.publication, now=t_appraised + 24 * H)

    def at(moment):
        return audit_export.replay_case(case, moment)

    assert at(NOW - H)["stage"] is None  # before the case existed
    first = at(NOW + H)
    assert (first["stage"], first["scores"]) == ("planning", {})
    assert at(t_open)["stage"] == "self_assessment"  # inclusive of the moment itself
    filled = at(t_self + H)
    assert filled["stage"] == "self_assessment"
    assert {code: s["self_score"] for code, s in filled["scores"].items()} == {
        "1.1.1": "1.00", "1.1.2": "2.00", "2.1.1": "2.00"}
    assert all("appraised_score" not in s for s in filled["scores"].values())
    assert at(t_submit)["stage"] == "appraisal"
    assert at(t_appraised - dt.timedelta(seconds=1))["stage"] == "appraisal"
    appraised = at(t_appraised)
    assert appraised["stage"] == "survey"
    assert appraised["scores"]["1.1.1"] == {"self_score": "1.00", "appraised_score": "0.50",
                                            "explanation": "Đã thực hiện đầy đủ"}
    assert "2.2.1" not in appraised["scores"]  # survey points came a day later
    assert appraised["sign_offs"] == []
    final = at(t_appraised + 48 * H)
    assert final["stage"] == "publication"
    assert final["scores"]["2.2.1"] == {"survey_score": "1.50"}
    (sign_off,) = final["sign_offs"]
    assert sign_off["transition"] == "approve" and sign_off["status"] == "approved"
    assert [s["by"] for s in sign_off["signatures"]] == [m.email for m in make.council[:2]]
    assert final["campaign"] == campaign.key and final["commune_code"] == "10001"


def test_an_export_recomputes_to_the_same_hashes_without_the_database(make, db):
    campaign, case = busy_case(make, db)
    other = make.campaign("other-2023", communes=("20001",))
    make.advance(make.case_of(other, "20001"), Stage.self_assessment, now=NOW + 3 * H)
    everything = list(audit_export.export_rows())
    assert [r["seq"] for r in everything] == seqs(db)
    assert audit_export.check_exported(everything) == []
    mine = list(audit_export.export_rows(campaign_id=campaign.id, case_id=case.id))
    assert mine and {(r["campaign"], r["commune"]) for r in mine} == {(campaign.key, "10001")}
    assert len(mine) == audit_export.count_events(campaign_id=campaign.id, case_id=case.id)
    assert audit_export.check_exported(mine) == []
    forged = [dict(r) for r in mine]
    forged[3]["after"] = {"stage": "publication"}
    assert audit_export.check_exported(forged) == [f"seq {forged[3]['seq']}: content does not match its hash"]


def test_csv_cells_cannot_become_formulas(make, db):
    campaign = make.campaign()
    audit.record("note.added", actor=None, now=NOW, campaign_id=campaign.id, subject="=HYPERLINK(\"x\")",
                 after={"text": "@SUM(A1)"})
    db.session.commit()
    buffer = io.StringIO()
    count = audit_export.write_export(audit_export.export_rows(campaign_id=campaign.id), "csv", buffer)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == count + 1 and lines[0].startswith("seq,id,occurred_at,actor")
    assert "'=HYPERLINK" in lines[-1]
    assert all(audit_export.csv_safe(p) == "'" + p for p in ("=1+1", "+1", "-1", "@A1", "\tx"))
    assert audit_export.csv_safe("1.1.1") == "1.1.1"
    out = io.StringIO()
    audit_export.write_export(audit_export.export_rows(campaign_id=campaign.id), "json", out)
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["subject"] == "=HYPERLINK(\"x\")"  # JSON is data, not a spreadsheet: kept verbatim


def _retrying(action, attempts: int = 50):
    """Run ``action`` and commit, retrying a lost race (SQLite may refuse a writer instead of queueing it)."""
    from models import db

    for _ in range(attempts):
        try:
            action()
            txn.commit()
            return
        except (Conflict, OperationalError):
            db.session.rollback()
    raise AssertionError("gave up after repeated conflicts")


def test_concurrent_appends_keep_one_unbroken_chain(app, make, db):
    campaign = make.campaign()
    for code in ("10001", "10002"):
        make.advance(make.case_of(campaign, code), Stage.self_assessment)
    db.session.commit()
    before = audit.verify().checked
    # plain values only: the main thread's ORM objects must not be touched from other threads
    key, emails = campaign.key, {code: make.officers[code].email for code in ("10001", "10002")}
    rounds, barrier, errors = 15, threading.Barrier(2), []

    def officer_scores(code: str) -> None:
        try:
            with app.app_context():
                from models import db as thread_db

                officer = thread_db.session.scalar(select(User).where(User.email == emails[code]))
                officer_id = officer.id
                barrier.wait(timeout=30)
                for i in range(rounds):
                    def one_edit(i=i):
                        case = cases.get_case(key, code)
                        actor = thread_db.session.get(User, officer_id)
                        scores.set_self_assessment(case, "1.1.2", actor, now=NOW + i * H,
                                                   score=Decimal(1 + i % 2))
                    _retrying(one_edit)
        except Exception as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=officer_scores, args=(code,)) for code in ("10001", "10002")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    db.session.expire_all()
    result = audit.verify()
    assert result.ok, result.describe()
    assert result.checked == before + 2 * rounds
    edits = db.session.scalars(select(AuditEvent.case_id).where(
        AuditEvent.action == "score.changed", AuditEvent.subject == "1.1.2")).all()
    assert sorted(edits) == sorted([make.case_of(campaign, "10001").id] * rounds
                                   + [make.case_of(campaign, "10002").id] * rounds)


def test_replay_follows_evidence_added_then_removed(make, db):
    from workflow import evidence

    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment, now=NOW)
    officer = make.officers["10001"]
    t_add, t_remove = NOW + 24 * H, NOW + 48 * H
    row = evidence.add_evidence(case, "1.1.1", officer, now=t_add, file_name="ke-hoach-cchc.pdf",
                                data=b"%PDF-1.4 plan", media_type="application/pdf", locator="trang 2")
    evidence_id = row.id
    db.session.commit()
    evidence.remove_evidence(case, evidence_id, officer, now=t_remove)
    db.session.commit()

    assert audit_export.replay_case(case, t_add - H)["evidence"] == []
    (seen,) = audit_export.replay_case(case, t_add)["evidence"]
    assert (seen["id"], seen["code"], seen["file_name"], seen["locator"]) == (
        evidence_id, "1.1.1", "ke-hoach-cchc.pdf", "trang 2")
    assert audit_export.replay_case(case, t_remove)["evidence"] == []


def test_replay_to_the_end_agrees_with_the_live_case(make, db):
    from models import CriteriaItem, Score

    _, case = busy_case(make, db)
    replayed = audit_export.replay_case(case, NOW + 1000 * H)
    assert replayed["stage"] == case.stage == "publication"
    live = {code: {name: f"{getattr(s, name):.2f}" for name in ("self_score", "appraised_score", "survey_score")
                   if getattr(s, name) is not None}
            for code, s in db.session.execute(select(CriteriaItem.code, Score).join(Score.item)
                                              .where(Score.case_id == case.id))}
    from_log = {code: {k: v for k, v in fields.items() if k.endswith("_score") and v is not None}
                for code, fields in replayed["scores"].items()}
    assert from_log == live and len(live) == 4
