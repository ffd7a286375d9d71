"""notifications.mime.subject_header writes exactly what Flask-Mail's sanitize_subject writes, faster."""

from __future__ import annotations

import random

import pytest
from flask_mail import sanitize_subject

from notifications.mime import subject_header

SUBJECTS = [
    "",
    "[CCHC] Reminder: self-assessment due 10/11/2023",                       # ASCII: unchanged
    "[CCHC] Nhắc hạn tự đánh giá (123)",                                      # B, one word
    "[CCHC] Nhắc hạn tự đánh giá — Xã Quảng Thành, huyện Quảng Điền, tỉnh Thừa Thiên Huế (còn 2 ngày)",
    "[PAR] Overdue: Xã 10001, self-assessment due 10/11/2023 and the appraisal after it, 5 days late",  # Q
    "Hạn chót 😀 中文 \u00a0tab\there",                                         # 2-, 3- and 4-byte characters
    "ending in a line separator Xã\u2028",                                     # split into lines by the package
    "Xã " * 60,                                                                # many folded words
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_the_same_header_as_flask_mail(subject):
    assert subject_header(subject) == sanitize_subject(subject, "utf-8")


def test_the_same_header_for_random_vietnamese_and_ascii_mixes():
    letters = "abc XYZ 019[]():,.-_=?/\"'—…ắằẳẵặăâấđêếềôốơớưứáàảãạéíóúýĐÂĂÊÔƠƯ😀中\t"
    rng = random.Random(7)
    for _ in range(3_000):
        mix = rng.random()
        subject = "".join(rng.choice(letters) if rng.random() < mix else rng.choice("ab cd ")
                          for _ in range(rng.randint(0, 200)))
        assert subject_header(subject) == sanitize_subject(subject, "utf-8"), subject
