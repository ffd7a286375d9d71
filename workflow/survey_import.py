"""Importing returned survey forms from CSV or Excel: every row checked, then all written or none.

Layout (docs/survey.md): a header row, then one row per returned form. Columns, in any order:
``commune_code``, ``group`` (a group code of the plan), ``form_number``, ``surveyor``, ``mode``
(``in_person`` or ``online``), then one column per question, headed by the survey-method sub-criterion
code (``3.1.1``). Answers are A, B, C or D; a blank cell is a blank answer; X marks a spoilt answer.
Vietnamese headers are accepted too (``mã xã``, ``nhóm``, ``số phiếu``, ``khảo sát viên``, ``hình thức``).
A form already stored (same commune, group and number) is updated; re-importing a file changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from models import Campaign, User, db

from . import audit, survey
from .score_import import RowProblem
from .txn import flush

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
SUFFIXES = (".csv", ".xlsx")
FIELDS = ("commune_code", "group", "form_number", "surveyor", "mode")
REQUIRED = ("commune_code", "group", "form_number", "mode")
ALIASES = {
    "commune_code": ("commune_code", "commune", "mã xã", "ma xa", "ma_xa", "mã đơn vị"),
    "group": ("group", "nhóm", "nhom", "nhóm đối tượng"),
    "form_number": ("form_number", "form", "number", "số phiếu", "so phieu", "so_phieu"),
    "surveyor": ("surveyor", "khảo sát viên", "khao sat vien", "điều tra viên", "người khảo sát"),
    "mode": ("mode", "hình thức", "hinh thuc"),
}
_HEADER = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
# the header each field has in a Vietnamese file (one of its ALIASES)
HEADERS_VI = {"commune_code": "mã xã", "group": "nhóm", "form_number": "số phiếu", "surveyor": "khảo sát viên",
              "mode": "hình thức"}
ANSWERS = ("A", "B", "C", "D", "X")  # X: a spoilt answer; blank: no answer


def template_xlsx(campaign: Campaign, *, vietnamese: bool = True) -> bytes:
    """A blank import file for ``campaign``: the header row this import reads (Vietnamese or English names),
    one column per survey question, lists that keep the mode and the answers to what is accepted, and a
    second sheet with the communes and respondent groups to copy codes from."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    questions = [item.code for item in survey.survey_items(campaign)]
    fields = [HEADERS_VI[name] if vietnamese else name for name in FIELDS]
    book = Workbook()
    forms = book.active
    forms.title = "phieu" if vietnamese else "forms"
    forms.append([*fields, *questions])
    forms.freeze_panes = "A2"
    for column in range(1, len(fields) + len(questions) + 1):
        forms.column_dimensions[get_column_letter(column)].width = 16 if column <= len(fields) else 9
    modes = "trực tiếp,trực tuyến" if vietnamese else "in_person,online"
    mode_column = get_column_letter(FIELDS.index("mode") + 1)
    for allowed, cells in ((modes, f"{mode_column}2:{mode_column}{MAX_ROWS}"),
                           (",".join(ANSWERS), f"{get_column_letter(len(fields) + 1)}2:"
                                               f"{get_column_letter(len(fields) + len(questions))}{MAX_ROWS}")):
        if questions or allowed == modes:
            rule = DataValidation(type="list", formula1=f'"{allowed}"', allow_blank=True)
            rule.add(cells)
            forms.add_data_validation(rule)
    lists = book.create_sheet("danh muc" if vietnamese else "lists")
    lists.append(["mã xã", "tên xã"] if vietnamese else ["commune_code", "commune"])
    for code, case in survey.cases_by_code(campaign).items():
        lists.append([code, case.commune.name])
    lists.append([])
    lists.append(["nhóm", "tên nhóm"] if vietnamese else ["group", "name"])
    for group in survey.groups_of(campaign):
        lists.append([group.code, group.name])
    lists.column_dimensions["B"].width = 40
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class ImportReport:
    """The outcome: ``ok`` with counts, or refused (nothing written) with every problem."""

    filename: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    communes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            return (f"{self.filename}: refused, nothing written ({len(self.problems)} problem(s) in "
                    f"{self.rows} row(s))")
        return (f"{self.filename}: {self.rows} form(s): {self.created} new, {self.updated} updated, "
                f"{self.unchanged} unchanged, in {len(self.communes)} commune(s)")

    def as_json(self) -> dict:
        return {"filename": self.filename, "ok": self.ok, "rows": self.rows, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged, "communes": self.communes,
                "problems": [p.as_json() for p in self.problems]}


class Refused(Exception):
    def __init__(self, problems: list[RowProblem]):
        super().__init__(problems)
        self.problems = problems


