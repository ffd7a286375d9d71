"""Publication: the campaign snapshot (canonical JSON, SHA-256, version, who, when), its refusals, and a
correction after publication producing version 2 with the computed difference; snapshots are append-only."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from models import AuditEvent, ResultSnapshot
from states import Stage
from workflow import cases, publication
from workflow.errors import InvalidInput, NotPermitted

BANDS = [{"min": "75.00", "label": "Tốt"}, {"min": "0.00", "label": "Khá"}]


@pytest.fixture
def approved(make, db):
    """Two communes through the real workflow; both score 5/7 = 71.43 % (the factory's appraisal)."""
    campaign = make.campaign()
    campaign.classification = BANDS
    a, b = make.case_of(campaign, "10001"), make.case_of(campaign, "10002")
    make.advance(a, Stage.publication)
    make.advance(b, Stage.council_meeting)
    return campaign, a, b


def test_publish_refuses_until_every_case_is_approved_naming_them(approved, make, db, now):
    campaign, a, b = approved
    with pytest.raises(InvalidInput, match=r"not yet approved: 10002 \(council_meeting\)"):
        publication.publish_campaign(campaign, make.head, now=now)
    with pytest.raises(NotPermitted):
        publication.publish_campaign(campaign, make.officers["10001"], now=now)
    assert db.session.scalar(select(ResultSnapshot)) is None  # approving a case alone publishes nothing


def test_snapshot_is_canonical_hashed_and_audited(approved, make, db, now):
    campaign, a, b = approved
    make.advance(b, Stage.publication)
    snap = publication.publish_campaign(campaign, make.head, now=now)
    db.session.commit()
    assert (snap.version, snap.trigger, snap.published_by_id, snap.diff) == (1, "campaign", make.head.id, None)
    assert snap.sha256 == hashlib.sha256(snap.payload.encode("utf-8")).hexdigest()
    data = json.loads(snap.payload)
    assert publication.canonical(data) == snap.payload
    assert [(e["commune_code"], e["total"], e["percentage"], e["rank"], e["band"]) for e in data["communes"]] == [
        ("10001", "5.00", "71.43", 1, "Khá"), ("10002", "5.00", "71.43", 1, "Khá")]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "results.published"))
    assert event.after["sha256"] == snap.sha256 and event.actor == make.head.email
    with pytest.raises(InvalidInput, match="Already published as version 1"):
        publication.publish_campaign(campaign, make.head, now=now)


def test_a_correction_produces_version_2_with_the_difference(approved, make, db, now):
    campaign, a, b = approved
    make.advance(b, Stage.publication)
    v1 = publication.publish_campaign(campaign, make.head, now=now)
    db.session.commit()
    # not while the case is published: a correction needs the council reopened
    with pytest.raises(NotPermitted):
        publication.correct_score(a, "1.1.2", make.head, now=now, score="2", reason="Sai sót khi cộng điểm")
    cases.fire(a, "reopen", make.admin, now=now, reason="Sai sót khi cộng điểm tiêu chí 1.1.2")
    with pytest.raises(InvalidInput, match="reason"):
        publication.correct_score(a, "1.1.2", make.head, now=now, score="2", reason=" ")
    publication.correct_score(a, "1.1.2", make.head, now=now, score="2", reason="Sai sót khi cộng điểm")
    db.session.commit()
    assert db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.version == 2)) is None
    make.advance(a, Stage.publication)  # approve again (the council signs to quorum)

    v2 = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.version == 2))
    assert (v2.trigger, v2.case_id) == ("correction", a.id)
    changes = {c["commune_code"]: c for c in v2.diff["changed"]}
    assert changes["10001"]["items"] == {"1.1.2": ["1.50", "2.00"]}
    assert changes["10001"]["fields"] == {"total": ["5.00", "5.50"], "percentage": ["71.43", "78.57"],
                                          "band": ["Khá", "Tốt"]}
    assert changes["10002"] == {"commune_code": "10002", "commune_name": "Xã 10002", "fields": {"rank": [1, 2]},
                                "items": {}}
    assert json.loads(v1.payload)["communes"][0]["total"] == "5.00"  # version 1 as it was
    assert v2.sha256 != v1.sha256
    corrected = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "score.corrected"))
    assert corrected.after["reason"] == "Sai sót khi cộng điểm"


def test_snapshots_are_append_only(approved, make, db, now):
    campaign, a, b = approved
    make.advance(b, Stage.publication)
    snap = publication.publish_campaign(campaign, make.head, now=now)
    db.session.commit()
    snap.payload = snap.payload.replace("5.00", "7.00")
    with pytest.raises(ValueError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(ResultSnapshot, snap.id))
    with pytest.raises(ValueError, match="append-only"):
        db.session.flush()


def test_publishing_meets_the_publication_deadlines(approved, make, db, now):
    from models import Deadline

    campaign, a, b = approved
    make.advance(b, Stage.publication)
    open_rows = select(Deadline).where(Deadline.stage == "publication", Deadline.completed_at.is_(None))
    assert {d.case_id for d in db.session.scalars(open_rows)} == {a.id, b.id}  # the stage waits for publishing
    publication.publish_campaign(campaign, make.head, now=now)
    db.session.commit()
    assert db.session.scalars(open_rows).all() == []  # no overdue notice for a published case
    met = db.session.scalars(select(Deadline).where(Deadline.stage == "publication")).all()
    assert {d.completed_at for d in met} == {now} and all(d.next_notice_at is None for d in met)
