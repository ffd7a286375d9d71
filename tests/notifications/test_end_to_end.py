"""From the sweep to the commune officer's mailbox: the reminder is queued once, sent once, and proven."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AuditEvent, OutboxMessage
from notifications import delivery
from states import Stage
from workflow import audit

sweep = pytest.importorskip("workflow.sweep")

# 03/11/2023 08:05 in Hà Nội: five working days before the 10/11 self-assessment due day
FIRST_REMINDER = dt.datetime(2023, 11, 3, 1, 5, tzinfo=dt.UTC)


def test_sweep_then_delivery_warns_the_commune_once(app, db, make, smtp):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    officer = make.officers["10001"]

    report = sweep.sweep(now=FIRST_REMINDER)
    db.session.commit()
    assert report.enqueued >= 1
    assert delivery.deliver(now=FIRST_REMINDER).sent == report.enqueued

    mine = [m for m in smtp.messages if m["To"] == officer.email]
    assert len(mine) == 1
    msg = mine[0]
    assert "Xã 10001" in msg["Subject"] and "Tự đánh giá, chấm điểm" in msg["Subject"]
    assert "10/11/2023" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Còn 5 ngày làm việc đến hạn." in text
    assert "3 tiêu chí thành phần chưa được chấm điểm" in text
    assert "Cách tính hạn: hạn 10/11/2023: theo kế hoạch" in text  # Vietnamese, not the row's English
    assert f"/cases/{case.id}" in text
    ics = next(p for p in msg.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)
    assert b"DTSTART;VALUE=DATE:20231110" in ics

    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "notification.sent", AuditEvent.case_id == case.id))
    assert event.after["recipients"] == [officer.email] and event.after["kind"] == "reminder"

    # a second sweep and delivery a minute later add nothing
    later = FIRST_REMINDER + dt.timedelta(minutes=1)
    assert sweep.sweep(now=later).enqueued == 0
    db.session.commit()
    assert delivery.deliver(now=later).claimed == 0
    assert len([m for m in smtp.messages if m["To"] == officer.email]) == 1
    assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.recipient == officer.email)) == "sent"
    assert audit.verify().ok
