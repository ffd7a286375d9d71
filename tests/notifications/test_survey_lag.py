"""Survey lag notices: once per lagging commune, recipient and day, delivered through the real SMTP server."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import OutboxMessage
from notifications import delivery, scheduler, survey_lag
from states import Stage
from tests.workflow.test_survey import GOOD_ROWS, SURVEY_BLOCK, SURVEY_TREE, csv_bytes
from workflow import survey
from workflow.clock import parse_moment

NOV_17 = parse_moment("2023-11-17T07:30")  # the Friday before the due date (Monday 20/11)
NOV_22 = parse_moment("2023-11-22T07:30")  # two working days after it


def test_lagging_commune_is_reported_once_a_day_to_the_secretariat(app, db, make, smtp):
    cs = make.criteria_set(key="lag-criteria", tree=SURVEY_TREE)
    campaign = make.campaign(key="lag-2023", criteria_set=cs)
    campaign.survey = SURVEY_BLOCK
    make.head.locale = "en"
    survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=NOV_17)  # 10001 complete
    survey.record_issue(campaign, "10002", "leaders", 3, actor=make.secretariat, now=NOV_17)
    survey.record_form(campaign, "10002", "leaders", "1", {"3.1.1": "A"}, actor=make.secretariat, now=NOV_17)
    db.session.commit()

    before_due = survey_lag.queue_lag_notices(now=NOV_17)
    assert (before_due.lagging, before_due.queued) == ([], 0)

    report = survey_lag.queue_lag_notices(now=NOV_22)
    db.session.commit()
    assert report.lagging == ["lag-2023/10002"] and report.queued == 2
    again = survey_lag.queue_lag_notices(now=NOV_22 + dt.timedelta(hours=3))
    assert (again.queued, again.already_queued) == (0, 2)
    keys = set(db.session.scalars(select(OutboxMessage.key)))
    assert keys == {survey_lag.lag_key(campaign.id, "10002", dt.date(2023, 11, 22), u.email)
                    for u in (make.secretariat, make.head)}
    # the daily job queues them too (and, the same day, nothing twice), beside the auditor's audit anchor
    summary = scheduler.run_digest(now=NOV_22, owner="test")
    assert "survey lag: 1 lagging commune(s), 0 notice(s) queued, 2 already queued" in summary
    assert "audit anchor for 22/11/2023: chain intact" in summary

    assert delivery.deliver(now=NOV_22).sent == 3
    vi = next(m for m in smtp.messages if m["To"] == make.secretariat.email)
    assert vi["Subject"] == "[CCHC] Điều tra xã hội học chậm tiến độ: Xã 10002 (1/5 phiếu)"
    text = vi.get_body(preferencelist=("plain",)).get_content()
    assert "Hạn thu phiếu: 20/11/2023, đã quá hạn 2 ngày làm việc" in text
    assert "- Lãnh đạo các cơ quan chuyên môn: đã thu 1/3 phiếu (đã phát 3)" in text
    assert "- Đại biểu HĐND xã: đã thu 0/2 phiếu (đã phát 0)" in text
    assert "https://cchc.example.vn/survey/lag-2023" in text
    html = vi.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://cchc.example.vn/survey/lag-2023"' in html
    en = next(m for m in smtp.messages if m["To"] == make.head.email)
    assert en["Subject"] == "[PAR] Survey behind schedule: Xã 10002 (1/5 forms)"

    # once the commune's case has moved past the survey, it is no longer chased
    make.case_of(campaign, "10002").stage = Stage.council_meeting.value
    db.session.commit()
    assert survey_lag.queue_lag_notices(now=NOV_22 + dt.timedelta(days=1)).lagging == []
