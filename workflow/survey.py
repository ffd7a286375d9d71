"""The sociological survey: respondent groups and quotas, forms issued and returned, progress, conversion to points.

The plan's ``survey`` block (stored in ``Campaign.survey``) gives the groups, their quotas and the due date.
Option weights (default A 100 %, B 60 %, C 20 %, D 0 %) and optional group weights are kept per campaign in
``SurveySettings`` (the plan format has no place for them). Points reach a case only through
``workflow.scores.set_survey_points``, so the ``record_survey`` guard and the audit trail are the usual ones.

Conversion into points lives in workflow.survey_points, the file import in workflow.survey_import; this
module is their entry point (``compute``, ``convert``, ``import_file``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, insert, select

from models import (
    Campaign,
    Case,
    Commune,
    CriteriaItem,
    SurveyAnswer,
    SurveyForm,
    SurveyIssue,
    SurveySettings,
    User,
    db,
)
from states import Role

from . import audit, reminders
from .calendar import RolledDate
from .errors import InvalidInput, NotFound, NotPermitted
from .scores import SURVEY_STAGES
from .txn import flush

OPTIONS = ("A", "B", "C", "D")
DEFAULT_OPTION_WEIGHTS = {"A": Decimal(100), "B": Decimal(60), "C": Decimal(20), "D": Decimal(0)}
# a spoilt answer on a paper form (two boxes ticked, unreadable) is written X: kept, counted, left out
INVALID_MARKS = frozenset({"x", "invalid", "không hợp lệ", "khong hop le", "khl"})
MODE_ALIASES = {
    "in_person": "in_person", "in person": "in_person", "trực tiếp": "in_person", "truc tiep": "in_person",
    "online": "online", "trực tuyến": "online", "truc tuyen": "online",
}
DUE_SOON_WORKING_DAYS = 5

# progress statuses, in the order a reader worries about them
LATE, DUE_SOON, ON_TRACK, COMPLETE, OPEN, NO_QUOTA = "late", "due_soon", "on_track", "complete", "open", "no_quota"


def fold(value) -> str:
    """A cell or header as comparable text: NFC, trimmed, lower-case, single spaces."""
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFC", str(value)).split()).lower()


# --- groups and quotas -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    """A respondent group of the plan: a quota per commune (one number or per code) or a fixed total."""

    code: str
    name: str
    per_commune: int | dict | None
    total: int | None

    @property
    def tied_to_commune(self) -> bool:
        return self.total is None

    def quota(self, commune_code: str) -> int:
        """Forms expected from this group about ``commune_code`` (per-commune groups only)."""
        if isinstance(self.per_commune, dict):
            return int(self.per_commune.get(commune_code, 0))
        return int(self.per_commune or 0)


def groups_of(campaign: Campaign) -> list[Group]:
    """The plan's respondent groups, in the plan's order (none when the plan has no survey block)."""
    block = campaign.survey or {}
    return [Group(g["code"], g.get("name") or g["code"], g.get("per_commune"), g.get("total"))
            for g in block.get("groups") or []]


def survey_due(campaign: Campaign) -> RolledDate | None:
    """The plan's survey due date, moved to the next working day if it falls on a day off (art. 148)."""
    raw = (campaign.survey or {}).get("due_date")
    if not raw:
        return None
    return reminders.calendar_of(campaign).roll_forward(dt.date.fromisoformat(raw))


def survey_items(campaign: Campaign) -> list[CriteriaItem]:
    """The campaign's survey-method sub-criteria (the questions), in criteria order."""
    return list(db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == campaign.criteria_set_id, CriteriaItem.method == "survey")
        .order_by(CriteriaItem.position)))


def cases_by_code(campaign: Campaign) -> dict[str, Case]:
    """The campaign's cases by commune code."""
    return {code: case for case, code in db.session.execute(
        select(Case, Commune.code).join(Commune, Case.commune_id == Commune.id)
        .where(Case.campaign_id == campaign.id).order_by(Commune.code))}


# --- answers and modes -----------------------------------------------------------------------------

def parse_answer(raw) -> tuple[str | None, str]:
    """A cell as (option, state): ('B', 'valid'), (None, 'blank') or (None, 'invalid'); ValueError otherwise."""
    text = fold(raw)
    if not text:
        return None, "blank"
    if text.upper() in OPTIONS:
        return text.upper(), "valid"
    if text in INVALID_MARKS:
        return None, "invalid"
    raise ValueError(f"'{raw}' is not an answer (use A, B, C or D; leave blank; X for a spoilt answer)")


