"""One ``transitions`` Machine shared by every case.

The machine holds no models: each operation fires an event on a throwaway token that
carries only the stage, so nothing per case is kept (a Machine costs ~48 KB and
``add_model`` keeps a strong reference to each model).
"""

from __future__ import annotations

from transitions import Machine, MachineError

from .chart import CHART
from .stages import Stage


class StageToken:
    """The minimum the machine needs: an object with a ``stage`` attribute."""

    __slots__ = ("stage",)

    def __init__(self, stage: Stage):
        self.stage = stage


def _build() -> Machine:
    return Machine(
        model=None,
        # plain string states: Enum states cost ~2x per trigger in the library's name look-ups
        states=[s.value for s in Stage],
        transitions=[
            {"trigger": t.name, "source": t.source.value, "dest": t.dest.value} for t in CHART
        ],
        initial=Stage.planning.value,
        model_attribute="stage",
        auto_transitions=False,
        send_event=False,
    )


MACHINE = _build()


class IllegalTransition(Exception):
    def __init__(self, transition: str, stage: Stage):
        super().__init__(f"'{transition}' cannot be fired from stage '{stage.value}'")
        self.transition = transition
        self.stage = stage


# str (or Stage) -> Stage without the Enum constructor (1.4 µs a call, a tenth of a trigger's budget)
_STAGES: dict[str, Stage] = {s.value: s for s in Stage}
_MACHINE_HOOKS = ("prepare_event", "before_state_change", "after_state_change", "finalize_event",
                  "on_exception", "on_final")


def _quiet(arrow) -> bool:
    """True when firing ``arrow`` would run no callback and test no condition anywhere in the machine.

    Then the library's ``Event.trigger`` does nothing but move the token to ``arrow.dest``, through
    ~15 µs of EventData, partials, empty callback loops and disabled log calls; we move it directly.
    Checked on every trigger, so a callback added to the machine later is never skipped.
    """
    if arrow.prepare or arrow.conditions or arrow.before or arrow.after:
        return False
    if any(getattr(MACHINE, hook) for hook in _MACHINE_HOOKS):
        return False
    source, dest = MACHINE.states[arrow.source], MACHINE.states[arrow.dest]
    return not (source.on_exit or dest.on_enter or dest.final)


def next_stage(stage: Stage, transition: str) -> Stage:
    """Fire ``transition`` on a token in ``stage`` and return where it lands.

    Goes through the library's own Event and Transition objects (the chart as the machine holds
    it); raises IllegalTransition when the chart has no such arrow from ``stage``.
    """
    event = MACHINE.events.get(transition)
    source = _STAGES.get(stage)
    if source is None:
        source = Stage(stage)  # the Enum's own error for a value that is no stage
    if event is None:
        raise IllegalTransition(transition, source)
    token = StageToken(source.value)
    # Event.transitions is a defaultdict: .get() does not add an empty entry for an illegal source
    arrows = event.transitions.get(token.stage)
    if not arrows:
        raise IllegalTransition(transition, source)
    if len(arrows) == 1 and _quiet(arrows[0]):
        token.stage = arrows[0].dest
        return _STAGES[token.stage]
    try:
        fired = event.trigger(token)
    except MachineError:
        raise IllegalTransition(transition, source) from None
    if not fired:
        raise IllegalTransition(transition, source)
    return _STAGES[token.stage]


def allowed_from(stage: Stage) -> list[str]:
    """Names of the events the machine accepts from ``stage``."""
    return [name for name, ev in MACHINE.events.items() if Stage(stage).value in ev.transitions]
