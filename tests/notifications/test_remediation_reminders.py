"""Remediation items' due dates are chased by the same sweep and outbox, to the commune's officer, over SMTP."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import OutboxMessage
from notifications import delivery
from states import Stage
from workflow import audit, remediation, sweep
from workflow.remediation import ItemRow

NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)
# 22/03/2024 08:05 in Hà Nội: five working days before the items' due day, Friday 29/03/2024
FIRST_REMINDER = dt.datetime(2024, 3, 22, 1, 5, tzinfo=dt.UTC)
# 27/03/2024 08:05: two working days before
SECOND_REMINDER = dt.datetime(2024, 3, 27, 1, 5, tzinfo=dt.UTC)


def test_due_items_remind_the_commune_officer_until_done(app, db, make, smtp):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.publication)
    officer = make.officers["10001"]
    plan = remediation.plan_of(case)
    remediation.save_items(plan, [ItemRow(i.id, "Công chức Văn phòng - Thống kê", f"Khắc phục mục {i.code}",
                                          "2024-03-29") for i in plan.items], officer, now=NOW)
    remediation.submit(plan, officer, now=NOW)
    db.session.commit()

    # nothing is due before the first reminder's moment
    assert [k for k in sweep.sweep(now=FIRST_REMINDER - dt.timedelta(hours=1)).keys if "to=" + officer.email in k] == []
    report = sweep.sweep(now=FIRST_REMINDER)
    db.session.commit()
    mine = [k for k in report.keys if k.endswith("to=" + officer.email)]
    assert len(mine) == 4  # one reminder per item
    delivery.deliver(now=FIRST_REMINDER)
    received = [m for m in smtp.messages if m["To"] == officer.email]
    assert len(received) == 4
    msg = received[0]
    assert "Kế hoạch khắc phục" in msg["Subject"] and "29/03/2024" in msg["Subject"] and "Xã 10001" in msg["Subject"]
    texts = [m.get_body(preferencelist=("plain",)).get_content() for m in received]
    assert all("Còn 5 ngày làm việc đến hạn." in t for t in texts)
    assert sorted(next(c for c in ("1.1.1", "1.1.2", "2.1.1", "2.2.1") if f"mục {c}" in t) for t in texts) == \
        ["1.1.1", "1.1.2", "2.1.1", "2.2.1"]
    assert all(f"/cases/{case.id}" in t for t in texts)
    assert not [m for m in smtp.messages if m["To"] == make.officers["10002"].email]

    # an item marked done is not chased any more; the others get their next reminder, once
    remediation.mark_done(plan, plan.items[0].id, make.secretariat, now=FIRST_REMINDER)
    db.session.commit()
    report = sweep.sweep(now=SECOND_REMINDER)
    db.session.commit()
    assert len([k for k in report.keys if k.endswith("to=" + officer.email)]) == 3
    assert sweep.sweep(now=SECOND_REMINDER + dt.timedelta(minutes=1)).enqueued == 0
    db.session.commit()
    delivery.deliver(now=SECOND_REMINDER)
    later = [m for m in smtp.messages if m["To"] == officer.email][4:]
    assert len(later) == 3 and not any("mục 1.1.1" in m.get_body(preferencelist=("plain",)).get_content()
                                       for m in later)
    assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.recipient == officer.email)
                             .limit(1)) == "sent"
    assert audit.verify().ok
