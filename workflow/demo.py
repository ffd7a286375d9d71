"""The Núi Thành 2023 demo: the shipped criteria set and plan, then months of progress through the real service.

Every change goes through the same operations as production (scores, evidence, transitions, sign-off)
with historical ``now`` values from October to December 2023, in time order, so the audit log reads
like the campaign did: most communes submitted (some after the 10/11/2023 due date), several under
appraisal, one returned for revision, survey points in for some, two awaiting the council's sign-off.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from config import ROOT
from models import AuditEvent, Campaign, Case, Commune, CriteriaItem, User, db
from states import Role

from . import audit, cases, criteria_sets, evidence, plans, scores, signoff
from .clock import LOCAL_TZ
from .errors import WorkflowError

CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"
PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CAMPAIGN_KEY = "nui-thanh-2023"
DEMO_PASSWORD = "demo-cchc-2023"
MARKER = "demo.loaded"
ADMIN_EMAIL = "admin@example.vn"
AUDITOR_EMAIL = "thanhtra@example.vn"

# What each commune has reached (by code, in the plan's order). Submitted late = after 10/11/2023.
#   kind: not_submitted | returned | appraisal | survey | council ; submit: day of November ; late flag implied
#   council: "signatures" by members other than the chair; "chair_signs" completes the quorum (4 of 5), so the
#   case is approved, moves to publication and gets its remediation plan drafted from the points it lost
PROGRESS: dict[str, dict] = {
    "20341": {"kind": "council", "submit": 6, "signatures": 3, "chair_signs": True},
    "20344": {"kind": "council", "submit": 8, "signatures": 1},
    "20347": {"kind": "survey", "submit": 7},
    "20350": {"kind": "survey", "submit": 9},
    "20353": {"kind": "survey", "submit": 10, "survey_points": False},
    "20356": {"kind": "appraisal", "submit": 9, "appraised": 0.8, "survey_points": True},
    "20359": {"kind": "appraisal", "submit": 10, "appraised": 0.6, "survey_points": True},
    "20362": {"kind": "appraisal", "submit": 13, "appraised": 0.5},
    "20365": {"kind": "appraisal", "submit": 8, "appraised": 0.3},
    "20368": {"kind": "appraisal", "submit": 14, "appraised": 0.0},
    "20371": {"kind": "returned", "submit": 9},
    "20374": {"kind": "appraisal", "submit": 16, "appraised": 0.0},
    "20377": {"kind": "appraisal", "submit": 10, "appraised": 0.2},
    "20380": {"kind": "appraisal", "submit": 7, "appraised": 0.4},
    "20383": {"kind": "appraisal", "submit": 20, "appraised": 0.0},
    "20386": {"kind": "not_submitted", "filled": 0.7},
    "20389": {"kind": "not_submitted", "filled": 0.25},
}

EXPLANATIONS = {
    "full": [
        "Đã thực hiện đầy đủ, đúng thời hạn theo kế hoạch; có văn bản kèm theo.",
        "Hoàn thành 100% nhiệm vụ; văn bản ban hành đúng quy định.",
        "Đã ban hành và triển khai đầy đủ; tài liệu kiểm chứng đính kèm.",
    ],
    "partial": [
        "Thực hiện chưa đầy đủ; một số báo cáo gửi chậm so với quy định.",
        "Ban hành chậm so với thời hạn của huyện nên tự chấm một nửa số điểm.",
        "Hoàn thành phần lớn nhiệm vụ; còn tồn tại do thiếu nhân sự.",
    ],
    "zero": [
        "Chưa thực hiện trong năm 2023 do chưa bố trí được kinh phí.",
        "Không phát sinh văn bản trong kỳ đánh giá.",
    ],
}
APPRAISER_NOTES = [
    "Tài liệu kiểm chứng chưa thể hiện đầy đủ nội dung tự chấm.",
    "Văn bản ban hành sau thời hạn quy định; trừ điểm theo hướng dẫn.",
    "Báo cáo gửi chậm so với quy định.",
]
REVISION_REASON = ("Thiếu tài liệu kiểm chứng cho các tiêu chí 1.1.1 và 2.1.1; báo cáo giải trình chưa nêu rõ "
                   "nguyên nhân tự chấm điểm tối đa. Đề nghị UBND xã bổ sung, hoàn chỉnh hồ sơ.")


@dataclass
class DemoReport:
    """What ``load_demo`` did (or that the demo was already there) and how to log in."""

    already_loaded: bool
    campaign_key: str = CAMPAIGN_KEY
    stages: Counter = field(default_factory=Counter)
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)  # e-mail, password, role, commune
    events: int = 0


def local(day: dt.date | str, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A local (Asia/Ho_Chi_Minh) wall-clock moment as UTC."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return dt.datetime.combine(day, dt.time(hour, minute), LOCAL_TZ).astimezone(dt.UTC)


def is_loaded() -> bool:
    """True once the demo's marker event is in the audit log."""
    return db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == MARKER).limit(1)) is not None


