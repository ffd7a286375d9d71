"""next_stage's direct move agrees with the library's full trigger, and gives way to it when anything listens."""

from __future__ import annotations

import pytest
from transitions import MachineError
from transitions.core import Condition

from states import MACHINE, IllegalTransition, Stage, next_stage
from states.chart import CHART
from states.machine import StageToken


def _library_trigger(stage: Stage, name: str):
    """Where the library's own Event.trigger takes a token (or the exception class it raises)."""
    token = StageToken(stage.value)
    try:
        fired = MACHINE.events[name].trigger(token)
    except MachineError:
        return IllegalTransition
    return Stage(token.stage) if fired else IllegalTransition


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_and_trigger_lands_where_the_library_would(stage):
    for name in sorted({t.name for t in CHART}):
        expected = _library_trigger(stage, name)
        if expected is IllegalTransition:
            with pytest.raises(IllegalTransition):
                next_stage(stage, name)
        else:
            assert next_stage(stage, name) is expected


def test_a_plain_string_stage_is_accepted_and_an_unknown_one_is_refused():
    assert next_stage("planning", "open") is Stage.self_assessment
    with pytest.raises(ValueError):
        next_stage("nowhere", "open")


def test_a_condition_added_to_an_arrow_is_honoured():
    arrow = MACHINE.events["open"].transitions[Stage.planning.value][0]
    arrow.conditions.append(Condition(lambda: False))
    try:
        with pytest.raises(IllegalTransition):
            next_stage(Stage.planning, "open")
    finally:
        arrow.conditions.pop()
    assert next_stage(Stage.planning, "open") is Stage.self_assessment


def test_a_machine_callback_runs_on_every_trigger():
    seen = []
    MACHINE.after_state_change = [lambda: seen.append(1)]
    try:
        assert next_stage(Stage.survey, "record_survey") is Stage.council_meeting
    finally:
        MACHINE.after_state_change = []
    assert seen == [1]
