"""The auditors' daily anchor, delivered to a real SMTP server and read back: the anchor taken from the
e-mail proves a rewritten history that the chain alone verifies; a broken chain turns it into a warning."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from models import AuditEvent, OutboxMessage
from notifications import anchor, delivery, scheduler
from states import Stage
from tests.workflow.test_audit import tamper
from tests.workflow.test_audit_anchor import rewrite_history
from workflow.clock import parse_moment

DEC_06 = parse_moment("2023-12-06T07:30")  # the digest job's hour, Hà Nội time
ANCHOR_LINE = re.compile(r"^ {4}(\d+:[0-9a-f]{64})$", re.M)


def _with_history(make, db):
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    db.session.commit()
    return campaign


def _checks(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "audit.verified"))


def _verify(app, *anchors: str):
    args = ["audit", "verify"] + [a for text in anchors for a in ("--anchor", text)]
    result = app.test_cli_runner().invoke(args=args)
    return result.exit_code, result.output


def test_the_daily_anchor_reaches_each_auditor_once_and_exposes_a_rewrite(app, db, make, smtp):
    _with_history(make, db)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    report = anchor.queue_anchor_mails(now=DEC_06)
    db.session.commit()
    assert (report.queued, report.recipients) == (1, [make.auditor.email]) and report.check.ok
    check = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verified")).one()
    assert (check.actor, check.after["ok"], check.after["checked"]) == ("system", True, events)

    assert delivery.deliver(now=DEC_06).sent == 1
    (msg,) = smtp.messages
    assert msg["To"] == make.auditor.email
    assert msg["Subject"] == f"[CCHC] Mốc nhật ký ngày 06/12/2023: chuỗi nguyên vẹn, {events} sự kiện"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "lúc 07:30 06/12/2023" in text and "https://cchc.example.vn/audit/integrity" in text
    held = ANCHOR_LINE.search(text).group(1)
    assert held == f"{check.seq}:{check.hash}"
    assert f"flask audit verify --anchor {held}" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert f"<code style=\"font-size:13px\">{held}</code>" in html

    # later the same day: nothing sent twice, and no second check on the record
    again = anchor.queue_anchor_mails(now=DEC_06 + dt.timedelta(hours=3))
    db.session.commit()
    assert (again.queued, again.already_queued, again.check) == (0, 1, None) and _checks(db) == 1

    assert _verify(app, held) == (0, f"anchor seq {check.seq}: matches\naudit chain intact: {check.seq + 1} "
                                     "events verified; 1 anchors match\n")
    rewrite_history(db, 3)
    code, out = _verify(app)
    assert code == 0, out  # the chain alone cannot tell
    code, out = _verify(app, held)
    assert code == 1 and f"anchor seq {check.seq}: differs (the event now has " in out
    assert f"audit chain REWRITTEN: the event at seq {check.seq} no longer has the hash of the anchor" in out


def test_a_broken_chain_turns_the_anchor_into_a_warning_in_the_auditors_language(app, db, make, smtp):
    _with_history(make, db)
    make.auditor.locale = "en"
    db.session.commit()
    tamper(db, "UPDATE audit_events SET actor = 'x@example.vn' WHERE seq = 2")
    report = anchor.queue_anchor_mails(now=DEC_06)
    db.session.commit()
    assert not report.check.ok and report.check.first_bad_seq == 2
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.key == f"anchor:2023-12-06:{make.auditor.email}" and row.kind == "anchor"
    assert row.subject == "[PAR] WARNING: the audit log was altered at event seq 2"
    assert "altered at event seq 2; the 1 events before it still match" in row.body_text
    assert "https://cchc.example.vn/audit/integrity" in row.body_text
    # the `flask audit anchor` command does the same and fails loudly on a broken chain
    result = app.test_cli_runner().invoke(args=["audit", "anchor", "--now", "2023-12-07T07:30"])
    assert result.exit_code == 1 and "chain BROKEN at seq 2" in result.output


def test_no_auditor_no_anchor_and_no_check_on_the_record(app, db, make):
    _with_history(make, db)
    make.auditor.active = False
    db.session.commit()
    report = anchor.queue_anchor_mails(now=DEC_06)
    assert (report.queued, report.check) == (0, None) and _checks(db) == 0
    assert report.describe() == "audit anchor for 06/12/2023: no auditor to send it to"


def test_the_digest_job_queues_the_anchor(app, db, make):
    _with_history(make, db)
    summary = scheduler.run_job(app, "digest", now=DEC_06, owner="t")
    assert "audit anchor for 06/12/2023: chain intact" in summary and "1 queued" in summary
    keys = set(db.session.scalars(select(OutboxMessage.key)))
    assert f"anchor:2023-12-06:{make.auditor.email}" in keys