def load_demo(*, now: dt.datetime) -> DemoReport:
    """Load the demo into an empty database (the caller commits); a second call changes nothing."""
    if is_loaded():
        return DemoReport(already_loaded=True, logins=_logins(), stages=_stage_counts())
    if db.session.scalar(select(Campaign.id).where(Campaign.key == CAMPAIGN_KEY)) is not None:
        raise WorkflowError(f"campaign {CAMPAIGN_KEY} exists but was not loaded by the demo; "
                            "the demo needs an empty database")
    start = local("2023-10-02", 8, 30)
    criteria_sets.load_criteria_file(CRITERIA_FILE, actor=None, now=start)
    report = plans.load_plan_file(PLAN_FILE, actor=None, now=start + dt.timedelta(minutes=5))
    campaign = report.campaign
    staff = _Staff(campaign)
    _extra_users(staff, start + dt.timedelta(minutes=10))
    plans.start_campaign(campaign, staff.head, now=local("2023-10-03", 8, 0))
    _Progress(campaign, staff).run()
    # one salted hash shared by the demo accounts: they share a published password anyway, and
    # scrypt costs a noticeable fraction of a second per call
    shared_hash = generate_password_hash(DEMO_PASSWORD)
    for email, _pw, _role, _commune in _logins():
        db.session.scalar(select(User).where(User.email == email)).password_hash = shared_hash
    audit.record(MARKER, actor=None, now=now, campaign_id=campaign.id, subject=CAMPAIGN_KEY,
                 after={"users_with_demo_password": [row[0] for row in _logins()]})
    db.session.flush()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    return DemoReport(already_loaded=False, stages=_stage_counts(), logins=_logins(), events=events)


class _Staff:
    def __init__(self, campaign: Campaign):
        parts = {(row.part, row.user.email): row.user for row in campaign.staff}
        self.head = next(u for (part, _), u in parts.items() if part == "secretariat_head")
        self.members = sorted((u for (part, _), u in parts.items() if part == "secretariat"), key=lambda u: u.email)
        self.leader = next(u for (part, _), u in parts.items() if part == "authority_leader")
        seats = sorted(campaign.council, key=lambda s: (not s.is_chair, s.user.email))
        self.council = [s.user for s in seats]  # chair first


def _extra_users(staff: _Staff, now: dt.datetime) -> None:
    for email, name, role in ((ADMIN_EMAIL, "Quản trị hệ thống", Role.admin),
                              (AUDITOR_EMAIL, "Thanh tra huyện Núi Thành", Role.auditor)):
        user = User(email=email, name=name, created_at=now)
        db.session.add(user)
        user.grant(role)
        db.session.flush()
        audit.record("user.created", actor=None, now=now, subject=email,
                     after={"email": email, "name": name, "roles": [role.value]})


def _officer(commune_code: str) -> User:
    return db.session.scalar(select(User).join(Commune, User.commune_id == Commune.id).where(
        Commune.code == commune_code).where(User.role_rows.any(role=Role.commune_officer.value)).order_by(User.email))


