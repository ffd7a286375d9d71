import datetime as dt
import re
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from models import AuditEvent, Case, Evidence, RemediationPlan, ResultSnapshot, Score, SignOff
from workflow import audit, demo
from workflow.clock import local_date


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_the_promised_spread_once(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "Demo loaded: campaign nui-thanh-2023, 17 cases" in result.output
    assert "admin@example.vn" in result.output and demo.DEMO_PASSWORD in result.output
    db.session.expire_all()

    stages = Counter(db.session.scalars(select(Case.stage)))
    assert stages == {"appraisal": 9, "self_assessment": 3, "survey": 3, "council_meeting": 1, "publication": 1}
    assert audit.verify().ok

    # submitted late: after the 10/11/2023 due date, local time
    submits = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.transition", AuditEvent.subject == "submit")).all()
    assert len(submits) == 15
    late = [e for e in submits if local_date(e.occurred_at) > dt.date(2023, 11, 10)]
    assert 3 <= len(late) < len(submits)
    assert all(dt.date(2023, 10, 1) <= local_date(e.occurred_at) <= dt.date(2023, 12, 31)
               for e in db.session.scalars(select(AuditEvent).where(AuditEvent.case_id.is_not(None))))

    returned = db.session.scalars(select(Case).where(Case.revision_reason.is_not(None))).all()
    assert len(returned) == 1 and returned[0].stage == "self_assessment"
    assert returned[0].revision_due == dt.date(2023, 11, 27) and "tài liệu kiểm chứng" in returned[0].revision_reason

    # one case waits for the chair's signature; the other was approved by four of five (2/3, chair included)
    pending = db.session.scalars(select(SignOff).where(SignOff.status == "pending")).all()
    assert len(pending) == 1 and len(pending[0].signatures) == 1 and db.session.get(Case, pending[0].case_id).commune.code == "20344"
    approved = db.session.scalars(select(SignOff).where(SignOff.status == "approved")).all()
    assert len(approved) == 1 and len(approved[0].signatures) == 4
    published = db.session.get(Case, approved[0].case_id)
    assert published.commune.code == "20341" and published.stage == "publication"
    assert local_date(published.updated_at) == dt.date(2023, 12, 11)
    # its remediation plan is drafted from the points it lost, one item each; the campaign is not published
    plan = db.session.scalar(select(RemediationPlan).where(RemediationPlan.case_id == published.id))
    lost = [s for s in db.session.scalars(select(Score).where(Score.case_id == published.id))
            if s.appraised_score is not None and s.appraised_score < s.item.max_points]
    assert plan.status == "draft" and lost and {i.code for i in plan.items} >= {s.item.code for s in lost}
    assert all(i.lost > 0 and i.obtained + i.lost == i.max_points for i in plan.items)
    assert _count(db, ResultSnapshot) == 0

    all_scores = db.session.scalars(select(Score)).all()
    self_scores = [s for s in all_scores if s.self_score is not None]
    assert any(s.self_score < s.item.max_points for s in self_scores)  # plausible, not all max
    assert sum(s.self_score == s.item.max_points for s in self_scores) > len(self_scores) / 2
    assert all(re.search(r"[ạảãáàâấầẩẫậăắằẳẵặđêếềểễệôốồổỗộơớờởỡợưứừửữự]", s.explanation)
               for s in self_scores)
    appraised = [s for s in all_scores if s.appraised_score is not None]
    assert appraised and any(s.appraised_score < s.self_score for s in appraised)
    with_survey = {s.case_id for s in all_scores if s.survey_score is not None}
    assert 2 <= len(with_survey) < 17

    files = db.session.scalars(select(Evidence)).all()
    assert files and all(f.media_type == "application/pdf" for f in files)
    root = Path(app.config["EVIDENCE_DIR"])
    assert all((root / f.sha256[:2] / f.sha256[2:4] / f.sha256).is_file() for f in files)

    # the second load says so and changes nothing
    events, evidence_rows = _count(db, AuditEvent), _count(db, Evidence)
    again = runner.invoke(args=["demo", "load"])
    assert again.exit_code == 0 and "already loaded; nothing changed" in again.output
    db.session.expire_all()
    assert _count(db, AuditEvent) == events and _count(db, Evidence) == evidence_rows

    # and a printed log-in works: the officer sees only their commune
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": "cchc.tamhai@example.vn", "password": demo.DEMO_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    listing = client.get("/?as_of=2023-11-28", follow_redirects=True).get_data(as_text=True)
    assert "Xã Tam Hải" in listing and "Xã Tam Xuân I" not in listing
    assert "27/11/2023" in listing  # the revision deadline binds the returned case
