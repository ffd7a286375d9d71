"""A case returned for revision: the commune's officers are told at once, in their language, once per return."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import AuditEvent, OutboxMessage
from notifications import delivery
from states import Role, Stage
from workflow import audit, cases
from workflow.errors import TransitionRefused

RETURNED_AT = dt.datetime(2023, 11, 2, 3, 0, tzinfo=dt.UTC)  # 02/11/2023 10:00 in Hà Nội
REASON = "Thiếu tài liệu kiểm chứng tiêu chí 1.1.1"


def _return(make, case, *, now=RETURNED_AT, reason=REASON, due=dt.date(2023, 11, 20)):
    result = cases.fire(case, "return_for_revision", make.secretariat, now=now, reason=reason, revision_due=due)
    assert result.fired
    make.db.session.commit()


def _notices(db):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice")
                              .order_by(OutboxMessage.id)).all()


def test_officers_get_the_reason_and_the_revision_deadline_by_email(app, db, make, smtp):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    officer = make.officers["10001"]
    english = make.user("officer10001-en@tiny-2023.example.vn", Role.commune_officer, commune=case.commune)
    english.locale = "en"
    db.session.commit()

    _return(make, case)
    # queued in the transition's own transaction, before any delivery
    assert sorted(m.recipient for m in _notices(db)) == sorted([officer.email, english.email])
    report = delivery.deliver(now=RETURNED_AT)
    assert report.sent == 2

    by_to = {m["To"]: m for m in smtp.messages}
    assert set(by_to) == {officer.email, english.email}  # nobody of commune 10002, no council, no staff
    vi = by_to[officer.email]
    assert vi["Subject"].startswith("[CCHC] Hồ sơ được trả lại để giải trình, bổ sung: Xã 10001")
    assert "20/11/2023" in vi["Subject"]
    text = vi.get_body(preferencelist=("plain",)).get_content()
    html = vi.get_body(preferencelist=("html",)).get_content()
    assert f"Lý do: {REASON}" in text and REASON in html
    assert "Hạn chót: 20/11/2023" in text and "20/11/2023" in html
    assert "Còn 12 ngày làm việc đến hạn." in text  # Thu 2/11 -> Mon 20/11
    # how the deadline was reached, in Vietnamese too (the deadline row keeps the English sentence)
    assert "Cách tính hạn: hạn 20/11/2023: hạn bổ sung đặt khi trả hồ sơ" in text
    assert f"/cases/{case.id}" in text
    ics = next(p for p in vi.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    assert b"DTSTART;VALUE=DATE:20231120" in ics

    en = by_to[english.email]
    assert en["Subject"].startswith("[PAR] Case returned for revision: Xã 10001") and "20/11/2023" in en["Subject"]
    en_text = en.get_body(preferencelist=("plain",)).get_content()
    assert f"Reason: {REASON}" in en_text and "Deadline: 20/11/2023" in en_text
    assert "due 20/11/2023: the revision deadline set on return" in en_text

    sent = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.sent")
                              .order_by(AuditEvent.seq)).all()
    assert sorted(e.after["recipients"][0] for e in sent) == sorted([officer.email, english.email])
    assert all(e.case_id == case.id and e.after["kind"] == "notice" for e in sent)
    assert audit.verify().ok


def test_a_second_return_sends_a_second_notice_and_nothing_twice(app, db, make, smtp):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    officer = make.officers["10001"]
    _return(make, case)
    assert delivery.deliver(now=RETURNED_AT).sent == 1

    # resubmitted, then returned again with another reason and deadline
    later = RETURNED_AT + dt.timedelta(days=6)
    cases.fire(case, "submit", officer, now=later)
    db.session.commit()
    _return(make, case, now=later + dt.timedelta(hours=1), reason="Điểm tiêu chí 2.1.1 chưa có giải trình",
            due=dt.date(2023, 11, 25))  # Saturday: art. 148 moves it to Monday 27/11
    assert delivery.deliver(now=later + dt.timedelta(hours=1)).sent == 1
    # a later delivery (and a re-run sweep) adds nothing
    assert delivery.deliver(now=later + dt.timedelta(days=1)).claimed == 0

    mine = [m for m in smtp.messages if m["To"] == officer.email]
    assert len(mine) == 2
    second = mine[1]
    assert "27/11/2023" in second["Subject"]
    assert "Điểm tiêu chí 2.1.1 chưa có giải trình" in second.get_body(preferencelist=("plain",)).get_content()
    keys = [m.key for m in _notices(db)]
    assert len(keys) == len(set(keys)) == 2
    assert all(m.status == "sent" for m in _notices(db))
    assert [m.level for m in _notices(db)] == [1, 2]  # the revision round


def test_nothing_for_another_commune(app, db, make, smtp):
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    other = make.advance(make.case_of(campaign, "10002"), Stage.appraisal)
    _return(make, other)
    delivery.deliver(now=RETURNED_AT)
    assert [m["To"] for m in smtp.messages] == [make.officers["10002"].email]
    assert "Xã 10002" in smtp.messages[0]["Subject"]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.recipient == make.officers["10001"].email)) == 0


def test_a_refused_return_queues_nothing(app, db, make):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    with pytest.raises(TransitionRefused):
        cases.fire(case, "return_for_revision", make.secretariat, now=RETURNED_AT, reason="",
                   revision_due=dt.date(2023, 11, 20))
    db.session.rollback()
    assert _notices(db) == []