def _logins() -> list[tuple[str, str, str, str]]:
    """One demo log-in per role (only users that exist)."""
    wanted = [
        ("mai.noivu@example.vn", "secretariat", ""),
        ("truongphong.noivu@example.vn", "secretariat_head, council_member", ""),
        ("cchc.tamhai@example.vn", "commune_officer", "20371 Xã Tam Hải (returned for revision)"),
        ("cchc.tammytay@example.vn", "commune_officer", "20386 Xã Tam Mỹ Tây (not submitted, late)"),
        ("cchc.thitran@example.vn", "commune_officer", "20341 Thị trấn Núi Thành (approved: remediation plan)"),
        ("chutich.tammytay@example.vn", "commune_chair", "20386 Xã Tam Mỹ Tây"),
        ("phochutich.ubnd@example.vn", "council_chair", ""),
        ("vanphong.hdnd@example.vn", "council_member", ""),
        ("tuphap@example.vn", "council_member", ""),
        ("chutich.ubnd@example.vn", "authority_leader", ""),
        (AUDITOR_EMAIL, "auditor", ""),
        (ADMIN_EMAIL, "admin", ""),
    ]
    present = set(db.session.scalars(select(User.email).where(User.email.in_([w[0] for w in wanted]))))
    return [(email, DEMO_PASSWORD, role, commune) for email, role, commune in wanted if email in present]


def _stage_counts() -> Counter:
    rows = db.session.execute(select(Case.stage).join(Campaign).where(Campaign.key == CAMPAIGN_KEY)).scalars()
    return Counter(rows)


def _pdf(title: str) -> bytes:
    """A tiny, valid-looking PDF whose bytes differ per document."""
    text = title.encode("utf-8")
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + text
            + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n")


