"""Delivery through a real SMTP server: content, failures, back-off, exactly-once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from models import AuditEvent, OutboxMessage
from notifications import delivery
from states import Stage
from tests.conftest import NOW
from tests.notifications.conftest import queue
from workflow import audit

MISSING = [f"{c}: evidence required" for c in ("1.1.1", "2.1.1")] + ["1.1.2: no score"]


def _rows(db):
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _ics_of(message):
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_payload(decode=True).decode("utf-8")
    return None


def test_a_reminder_arrives_with_subject_text_html_and_ics(app, db, make, smtp):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    officer = make.officers["10001"]
    assert queue(case, officer, key="r1", missing=MISSING, working_days_left=2)
    db.session.commit()

    report = delivery.deliver(now=NOW)

    assert (report.claimed, report.sent, report.retrying, report.failed) == (1, 1, 0, 0)
    [msg] = smtp.messages
    assert msg["To"] == officer.email
    subject = msg["Subject"]
    assert "Xã 10001" in subject and "Tự đánh giá, chấm điểm" in subject and "10/11/2023" in subject
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Còn 2 ngày làm việc đến hạn" in text
    assert "2 tiêu chí thành phần chưa có tài liệu kiểm chứng" in text
    assert "1 tiêu chí thành phần chưa được chấm điểm" in text
    assert f"https://cchc.example.vn/cases/{case.id}" in text
    assert f'href="https://cchc.example.vn/cases/{case.id}"' in html
    assert "Hạn theo Kế hoạch: 10/11/2023" in html
    ics = _ics_of(msg)
    assert ics is not None and "\r\nDTSTART;VALUE=DATE:20231110\r\n" in ics
    assert "\r\nDTEND;VALUE=DATE:20231111\r\n" in ics
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")

    [row] = _rows(db)
    assert row.status == "sent" and row.sent_at == NOW and row.attempts == 1
    assert row.smtp_response.startswith("250") and "queued as TEST" in row.smtp_response
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification.sent"))
    assert event.case_id == case.id
    assert event.after["recipients"] == [officer.email]
    assert event.after["kind"] == "reminder" and "queued as TEST" in event.after["smtp"]
    assert audit.verify().ok


def test_an_english_speaking_recipient_gets_english(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    officer = make.officers["10001"]
    officer.locale = "en"
    queue(case, officer, key="r-en", kind="overdue", working_days_left=-3, days_late=5, missing=MISSING)
    db.session.commit()
    delivery.deliver(now=NOW)
    [msg] = smtp.messages
    assert msg["Subject"].startswith("[PAR] Overdue: Xã 10001")
    assert "due 10/11/2023" in msg["Subject"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "5 days late (3 working days)" in text
    assert "2 sub-criteria have no evidence" in text


def test_messages_scheduled_later_wait(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    later = NOW + dt.timedelta(hours=3)
    queue(case, make.officers["10001"], key="later", scheduled_for=later)
    db.session.commit()
    assert delivery.deliver(now=NOW).claimed == 0
    assert smtp.messages == []
    assert delivery.deliver(now=later).sent == 1
    assert len(smtp.messages) == 1


def test_one_batch_uses_one_smtp_session(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    for i in range(5):
        queue(case, make.officers["10001"], key=f"batch-{i}")
    db.session.commit()
    report = delivery.deliver(now=NOW)
    assert report.sent == 5
    peers = {env.mail_from for env in smtp.handler.envelopes}
    assert len(smtp.messages) == 5 and len(peers) == 1
    assert delivery.deliver(now=NOW + dt.timedelta(hours=1)).claimed == 0


def test_smtp_down_then_up_delivers_each_message_exactly_once(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    for i in range(3):
        queue(case, make.officers["10001"], key=f"down-{i}")
    db.session.commit()
    smtp.stop()

    report = delivery.deliver(now=NOW)
    assert (report.claimed, report.sent, report.retrying) == (3, 0, 3)
    rows = _rows(db)
    assert all(r.status == "queued" and r.attempts == 1 and r.last_error.startswith("connect:") for r in rows)
    assert all(r.next_attempt_at == NOW + dt.timedelta(minutes=1) for r in rows)

    # still in back-off: nothing is claimed before the minute is over
    assert delivery.deliver(now=NOW + dt.timedelta(seconds=30)).claimed == 0

    smtp.start()
    report = delivery.deliver(now=NOW + dt.timedelta(minutes=1))
    assert report.sent == 3
    again = delivery.deliver(now=NOW + dt.timedelta(hours=2))
    assert again.claimed == 0
    keys = sorted(m["X-CCHC-Outbox-Key"] for m in smtp.messages)
    assert keys == ["down-0", "down-1", "down-2"]
    db.session.expire_all()
    assert all(r.status == "sent" and r.attempts == 2 for r in _rows(db))


def test_a_451_answer_backs_off_exponentially_then_fails_for_good(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    queue(case, make.officers["10001"], key="busy")
    db.session.commit()
    smtp.handler.fail_with = "451 4.3.0 Try again later"

    moment = NOW
    waits = []
    for attempt in range(1, delivery.MAX_ATTEMPTS):
        report = delivery.deliver(now=moment)
        assert (report.claimed, report.retrying) == (1, 1)
        [row] = _rows(db)
        assert row.attempts == attempt and row.status == "queued"
        assert row.last_error.startswith("451")
        waits.append(row.next_attempt_at - moment)
        moment = row.next_attempt_at
    assert waits == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]

    report = delivery.deliver(now=moment)
    assert report.failed == 1
    [row] = _rows(db)
    assert row.status == "failed" and row.attempts == delivery.MAX_ATTEMPTS
    assert "451" in row.last_error
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification.failed"))
    assert event is not None and "451" in event.after["error"]
    assert smtp.handler.refused == delivery.MAX_ATTEMPTS and smtp.messages == []
    # a failed message is not retried any more
    assert delivery.deliver(now=moment + dt.timedelta(days=1)).claimed == 0


def test_a_permanent_refusal_fails_at_once(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    queue(case, make.officers["10001"], key="nobody")
    db.session.commit()
    smtp.handler.fail_with = "550 5.1.1 Mailbox unavailable"
    report = delivery.deliver(now=NOW)
    assert report.failed == 1
    [row] = _rows(db)
    assert row.status == "failed" and row.attempts == 1


def test_an_unknown_mailbox_fails_at_once(app, db, make, smtp):
    campaign = make.campaign()
    queue(make.case_of(campaign, "10001"), make.officers["10001"], key="gone")
    db.session.commit()
    smtp.handler.refuse_recipient = "550 5.1.1 No such user"
    assert delivery.deliver(now=NOW).failed == 1
    [row] = _rows(db)
    assert row.status == "failed" and "No such user" in row.last_error


def test_a_refused_sender_is_our_configuration_and_is_retried(app, db, make, smtp):
    campaign = make.campaign()
    queue(make.case_of(campaign, "10001"), make.officers["10001"], key="sender")
    db.session.commit()
    smtp.handler.refuse_sender = "553 5.7.1 Sender address rejected"
    report = delivery.deliver(now=NOW)
    assert (report.retrying, report.failed) == (1, 0)
    smtp.handler.refuse_sender = None  # the operator fixes MAIL_DEFAULT_SENDER
    assert delivery.deliver(now=NOW + dt.timedelta(minutes=1)).sent == 1


def test_a_crashed_sender_releases_its_claim_after_the_lease(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    queue(case, make.officers["10001"], key="orphan")
    db.session.commit()
    # a process claimed the message and died before sending
    assert len(delivery.claim(now=NOW, batch=10)) == 1
    assert delivery.deliver(now=NOW + dt.timedelta(minutes=5)).claimed == 0
    report = delivery.deliver(now=NOW + dt.timedelta(hours=1))
    assert report.sent == 1 and len(smtp.messages) == 1


def test_sent_events_count_matches_rows(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10002")
    for i in range(4):
        queue(case, make.chairs["10002"], key=f"esc-{i}", kind="escalation", level=1, working_days_left=-2)
    db.session.commit()
    delivery.deliver(now=NOW, batch=3)
    delivery.deliver(now=NOW, batch=3)
    sent_events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "notification.sent"))
    assert sent_events == 4 == len(smtp.messages)
    assert all("Báo cáo chậm trễ (mức 1)" in m["Subject"] for m in smtp.messages)


def test_a_silent_smtp_server_times_out_instead_of_hanging(app, db, make):
    import socket
    import time

    campaign = make.campaign()
    queue(make.case_of(campaign, "10001"), make.officers["10001"], key="silent")
    db.session.commit()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the TCP connection but never greets
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=silent.getsockname()[1], MAIL_SUPPRESS_SEND=False,
                          MAIL_TIMEOUT=0.5)
        started = time.monotonic()
        report = delivery.deliver(now=NOW)
        elapsed = time.monotonic() - started
    assert report.retrying == 1 and elapsed < 5
    [row] = _rows(db)
    assert row.status == "queued" and "timed out" in row.last_error.lower()
