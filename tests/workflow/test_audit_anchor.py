"""Anchors held outside the database catch what the keyless chain cannot: a history rewritten whole, or cut
back, by someone with write access to the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import AuditEvent
from tests.factories import NOW
from tests.workflow.test_audit import busy_case, tamper
from workflow import audit, audit_anchor, history
from workflow.audit_anchor import Anchor
from workflow.errors import InvalidInput

H64 = "ab" * 32


def rewrite_history(db, seq: int, actor: str = "someone-else@example.vn") -> None:
    """The attack a keyless chain cannot see: edit the event at ``seq``, then recompute every later event's
    prev_hash and hash and the head, so that the whole chain verifies again."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.seq >= seq - 1).order_by(AuditEvent.seq)).all()
    prev = events[0].hash if events[0].seq == seq - 1 else audit.GENESIS
    statements = []
    for e in (e for e in events if e.seq >= seq):
        label = actor if e.seq == seq else e.actor
        digest = audit.event_hash(e.seq, e.occurred_at, label, e.actor_id, e.action, e.campaign_id, e.case_id,
                                  e.subject, e.before, e.after, prev)
        statements.append(f"UPDATE audit_events SET actor = '{label}', prev_hash = '{prev}', hash = '{digest}' "
                          f"WHERE id = {e.id}")
        prev = digest
    statements.append(f"UPDATE audit_head SET last_hash = '{prev}' WHERE id = 1")
    tamper(db, *statements)


def cut_back(db, keep: int) -> None:
    """Delete every event after seq ``keep`` and move the head back to it: the shorter chain verifies."""
    last = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == keep))
    tamper(db, f"DELETE FROM audit_events WHERE seq > {keep}",
           f"UPDATE audit_head SET seq = {keep}, last_hash = '{last}' WHERE id = 1")


def _hash_at(db, seq: int) -> str:
    return db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))


@pytest.mark.parametrize("text, seq", [
    (f"12:{H64}", 12), (f"12:{H64.upper()}", 12), (f"  seq 12 sha256 {H64}  ", 12), (f"12 {H64}", 12),
    (f"12 : {H64}", 12), (f"12:\xa0{H64}", 12), (f"SEQ 12 SHA256: {H64}", 12),
])
def test_an_anchor_is_read_as_the_email_writes_it_and_as_people_copy_it(text, seq):
    assert audit_anchor.parse(text) == Anchor(seq, H64)
    assert audit_anchor.parse(text).text == f"{seq}:{H64}"


@pytest.mark.parametrize("text", ["", "12", f"12:{H64[:-1]}", f"12:{H64}0", f"x:{H64}", f"12:{H64[:-1]}g",
                                  f"-3:{H64}", f"\u0661\u0662:{H64}"])
def test_a_malformed_anchor_is_refused_saying_how_to_write_it(text):
    with pytest.raises(InvalidInput, match="is not an anchor: write it as SEQ:HASH") as refused:
        audit_anchor.parse(text)
    assert refused.value.errors == {"anchors": ["write each anchor as SEQ:HASH"]}


def test_lines_of_anchors_name_the_bad_line_and_are_bounded():
    assert audit_anchor.parse_lines(f"\n1:{H64}\n\n 2:{H64} \n1:{H64}\n") == [Anchor(1, H64), Anchor(2, H64)]
    with pytest.raises(InvalidInput, match=r"^line 3: 'Kính gửi' is not an anchor"):
        audit_anchor.parse_lines(f"1:{H64}\n\nKính gửi\n")
    with pytest.raises(InvalidInput, match=r"^anchor 2: an anchor's seq starts at 1"):
        audit_anchor.parse_many([f"1:{H64}", f"0:{H64}"])
    with pytest.raises(InvalidInput, match=r"at most 100 anchors at a time \(101 given\)"):
        audit_anchor.parse_many([f"{n}:{H64}" for n in range(1, 102)])
    # a whole mailbox pasted is refused by its count of lines, before any is read
    with pytest.raises(InvalidInput, match=r"at most 100 anchors at a time \(200000 given\)"):
        audit_anchor.parse_lines("x\n" * 200_000)


def test_an_intact_chain_matches_its_anchors_and_the_check_records_them(make, db):
    busy_case(make, db)
    db.session.commit()
    head = audit_anchor.current()
    early = Anchor(3, _hash_at(db, 3))
    check = history.check_integrity(make.auditor, now=NOW, anchors=[early, head])
    db.session.commit()
    assert check.ok and [a.status for a in check.anchors] == ["matches", "matches"]
    assert check.anchor == Anchor(check.seq, _hash_at(db, check.seq))  # the check's own event, to keep
    recorded = history.last_integrity_check()
    assert recorded.anchors == check.anchors and recorded.ok
    assert db.session.scalar(select(AuditEvent.after).where(AuditEvent.seq == check.seq))["anchors"][1] == {
        "seq": head.seq, "hash": head.hash, "status": "matches", "found": head.hash}


def test_a_rewritten_history_verifies_as_a_chain_but_not_against_the_anchor_held(make, db):
    busy_case(make, db)
    db.session.commit()
    held = audit_anchor.current()  # e.g. yesterday's e-mail
    early = Anchor(3, _hash_at(db, 3))
    rewrite_history(db, 5)
    assert audit.verify().ok  # the limit of a keyless chain: the rewrite is consistent
    assert audit_anchor.current() != held
    statuses = audit_anchor.check([early, held])
    assert [s.status for s in statuses] == ["matches", "differs"]
    assert statuses[1].found == _hash_at(db, held.seq) != held.hash

    check = history.check_integrity(make.auditor, now=NOW, anchors=[early, held])
    db.session.commit()
    assert not check.ok and check.first_bad_seq == held.seq and check.first_bad_id is None
    assert check.problem == (f"the event at seq {held.seq} no longer has the hash of the anchor held outside the "
                             "database: the history up to it was rewritten")
    assert history.last_integrity_check().ok is False
    # the same check without the anchor: the chain alone says intact
    assert history.check_integrity(make.auditor, now=NOW).ok


def test_a_history_cut_back_leaves_the_anchor_missing(make, db):
    busy_case(make, db)
    db.session.commit()
    held = audit_anchor.current()
    cut_back(db, held.seq - 4)
    assert audit.verify().ok
    (status,) = audit_anchor.check([held])
    assert (status.status, status.found) == ("missing", None)
    check = history.check_integrity(make.auditor, now=NOW, anchors=[held])
    assert not check.ok and check.first_bad_seq == held.seq and "the history was cut back" in check.problem


def test_a_broken_chain_is_reported_where_it_breaks_even_with_a_later_anchor(make, db):
    busy_case(make, db)
    db.session.commit()
    held = audit_anchor.current()
    tamper(db, "UPDATE audit_events SET actor = 'x@example.vn' WHERE seq = 4")
    check = history.check_integrity(make.auditor, now=NOW, anchors=[held])
    assert not check.ok and check.first_bad_seq == 4 and "edited" in check.problem
    assert [a.status for a in check.anchors] == ["matches"]  # the hash stored at the head was not recomputed