class _Progress:
    """Builds the steps of every commune, sorts them by time and runs them through the service."""

    def __init__(self, campaign: Campaign, staff: _Staff):
        self.campaign = campaign
        self.staff = staff
        self.rng = random.Random(2023)
        self.leaves = list(db.session.scalars(select(CriteriaItem).where(
            CriteriaItem.criteria_set_id == campaign.criteria_set_id, CriteriaItem.method.is_not(None))
            .order_by(CriteriaItem.position)))
        self.steps: list[tuple[dt.datetime, int, Callable[[], object]]] = []
        self.self_scores: dict[tuple[str, str], Decimal] = {}

    def at(self, moment: dt.datetime, action: Callable[[], object]) -> None:
        self.steps.append((moment, len(self.steps), action))

    def run(self) -> None:
        for code, plan in PROGRESS.items():
            self.plan_commune(code, plan)
        for _moment, _n, action in sorted(self.steps, key=lambda s: (s[0], s[1])):
            action()

    # --- one commune -----------------------------------------------------------------------------
    def plan_commune(self, code: str, plan: dict) -> None:
        case = cases.get_case(CAMPAIGN_KEY, code)
        officer = _officer(code)
        rng = self.rng
        kind = plan["kind"]
        fill_day = dt.date(2023, 10, rng.randint(16, 31))
        share = plan.get("filled", 1.0)
        self_leaves = [i for i in self.leaves if i.method == "self"]
        to_fill = self_leaves[: round(len(self_leaves) * share)]
        for n, item in enumerate(to_fill):
            score, tone = self.self_score(item)
            self.self_scores[(code, item.code)] = score
            explanation = rng.choice(EXPLANATIONS[tone])
            moment = local(fill_day + dt.timedelta(days=n // 30), 8 + (n % 30) // 4, (n % 4) * 15)
            self.at(moment, lambda c=case, i=item.code, o=officer, m=moment, s=score, e=explanation:
                    scores.set_self_assessment(c, i, o, now=m, score=s, explanation=e))
        for n, item in enumerate(i for i in to_fill if i.evidence_required and i.code in ("1.1.1", "1.1.2", "2.1.1")):
            moment = local(fill_day + dt.timedelta(days=2), 14, 10 * n)
            name = f"{item.code} - {case.commune.name} - tai lieu kiem chung.pdf"
            data = _pdf(f"{code} {item.code} {item.title_vi}")
            self.at(moment, lambda c=case, i=item.code, o=officer, m=moment, f=name, d=data:
                    evidence.add_evidence(c, i, o, now=m, file_name=f, data=d, media_type="application/pdf",
                                          locator="trang 1-2"))
        if kind == "not_submitted":
            return
        submit = local(dt.date(2023, 11, plan["submit"]), 16, 30)
        # the chair signs off the submission in practice; the officer presses the button
        self.at(submit, lambda c=case, o=officer, m=submit: cases.fire(c, "submit", o, now=m))
        appraiser = self.staff.members[int(code) % len(self.staff.members)]
        if kind == "returned":
            back = local("2023-11-20", 10, 0)
            self.at(back, lambda c=case, m=back: cases.fire(
                c, "return_for_revision", self.staff.head, now=m, reason=REVISION_REASON,
                revision_due=dt.date(2023, 11, 27)))
            return
        share = {"appraisal": plan.get("appraised", 0.0)}.get(kind, 1.0)
        appraised = self_leaves[: round(len(self_leaves) * share)]
        day0 = dt.date(2023, 11, 21)
        for n, item in enumerate(appraised):
            own = self.self_scores[(code, item.code)]
            lowered = rng.random() < 0.12 and own > 0
            value = (own / 2).quantize(Decimal("0.01")) if lowered else own
            note = rng.choice(APPRAISER_NOTES) if lowered else None
            moment = local(day0 + dt.timedelta(days=n // 25 + int(code) % 5), 8 + (n % 25) // 3, (n % 3) * 20)
            self.at(moment, lambda c=case, i=item.code, a=appraiser, m=moment, v=value, t=note:
                    scores.set_appraisal(c, i, a, now=m, score=v, note=t))
        if plan.get("survey_points", kind in ("survey", "council")):
            self.plan_survey(case, code, local("2023-11-29", 15, 0))
        if kind == "appraisal":
            return
        if kind in ("survey", "council"):
            done = local(dt.date(2023, 12, 1), 10, int(code) % 50)
            self.at(done, lambda c=case, a=appraiser, m=done: cases.fire(c, "complete_appraisal", a, now=m))
        if kind == "survey":
            return
        to_council = local("2023-12-04", 9, int(code) % 50)
        self.at(to_council, lambda c=case, m=to_council: cases.fire(c, "record_survey", self.staff.head, now=m))
        ask = local("2023-12-08", 14, int(code) % 50)
        self.at(ask, lambda c=case, m=ask: cases.fire(c, "approve", self.staff.head, now=m))
        # members other than the chair sign first; unless the chair signs, the required signature is missing
        for n, member in enumerate(self.staff.council[1:][: plan["signatures"]]):
            moment = local("2023-12-11", 9 + n, int(code) % 50)
            self.at(moment, lambda c=case, u=member, m=moment: signoff.sign(
                c, u, "approve", now=m, comment="Đồng ý với kết quả thẩm định của Tổ giúp việc."))
        if plan.get("chair_signs"):
            moment = local("2023-12-11", 15, int(code) % 50)
            self.at(moment, lambda c=case, u=self.staff.council[0], m=moment: signoff.sign(
                c, u, "approve", now=m, comment="Thống nhất thông qua kết quả chấm điểm."))

    def plan_survey(self, case: Case, code: str, moment: dt.datetime) -> None:
        head = self.staff.head
        for n, item in enumerate(i for i in self.leaves if i.method == "survey"):
            ratio = Decimal(self.rng.choice(["0.6", "0.7", "0.8", "0.9", "1"]))
            points = (item.max_points * ratio).quantize(Decimal("0.01"))
            when = moment + dt.timedelta(minutes=n)
            self.at(when, lambda c=case, i=item.code, m=when, p=points:
                    scores.set_survey_points(c, i, head, now=m, points=p))

    def self_score(self, item: CriteriaItem) -> tuple[Decimal, str]:
        roll = self.rng.random()
        if roll < 0.72:
            return item.max_points, "full"
        if roll < 0.93:
            return (item.max_points / 2).quantize(Decimal("0.01")), "partial"
        return Decimal("0.00"), "zero"
