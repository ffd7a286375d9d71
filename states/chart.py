"""The stage chart as data: every transition, who may fire it, and the guards it needs.

Guards are named here and implemented (with their reasons) in ``workflow.guards``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .stages import Role, Stage

S = Stage
R = Role


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    name: str
    source: Stage
    dest: Stage
    roles: frozenset[Role]
    guards: tuple[str, ...] = ()
    reason_required: bool = False
    sets_revision_deadline: bool = False
    may_need_sign_off: bool = False  # the plan's ``sign_off`` list decides


_SECRETARIAT = frozenset({R.secretariat, R.secretariat_head, R.admin})

CHART: tuple[TransitionSpec, ...] = (
    TransitionSpec("open", S.planning, S.self_assessment, _SECRETARIAT),
    TransitionSpec(
        "submit", S.self_assessment, S.appraisal,
        frozenset({R.commune_officer, R.commune_chair}),
        guards=("self_assessment_complete",),
    ),
    TransitionSpec(
        "return_for_revision", S.appraisal, S.self_assessment, _SECRETARIAT,
        reason_required=True, sets_revision_deadline=True,
    ),
    TransitionSpec(
        "complete_appraisal", S.appraisal, S.survey, _SECRETARIAT,
        guards=("appraisal_complete",), may_need_sign_off=True,
    ),
    TransitionSpec(
        "record_survey", S.survey, S.council_meeting, _SECRETARIAT,
        guards=("survey_points_recorded",),
    ),
    TransitionSpec(
        "approve", S.council_meeting, S.publication,
        frozenset({R.secretariat, R.secretariat_head, R.council_chair, R.authority_leader, R.admin}),
        may_need_sign_off=True,
    ),
    TransitionSpec(
        "reopen", S.publication, S.council_meeting, frozenset({R.admin}), reason_required=True,
    ),
)

TRANSITIONS: dict[str, TransitionSpec] = {t.name: t for t in CHART}

# The stage whose deadline binds the actors while the case sits in it.
STAGE_ACTORS: dict[Stage, frozenset[Role]] = {
    S.planning: _SECRETARIAT,
    S.self_assessment: frozenset({R.commune_officer}),
    S.appraisal: frozenset({R.secretariat}),
    S.survey: frozenset({R.secretariat}),
    S.council_meeting: frozenset({R.council_member, R.council_chair}),
    S.publication: frozenset({R.authority_leader}),
}


def transitions_from(stage: Stage) -> list[TransitionSpec]:
    return [t for t in CHART if t.source == stage]


def as_table() -> list[dict]:
    """The chart as plain rows (for docs, diffs and drawing)."""
    return [
        {
            "name": t.name,
            "source": t.source.value,
            "dest": t.dest.value,
            "roles": sorted(r.value for r in t.roles),
            "guards": list(t.guards),
            "reason_required": t.reason_required,
        }
        for t in CHART
    ]