def parse_mode(raw) -> str:
    """'in_person' or 'online' (Vietnamese 'trực tiếp' / 'trực tuyến' too); ValueError otherwise."""
    text = fold(raw).replace("-", " ")
    if not text:
        raise ValueError("missing (in_person or online)")
    mode = MODE_ALIASES.get(text) or MODE_ALIASES.get(text.replace("_", " "))
    if mode is None:
        raise ValueError(f"'{raw}' is not a mode (in_person or online)")
    return mode


def require_writer(actor: User | None) -> None:
    """Survey data is the secretariat's (``None``: an operator's command, recorded as the system)."""
    if actor is None:
        return
    if not actor.is_active:
        raise NotPermitted("This account is disabled.")
    if not actor.has_role(Role.secretariat, Role.secretariat_head, Role.admin):
        raise NotPermitted("Only the secretariat may record survey data.")


# --- weights ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """Option weights in percent, and group weights (None: all valid forms count alike)."""

    options: dict[str, Decimal]
    groups: dict[str, Decimal] | None = None

    def as_json(self) -> dict:
        return {"options": {k: _num(v) for k, v in self.options.items()},
                "groups": {k: _num(v) for k, v in self.groups.items()} if self.groups is not None else None}


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def weights_of(campaign: Campaign) -> Weights:
    """The campaign's weights (the defaults until someone sets them)."""
    row = db.session.get(SurveySettings, campaign.id)
    if row is None:
        return Weights(dict(DEFAULT_OPTION_WEIGHTS))
    groups = {k: Decimal(v) for k, v in row.group_weights.items()} if row.group_weights is not None else None
    return Weights({k: Decimal(row.option_weights[k]) for k in OPTIONS}, groups)


def _weight(raw, field_name: str, errors: dict, *, upper: Decimal | None) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors[field_name] = [f"'{raw}' is not a number"]
        return None
    if not value.is_finite() or value < 0 or (upper is not None and value > upper):
        errors[field_name] = [f"{raw} is outside 0..{upper}" if upper is not None else f"{raw} is negative"]
        return None
    if value != value.quantize(Decimal("0.01")):
        errors[field_name] = ["at most two decimals"]
        return None
    return value


