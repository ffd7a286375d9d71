"""Open next year's campaign from this year's: propose a plan with new dates, then load it as any plan.

The proposal is the stored campaign written back as a plan file (the same communes, officers, council,
reminders, survey design and bands) with the new key, year and title, and every date moved to the new
year. A moved due that lands on a weekend or holiday of the new plan's calendar is written as the next
working day (Civil Code 2015, art. 148), and the operator is told which dates moved and why. The operator
reads (and may edit) the YAML; ``open_next_campaign`` then loads it through ``plans.load_plan`` (never a
second way to create a campaign), links the new campaign to its predecessor and carries forward the open
remediation items, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from dataclasses import dataclass, field
from decimal import Decimal

import yaml
from sqlalchemy import func, select

from models import Campaign, Case, Commune, User, db
from states import STAGE_ORDER, Role

from . import access, audit, plans
from .calendar import WorkingCalendar, month_due
from .errors import InvalidInput
from .schemas.common import canonical_sha256
from .schemas.plan import KEY

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class DateMove:
    """One date of the plan moved to the new year, and where art. 148 put it."""

    path: str  # where in the plan, e.g. "stages.self_assessment.due"
    before: str  # as the old plan wrote it
    moved: str  # the same day (or month) in the new year
    after: str  # what the proposal writes
    reason: str  # why ``after`` differs from ``moved`` ("" when it does not)
    reason_vi: str


@dataclass
class Proposal:
    """The proposed plan of the new campaign, with the dates that moved."""

    source: Campaign
    plan: dict
    moves: list[DateMove] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.plan["campaign"]["key"]

    def to_yaml(self) -> str:
        """The plan as a YAML file (Vietnamese kept as is) that ``flask campaign load`` also reads."""
        return yaml.safe_dump(self.plan, allow_unicode=True, sort_keys=False, width=120)


# --- reading the stored campaign back as a plan ------------------------------------------------------

def _person(user: User) -> dict:
    return {"name": user.name, "email": user.email}


def _points(text) -> int | float:
    number = Decimal(str(text))
    return int(number) if number == number.to_integral_value() else float(number)


def _commune_people(commune_ids: list[int]) -> dict[int, dict[str, list[User]]]:
    """Active officers and chairs of each commune, by e-mail: one query."""
    found: dict[int, dict[str, list[User]]] = {cid: {"officers": [], "chairs": []} for cid in commune_ids}
    users = db.session.scalars(select(User).where(User.commune_id.in_(commune_ids), User.active.is_(True))
                               .order_by(User.email))
    for user in users:
        if Role.commune_officer in user.roles:
            found[user.commune_id]["officers"].append(user)
        if Role.commune_chair in user.roles:
            found[user.commune_id]["chairs"].append(user)
    return found


def plan_of(campaign: Campaign) -> dict:
    """The stored campaign as a plan file's data (the format of plan-format.md), dates as stored."""
    info = {"key": campaign.key, "year": campaign.year, "authority": campaign.authority.name,
            "title": campaign.title, "reference": campaign.reference,
            "timezone": campaign.timezone or "Asia/Ho_Chi_Minh", "criteria_set": campaign.criteria_set.key}
    plan: dict = {"campaign": {k: v for k, v in info.items() if v is not None}}
    cal = campaign.calendar or {}
    plan["calendar"] = {"country": cal.get("country") or "VN",
                        "extra_holidays": list(cal.get("extra_holidays") or []),
                        "extra_working_days": list(cal.get("extra_working_days") or [])}

    staff: dict[str, list[User]] = {}
    for row in sorted(campaign.staff, key=lambda r: r.user.email):
        if row.user.active:
            staff.setdefault(row.part, []).append(row.user)
    if staff.get("secretariat_head"):
        plan["secretariat"] = {"name": campaign.secretariat_name or "",
                               "head": _person(staff["secretariat_head"][0]),
                               "members": [_person(u) for u in staff.get("secretariat", [])]}
        if not plan["secretariat"]["name"]:
            del plan["secretariat"]["name"]  # the loader names what is missing
    if staff.get("authority_leader"):
        plan["authority_leader"] = _person(staff["authority_leader"][0])

    communes = db.session.scalars(select(Commune).join(Case, Case.commune_id == Commune.id)
                                  .where(Case.campaign_id == campaign.id).order_by(Commune.code)).all()
    people = _commune_people([c.id for c in communes])
    plan["communes"] = []
    for commune in communes:
        entry: dict = {"code": commune.code, "name": commune.name,
                       "officers": [_person(u) for u in people[commune.id]["officers"]]}
        if people[commune.id]["chairs"]:
            entry["chair"] = _person(people[commune.id]["chairs"][0])
        for extra in ("email", "phone", "address"):
            if getattr(commune, extra):
                entry[extra] = getattr(commune, extra)
        plan["communes"].append(entry)

    seats = sorted(campaign.council, key=lambda s: (not s.is_chair, s.user.email))
    chair = next((s.user for s in seats if s.is_chair), None)
    if chair is not None:
        plan["council"] = {"chair": _person(chair),
                           "members": [_person(s.user) for s in seats if s.user is not chair and s.user.active],
                           "quorum": campaign.quorum, "chair_required": bool(campaign.chair_required)}
    order = [s.value for s in STAGE_ORDER]
    plan["stages"] = {d.stage: {"due": d.raw}
                      for d in sorted(campaign.stage_dues, key=lambda d: order.index(d.stage))}
    if campaign.sign_off and chair is not None:
        plan["sign_off"] = list(campaign.sign_off)
    if campaign.reminders:
        plan["reminders"] = dict(campaign.reminders)
    if campaign.survey:
        survey: dict = {}
        if campaign.survey.get("due"):
            survey["due"] = campaign.survey["due"]
        survey["groups"] = [{k: v for k, v in g.items() if v is not None} for g in campaign.survey["groups"]]
        plan["survey"] = survey
    if campaign.classification:
        plan["classification"] = [{"min": _points(b["min"]), "label": b["label"]} for b in campaign.classification]
    return plan