# --- reading -----------------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores form number 7 as 7.0
    if isinstance(value, (dt.datetime, dt.date)):
        value = value.isoformat()
    return str(value).strip()


def _read_bytes(path_or_stream, filename: str | None, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(path_or_stream, (str, Path)):
        path = Path(path_or_stream)
        name = filename or path.name
        if not path.is_file():
            raise Refused([RowProblem(0, "file", f"no such file: {path}")])
        if path.stat().st_size > max_bytes:
            raise Refused([RowProblem(0, "file", f"larger than {max_bytes // 1024} KB")])
        return path.read_bytes(), name
    name = filename or PurePath(getattr(path_or_stream, "name", "") or "upload").name
    data = path_or_stream.read(max_bytes + 1)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise Refused([RowProblem(0, "file", f"larger than {max_bytes // 1024} KB")])
    return data, name


def _table(data: bytes, name: str) -> list[list]:
    suffix = PurePath(name).suffix.lower()
    if suffix and suffix not in SUFFIXES:
        raise Refused([RowProblem(0, "file", f"unsupported file type '{suffix}' (use .csv or .xlsx)")])
    if not data.strip():
        raise Refused([RowProblem(0, "file", "empty")])
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_table(data)
    if suffix == ".xlsx":
        raise Refused([RowProblem(0, "file", "not a readable .xlsx workbook")])
    if b"\x00" in data:
        raise Refused([RowProblem(0, "file", "not a text (CSV) file")])
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused([RowProblem(0, "file", f"not UTF-8 text (byte {exc.start})")]) from None
    first = content.split("\n", 1)[0]
    # spreadsheets in Vietnamese locales write ';' between fields, because ',' is the decimal mark
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        return list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise Refused([RowProblem(0, "file", f"not a readable CSV file ({exc})")]) from None


def _xlsx_table(data: bytes) -> list[list]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise Refused([RowProblem(0, "file", f"not a readable .xlsx workbook ({type(exc).__name__})")]) from None
    try:
        if not book.worksheets:
            raise Refused([RowProblem(0, "file", "the workbook has no sheet")])
        table = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            table.append(list(row))
            if len(table) > MAX_ROWS + 1:
                break
        return table
    finally:
        book.close()


# --- checking ----------------------------------------------------------------------------------------

def _header(cells: list, questions: dict[str, object]) -> tuple[dict[int, str], list[RowProblem]]:
    """Column index -> field name or question code; problems of the header row."""
    columns: dict[int, str] = {}
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        raw = _text(cell).lstrip("\ufeff")
        key = survey.fold(raw)
        if not key:
            continue
        name = _HEADER.get(key) or _HEADER.get(key.replace("_", " ")) or (raw if raw in questions else None)
        if name is None:
            reason = (f"'{raw}' is not a survey question of this campaign (questions: "
                      f"{', '.join(questions) or 'none'})" if raw[:1].isdigit()
                      else f"unknown column '{raw}'")
            problems.append(RowProblem(1, raw, reason))
            continue
        if name in seen:
            problems.append(RowProblem(1, raw, f"the column appears twice (also column {seen[name] + 1})"))
            continue
        seen[name] = i
        columns[i] = name
    for name in REQUIRED:
        if name not in seen:
            problems.append(RowProblem(1, name, "column missing from the header"))
    if not any(c in questions for c in seen):
        problems.append(RowProblem(1, "questions", "no question column (one per survey sub-criterion code, "
                                                   "like " + (next(iter(questions), "3.1.1")) + ")"))
    return columns, problems


def check(campaign: Campaign, table: list[list]) -> tuple[list[survey.FormData], int, list[RowProblem]]:
    """Every row checked before anything is written: (forms, data rows, problems)."""
    questions = {i.code: i for i in survey.survey_items(campaign)}
    if not table:
        return [], 0, [RowProblem(0, "file", "empty")]
    columns, problems = _header(table[0], questions)
    if problems:
        return [], 0, problems
    groups = {g.code: g for g in survey.groups_of(campaign)}
    if not groups:
        return [], 0, [RowProblem(0, "file", f"campaign {campaign.key} has no survey groups (its plan has no "
                                             "survey block)")]
    cases = survey.cases_by_code(campaign)
    forms: list[survey.FormData] = []
    seen: dict[tuple[str, str, str], int] = {}
    rows = 0
    for number, cells in enumerate(table[1:], start=2):
        values = {name: _text(cells[i]) if i < len(cells) else "" for i, name in columns.items()}
        if not any(values.values()):
            continue  # blank lines are skipped, not refused
        rows += 1
        if rows > MAX_ROWS:
            problems.append(RowProblem(number, "file", f"more than {MAX_ROWS} rows; split the file"))
            break
        bad = len(problems)
        commune, grp, form_no = values["commune_code"], values["group"], values["form_number"]
        if commune not in cases and commune.isdigit() and commune.zfill(5) in cases:
            commune = commune.zfill(5)  # a spreadsheet kept the code as a number: 4 for 00004
        case = cases.get(commune)
        if not commune:
            problems.append(RowProblem(number, "commune_code", "missing"))
        elif case is None:
            problems.append(RowProblem(number, "commune_code", f"no commune '{commune}' in campaign {campaign.key}"))
        elif why := survey.check_case_open(case):
            problems.append(RowProblem(number, "commune_code", why))
        group = groups.get(grp) or next((g for g in groups.values() if survey.fold(g.name) == survey.fold(grp)),
                                        None)
        if not grp:
            problems.append(RowProblem(number, "group", "missing"))
        elif group is None:
            problems.append(RowProblem(number, "group", f"no respondent group '{grp}' in the plan "
                                                        f"(groups: {', '.join(groups)})"))
        elif case is not None and group.tied_to_commune and group.quota(commune) == 0:
            problems.append(RowProblem(number, "group", f"group '{group.code}' has no forms in commune {commune} "
                                                        "(its quota there is 0)"))
        if not form_no:
            problems.append(RowProblem(number, "form_number", "missing"))
        elif len(form_no) > 40:
            problems.append(RowProblem(number, "form_number", "longer than 40 characters"))
        surveyor = values.get("surveyor", "")
        if len(surveyor) > 200:
            problems.append(RowProblem(number, "surveyor", "longer than 200 characters"))
        mode = None
        try:
            mode = survey.parse_mode(values["mode"])
        except ValueError as exc:
            problems.append(RowProblem(number, "mode", str(exc)))
        answers: dict[str, tuple[str | None, str]] = {}
        for code in (c for c in columns.values() if c in questions):
            try:
                answers[code] = survey.parse_answer(values[code])
            except ValueError as exc:
                problems.append(RowProblem(number, code, str(exc)))
        if commune and group is not None and form_no:
            key = (commune, group.code, form_no)
            if key in seen:
                problems.append(RowProblem(number, "form_number", f"duplicate of row {seen[key]} (commune "
                                                                  f"{commune}, group {group.code}, form {form_no})"))
            else:
                seen[key] = number
        if len(problems) == bad:
            forms.append(survey.FormData(case, group.code, form_no, surveyor or None, mode, answers, commune))
    return forms, rows, problems


# --- applying ----------------------------------------------------------------------------------------

def import_file(campaign: Campaign, path_or_stream, *, actor: User | None = None, now: dt.datetime,
                filename: str | None = None, max_bytes: int | None = None) -> ImportReport:
    """Check a whole file of returned forms, then write all of it (one audit event per commune) or nothing."""
    survey.require_writer(actor)
    limit = max_bytes or MAX_BYTES
    report = ImportReport(filename=filename or _name_of(path_or_stream))
    try:
        data, report.filename = _read_bytes(path_or_stream, filename, limit)
        table = _table(data, report.filename)
    except Refused as exc:
        report.problems = exc.problems
        return report
    forms, report.rows, problems = check(campaign, table)
    if problems:
        report.problems = problems
        return report
    stored = survey.existing_forms(campaign)
    touched: dict[str, dict[str, dict[str, list[str]]]] = {}
    cases = {}
    new: list[survey.FormData] = []
    with db.session.no_autoflush:  # one flush at the end, not one per lazy load
        for form in forms:
            code = form.commune_code
            known = stored.get((form.case.commune_id, form.group, form.number))
            if known is None:
                new.append(form)
                outcome = "created"
            else:
                outcome = survey.upsert_form(campaign, form, known, actor=actor, now=now)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome != "unchanged":
                touched.setdefault(code, {}).setdefault(outcome, {}).setdefault(form.group, []).append(form.number)
                cases[code] = form.case
    survey.insert_forms(campaign, new, actor=actor, now=now)
    digest = hashlib.sha256(data).hexdigest()
    for code in sorted(touched):
        audit.record("survey.forms_recorded", actor=actor, now=now, case=cases[code], subject=report.filename,
                     after={**touched[code], "file_sha256": digest})
    report.communes = sorted(touched)
    flush()
    return report


def _name_of(path_or_stream) -> str:
    if isinstance(path_or_stream, (str, Path)):
        return Path(path_or_stream).name
    return PurePath(getattr(path_or_stream, "name", "") or "upload").name

