"""The chart as data, and the shared machine agreeing with it arrow for arrow."""

from __future__ import annotations

import pytest

from states import (
    CHART,
    MACHINE,
    STAGE_ACTORS,
    TRANSITIONS,
    IllegalTransition,
    Role,
    Stage,
    allowed_from,
    next_stage,
    transitions_from,
)
from states.chart import as_table

EXPECTED = {
    "open": (Stage.planning, Stage.self_assessment),
    "submit": (Stage.self_assessment, Stage.appraisal),
    "return_for_revision": (Stage.appraisal, Stage.self_assessment),
    "complete_appraisal": (Stage.appraisal, Stage.survey),
    "record_survey": (Stage.survey, Stage.council_meeting),
    "approve": (Stage.council_meeting, Stage.publication),
    "reopen": (Stage.publication, Stage.council_meeting),
}


def test_the_chart_has_exactly_the_documented_arrows():
    assert {t.name: (t.source, t.dest) for t in CHART} == EXPECTED
    assert set(TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_machine_lands_where_the_chart_says(name):
    source, dest = EXPECTED[name]
    assert next_stage(source, name) is dest


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_arrow_not_in_the_chart_is_illegal(stage, name):
    if EXPECTED[name][0] is stage:
        return
    with pytest.raises(IllegalTransition) as info:
        next_stage(stage, name)
    assert info.value.stage is stage and info.value.transition == name


def test_an_unknown_trigger_is_illegal_not_an_attribute_error():
    with pytest.raises(IllegalTransition):
        next_stage(Stage.planning, "publish_everything")


@pytest.mark.parametrize("stage", list(Stage))
def test_allowed_from_matches_the_chart(stage):
    assert sorted(allowed_from(stage)) == sorted(t.name for t in transitions_from(stage))


def test_who_may_fire_what():
    secretariat = {Role.secretariat, Role.secretariat_head, Role.admin}
    assert TRANSITIONS["open"].roles == secretariat
    assert TRANSITIONS["submit"].roles == {Role.commune_officer, Role.commune_chair}
    assert TRANSITIONS["return_for_revision"].roles == secretariat
    assert TRANSITIONS["complete_appraisal"].roles == secretariat
    assert TRANSITIONS["record_survey"].roles == secretariat
    assert TRANSITIONS["approve"].roles == secretariat | {Role.council_chair, Role.authority_leader}
    assert TRANSITIONS["reopen"].roles == {Role.admin}
    # the auditor reads everything and changes nothing
    assert not any(Role.auditor in t.roles for t in CHART)


def test_guards_and_reasons_are_declared_on_the_arrows():
    assert TRANSITIONS["submit"].guards == ("self_assessment_complete",)
    assert TRANSITIONS["complete_appraisal"].guards == ("appraisal_complete",)
    assert TRANSITIONS["record_survey"].guards == ("survey_points_recorded",)
    assert {t.name for t in CHART if t.reason_required} == {"return_for_revision", "reopen"}
    assert {t.name for t in CHART if t.sets_revision_deadline} == {"return_for_revision"}
    assert {t.name for t in CHART if t.may_need_sign_off} == {"complete_appraisal", "approve"}


def test_every_guard_named_in_the_chart_is_implemented():
    from workflow.guards import GUARDS

    assert {g for t in CHART for g in t.guards} <= set(GUARDS)


def test_every_stage_has_actors_bound_by_its_deadline():
    assert set(STAGE_ACTORS) == set(Stage)


def test_the_table_form_is_plain_data():
    rows = as_table()
    assert [r["name"] for r in rows] == [t.name for t in CHART]
    assert rows[1] == {"name": "submit", "source": "self_assessment", "dest": "appraisal",
                       "roles": ["commune_chair", "commune_officer"], "guards": ["self_assessment_complete"],
                       "reason_required": False}


def test_the_shared_machine_holds_no_models():
    assert MACHINE.models == []
    assert MACHINE.auto_transitions is False
