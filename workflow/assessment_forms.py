"""The self-assessment and appraisal forms: every row checked first, then applied in one transaction.

A form holds one row per sub-criterion. Saving validates all rows and refuses the whole form with
every problem (per sub-criterion, per field) when any row is bad; otherwise only the rows that differ
from what is stored go through ``workflow.scores`` (so audit events and domain events stay the one
way), and unchanged rows are not touched at all: no audit noise, no empty score rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from models import Case, CriteriaItem, Evidence, Score, User, db
from states import Stage

from . import access, deadlines, scores
from . import evidence as evidence_ops
from .clock import local_date
from .errors import InvalidInput, NotPermitted
from .txn import check_version

ZERO = Decimal("0.00")
# how long a commune gets to revise a returned case, unless the appraiser picks another date
REVISION_WORKING_DAYS = 5


# --- what the forms post --------------------------------------------------------------------------

@dataclass(frozen=True)
class SelfRow:
    """One row of the self-assessment form as typed (``score`` is raw text: '0,5' or '0.5')."""

    code: str
    score: str | None = None
    not_applicable: bool = False
    explanation: str | None = None


@dataclass(frozen=True)
class AppraisalRow:
    """One row of the appraisal form as typed."""

    code: str
    score: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Upload:
    """One file from an upload form."""

    file_name: str
    data: bytes
    media_type: str | None = None


@dataclass
class UploadResult:
    added: list[Evidence] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)


class FormRefused(InvalidInput):
    """Some rows are invalid; nothing was saved. ``item_errors``: code -> field -> reasons."""

    code = "form-refused"

    def __init__(self, item_errors: dict[str, dict[str, list[str]]]):
        self.item_errors = {code: dict(fields) for code, fields in item_errors.items()}
        flat = {code: [r for reasons in fields.values() for r in reasons] for code, fields in self.item_errors.items()}
        super().__init__(f"{len(flat)} sub-criteria have problems; nothing was saved: "
                         + "; ".join(f"{code}: {', '.join(reasons)}" for code, reasons in flat.items()), flat)


# --- saving -----------------------------------------------------------------------------------------

def _leaves(case: Case) -> dict[str, CriteriaItem]:
    return {i.code: i for i in db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id, CriteriaItem.method.is_not(None)))}


def _text(value: str | None) -> str | None:
    # the same normalisation workflow.scores applies before comparing: blank is no text
    return (value or "").strip() or None


def _points(raw: str | None, item: CriteriaItem, errors: dict[str, list[str]], field_name: str = "score"):
    try:
        return scores.parse_points(raw, item)
    except InvalidInput as exc:
        errors.setdefault(field_name, []).extend(exc.errors.get("score") or [exc.message])
        return None


def _row_problem(code: str, item: CriteriaItem | None, seen: set[str]) -> dict[str, list[str]] | None:
    if code in seen:
        return {"code": ["listed twice in the form"]}
    seen.add(code)
    if item is None:
        return {"code": ["no such sub-criterion in this campaign's criteria set"]}
    if item.method != "self":
        return {"score": ["filled from the survey"]}
    return None


def _changed_rows(case: Case, rows, diff) -> list[tuple[str, dict]]:
    """Check every row, then return (code, changes) for the rows that change something.

    ``diff(row, item, stored_score, errors)`` returns the row's changes and fills ``errors``. Any
    problem in any row refuses the whole form (FormRefused), so nothing is saved by halves.
    """
    items, stored = _leaves(case), scores.scores_by_item(case)
    problems: dict[str, dict[str, list[str]]] = {}
    pending: list[tuple[str, dict]] = []
    seen: set[str] = set()
    for row in rows:
        item = items.get(row.code)
        problem = _row_problem(row.code, item, seen)
        if problem:
            problems[row.code] = problem
            continue
        errors: dict[str, list[str]] = {}
        changes = diff(row, item, stored.get(item.id), errors)
        if errors:
            problems[row.code] = errors
        elif changes:
            pending.append((item.code, changes))
    if problems:
        raise FormRefused(problems)
    return pending


def _self_changes(row: SelfRow, item: CriteriaItem, current, errors: dict) -> dict:
    score = _points(row.score, item, errors)
    na = bool(row.not_applicable)
    if na and not item.not_applicable_allowed:
        errors["not_applicable"] = ["may not be marked not applicable"]
    changes: dict[str, object] = {}
    if score != (current.self_score if current else None):
        changes["score"] = score
    if na != (current.not_applicable if current else False):
        changes["not_applicable"] = na
    if _text(row.explanation) != (current.explanation if current else None):
        changes["explanation"] = _text(row.explanation)
    return changes


def _appraisal_changes(row: AppraisalRow, item: CriteriaItem, current, errors: dict) -> dict:
    score = _points(row.score, item, errors)
    changes: dict[str, object] = {}
    if score != (current.appraised_score if current else None):
        changes["score"] = score
    if _text(row.note) != (current.appraiser_note if current else None):
        changes["note"] = _text(row.note)
    return changes


def save_self_assessment(case: Case, rows: list[SelfRow], actor: User, *, now: dt.datetime,
                         expected_version: int | None = None) -> list[str]:
    """Save the commune's draft: all rows valid or nothing saved (FormRefused); returns the changed codes."""
    check_version(case, expected_version)
    access.require_self_scorer(actor, case)
    if case.stage_enum != Stage.self_assessment:
        raise NotPermitted(f"Self scores can only be changed in self-assessment (the case is in {case.stage}).")
    pending = _changed_rows(case, rows, _self_changes)
    for code, changes in pending:
        # the version was checked once above; each change moves it on, so later rows must not re-check
        scores.set_self_assessment(case, code, actor, now=now, **changes)
    return [code for code, _changes in pending]


