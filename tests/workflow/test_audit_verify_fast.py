"""audit.verify recomputes event_hash from the raw columns: the same bytes for every kind of content."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import text

from tests.factories import NOW
from tests.workflow.test_audit import tamper
from workflow import audit, txn

ODD = [
    {"explanation": "Đã thực hiện \"đầy đủ\"\n\ttab \\ gạch chéo \u2028 ☃ 𝄞", "score": Decimal("7.25"),
     "due": dt.date(2023, 11, 10), "at": NOW, "z": 1, "a": [1, 2.5, None, True, {"b": {"a": "x"}}]},
    {"": "empty key", "10": 10, "9": 9, "key with space": False},
    {"big": 10 ** 20, "neg": -3, "float": 0.1},
]


def test_verify_agrees_with_event_hash_on_odd_content(make, db):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    moment = NOW.replace(microsecond=123456)
    for i, payload in enumerate(ODD):
        audit.record("odd.content", actor=make.secretariat if i % 2 else None, now=moment + dt.timedelta(seconds=i),
                     case=case if i != 1 else None, subject=None if i == 2 else f"Tiêu chí {i}",
                     before=payload if i else None, after=payload)
    txn.commit()
    result = audit.verify(batch=2)  # chunks smaller than the chain
    assert result.ok, result.describe()


def test_a_stored_json_rewritten_without_changing_its_value_still_verifies_and_a_changed_one_does_not(make, db):
    campaign = make.campaign()
    audit.record("odd.content", actor=None, now=NOW, campaign_id=campaign.id, after={"b": 1, "a": "xã"})
    txn.commit()
    seq = db.session.scalar(text("SELECT max(seq) FROM audit_events"))
    # the same value, keys reordered and spaced differently: what the hash covers is the value
    tamper(db, f"UPDATE audit_events SET after = '{{\"a\":  \"xã\", \"b\": 1}}' WHERE seq = {seq}")
    assert audit.verify().ok
    tamper(db, f"UPDATE audit_events SET after = '{{\"a\": \"xa\", \"b\": 1}}' WHERE seq = {seq}")
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == seq and "edited" in result.problem
