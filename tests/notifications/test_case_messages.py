"""render.CaseMessages (the sweep's renderer, shapes reused) gives exactly render_case_message's text."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from notifications.render import CaseMessages, render_case_message

NOW = dt.datetime(2023, 11, 8, 1, 5, tzinfo=dt.UTC)
MISSING = [
    [],
    ["1.1.1: no score", "1.1.2: no score"],
    [f"{i}.1: not appraised" for i in range(40)],  # more than 30 codes: the count only
    ["2.1.1: evidence required", "2.1.1: score 5 outside 0..2", "awaiting council sign-off of 'approve': 1 of 2"],
    ["2.2.1: no survey points"],
]
NAMES = ["Nguyễn Văn A", "<b>O'Brien & \"co\"</b>", "", None]
COMMUNES = ["Xã Thử 1", "Xã A&B <i>\n  Mới</i>", ""]
EXPLANATIONS = ["", "Hạn 10/11/2023 rơi vào Chủ nhật; lùi sang ngày làm việc kế tiếp (Điều 148 BLDS)", "a < b & c"]


def _facts(i: int, commune: str, explanation: str, missing: list[str], **extra) -> dict:
    return {"due": dt.date(2023, 11, 10) + dt.timedelta(days=i % 3), "plan_due": dt.date(2023, 11, 10),
            "explanation": explanation, "working_days_left": (2, 0, -3)[i % 3], "days_late": (0, 0, 4)[i % 3],
            "missing": missing, "stage": ("self_assessment", "appraisal", "council_meeting", "remediation")[i % 4],
            "commune_name": commune, "campaign_key": "tiny-2023" if i % 2 else "a&b", "case_id": 10 + i % 5,
            **extra}


def _calls():
    combos = itertools.product(("reminder", "overdue", "escalation", "notice"), ("vi", "en", "fr", None),
                               NAMES, COMMUNES, EXPLANATIONS, range(len(MISSING)))
    for i, (kind, locale, name, commune, explanation, m) in enumerate(combos):
        if i % 7:  # a spread of the combinations, every value still met many times
            continue
        extra = {"reason": "Thiếu <tài liệu> & chữ ký"} if kind == "notice" and i % 2 else {}
        yield {"kind": kind, "locale": locale, "level": i % 3, "facts": _facts(i, commune, explanation, MISSING[m],
                                                                              **extra),
               "base_url": "http://127.0.0.1:5000/", "recipient_name": name,
               "deadline_id": None if i % 5 == 0 else 100 + i % 4, "now": NOW}


def test_reused_shapes_render_exactly_what_each_message_renders_alone():
    renderer = CaseMessages()
    calls = list(_calls())
    assert len(calls) > 200
    for call in calls + calls:  # the second pass renders from the kept shapes
        assert renderer(**call) == render_case_message(**call)
    assert len(renderer._shapes) < len(calls)  # shapes were shared


def test_odd_facts_render_the_same():
    renderer = CaseMessages()
    base = {"kind": "reminder", "locale": "vi", "level": 2, "base_url": "", "recipient_name": "A", "deadline_id": 1,
            "now": NOW}
    for facts in ({"due": "2023-11-10", "commune_name": "X", "case_id": 3},  # a due day given as text
                  {"due": None, "commune_name": "X", "case_id": None},  # no due: no .ics; no case: no link
                  {"due": dt.date(2023, 11, 10), "working_days_left": None, "missing": None},
                  {"due": dt.date(2023, 11, 10), "commune_name": "\x001\x00", "explanation": "\x000\x00"}):
        assert renderer(**base, facts=facts) == render_case_message(**base, facts=facts)
    with pytest.raises(ValueError):
        renderer(**{**base, "kind": "spam"}, facts={})


def test_the_shape_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(CaseMessages, "MAX_SHAPES", 3)
    renderer = CaseMessages()
    for call in itertools.islice(_calls(), 40):
        assert renderer(**call) == render_case_message(**call)
        assert len(renderer._shapes) <= 3
