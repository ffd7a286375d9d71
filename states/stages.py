"""Stages of a commune's annual case and the roles that act on it."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    # member names equal their values: the transitions library names Enum states by .name
    planning = "planning"
    self_assessment = "self_assessment"
    appraisal = "appraisal"
    survey = "survey"
    council_meeting = "council_meeting"
    publication = "publication"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)

STAGE_TITLES_VI = {
    Stage.planning: "Xây dựng kế hoạch",
    Stage.self_assessment: "Tự đánh giá, chấm điểm",
    Stage.appraisal: "Thẩm định",
    Stage.survey: "Điều tra xã hội học",
    Stage.council_meeting: "Họp Hội đồng đánh giá",
    Stage.publication: "Phê duyệt, công bố",
}

STAGE_TITLES_EN = {
    Stage.planning: "Planning",
    Stage.self_assessment: "Self-assessment and scoring",
    Stage.appraisal: "Appraisal",
    Stage.survey: "Sociological survey",
    Stage.council_meeting: "Evaluation council meeting",
    Stage.publication: "Approval and publication",
}


class Role(StrEnum):
    secretariat = "secretariat"
    secretariat_head = "secretariat_head"
    commune_officer = "commune_officer"
    commune_chair = "commune_chair"
    council_member = "council_member"
    council_chair = "council_chair"
    authority_leader = "authority_leader"
    auditor = "auditor"
    admin = "admin"


COMMUNE_SCOPED_ROLES = frozenset({Role.commune_officer, Role.commune_chair})
SECRETARIAT_ROLES = frozenset({Role.secretariat, Role.secretariat_head})
COUNCIL_ROLES = frozenset({Role.council_member, Role.council_chair})
