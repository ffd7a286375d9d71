"""Pure stage definitions: the Stage enum, the chart and its binding to ``transitions``."""

from .chart import CHART, STAGE_ACTORS, TRANSITIONS, TransitionSpec, transitions_from
from .machine import MACHINE, IllegalTransition, allowed_from, next_stage
from .stages import (
    COMMUNE_SCOPED_ROLES,
    COUNCIL_ROLES,
    SECRETARIAT_ROLES,
    STAGE_ORDER,
    STAGE_TITLES_EN,
    STAGE_TITLES_VI,
    Role,
    Stage,
)

__all__ = [
    "CHART", "STAGE_ACTORS", "TRANSITIONS", "TransitionSpec", "transitions_from",
    "MACHINE", "IllegalTransition", "allowed_from", "next_stage",
    "COMMUNE_SCOPED_ROLES", "COUNCIL_ROLES", "SECRETARIAT_ROLES", "STAGE_ORDER",
    "STAGE_TITLES_EN", "STAGE_TITLES_VI", "Role", "Stage",
]
