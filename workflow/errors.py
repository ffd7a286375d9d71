"""Domain errors. Each carries a message fit for the person who caused it."""

from __future__ import annotations

from dataclasses import dataclass


class WorkflowError(Exception):
    """Base class; ``code`` is a stable machine name used by the web and API error handlers."""

    code = "workflow-error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(WorkflowError):
    code = "not-found"


class NotPermitted(WorkflowError):
    code = "forbidden"


class Conflict(WorkflowError):
    """Someone else changed the case since it was read."""

    code = "conflict"

    def __init__(self, message: str = "The case was changed by someone else; reload it and try again."):
        super().__init__(message)


class InvalidInput(WorkflowError):
    code = "invalid-input"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}


@dataclass(frozen=True)
class Blocker:
    """One thing that stops a transition, e.g. code '2.1.2.2', reason 'no score'."""

    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}" if self.code else self.reason


class TransitionRefused(WorkflowError):
    code = "transition-refused"

    def __init__(self, transition: str, blockers: list[Blocker]):
        self.transition = transition
        self.blockers = list(blockers)
        super().__init__(f"'{transition}' refused: " + "; ".join(str(b) for b in self.blockers))


class PlanInvalid(WorkflowError):
    """A plan or criteria file with problems, each listed by its path in the file."""

    code = "plan-invalid"

    def __init__(self, problems: list[str], what: str = "plan file"):
        self.problems = list(problems)
        super().__init__(f"{what} refused ({len(self.problems)} problem(s)):\n  " + "\n  ".join(self.problems))
