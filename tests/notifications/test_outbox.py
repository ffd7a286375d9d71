"""Enqueueing and rendering: one row per key, the recipient's language, escaping, the .ics."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import OutboxMessage
from notifications import ics, render
from tests.conftest import NOW
from tests.notifications.conftest import queue


def test_enqueue_twice_with_the_same_key_gives_one_row(app, db, make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    officer = make.officers["10001"]
    assert queue(case, officer, key="reminder:case=1:level=0") is True
    assert queue(case, officer, key="reminder:case=1:level=0") is False
    db.session.commit()
    assert queue(case, officer, key="reminder:case=1:level=0") is False
    assert queue(case, officer, key="reminder:case=1:level=1") is True
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == "reminder:case=1:level=0"))
    assert (row.status, row.attempts, row.kind, row.case_id, row.recipient) == (
        "queued", 0, "reminder", case.id, officer.email)
    assert row.next_attempt_at == row.scheduled_for == NOW and row.locale == "vi"


def test_user_text_is_escaped_in_html_but_not_in_text(app, db, make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    case.commune.name = 'Xã <script>alert("x")</script>'
    queue(case, make.officers["10001"], key="esc", explanation="a & b <i>")
    row = db.session.scalar(select(OutboxMessage))
    assert "<script>" not in row.body_html
    assert "&lt;script&gt;" in row.body_html and "a &amp; b &lt;i&gt;" in row.body_html
    assert 'Xã <script>alert("x")</script>' in row.body_text
    assert "\n" not in row.subject


def test_a_commune_name_cannot_inject_mail_headers(app, db, make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    case.commune.name = "Xã A\r\nBcc: attacker@example.com"
    queue(case, make.officers["10001"], key="inject")
    row = db.session.scalar(select(OutboxMessage))
    assert "\r" not in row.subject and "\n" not in row.subject


def test_unknown_kind_is_refused(app, db, make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    with pytest.raises(ValueError):
        queue(case, make.officers["10001"], key="bad", kind="gossip")


@pytest.mark.parametrize("wdl, late, expected_vi, expected_en", [
    (5, 0, "Còn 5 ngày làm việc đến hạn.", "5 working days left."),
    (1, 0, "Còn 1 ngày làm việc đến hạn.", "1 working day left."),
    (0, 0, "Hôm nay là ngày cuối cùng của thời hạn.", "Today is the last day."),
    (-2, 4, "Đã quá hạn 4 ngày (2 ngày làm việc).", "4 days late (2 working days)."),
    (-1, 1, "Đã quá hạn 1 ngày (1 ngày làm việc).", "1 day late (1 working day)."),
])
def test_time_left_or_late_in_both_languages(wdl, late, expected_vi, expected_en):
    facts = {"due": dt.date(2024, 2, 5), "stage": "appraisal", "commune_name": "Xã Tam Xuân I",
             "campaign_key": "k", "case_id": 7, "working_days_left": wdl, "days_late": late,
             "explanation": "", "missing": []}
    for locale, expected in (("vi", expected_vi), ("en", expected_en)):
        out = render.render_case_message(kind="reminder", locale=locale, level=0, facts=facts,
                                         base_url="https://x.vn/", recipient_name="A", deadline_id=3, now=NOW)
        assert expected in out.text
        assert expected.split(" (")[0].rstrip(".") in out.html
        assert "05/02/2024" in out.subject
        assert "https://x.vn/cases/7" in out.text
    assert "Thẩm định" in render.render_case_message(
        kind="overdue", locale="vi", level=0, facts=facts, base_url="", recipient_name="A",
        deadline_id=None, now=NOW).subject


def test_missing_items_are_counted_by_reason():
    missing = [f"{i}.1.1: evidence required" for i in range(14)] + ["3.1: no score", "9.9: something odd"]
    summary = render.summarise_missing(missing, "vi")
    assert summary[0][:2] == (14, "tiêu chí thành phần chưa có tài liệu kiểm chứng")
    assert summary[1][:2] == (1, "tiêu chí thành phần chưa được chấm điểm")
    assert summary[2] == (1, "mục khác cần hoàn thiện", ["9.9: something odd"])
    assert render.summarise_missing(missing, "en")[0][:2] == (14, "sub-criteria have no evidence")



def test_english_counts_agree_with_their_nouns():
    assert render.summarise_missing(["3.1: no score"], "en") == [(1, "sub-criterion has no score", ["3.1"])]
    assert render.summarise_missing(["9.9: odd"], "en")[0][1] == "other item to complete"
    assert render.summarise_missing(["3.1: no score", "3.2: no score"], "en")[0][1] == "sub-criteria have no score"
    assert (render.count(1, "working day", "working days"), render.count(0, "item", "items")) == \
        ("1 working day", "0 items")


def test_a_pending_sign_off_is_told_in_the_readers_language():
    """The council's reminders listed workflow.signoff's English blocker as written in Vietnamese mail."""
    missing = ["awaiting council sign-off of 'approve': 1 of 4 approvals needed (5 members); chair not yet signed"]
    assert render.summarise_missing(missing, "vi") == [(1, "mục khác cần hoàn thiện", [
        "đang chờ Hội đồng ký duyệt (1/4 phiếu đồng ý cần có, 5 thành viên; Chủ tịch chưa ký)"])]
    assert render.summarise_missing(missing, "en")[0][2] == [
        "awaiting the council's sign-off (1 of 4 approvals needed, 5 members; the chair has not signed yet)"]


def test_ics_is_rfc5545_shaped():
    event = ics.DeadlineEvent(uid=ics.deadline_uid(42, 1, "self_assessment"), due=dt.date(2023, 12, 29),
                              summary="Hạn; Tự đánh giá, chấm điểm — " + "Xã Tam Xuân " * 10,
                              description="dòng 1\ndòng 2")
    text = ics.calendar([event], now=NOW)
    lines = text.split("\r\n")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)
    assert "UID:deadline-42@cchc-workflow" in lines
    assert "DTSTART;VALUE=DATE:20231229" in lines and "DTEND;VALUE=DATE:20231230" in lines
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Hạn\\; Tự đánh giá\\, chấm điểm" in unfolded
    assert "DESCRIPTION:dòng 1\\ndòng 2" in unfolded
    # the UID does not depend on the date, so a moved deadline updates the same calendar entry
    moved = ics.calendar([ics.DeadlineEvent(uid=event.uid, due=dt.date(2024, 1, 2), summary="x")], now=NOW)
    assert "UID:deadline-42@cchc-workflow" in moved.split("\r\n")


def test_a_notice_with_a_reason_says_the_case_was_returned_and_why():
    facts = {"due": dt.date(2023, 11, 24), "stage": "self_assessment", "commune_name": "Xã A",
             "campaign_key": "k", "case_id": 9, "working_days_left": 4, "days_late": 0,
             "explanation": "", "missing": [], "reason": "Thiếu tài liệu <1.1.1>"}
    out = render.render_case_message(kind="notice", locale="vi", level=0, facts=facts, base_url="",
                                     recipient_name="A", deadline_id=None, now=NOW)
    assert out.subject.startswith("[CCHC] Hồ sơ được trả lại để giải trình, bổ sung: Xã A")
    assert "Lý do: Thiếu tài liệu <1.1.1>" in out.text
    assert "Thiếu tài liệu &lt;1.1.1&gt;" in out.html
    plain = render.render_case_message(kind="notice", locale="en", level=0, facts={**facts, "reason": None},
                                       base_url="", recipient_name="A", deadline_id=None, now=NOW)
    assert plain.subject.startswith("[PAR] Notice: Xã A") and "Reason" not in plain.text
