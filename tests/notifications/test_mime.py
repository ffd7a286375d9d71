"""notifications.mime writes what the e-mail package reads back: headers, both bodies, the .ics."""

from __future__ import annotations

import email
import email.policy

import pytest

from notifications import mime

SUBJECT = "[CCHC] Nhắc hạn tự đánh giá — Xã Quảng Thành, huyện Quảng Điền, tỉnh Thừa Thiên Huế (còn 2 ngày làm việc)"
TEXT = "Kính gửi Cán bộ xã,\n\n" + "Hồ sơ còn thiếu tài liệu kiểm chứng. " * 20 + "\n.\n..dòng bắt đầu bằng dấu chấm\n"
HTML = "<p>Kính gửi <b>Cán bộ xã</b> &amp; &lt;script&gt;</p>"
ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nSUMMARY:Hạn tự đánh giá\r\nEND:VCALENDAR\r\n"


def _compose(**over):
    args = {"sender": ("Văn phòng CCHC", "cchc@example.vn"), "recipient": "can.bo@example.vn", "subject": SUBJECT,
            "text": TEXT, "html": HTML, "ics": ICS, "message_id": "<abc@example.vn>",
            "extra_headers": {"X-CCHC-Outbox-Key": "reminder:case=1"}}
    return mime.compose(**{**args, **over})


def test_the_message_reads_back_whole_with_crlf_line_ends():
    data = _compose()
    assert b"\n" not in data.replace(b"\r\n", b"")  # no bare LF anywhere (folded headers included)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "can.bo@example.vn"
    assert msg["From"].addresses[0].display_name == "Văn phòng CCHC"
    assert msg["Message-ID"] == "<abc@example.vn>" and msg["X-CCHC-Outbox-Key"] == "reminder:case=1"
    assert msg.get_body(preferencelist=("plain",)).get_content() == TEXT
    assert msg.get_body(preferencelist=("html",)).get_content() == HTML
    [ics] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert ics.get_filename() == "han-chot.ics" and ics.get_param("method") == "PUBLISH"
    assert ics.get_payload(decode=True).decode("utf-8") == ICS


def test_without_html_or_calendar_there_is_only_the_text():
    msg = email.message_from_bytes(_compose(html=None, ics=None), policy=email.policy.default)
    assert [p.get_content_type() for p in msg.walk()] == ["multipart/mixed", "text/plain"]
    assert msg.get_body(preferencelist=("plain",)).get_content() == TEXT


@pytest.mark.parametrize("field", ["subject", "recipient"])
def test_a_line_break_in_a_header_is_refused(field):
    with pytest.raises(ValueError, match="line break"):
        _compose(**{field: "x@example.vn\r\nBcc: all@example.vn"})