def set_weights(campaign: Campaign, *, actor: User | None, now: dt.datetime, options: Mapping | None = None,
                groups: Mapping | None = None, clear_groups: bool = False) -> Weights:
    """Set option weights (percent, every one of A-D) and/or group weights (every plan group); audited."""
    require_writer(actor)
    current = weights_of(campaign)
    errors: dict[str, list[str]] = {}
    new_options = dict(current.options)
    if options is not None:
        keys = {str(k).strip().upper() for k in options}
        if keys != set(OPTIONS):
            errors["options"] = ["give a weight for each of A, B, C and D"]
        else:
            for key, raw in options.items():
                value = _weight(raw, f"options.{str(key).strip().upper()}", errors, upper=Decimal(100))
                if value is not None:
                    new_options[str(key).strip().upper()] = value
    new_groups = None if clear_groups else current.groups
    if groups is not None:
        known = {g.code for g in groups_of(campaign)}
        given = {str(k).strip() for k in groups}
        if given != known:
            missing, unknown = sorted(known - given), sorted(given - known)
            errors["groups"] = [("no weight for " + ", ".join(missing) if missing else "")
                                + ("; " if missing and unknown else "")
                                + ("not a group of the plan: " + ", ".join(unknown) if unknown else "")]
        elif blank := [g.name for g in groups_of(campaign) if not str(groups.get(g.code, "")).strip()]:
            # some given, some left blank: the rule is every group or none, not a number missing
            errors["groups"] = [f"give a weight for every group, or leave every one blank (none for "
                                f"{', '.join(blank)})"]
        else:
            parsed = {str(k).strip(): _weight(v, f"groups.{k}", errors, upper=None) for k, v in groups.items()}
            if not errors and sum(parsed.values()) <= 0:
                errors["groups"] = ["at least one group needs a weight above 0"]
            new_groups = parsed
    if errors:
        raise InvalidInput("survey weights refused: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                           errors)
    result = Weights(new_options, new_groups)
    if result == current:
        return result
    row = db.session.get(SurveySettings, campaign.id)
    if row is None:
        row = SurveySettings(campaign_id=campaign.id)
        db.session.add(row)
    payload = result.as_json()
    row.option_weights, row.group_weights = payload["options"], payload["groups"]
    row.updated_at, row.updated_by_id = now, actor.id if actor else None
    audit.record("survey.weights_changed", actor=actor, now=now, campaign_id=campaign.id, subject=campaign.key,
                 before=current.as_json(), after=payload)
    flush()
    return result


# --- recording forms --------------------------------------------------------------------------------

def _case_for(campaign: Campaign, commune_code: str) -> Case:
    case = cases_by_code(campaign).get(str(commune_code).strip())
    if case is None:
        raise NotFound(f"no commune '{commune_code}' in campaign {campaign.key}")
    return case


def _group(campaign: Campaign, code: str) -> Group:
    found = next((g for g in groups_of(campaign) if g.code == str(code).strip()), None)
    if found is None:
        known = ", ".join(g.code for g in groups_of(campaign)) or "none: the plan has no survey block"
        raise InvalidInput(f"no respondent group '{code}' in the plan (groups: {known})",
                           {"group": ["not a group of the plan"]})
    return found


def record_issue(campaign: Campaign, commune_code: str, group: str, count: int, *, actor: User | None,
                 now: dt.datetime, mode: str = "in_person", surveyor: str | None = None) -> SurveyIssue:
    """Record ``count`` blank forms handed out for a commune and group (one audit event on its case)."""
    require_writer(actor)
    case = _case_for(campaign, commune_code)
    grp = _group(campaign, group)
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{count}' is not a whole number of forms", {"count": ["not a whole number"]}) from None
    if not 0 < count <= 100_000:
        raise InvalidInput("the number of forms must be between 1 and 100000", {"count": ["between 1 and 100000"]})
    try:
        mode = parse_mode(mode)
    except ValueError as exc:
        raise InvalidInput(f"mode: {exc}", {"mode": [str(exc)]}) from None
    surveyor = (surveyor or "").strip() or None
    if surveyor and len(surveyor) > 200:
        raise InvalidInput("the surveyor's name is longer than 200 characters", {"surveyor": ["too long"]})
    row = SurveyIssue(campaign_id=campaign.id, commune_id=case.commune_id, group=grp.code, count=count,
                      surveyor=surveyor, mode=mode, recorded_at=now, recorded_by_id=actor.id if actor else None)
    db.session.add(row)
    audit.record("survey.forms_issued", actor=actor, now=now, case=case, subject=grp.code,
                 after={"count": count, "mode": mode, "surveyor": surveyor})
    flush()
    return row


@dataclass(frozen=True)
class FormData:
    """A returned form as checked input: commune case, group, number, surveyor, mode, answers by code."""

    case: Case
    group: str
    number: str
    surveyor: str | None
    mode: str
    answers: dict[str, tuple[str | None, str]]  # code -> (option, state)
    commune_code: str = ""


def existing_forms(campaign: Campaign) -> dict[tuple[int, str, str], SurveyForm]:
    """The campaign's stored forms by (commune id, group, number), answers loaded."""
    from sqlalchemy.orm import selectinload

    forms = db.session.scalars(select(SurveyForm).where(SurveyForm.campaign_id == campaign.id)
                               .options(selectinload(SurveyForm.answers)))
    return {(f.commune_id, f.group, f.number): f for f in forms}


def upsert_form(campaign: Campaign, data: FormData, stored: SurveyForm | None, *, actor: User | None,
                now: dt.datetime) -> str:
    """Create or update one form and its answers (no audit: the caller records one); 'created'|'updated'|'unchanged'."""
    if stored is None:
        form = SurveyForm(campaign_id=campaign.id, commune_id=data.case.commune_id, group=data.group,
                          number=data.number, surveyor=data.surveyor, mode=data.mode, recorded_at=now,
                          recorded_by_id=actor.id if actor else None)
        form.answers = [SurveyAnswer(code=code, option=opt, state=state) for code, (opt, state) in data.answers.items()]
        db.session.add(form)
        return "created"
    changed = False
    if (stored.surveyor, stored.mode) != (data.surveyor, data.mode):
        stored.surveyor, stored.mode = data.surveyor, data.mode
        changed = True
    by_code = {a.code: a for a in stored.answers}
    for code, (opt, state) in data.answers.items():
        answer = by_code.get(code)
        if answer is None:
            stored.answers.append(SurveyAnswer(code=code, option=opt, state=state))
            changed = True
        elif (answer.option, answer.state) != (opt, state):
            answer.option, answer.state = opt, state
            changed = True
    if changed:
        stored.recorded_at, stored.recorded_by_id = now, actor.id if actor else None
        return "updated"
    return "unchanged"


def insert_forms(campaign: Campaign, forms: list[FormData], *, actor: User | None, now: dt.datetime) -> None:
    """Insert new forms and all their answers in two statements (the import's path for many forms)."""
    if not forms:
        return
    rows = [{"campaign_id": campaign.id, "commune_id": f.case.commune_id, "group": f.group, "number": f.number,
             "surveyor": f.surveyor, "mode": f.mode, "recorded_at": now,
             "recorded_by_id": actor.id if actor else None} for f in forms]
    # Core statements on the tables: no ORM bookkeeping per row (25,000 answers in one executemany)
    forms_table, answers_table = SurveyForm.__table__, SurveyAnswer.__table__
    ids = db.session.scalars(insert(forms_table).returning(forms_table.c.id, sort_by_parameter_order=True),
                             rows).all()
    answers = [{"form_id": form_id, "code": code, "option": option, "state": state}
               for form_id, f in zip(ids, forms, strict=True) for code, (option, state) in f.answers.items()]
    if answers:
        db.session.execute(insert(answers_table), answers)


def check_case_open(case: Case) -> str | None:
    """Why survey data of this case can no longer change (None if it can)."""
    if case.stage_enum not in SURVEY_STAGES:
        return f"the case is in stage '{case.stage}'; survey data can no longer change"
    return None


def record_form(campaign: Campaign, commune_code: str, group: str, number: str, answers: Mapping[str, str], *,
                actor: User | None, now: dt.datetime, mode: str = "in_person", surveyor: str | None = None) -> str:
    """Record one returned form and its answers ({code: 'A'|'B'|'C'|'D'|''|'X'}); audited on the commune's case."""
    require_writer(actor)
    case = _case_for(campaign, commune_code)
    why = check_case_open(case)
    if why:
        raise NotPermitted(why[0].upper() + why[1:] + ".")
    grp = _group(campaign, group)
    number = str(number or "").strip()
    if not number or len(number) > 40:
        raise InvalidInput("the form number is required (at most 40 characters)", {"number": ["required"]})
    questions = {i.code for i in survey_items(campaign)}
    errors: dict[str, list[str]] = {}
    parsed: dict[str, tuple[str | None, str]] = {}
    for code, raw in answers.items():
        if code not in questions:
            errors[code] = ["not a survey question of this campaign's criteria set"]
            continue
        try:
            parsed[code] = parse_answer(raw)
        except ValueError as exc:
            errors[code] = [str(exc)]
    try:
        mode = parse_mode(mode)
    except ValueError as exc:
        errors["mode"] = [str(exc)]
    if errors:
        raise InvalidInput("form refused: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
    data = FormData(case, grp.code, number, (surveyor or "").strip() or None, mode, parsed, commune_code)
    stored = existing_forms(campaign).get((case.commune_id, grp.code, number))
    outcome = upsert_form(campaign, data, stored, actor=actor, now=now)
    if outcome != "unchanged":
        audit.record("survey.forms_recorded", actor=actor, now=now, case=case, subject=grp.code,
                     after={"created" if outcome == "created" else "updated": {grp.code: [number]}})
    flush()
    return outcome


# --- progress ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgressRow:
    """Forms of one group about one commune (``commune_code`` None for a group with a fixed total)."""

    commune_code: str | None
    commune_name: str | None
    group: str
    group_name: str
    quota: int
    issued: int
    returned: int
    status: str

    def as_json(self) -> dict:
        return {"commune_code": self.commune_code, "group": self.group, "quota": self.quota,
                "issued": self.issued, "returned": self.returned}


@dataclass
class Progress:
    due: RolledDate | None
    today: dt.date
    working_days_left: int | None
    rows: list[ProgressRow] = field(default_factory=list)

    def lagging(self) -> dict[str, list[ProgressRow]]:
        """Communes with a group still short of its quota after the due date, their late rows by code."""
        out: dict[str, list[ProgressRow]] = {}
        for row in self.rows:
            if row.status == LATE and row.commune_code is not None:
                out.setdefault(row.commune_code, []).append(row)
        return out


def _status(quota: int, returned: int, today: dt.date, due: dt.date | None, left: int | None) -> str:
    if quota <= 0:
        return NO_QUOTA
    if returned >= quota:
        return COMPLETE
    if due is None:
        return OPEN
    if today > due:
        return LATE
    return DUE_SOON if left is not None and left <= DUE_SOON_WORKING_DAYS else ON_TRACK


def today_of(campaign: Campaign, now: dt.datetime) -> dt.date:
    return now.astimezone(reminders.zone_of(campaign)).date()


def progress(campaign: Campaign, *, now: dt.datetime, commune_ids: set[int] | None = None) -> Progress:
    """Quota, issued and returned per commune and group (``commune_ids`` narrows to those communes).

    Issued counts the recorded batches, but never fewer than returned: a returned form was issued.
    """
    today = today_of(campaign, now)
    due = survey_due(campaign)
    left = reminders.calendar_of(campaign).working_days_between(today, due.date) if due else None
    result = Progress(due, today, left)
    groups = groups_of(campaign)
    if not groups:
        return result
    communes = list(db.session.execute(
        select(Commune.id, Commune.code, Commune.name).join(Case, Case.commune_id == Commune.id)
        .where(Case.campaign_id == campaign.id).order_by(Commune.code)))
    issued: dict[tuple[int, str], int] = defaultdict(int)
    for commune_id, grp, n in db.session.execute(
            select(SurveyIssue.commune_id, SurveyIssue.group, func.sum(SurveyIssue.count))
            .where(SurveyIssue.campaign_id == campaign.id).group_by(SurveyIssue.commune_id, SurveyIssue.group)):
        issued[(commune_id, grp)] = int(n or 0)
    returned: dict[tuple[int, str], int] = defaultdict(int)
    for commune_id, grp, n in db.session.execute(
            select(SurveyForm.commune_id, SurveyForm.group, func.count(SurveyForm.id))
            .where(SurveyForm.campaign_id == campaign.id).group_by(SurveyForm.commune_id, SurveyForm.group)):
        returned[(commune_id, grp)] = int(n)
    due_date = due.date if due else None
    for commune_id, code, name in communes:
        if commune_ids is not None and commune_id not in commune_ids:
            continue
        for g in groups:
            if not g.tied_to_commune:
                continue
            quota, back = g.quota(code), returned[(commune_id, g.code)]
            out = max(issued[(commune_id, g.code)], back)
            result.rows.append(ProgressRow(code, name, g.code, g.name, quota, out, back,
                                           _status(quota, back, today, due_date, left)))
    if commune_ids is None:
        for g in groups:
            if g.tied_to_commune:
                continue
            back = sum(n for (_, grp), n in returned.items() if grp == g.code)
            out = max(sum(n for (_, grp), n in issued.items() if grp == g.code), back)
            result.rows.append(ProgressRow(None, None, g.code, g.name, int(g.total or 0), out, back,
                                           _status(int(g.total or 0), back, today, due_date, left)))
    return result


# --- conversion (workflow.survey_points) ------------------------------------------------------------

def compute(campaign: Campaign, weights: Weights | None = None):
    """Points per commune id and survey sub-criterion from the stored answers (see workflow.survey_points)."""
    from . import survey_points

    return survey_points.compute(campaign, weights)


def convert(campaign: Campaign, *, actor: User | None, now: dt.datetime, commune_codes: list[str] | None = None):
    """Record the survey points on every open case; returns a ConversionReport (see workflow.survey_points)."""
    from . import survey_points

    return survey_points.convert(campaign, actor=actor, now=now, commune_codes=commune_codes)


def import_file(campaign: Campaign, path_or_stream, *, actor: User | None = None, now: dt.datetime,
                filename: str | None = None, max_bytes: int | None = None):
    """Import returned forms from a .csv or .xlsx path or binary stream; returns the ImportReport.

    All rows or none: a refused row writes nothing (``report.ok`` is False, ``report.problems`` says why).
    The caller commits. See workflow.survey_import for the column layout.
    """
    from . import survey_import

    return survey_import.import_file(campaign, path_or_stream, actor=actor, now=now, filename=filename,
                                     max_bytes=max_bytes)


# --- who sees what --------------------------------------------------------------------------------

def campaign_by_key(key: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.key == key))


def progress_scope(user: User, campaign: Campaign) -> set[int] | None:
    """The communes ``user`` may follow: None for all (campaign-wide readers, the campaign's council),
    their own commune for commune officers and chairs with a case here; NotPermitted otherwise."""
    from states import COMMUNE_SCOPED_ROLES

    from . import access

    if not user.is_active:
        raise NotPermitted("This account is disabled.")
    if user.roles & access.CAMPAIGN_WIDE_READERS or access.holds_seat(user, campaign.id):
        return None
    if user.roles & COMMUNE_SCOPED_ROLES and user.commune_id is not None and db.session.scalar(
            select(Case.id).where(Case.campaign_id == campaign.id, Case.commune_id == user.commune_id)):
        return {user.commune_id}
    raise NotPermitted("You may not see this campaign's survey.")


def can_write(user: User) -> bool:
    return user.is_active and user.has_role(Role.secretariat, Role.secretariat_head, Role.admin)