# --- moving the dates --------------------------------------------------------------------------------

def _shift_day(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year: the last day of February
        return day.replace(year=day.year + years, day=28)


def _shift_raw(raw: str, years: int) -> str:
    """A plan date (``YYYY-MM-DD`` or ``YYYY-MM``) in the same place of the year ``years`` later."""
    text = str(raw).strip()
    m = _MONTH.match(text)
    if m:
        return f"{int(m.group(1)) + years:04d}-{m.group(2)}"
    return _shift_day(dt.date.fromisoformat(text), years).isoformat()


def _move_due(path: str, raw: str, years: int, cal: WorkingCalendar) -> DateMove:
    """Art. 148: a moved due on a non-working day is written as the next working day. A month-level due
    keeps its form (its last day is resolved, and rolled, when the deadlines open)."""
    moved = _shift_raw(raw, years)
    if _MONTH.match(moved):
        year, month = (int(x) for x in moved.split("-"))
        rolled = cal.roll_forward(month_due(year, month))
        if rolled.date == month_due(year, month):
            return DateMove(path, str(raw), moved, moved, "", "")
        return DateMove(path, str(raw), moved, moved, "month kept; " + rolled.explanation,
                        "giữ theo tháng; " + rolled.explanation_vi)
    day = dt.date.fromisoformat(moved)
    rolled = cal.roll_forward(day)
    if rolled.date == day:
        return DateMove(path, str(raw), moved, moved, "", "")
    return DateMove(path, str(raw), moved, rolled.date.isoformat(), rolled.explanation, rolled.explanation_vi)


def default_title(source: Campaign, year: int) -> str | None:
    """The old title with its year replaced ("… năm 2023" -> "… năm 2024")."""
    if not source.title:
        return None
    return source.title.replace(str(source.year), str(year))


def _check_new(source: Campaign, key: str, year) -> None:
    errors: dict[str, list[str]] = {}
    key = (key or "").strip()
    if not KEY.match(key):
        errors["key"] = [f"{key!r} is not a campaign key: lower-case letters, digits, '.', '_' or '-' "
                         "(like nui-thanh-2024)"]
    else:
        existing = db.session.scalar(select(Campaign).where(Campaign.key == key))
        if existing is not None:
            errors["key"] = [f"a campaign with key {key} already exists (year {existing.year}); choose another key"]
    if isinstance(year, bool) or not isinstance(year, int):
        errors["year"] = [f"{year!r} is not a year"]
    elif not source.year < year <= 2100:
        errors["year"] = [f"the new year must come after {source.year} (got {year})"]
    if errors:
        first = next(iter(errors.values()))[0]
        raise InvalidInput(first, errors)


def propose(source: Campaign, *, key: str, year: int, title: str | None = None) -> Proposal:
    """Next year's plan from ``source``: new key, year and title, every date moved; nothing is written.

    InvalidInput (naming the field) when the key is taken or malformed, or the year is not later."""
    _check_new(source, key, year)
    years = year - source.year
    plan = plan_of(source)
    info = plan["campaign"]
    info["key"], info["year"] = key.strip(), year
    info.pop("reference", None)  # the new plan has its own decision number
    new_title = (title or "").strip() or default_title(source, year)
    if new_title:
        info["title"] = new_title
    else:
        info.pop("title", None)
    proposal = Proposal(source=source, plan=plan)
    # the calendar's own dates first: the dues roll against the new year's local holidays
    for name in ("extra_holidays", "extra_working_days"):
        days = plan["calendar"][name]
        for i, raw in enumerate(days):
            moved = _shift_raw(raw, years)
            days[i] = moved
            proposal.moves.append(DateMove(
                f"calendar.{name}[{i}]", raw, moved, moved,
                "a local date of the old year, copied: check it against the new year's decisions",
                "ngày địa phương của năm trước, được sao chép: kiểm tra lại theo quyết định năm mới"))
    cal = WorkingCalendar.from_plan(plan["calendar"])
    for stage, block in plan["stages"].items():
        move = _move_due(f"stages.{stage}.due", block["due"], years, cal)
        block["due"] = move.after
        proposal.moves.append(move)
    if plan.get("survey", {}).get("due"):
        move = _move_due("survey.due", plan["survey"]["due"], years, cal)
        plan["survey"]["due"] = move.after
        proposal.moves.append(move)
    return proposal


# --- loading the new campaign ------------------------------------------------------------------------

@dataclass(frozen=True)
class RolloverResult:
    campaign: Campaign
    report: plans.LoadReport
    cases: int
    carried_forward: int | None  # None: the remediation module is not installed


def _carry_forward(source: Campaign, target: Campaign, actor: User, now: dt.datetime) -> int | None:
    """Open remediation items of ``source`` attached to the same communes' cases in ``target``."""
    if importlib.util.find_spec("workflow.remediation") is None:
        return None
    from . import remediation

    return remediation.carry_forward(source, target, actor=actor, now=now)


def open_next_campaign(source: Campaign, data, *, actor: User, now: dt.datetime,
                       source_sha256: str | None = None) -> RolloverResult:
    """Create the campaign ``data`` describes (a proposal, maybe edited) as the successor of ``source``.

    Refuses (nothing written) when the actor is not the secretariat, or the plan names an existing key:
    a rollover creates a campaign, it never updates one in place. The caller commits."""
    access.require_secretariat(actor)
    info = data.get("campaign") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise InvalidInput("campaign: required (the new campaign's key, year, ...)", {"campaign": ["required"]})
    _check_new(source, info.get("key"), info.get("year"))
    report = plans.load_plan(data, actor=actor, now=now, source_sha256=source_sha256 or canonical_sha256(data))
    target = report.campaign
    target.previous_campaign_id = source.id
    db.session.flush()
    n_cases = db.session.scalar(select(func.count(Case.id)).where(Case.campaign_id == target.id)) or 0
    carried = _carry_forward(source, target, actor, now)
    audit.record("campaign.rolled_over", actor=actor, now=now, campaign_id=target.id, subject=target.key,
                 before={"campaign": source.key, "year": source.year},
                 after={"campaign": target.key, "year": target.year, "previous_campaign": source.key,
                        "cases": n_cases, "remediation_items_carried_forward": carried})
    db.session.flush()
    return RolloverResult(campaign=target, report=report, cases=n_cases, carried_forward=carried)