def save_appraisal(case: Case, rows: list[AppraisalRow], actor: User, *, now: dt.datetime,
                   expected_version: int | None = None) -> list[str]:
    """Save appraised scores and notes: all rows valid or nothing saved (FormRefused); returns the changed codes."""
    check_version(case, expected_version)
    access.require_secretariat(actor)
    if case.stage_enum != Stage.appraisal:
        raise NotPermitted(f"Appraised scores can only be changed in appraisal (the case is in {case.stage}).")
    pending = _changed_rows(case, rows, _appraisal_changes)
    for code, changes in pending:
        scores.set_appraisal(case, code, actor, now=now, **changes)
    return [code for code, _changes in pending]


def add_evidence_files(case: Case, code: str, files: list[Upload], actor: User, *, now: dt.datetime,
                       locator: str | None = None, expected_version: int | None = None) -> UploadResult:
    """Attach several files to one sub-criterion; a refused file is reported and the others are kept."""
    check_version(case, expected_version)
    result = UploadResult()
    if not files:
        result.refused.append(("", "no file was chosen"))
        return result
    for upload in files:
        try:
            result.added.append(evidence_ops.add_evidence(
                case, code, actor, now=now, file_name=upload.file_name, data=upload.data,
                media_type=upload.media_type, locator=locator))
        except InvalidInput as exc:  # checked before anything is written: the other files are unaffected
            result.refused.append((upload.file_name, exc.message))
    return result


def default_revision_due(case: Case, now: dt.datetime, working_days: int = REVISION_WORKING_DAYS) -> dt.date:
    """The revision deadline offered by default: ``working_days`` working days after today (campaign calendar)."""
    today = local_date(now, case.campaign.timezone or "Asia/Ho_Chi_Minh")
    return deadlines.calendar_of(case.campaign).add_working_days(today, working_days)


# --- reading ----------------------------------------------------------------------------------------

@dataclass
class Heading:
    """An area or criterion above its sub-criteria."""

    item: CriteriaItem


@dataclass
class ItemLine:
    """One sub-criterion with its stored scores and current (not removed) evidence."""

    item: CriteriaItem
    score: Score | None
    evidence: list[Evidence]

    @property
    def not_applicable(self) -> bool:
        return self.score is not None and self.score.not_applicable

    @property
    def scored(self) -> bool:
        return self.not_applicable or (self.score is not None and self.score.self_score is not None)

    @property
    def explained(self) -> bool:
        return self.score is not None and bool((self.score.explanation or "").strip())

    @property
    def missing_evidence(self) -> bool:
        """Required evidence that blocks submission: none attached and no explanation in its place (the
        rule of ``guards.self_assessment_complete``)."""
        return self.item.method == "self" and self.item.evidence_required and not self.not_applicable \
            and not self.evidence and not self.explained


@dataclass
class FormView:
    """What both forms show: the tree in order, and the progress and totals at the top."""

    case: Case
    entries: list[Heading | ItemLine]
    self_items: int
    scored: int
    missing_evidence: int
    appraised: int
    self_total: Decimal
    appraised_total: Decimal
    max_total: Decimal
    difference: Decimal | None  # appraised minus self, over the items appraised so far (None before any)

    @property
    def lines(self) -> list[ItemLine]:
        return [e for e in self.entries if isinstance(e, ItemLine)]


def form_view(case: Case) -> FormView:
    """The case's criteria tree with scores and evidence, for the self-assessment and appraisal forms."""
    items = db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id).order_by(CriteriaItem.position)).all()
    stored = scores.scores_by_item(case)
    files: dict[int, list[Evidence]] = defaultdict(list)
    for row in evidence_ops.evidence_of(case):
        files[row.item_id].append(row)
    entries: list[Heading | ItemLine] = []
    counts = {"self": 0, "scored": 0, "missing": 0, "appraised": 0}
    self_total = appraised_total = max_total = ZERO
    difference: Decimal | None = None
    for item in items:
        if not item.is_leaf:
            entries.append(Heading(item))
            continue
        line = ItemLine(item, stored.get(item.id), files.get(item.id, []))
        entries.append(line)
        if item.method != "self":
            continue
        counts["self"] += 1
        counts["scored"] += line.scored
        counts["missing"] += line.missing_evidence
        if line.not_applicable:
            counts["appraised"] += 1
            continue
        max_total += item.max_points
        if line.score is not None:
            self_total += line.score.self_score or ZERO
            if line.score.appraised_score is not None:
                appraised_total += line.score.appraised_score
                counts["appraised"] += 1
                difference = (difference or ZERO) + line.score.appraised_score - (line.score.self_score or ZERO)
    return FormView(case=case, entries=entries, self_items=counts["self"], scored=counts["scored"],
                    missing_evidence=counts["missing"], appraised=counts["appraised"], self_total=self_total,
                    appraised_total=appraised_total, max_total=max_total, difference=difference)
