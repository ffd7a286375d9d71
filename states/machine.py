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


def next_stage(stage: Stage, transition: str) -> Stage:
    """Fire ``transition`` on a token in ``stage`` and return where it lands.

    Raises IllegalTransition when the chart has no such arrow from ``stage``.
    """
    event = MACHINE.events.get(transition)
    if event is None:
        raise IllegalTransition(transition, stage)
    token = StageToken(Stage(stage).value)
    try:
        fired = event.trigger(token)
    except MachineError:
        raise IllegalTransition(transition, stage) from None
    if not fired:
        raise IllegalTransition(transition, stage)
    return Stage(token.stage)


def allowed_from(stage: Stage) -> list[str]:
    """Names of the events the machine accepts from ``stage``."""
    return [name for name, ev in MACHINE.events.items() if Stage(stage).value in ev.transitions]
