"""Importing a score sheet (CSV or Excel): checked as a whole, then applied through the score operations.

Columns: ``commune_code, code, score, note``. The note is the commune's explanation for self scores
and the appraiser's note for appraised scores; it is ignored for survey points, and a blank note
leaves the stored one as it is. Any bad row refuses the whole file, with every problem listed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from models import Campaign, Case, Commune, CriteriaItem, User, db
from states import Stage

from . import access, scores
from .errors import InvalidInput, NotPermitted
from .scores import SURVEY_STAGES, UNSET

KINDS = ("self", "appraised", "survey")
COLUMNS = ("commune_code", "code", "score", "note")
REQUIRED = ("commune_code", "code", "score")

# the stages in which each kind of score may change (mirrors workflow.scores)
_STAGES = {
    "self": frozenset({Stage.self_assessment}),
    "appraised": frozenset({Stage.appraisal}),
    "survey": frozenset(SURVEY_STAGES),
}


@dataclass(frozen=True)
class RowProblem:
    """One refused cell: the file's row (the header is row 1; 0 for the file itself), the column, why.

    Shared by the score and survey imports."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.reason}" if self.row else f"{self.column}: {self.reason}"

    def as_json(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason}


class ImportRefused(InvalidInput):
    """The file was refused as a whole; ``problems`` lists every bad row."""

    code = "import-refused"

    def __init__(self, problems: list[RowProblem]):
        self.problems = list(problems)
        super().__init__(f"score file refused ({len(self.problems)} problem(s)):\n  "
                         + "\n  ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class SheetRow:
    row: int
    values: dict[str, str]


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    changes: int = 0  # rows that changed something: one ``score.changed`` audit event each
    unchanged: int = 0
    changed_communes: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return len(self.changed_communes)

    def summary(self) -> str:
        return f"applied {self.changes} changes in {self.cases} cases ({self.unchanged} rows unchanged)"


# --- reading -----------------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 10001 as 10001.0
    return str(value).strip()


def _rows_from_table(header: list, body: Iterable[tuple[int, list]]) -> list[SheetRow]:
    names = [_text(h).lower().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ImportRefused([RowProblem(1, c, "column missing from the header") for c in missing])
    rows = []
    for number, cells in body:
        values = {name: _text(cells[i]) if i < len(cells) else "" for i, name in enumerate(names) if name in COLUMNS}
        if any(values.values()):  # blank lines are skipped, not refused
            rows.append(SheetRow(number, values))
    return rows


def _read_csv(data: bytes) -> list[SheetRow]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([RowProblem(0, "file", f"not UTF-8 text (byte {exc.start})")]) from None
    first = content.split("\n", 1)[0]
    # spreadsheets in Vietnamese locales write ';' between fields, because ',' is the decimal mark
    delimiter = ";" if first.count(";") > first.count(",") else ","
    table = list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
    if not table:
        raise ImportRefused([RowProblem(0, "file", "empty")])
    return _rows_from_table(table[0], ((n, r) for n, r in enumerate(table[1:], start=2)))


def _read_xlsx(path: Path) -> list[SheetRow]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise ImportRefused([RowProblem(0, "file", f"not a readable .xlsx workbook ({type(exc).__name__})")]) from None
    try:
        table = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    if not table:
        raise ImportRefused([RowProblem(0, "file", "the first sheet is empty")])
    return _rows_from_table(table[0], ((n, r) for n, r in enumerate(table[1:], start=2)))


def read_sheet(path: str | Path) -> list[SheetRow]:
    """The data rows of a .csv (UTF-8, with or without BOM) or .xlsx file (its first sheet)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path.read_bytes())
    if suffix == ".xlsx":
        return _read_xlsx(path)
    raise ImportRefused([RowProblem(0, "file", f"unsupported file type '{suffix}' (use .csv or .xlsx)")])


def _as_rows(rows_or_path) -> list[SheetRow]:
    if isinstance(rows_or_path, (str, Path)):
        return read_sheet(rows_or_path)
    rows = []
    for number, row in enumerate(rows_or_path, start=2):
        if isinstance(row, SheetRow):
            rows.append(row)
        elif isinstance(row, Mapping):
            rows.append(SheetRow(number, {k: _text(row.get(k)) for k in COLUMNS}))
        else:
            raise InvalidInput("rows must be mappings with the columns " + ", ".join(COLUMNS))
    return rows


# --- checking ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Change:
    row: int
    case: Case
    code: str
    score: str
    note: str


def _permission_problem(kind: str, actor: User, case: Case) -> str | None:
    try:
        if kind == "self":
            access.require_self_scorer(actor, case)
        elif kind == "appraised":
            access.require_secretariat(actor)
        elif not actor.roles & access.SECRETARIAT_WRITERS:
            raise NotPermitted("Only the secretariat may record survey points.")
    except NotPermitted as exc:
        return exc.message
    return None


def check_rows(campaign: Campaign, kind: str, rows: list[SheetRow], actor: User) -> list[_Change]:
    """Every row checked before anything is written; raises ImportRefused listing all problems."""
    cases_by_code = {code: case for case, code in db.session.execute(
        select(Case, Commune.code).join(Commune, Case.commune_id == Commune.id)
        .where(Case.campaign_id == campaign.id))}
    items = {i.code: i for i in db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == campaign.criteria_set_id))}
    wanted_method = "survey" if kind == "survey" else "self"
    problems: list[RowProblem] = []
    seen: dict[tuple[str, str], int] = {}
    changes: list[_Change] = []
    for r in rows:
        commune, code, raw = r.values.get("commune_code", ""), r.values.get("code", ""), r.values.get("score", "")
        bad = len(problems)
        case = cases_by_code.get(commune)
        if not commune:
            problems.append(RowProblem(r.row, "commune_code", "missing"))
        elif case is None:
            problems.append(RowProblem(r.row, "commune_code", f"no commune '{commune}' in campaign {campaign.key}"))
        else:
            if case.stage_enum not in _STAGES[kind]:
                owners = ", ".join(sorted(s.value for s in _STAGES[kind]))
                problems.append(RowProblem(r.row, "commune_code", f"the case is in stage '{case.stage}'; "
                                                                  f"{kind} scores change only in {owners}"))
            why = _permission_problem(kind, actor, case)
            if why:
                problems.append(RowProblem(r.row, "commune_code", why))
        item = items.get(code)
        if not code:
            problems.append(RowProblem(r.row, "code", "missing"))
        elif item is None:
            problems.append(RowProblem(r.row, "code", f"no sub-criterion '{code}' in the campaign's criteria set"))
        elif not item.is_leaf:
            problems.append(RowProblem(r.row, "code", f"'{code}' is not a sub-criterion (scores go on sub-criteria)"))
        elif item.method != wanted_method:
            problems.append(RowProblem(r.row, "code", f"'{code}' is a {item.method}-method sub-criterion; "
                                                      f"it takes no {kind} score"))
        else:
            if not raw:
                problems.append(RowProblem(r.row, "score", "missing"))
            else:
                try:
                    scores.parse_points(raw, item)
                except InvalidInput as exc:
                    reason = (exc.errors.get("score") or [exc.message])[0]
                    problems.append(RowProblem(r.row, "score", f"'{raw}': {reason}"))
        key = (commune, code)
        if commune and code:
            if key in seen:
                problems.append(RowProblem(r.row, "code", f"duplicate of row {seen[key]} "
                                                          f"(commune {commune}, {code})"))
            else:
                seen[key] = r.row
        if len(problems) == bad:
            changes.append(_Change(r.row, case, code, raw, r.values.get("note", "")))
    if problems:
        raise ImportRefused(problems)
    return changes


# --- applying ----------------------------------------------------------------------------------------

def import_scores(campaign: Campaign, kind: str, rows_or_path, actor: User, *, now: dt.datetime,
                  on_row: Callable[[], None] | None = None) -> ImportReport:
    """Check a whole score sheet, then apply it as ``actor`` (one audit event per changed row); the caller commits.

    ``rows_or_path`` is a .csv/.xlsx path or rows (mappings, or ``read_sheet``'s rows);
    ``on_row`` is called after each row is applied (for a progress bar).
    """
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", {"kind": [f"not one of {', '.join(KINDS)}"]})
    rows = _as_rows(rows_or_path)
    changes = check_rows(campaign, kind, rows, actor)
    report = ImportReport(kind=kind, rows=len(rows))
    changed: dict[str, None] = {}
    for change in changes:
        note = change.note or UNSET
        if kind == "self":
            diff = scores.set_self_assessment(change.case, change.code, actor, now=now, score=change.score,
                                              explanation=note)
        elif kind == "appraised":
            diff = scores.set_appraisal(change.case, change.code, actor, now=now, score=change.score, note=note)
        else:
            diff = scores.set_survey_points(change.case, change.code, actor, now=now, points=change.score)
        if diff:
            report.changes += 1
            changed[change.case.commune.code] = None
        else:
            report.unchanged += 1
        if on_row is not None:
            on_row()
    report.changed_communes = list(changed)
    return report
