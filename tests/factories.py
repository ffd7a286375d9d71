"""Factory helpers that build real rows and move cases through the real workflow service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models import (
    Authority,
    Campaign,
    CampaignStaff,
    CampaignStageDue,
    Case,
    Commune,
    CouncilSeat,
    CriteriaItem,
    CriteriaSet,
    User,
)
from states import Role, Stage
from workflow import cases, scores, signoff
from workflow.calendar import parse_due

NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)

# A small tree: 7 points, 4 sub-criteria (one survey, two needing evidence, one allowing N/A).
TINY_TREE = [
    ("1", "Chỉ đạo, điều hành", 3, None, False, [
        ("1.1", "Kế hoạch CCHC", 3, None, False, [
            ("1.1.1", "Ban hành Kế hoạch CCHC", 1, "self", True, []),
            ("1.1.2", "Báo cáo CCHC", 2, "self", False, []),
        ]),
    ]),
    ("2", "Cải cách thủ tục hành chính", 4, None, False, [
        ("2.1", "Thủ tục hành chính", 2, None, False, [
            ("2.1.1", "Niêm yết công khai TTHC", 2, "self", True, []),
        ]),
        ("2.2", "Sự hài lòng", 2, None, False, [
            ("2.2.1", "Mức độ hài lòng của người dân", 2, "survey", False, []),
        ]),
    ]),
]

# the seed plan's reminder policy: notices 5, 2 and 0 working days before, overdue notices, two escalations
REMINDER_POLICY = {
    "before_working_days": [5, 2, 0],
    "overdue_notice": True,
    "escalations": [
        {"after_working_days": 2, "to": ["commune_chair", "secretariat_head"]},
        {"after_working_days": 5, "to": ["authority_leader"]},
    ],
}

DUES = {
    "self_assessment": "2023-11-10",
    "appraisal": "2023-12-15",
    "survey": "2023-12-05",
    "council_meeting": "2023-12-10",
    "publication": "2023-12-15",
}


class Factory:
    def __init__(self, db):
        self.db = db
        self._n = 0

    def criteria_set(self, key: str = "tiny-2023", tree=TINY_TREE) -> CriteriaSet:
        cs = CriteriaSet(key=key, version=1, title_vi="Bộ chỉ số thử", year=2023,
                         total_points=Decimal(sum(t[2] for t in tree)), content_sha256="0" * 64)
        self.db.session.add(cs)
        position = 0

        def add(nodes, parent, depth):
            nonlocal position
            for code, title, mx, method, ev, children in nodes:
                position += 1
                item = CriteriaItem(criteria_set=cs, code=code, title_vi=title, max_points=Decimal(mx),
                                    method=method, evidence_required=ev, position=position, depth=depth,
                                    parent_id=parent.id if parent else None)
                self.db.session.add(item)
                self.db.session.flush()
                add(children, item, depth + 1)

        add(tree, None, 1)
        self.db.session.flush()
        return cs

    def user(self, email: str, *roles: Role, commune: Commune | None = None, password: str | None = None) -> User:
        user = User(email=email, name=email.split("@")[0], commune=commune)
        if password:
            user.set_password(password)
        self.db.session.add(user)
        for role in roles:
            user.grant(role)
        self.db.session.flush()
        return user

    def campaign(self, key: str = "tiny-2023", communes=("10001", "10002"), *, sign_off=("approve",),
                 quorum="2/3", chair_required=True, council_size=3, criteria_set: CriteriaSet | None = None,
                 dues=DUES) -> Campaign:
        authority = Authority(name=f"UBND huyện Thử {key}")
        cs = criteria_set or self.criteria_set(key=f"{key}-criteria")
        campaign = Campaign(key=key, year=2023, authority=authority, criteria_set=cs, calendar={"country": "VN"},
                            quorum=quorum, chair_required=chair_required, sign_off=list(sign_off),
                            reminders={"before_working_days": [5, 2, 0]}, classification=[])
        self.db.session.add(campaign)
        for stage, raw in dues.items():
            campaign.stage_dues.append(CampaignStageDue(stage=stage, raw=raw, due=parse_due(raw)))
        self.db.session.flush()
        self.secretariat = self.user(f"secretariat@{key}.example.vn", Role.secretariat)
        self.head = self.user(f"head@{key}.example.vn", Role.secretariat, Role.secretariat_head)
        self.leader = self.user(f"leader@{key}.example.vn", Role.authority_leader)
        self.auditor = self.user(f"auditor@{key}.example.vn", Role.auditor)
        self.admin = self.user(f"admin@{key}.example.vn", Role.admin)
        campaign.staff.append(CampaignStaff(user=self.head, part="secretariat_head"))
        campaign.staff.append(CampaignStaff(user=self.secretariat, part="secretariat"))
        campaign.staff.append(CampaignStaff(user=self.leader, part="authority_leader"))
        self.council = []
        for i in range(council_size):
            roles = (Role.council_member, Role.council_chair) if i == 0 else (Role.council_member,)
            member = self.user(f"council{i}@{key}.example.vn", *roles)
            campaign.council.append(CouncilSeat(user=member, is_chair=(i == 0)))
            self.council.append(member)
        self.officers, self.chairs = {}, {}
        for code in communes:
            commune = Commune(code=code, name=f"Xã {code}", authority=authority)
            self.db.session.add(commune)
            self.db.session.flush()
            self.officers[code] = self.user(f"officer{code}@{key}.example.vn", Role.commune_officer, commune=commune)
            self.chairs[code] = self.user(f"chair{code}@{key}.example.vn", Role.commune_chair, commune=commune)
            cases.ensure_case(campaign, commune, actor=self.head, now=NOW)
        self.db.session.flush()
        self.campaign_obj = campaign
        return campaign

    def case_of(self, campaign: Campaign, code: str) -> Case:
        return cases.get_case(campaign.key, code)

    # --- moving a case through the real service --------------------------------------------------
    def fill_self(self, case: Case, now=NOW) -> None:
        officer = self.officers[case.commune.code]
        for item in case.campaign.criteria_set.leaves():
            if item.method == "self":
                scores.set_self_assessment(case, item.code, officer, now=now, score=item.max_points,
                                           explanation="Đã thực hiện đầy đủ")

    def fill_appraisal(self, case: Case, now=NOW) -> None:
        for item in case.campaign.criteria_set.leaves():
            if item.method == "self":
                scores.set_appraisal(case, item.code, self.secretariat, now=now,
                                     score=item.max_points - Decimal("0.5") if item.max_points >= 1 else 0)

    def fill_survey(self, case: Case, now=NOW) -> None:
        for item in case.campaign.criteria_set.leaves():
            if item.method == "survey":
                scores.set_survey_points(case, item.code, self.secretariat, now=now, points=Decimal("1.5"))

    def advance(self, case: Case, stage: Stage, now=NOW) -> Case:
        """Move ``case`` forward to ``stage`` through real transitions (council signs to quorum)."""
        order = list(Stage)
        while order.index(case.stage_enum) < order.index(stage):
            current = case.stage_enum
            if current == Stage.planning:
                cases.fire(case, "open", self.secretariat, now=now)
            elif current == Stage.self_assessment:
                self.fill_self(case, now)
                cases.fire(case, "submit", self.officers[case.commune.code], now=now)
            elif current == Stage.appraisal:
                self.fill_appraisal(case, now)
                result = cases.fire(case, "complete_appraisal", self.secretariat, now=now)
                if not result.fired:
                    self.sign_to_quorum(case, now)
            elif current == Stage.survey:
                self.fill_survey(case, now)
                cases.fire(case, "record_survey", self.secretariat, now=now)
            elif current == Stage.council_meeting:
                result = cases.fire(case, "approve", self.secretariat, now=now)
                if not result.fired:
                    self.sign_to_quorum(case, now)
        self.db.session.commit()
        return case

    def sign_to_quorum(self, case: Case, now=NOW) -> None:
        for member in self.council:
            if signoff.pending_for(case) is None:
                break
            signoff.sign(case, member, "approve", now=now, comment="Đồng ý")
