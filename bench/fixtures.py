"""Bulk-built campaigns for the benchmarks: what they measure is timed, building them is not."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from common import ROOT  # noqa: F401 - puts the project on sys.path

NOW = dt.datetime(2023, 10, 2, 2, 0, tzinfo=dt.UTC)
DUES = {"self_assessment": "2023-11-10", "appraisal": "2023-12-15", "survey": "2023-12-05",
        "council_meeting": "2023-12-10", "publication": "2023-12-15"}
# planning -> publication: the five arrows that take a case through the six stages
FORWARD = (("open", "secretariat"), ("submit", "officer"), ("complete_appraisal", "secretariat"),
           ("record_survey", "secretariat"), ("approve", "secretariat"))


@dataclass
class Built:
    campaign_id: int
    secretariat_id: int
    case_ids: list[int]
    officer_of: dict[int, int]  # case id -> its commune officer's user id


def _chunks(rows: list[dict], size: int = 5000):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def campaign_with_cases(n: int, *, key: str = "bench-2023", scored: bool = True, code_base: int = 30000,
                        officers: bool = True) -> Built:
    """The Quảng Điền criteria set, one campaign (no council sign-off) and ``n`` cases in planning.

    With ``scored`` every case has all its scores (self with an explanation, appraised, survey), so the
    guards of submit, complete_appraisal and record_survey pass and are evaluated in full.
    """
    from sqlalchemy import insert, select

    from models import (
        Authority,
        Campaign,
        CampaignStaff,
        CampaignStageDue,
        Case,
        Commune,
        CriteriaItem,
        Score,
        User,
        UserRole,
        db,
    )
    from states import Role
    from workflow import criteria_sets
    from workflow.calendar import parse_due

    cs, _ = criteria_sets.load_criteria_file(ROOT / "examples" / "criteria-quang-dien-xa-2019.json",
                                             actor=None, now=NOW)
    authority = Authority(name=f"UBND tỉnh {key}")
    campaign = Campaign(key=key, year=2023, authority=authority, criteria_set=cs,
                        title="Đánh giá Chỉ số CCHC cấp xã năm 2023 (thử tải)", calendar={"country": "VN"},
                        quorum="1/2", sign_off=[], reminders={"before_working_days": [5, 2, 0]}, classification=[])
    db.session.add(campaign)
    for stage, raw in DUES.items():
        campaign.stage_dues.append(CampaignStageDue(stage=stage, raw=raw, due=parse_due(raw)))
    secretariat = User(email=f"secretariat@{key}.example.vn", name="Phòng Nội vụ")
    db.session.add(secretariat)
    db.session.flush()
    secretariat.grant(Role.secretariat)
    campaign.staff.append(CampaignStaff(user=secretariat, part="secretariat"))
    db.session.flush()

    db.session.execute(insert(Commune), [{"code": f"{code_base + i:05d}", "authority_id": authority.id,
                                          "name": f"Xã Thử {i}"} for i in range(n)])
    communes = db.session.scalars(select(Commune.id).where(Commune.authority_id == authority.id)
                                  .order_by(Commune.id)).all()
    db.session.execute(insert(Case), [{"campaign_id": campaign.id, "commune_id": cid, "stage": "planning",
                                       "version": 1, "created_at": NOW, "updated_at": NOW} for cid in communes])
    cases = db.session.execute(select(Case.id, Case.commune_id).where(Case.campaign_id == campaign.id)
                               .order_by(Case.id)).all()
    officer_of: dict[int, int] = {}
    if officers:
        db.session.execute(insert(User), [{"email": f"officer{cid}@{key}.example.vn", "name": f"Cán bộ {cid}",
                                           "commune_id": cid, "locale": "vi", "active": True, "failed_logins": 0,
                                           "created_at": NOW} for cid in communes])
        by_commune = dict(db.session.execute(select(User.commune_id, User.id)
                                             .where(User.email.like(f"officer%@{key}.example.vn"))).all())
        db.session.execute(insert(UserRole), [{"user_id": uid, "role": Role.commune_officer.value}
                                              for uid in by_commune.values()])
        officer_of = {case_id: by_commune[commune_id] for case_id, commune_id in cases}
    if scored:
        leaves = db.session.execute(select(CriteriaItem.id, CriteriaItem.method, CriteriaItem.max_points)
                                    .where(CriteriaItem.criteria_set_id == cs.id,
                                           CriteriaItem.method.is_not(None))).all()
        rows = []
        for case_id, _ in cases:
            for item_id, method, max_points in leaves:
                mine = method == "self"
                rows.append({"case_id": case_id, "item_id": item_id, "not_applicable": False,
                             "self_score": max_points if mine else None,
                             "appraised_score": max_points if mine else None,
                             "survey_score": None if mine else max_points,
                             "explanation": "Đã thực hiện đầy đủ" if mine else None, "updated_at": NOW})
            if len(rows) >= 50_000:
                for chunk in _chunks(rows):
                    db.session.execute(insert(Score), chunk)
                rows = []
        for chunk in _chunks(rows):
            db.session.execute(insert(Score), chunk)
    db.session.commit()
    return Built(campaign.id, secretariat.id, [c for c, _ in cases], officer_of)


def analyze() -> None:
    """Planner statistics, committed (on PostgreSQL an ANALYZE in a rolled-back transaction is lost)."""
    from sqlalchemy import text

    from models import db

    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
