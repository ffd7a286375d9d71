"""`flask results` (and `results correct`), `flask publish` and `flask communes merge` as an operator runs them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import AuditEvent, CommuneMerger, ResultSnapshot
from states import Stage
from workflow import cases


@pytest.fixture
def world(make, db):
    campaign = make.campaign(communes=("10001", "10002", "10003"))
    campaign.classification = [{"min": "70.00", "label": "Khá"}, {"min": "0.00", "label": "Yếu"}]
    make.advance(make.case_of(campaign, "10001"), Stage.publication)
    make.advance(make.case_of(campaign, "10002"), Stage.council_meeting)
    db.session.commit()
    return campaign


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_results_json_has_exactly_the_documented_keys(app, world):
    result = run(app, "results", "--campaign", world.key, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [set(r) for r in rows] == [{"commune_code", "total", "max", "percentage", "rank", "band",
                                       "previous_rank"}] * 3
    by_code = {r["commune_code"]: r for r in rows}
    # 10001 and 10002 were appraised alike (5 of 7 = 71.43 %); 10003 is still in planning (0 %)
    assert by_code["10001"] == {"commune_code": "10001", "total": "5.00", "max": "7.00", "percentage": "71.43",
                                "rank": 1, "band": "Khá", "previous_rank": None}
    assert (by_code["10002"]["rank"], by_code["10003"]["rank"], by_code["10003"]["band"]) == (1, 3, "Yếu")
    text = run(app, "results", "--campaign", world.key)
    assert "71,43" in text.output and "Xã 10001" in text.output
    assert run(app, "results", "--campaign", "nope").exit_code != 0


def test_publish_refuses_naming_the_cases_then_publishes_and_corrects(app, make, world, db, now):
    refused = run(app, "publish", "--campaign", world.key, "--actor", make.head.email)
    assert refused.exit_code != 0
    assert "10002 (council_meeting)" in refused.output and "10003 (planning)" in refused.output
    assert db.session.scalar(select(ResultSnapshot)) is None
    make.advance(make.case_of(world, "10002"), Stage.publication)
    make.advance(make.case_of(world, "10003"), Stage.publication)
    assert run(app, "publish", "--campaign", world.key, "--actor", make.officers["10001"].email).exit_code != 0
    done = run(app, "publish", "--campaign", world.key, "--actor", make.head.email)
    assert done.exit_code == 0, done.output
    snap = db.session.scalar(select(ResultSnapshot))
    assert f"version 1, sha256 {snap.sha256}" in done.output
    again = run(app, "publish", "--campaign", world.key, "--actor", make.head.email)
    assert again.exit_code != 0 and "Already published as version 1" in again.output

    # a correction: reopen, correct with a reason, approve again -> version 2
    correct = ("results", "correct", "--campaign", world.key, "--code", "1.1.2", "--score", "2,00",
               "--reason", "Cộng nhầm", "--actor", make.head.email)
    assert "Only a published case reopened" in run(app, *correct, "--commune", "10002").output
    cases.fire(make.case_of(world, "10001"), "reopen", make.admin, now=now, reason="Cộng nhầm điểm 1.1.2")
    db.session.commit()
    fixed = run(app, *correct, "--commune", "10001")
    assert fixed.exit_code == 0 and "appraised_score 1.50 -> 2.00" in fixed.output, fixed.output
    make.advance(make.case_of(world, "10001"), Stage.publication)
    assert db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.version == 2)).diff["changed"]


def test_communes_merge(app, make, world, db):
    merged = run(app, "communes", "merge", "--into", "10001", "--from", "10002", "--from", "10003",
                 "--actor", make.admin.email)
    assert merged.exit_code == 0, merged.output
    assert "2 predecessor(s) recorded" in merged.output
    assert len(db.session.scalars(select(CommuneMerger)).all()) == 2
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "commune.merged")).actor == make.admin.email
    for args, message in (
        (("--from", "99999", "--actor", make.admin.email), "no commune with code '99999'"),
        (("--from", "10002", "--actor", make.secretariat.email), "Only an administrator"),
        (("--from", "10002", "--on", "01/07/2025", "--actor", make.admin.email), "is not a date"),
    ):
        result = run(app, "communes", "merge", "--into", "10001", *args)
        assert result.exit_code != 0 and message in result.output, result.output
