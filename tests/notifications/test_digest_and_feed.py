"""The secretariat's daily digest and the private iCal feed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import AuditEvent, CalendarFeedToken, OutboxMessage
from notifications import delivery, digest, feeds
from states import Stage
from workflow.clock import parse_moment

NOV_06 = parse_moment("2023-11-06T07:30")   # 4 working days before the 10/11 due
NOV_14 = parse_moment("2023-11-14T07:30")   # 2 working days after it


def _two_cases_in_self_assessment(make):
    campaign = make.campaign()
    first = make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    second = make.advance(make.case_of(campaign, "10002"), Stage.self_assessment)
    return campaign, first, second


def test_digest_lists_due_soon_cases_once_per_user_and_day(app, db, make, smtp):
    campaign, first, second = _two_cases_in_self_assessment(make)
    db.session.commit()

    report = digest.queue_digests(now=NOV_06)
    db.session.commit()
    assert report.queued == 2 and sorted(report.recipients) == sorted([make.secretariat.email, make.head.email])
    again = digest.queue_digests(now=NOV_06 + dt.timedelta(hours=2))
    assert (again.queued, again.already_queued) == (0, 2)
    keys = set(db.session.scalars(select(OutboxMessage.key)))
    assert keys == {f"digest:2023-11-06:{make.secretariat.email}", f"digest:2023-11-06:{make.head.email}"}

    assert delivery.deliver(now=NOV_06).sent == 2
    msg = next(m for m in smtp.messages if m["To"] == make.head.email)
    assert msg["Subject"] == "[CCHC] Tổng hợp ngày 06/11/2023: 0 hồ sơ quá hạn, 2 hồ sơ sắp đến hạn"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Xã 10001 – Tự đánh giá, chấm điểm – hạn 10/11/2023, còn 4 ngày làm việc" in text
    assert f"https://cchc.example.vn/cases/{second.id}" in text
    # the tiny criteria tree has 3 self-assessed sub-criteria, none scored yet
    assert "còn thiếu 3 mục" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert f'href="https://cchc.example.vn/cases/{first.id}"' in html


def test_digest_separates_overdue_and_skips_finished_cases(app, db, make):
    campaign, first, second = _two_cases_in_self_assessment(make)
    make.advance(second, Stage.appraisal, now=NOV_06)  # submitted: its self-assessment deadline is done
    db.session.commit()
    digest.queue_digests(now=NOV_14)
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == make.head.email))
    assert "1 hồ sơ quá hạn" in row.subject
    assert "quá hạn 2 ngày làm việc" in row.body_text and "Xã 10001" in row.body_text
    overdue_part = row.body_text.split("SẮP ĐẾN HẠN")[0]
    assert "Xã 10002" not in overdue_part


def test_on_the_due_day_the_digest_says_it_is_the_last_day(app, db, make):
    """As the reminder sent that day does, not "còn 0 ngày làm việc"."""
    _two_cases_in_self_assessment(make)
    make.head.locale = "en"
    db.session.commit()
    digest.queue_digests(now=parse_moment("2023-11-10T07:30"))
    rows = {r.recipient: r for r in db.session.scalars(select(OutboxMessage))}
    assert "hạn 10/11/2023, hôm nay là ngày cuối cùng" in rows[make.secretariat.email].body_text
    assert "còn 0 ngày" not in rows[make.secretariat.email].body_text
    assert "due 10/11/2023, today is the last day" in rows[make.head.email].body_text


def test_no_digest_when_nothing_is_overdue_or_due_soon(app, db, make):
    make.campaign()
    db.session.commit()
    report = digest.queue_digests(now=NOV_06)
    assert report.queued == 0 and report.nothing_to_say == 2


def test_english_digest(app, db, make):
    _two_cases_in_self_assessment(make)
    make.head.locale = "en"
    db.session.commit()
    digest.queue_digests(now=NOV_14)
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == make.head.email))
    assert row.subject == "[PAR] Digest for 14/11/2023: 2 overdue, 0 due soon"
    assert "2 working days late" in row.body_text


def test_ical_feed_gives_the_users_deadlines_and_dies_when_revoked(app, db, make):
    campaign, first, second = _two_cases_in_self_assessment(make)
    officer = make.officers["10001"]
    token = feeds.issue_token(officer, actor=make.head, now=NOV_06)
    db.session.commit()
    stored = db.session.scalar(select(CalendarFeedToken))
    assert stored.token_sha256 != token and len(stored.token_sha256) == 64 and token not in stored.token_sha256

    client = app.test_client()
    response = client.get(f"/ical/{token}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    body = response.get_data(as_text=True)
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 1  # only the officer's own commune
    assert "DTSTART;VALUE=DATE:20231110" in body
    assert "Xã 10001" in body.replace("\r\n ", "") and "Xã 10002" not in body.replace("\r\n ", "")
    assert "hạn 10/11/2023: theo kế hoạch" in body.replace("\r\n ", "")  # the officer reads Vietnamese

    head_token = feeds.issue_token(make.head, actor=make.head, now=NOV_06)
    db.session.commit()
    assert client.get(f"/ical/{head_token}.ics").get_data(as_text=True).count("BEGIN:VEVENT") == 2

    assert feeds.revoke_tokens(officer, actor=make.head, now=NOV_06) == 1
    db.session.commit()
    assert client.get(f"/ical/{token}.ics").status_code == 404
    assert client.get("/ical/not-a-token.ics").status_code == 404
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "feed.token_revoked")) is not None


def test_a_new_token_replaces_the_old_one(app, db, make):
    make.campaign()
    officer = make.officers["10001"]
    old = feeds.issue_token(officer, actor=None, now=NOV_06)
    new = feeds.issue_token(officer, actor=None, now=NOV_06)
    db.session.commit()
    client = app.test_client()
    assert client.get(f"/ical/{old}.ics").status_code == 404
    assert client.get(f"/ical/{new}.ics").status_code == 200


def test_a_disabled_user_has_no_feed(app, db, make):
    make.campaign()
    officer = make.officers["10001"]
    token = feeds.issue_token(officer, actor=None, now=NOV_06)
    officer.active = False
    db.session.commit()
    assert app.test_client().get(f"/ical/{token}.ics").status_code == 404
