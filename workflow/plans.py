"""Campaign plans: validate a plan file as a whole, then create or update the campaign in place.

Loading is idempotent: the same file twice changes nothing and writes no audit event the second
time. A bad file is refused as a whole (``PlanInvalid`` listing every problem by its path) and
nothing is written. Users are matched by e-mail (lower-cased), communes by code.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import ValidationError
from sqlalchemy import insert, select

from models import (
    Authority,
    Campaign,
    CampaignStaff,
    CampaignStageDue,
    Case,
    Commune,
    CouncilSeat,
    CriteriaSet,
    Deadline,
    Score,
    User,
    UserRole,
    db,
)
from states import COMMUNE_SCOPED_ROLES, TRANSITIONS, Role, Stage

from . import access, audit, cases, deadlines
from .calendar import WorkingCalendar
from .criteria_sets import latest
from .errors import PlanInvalid
from .schemas.common import N_, TOP_LEVEL, Problem, canonical_sha256, flatten, join_path, read_file
from .schemas.plan import (
    BLOCKS,
    SIGN_OFF_TRANSITIONS,
    STAGES,
    BandSchema,
    CalendarSchema,
    CampaignSchema,
    CouncilSchema,
    PersonSchema,
    RemindersSchema,
    SecretariatSchema,
    StageDueSchema,
    SurveySchema,
    load_communes,
)

WHAT = "plan file"
_BAD = object()  # a block that failed validation (its problems are already listed)


# --- validation ----------------------------------------------------------------------------------


@dataclass
class Person:
    """Everyone the plan names, with every part they play (one row per e-mail)."""

    email: str
    name: str
    path: str
    roles: set[Role] = field(default_factory=set)
    commune: str | None = None  # code, for commune-scoped roles
    commune_path: str | None = None
    parts: set[str] = field(default_factory=set)  # campaign staff parts


@dataclass
class ValidPlan:
    campaign: dict
    calendar: dict
    secretariat: dict | None
    authority_leader: dict | None
    communes: list[dict]
    council: dict | None
    stages: dict[str, tuple[str, dt.date]]
    sign_off: list[str]
    reminders: dict
    survey: dict | None
    classification: list[dict]
    people: dict[str, Person]
    criteria_set: CriteriaSet | None = None


def _block(raw: dict, name: str, load, problems: list[Problem], default=None):
    if name not in raw or raw[name] is None:
        return default
    try:
        return load(raw[name])
    except ValidationError as exc:
        problems.extend(flatten(exc.messages, name))
        return _BAD


def _stages(raw, problems: list[Problem]) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem("stages", N_("not a mapping (stage: {due: YYYY-MM-DD})")))
        return _BAD
    out = {}
    for key, value in raw.items():
        path = join_path("stages", str(key))
        if key not in STAGES:
            problems.append(Problem(path, N_("unknown stage (stages are: %(stages)s)", stages=", ".join(STAGES))))
            continue
        try:
            out[key] = StageDueSchema().load(value if isinstance(value, dict) else {"due": value})["due"]
        except ValidationError as exc:
            problems.extend(flatten(exc.messages, path))
    return out


def _sign_off(raw, problems: list[Problem]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem("sign_off", N_("not a list of transition names")))
        return _BAD
    out = []
    for i, name in enumerate(raw):
        path = join_path("sign_off", i)
        if not isinstance(name, str) or name not in TRANSITIONS:
            problems.append(Problem(path, N_("unknown transition %(name)s (may be under sign-off: %(allowed)s)",
                                             name=repr(name), allowed=", ".join(SIGN_OFF_TRANSITIONS))))
        elif name not in SIGN_OFF_TRANSITIONS:
            problems.append(Problem(path, N_("'%(name)s' cannot be put under council sign-off (may be: %(allowed)s)",
                                             name=name, allowed=", ".join(SIGN_OFF_TRANSITIONS))))
        elif name in out:
            problems.append(Problem(path, N_("'%(name)s' is listed twice", name=name)))
        else:
            out.append(name)
    return out


def _classification(raw, problems: list[Problem]) -> list[dict]:
    if raw is None:
        return []
    try:
        bands = BandSchema(many=True).load(raw)
    except ValidationError as exc:
        problems.extend(flatten(exc.messages, "classification"))
        return _BAD
    if not bands:
        problems.append(Problem("classification", N_("list at least one band, or leave the block out")))
    for i in range(1, len(bands)):
        if bands[i]["min"] >= bands[i - 1]["min"]:
            problems.append(Problem(f"classification[{i}].min", N_(
                "%(min)s must be lower than the band above (%(above)s); bands go highest first",
                min=bands[i]["min"], above=bands[i - 1]["min"])))
    return bands


def _duplicate_codes(raw, problems: list[Problem]) -> None:
    if not isinstance(raw, list):
        return
    seen: dict[str, int] = {}
    for i, commune in enumerate(raw):
        code = commune.get("code") if isinstance(commune, dict) else None
        if not isinstance(code, str):
            continue
        code = code.strip()
        if code in seen:
            problems.append(Problem(f"communes[{i}].code", N_("duplicate code %(code)s (also communes[%(other)s])",
                                                              code=code, other=seen[code])))
        else:
            seen[code] = i


def _collect_people(plan: ValidPlan, problems: list[Problem]) -> dict[str, Person]:
    people: dict[str, Person] = {}

    def add(person: dict, path: str, roles: tuple[Role, ...], commune: str | None = None,
            part: str | None = None):
        found = people.get(person["email"])
        if found is None:
            found = people[person["email"]] = Person(person["email"], person["name"], path)
        elif found.name != person["name"]:
            problems.append(Problem(f"{path}.name", N_(
                "%(name)s differs from %(other)s given for %(email)s at %(at)s", name=repr(person["name"]),
                other=repr(found.name), email=person["email"], at=found.path)))
        if commune is not None:
            if found.commune is not None and found.commune != commune:
                problems.append(Problem(f"{path}.email", N_(
                    "%(email)s already acts for commune %(commune)s at %(at)s; a person acts for one commune only",
                    email=person["email"], commune=found.commune, at=found.commune_path)))
            else:
                found.commune, found.commune_path = commune, path
        found.roles.update(roles)
        if part:
            found.parts.add(part)

    if plan.secretariat:
        add(plan.secretariat["head"], "secretariat.head", (Role.secretariat, Role.secretariat_head),
            part="secretariat_head")
        for i, m in enumerate(plan.secretariat["members"]):
            add(m, f"secretariat.members[{i}]", (Role.secretariat,), part="secretariat")
    if plan.authority_leader:
        add(plan.authority_leader, "authority_leader", (Role.authority_leader,), part="authority_leader")
    for i, c in enumerate(plan.communes):
        for j, officer in enumerate(c["officers"]):
            add(officer, f"communes[{i}].officers[{j}]", (Role.commune_officer,), commune=c["code"])
        if c.get("chair"):
            add(c["chair"], f"communes[{i}].chair", (Role.commune_chair,), commune=c["code"])
    if plan.council:
        add(plan.council["chair"], "council.chair", (Role.council_member, Role.council_chair))
        for i, m in enumerate(plan.council["members"]):
            add(m, f"council.members[{i}]", (Role.council_member,))
    return people


def _cross_checks(plan: ValidPlan, problems: list[Problem]) -> None:
    """Checks that read two blocks; each runs only when the blocks it reads are valid."""
    year = plan.campaign["year"] if plan.campaign is not _BAD else None
    if year is not None and plan.stages is not _BAD:
        for stage, (raw, due) in plan.stages.items():
            if not year - 1 <= due.year <= year + 1:
                problems.append(Problem(f"stages.{stage}.due", N_(
                    "%(due)s is far from the campaign year %(year)s", due=raw, year=year)))
    if year is not None and plan.survey not in (None, _BAD) and "due" in plan.survey:
        raw, due = plan.survey["due"]
        if not year - 1 <= due.year <= year + 1:
            problems.append(Problem("survey.due", N_("%(due)s is far from the campaign year %(year)s",
                                                     due=raw, year=year)))
    if plan.sign_off not in (_BAD, []) and plan.council is None:
        problems.append(Problem("sign_off", N_("council sign-off needs a council block")))
    if plan.reminders is not _BAD:
        for i, esc in enumerate(plan.reminders["escalations"]):
            path = f"reminders.escalations[{i}].to"
            if "secretariat_head" in esc["to"] and plan.secretariat is None:
                problems.append(Problem(path, N_("secretariat_head needs a secretariat block with a head")))
            if "authority_leader" in esc["to"] and plan.authority_leader is None:
                problems.append(Problem(path, N_("authority_leader needs an authority_leader block")))
            if "commune_chair" in esc["to"] and plan.communes is not _BAD:
                missing = [c["code"] for c in plan.communes if not c.get("chair")]
                if missing:
                    problems.append(Problem(path, N_("commune_chair, but these communes name no chair: %(codes)s",
                                                     codes=", ".join(missing))))
    if plan.survey not in (None, _BAD) and plan.communes is not _BAD:
        codes = [c["code"] for c in plan.communes]
        for i, group in enumerate(plan.survey["groups"]):
            quota = group.get("per_commune")
            if not isinstance(quota, dict):
                continue
            path = f"survey.groups[{i}].per_commune"
            for code in quota:
                if code not in codes:
                    problems.append(Problem(f"{path}.{code}", N_("no commune with code %(code)s in communes",
                                                                 code=code)))
            missing = [c for c in codes if c not in quota]
            if missing:
                problems.append(Problem(path, N_("no number for communes %(codes)s (write 0 where a commune has "
                                                 "none)", codes=", ".join(missing))))


def _database_checks(plan: ValidPlan, problems: list[Problem]) -> None:
    """Checks against what is already stored; read-only."""
    if plan.campaign is _BAD:
        return
    info = plan.campaign
    plan.criteria_set = latest(info["criteria_set"])
    if plan.criteria_set is None:
        problems.append(Problem("campaign.criteria_set", N_(
            "no criteria set %(key)s is loaded (flask criteria load FILE first)", key=repr(info["criteria_set"]))))
    elif plan.classification not in (_BAD, []):
        top = plan.classification[0]["min"]
        if top > plan.criteria_set.total_points:
            problems.append(Problem("classification[0].min", N_("%(min)s is above the criteria set's total %(total)s",
                                                                min=top, total=plan.criteria_set.total_points)))
    existing = db.session.scalar(select(Campaign).where(Campaign.key == info["key"]))
    if existing is not None:
        if existing.authority.name != info["authority"]:
            problems.append(Problem("campaign.authority", N_(
                "campaign %(key)s belongs to %(authority)s; a plan cannot move it", key=info["key"],
                authority=repr(existing.authority.name))))
        if plan.criteria_set is not None and existing.criteria_set_id != plan.criteria_set.id:
            scored = db.session.scalar(select(Score.id).join(Case).where(Case.campaign_id == existing.id).limit(1))
            if scored is not None:
                problems.append(Problem("campaign.criteria_set", N_(
                    "cannot change to %(new)s: cases of %(key)s already hold scores against %(old)s",
                    new=plan.criteria_set.label, key=info["key"], old=existing.criteria_set.label)))
        if plan.communes is not _BAD:
            wanted = {c["code"] for c in plan.communes}
            held = db.session.scalars(select(Commune.code).join(Case, Case.commune_id == Commune.id)
                                      .where(Case.campaign_id == existing.id)).all()
            dropped = sorted(set(held) - wanted)
            if dropped:
                problems.append(Problem("communes", N_(
                    "%(codes)s already have cases in %(key)s and cannot be left out (cases keep their history)",
                    codes=", ".join(dropped), key=info["key"])))
    if plan.communes is not _BAD:
        codes = [c["code"] for c in plan.communes]
        stored = {c.code: c for c in db.session.scalars(select(Commune).where(Commune.code.in_(codes)))}
        for i, c in enumerate(plan.communes):
            commune = stored.get(c["code"])
            if commune is not None and commune.authority.name != info["authority"]:
                problems.append(Problem(f"communes[{i}].code", N_(
                    "commune %(code)s belongs to %(authority)s, not %(plan_authority)s", code=c["code"],
                    authority=repr(commune.authority.name), plan_authority=repr(info["authority"]))))
    if plan.people:
        users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(list(plan.people))))}
        for email, person in plan.people.items():
            user = users.get(email)
            if user is None or person.commune is None or user.commune is None:
                continue
            if user.commune.code != person.commune:
                problems.append(Problem(f"{person.commune_path}.email", N_(
                    "%(email)s already acts for commune %(commune)s; a person acts for one commune only",
                    email=email, commune=user.commune.code)))


def validate_plan(data) -> ValidPlan:
    """Every check of the file (including against the database); PlanInvalid lists every problem."""
    if not isinstance(data, dict):
        raise PlanInvalid([Problem(TOP_LEVEL, N_("expected a mapping with campaign, communes, ..."))], what=WHAT)
    problems: list[Problem] = []
    for key in data:
        if key not in BLOCKS:
            problems.append(Problem(str(key), N_("unknown top-level key (the plan's blocks are: %(blocks)s)",
                                                 blocks=", ".join(BLOCKS))))
    for required in ("campaign", "communes"):
        if data.get(required) is None:
            problems.append(Problem(required, N_("required")))
    communes = _block(data, "communes", load_communes, problems, default=_BAD)
    if communes not in (_BAD, None) and not communes:
        problems.append(Problem("communes", N_("list at least one commune")))
    _duplicate_codes(data.get("communes"), problems)
    plan = ValidPlan(
        campaign=_block(data, "campaign", CampaignSchema().load, problems, default=_BAD),
        calendar=_block(data, "calendar", CalendarSchema().load, problems, default=CalendarSchema().load({})),
        secretariat=_block(data, "secretariat", SecretariatSchema().load, problems),
        authority_leader=_block(data, "authority_leader", PersonSchema().load, problems),
        communes=communes,
        council=_block(data, "council", CouncilSchema().load, problems),
        stages=_stages(data.get("stages"), problems),
        sign_off=_sign_off(data.get("sign_off"), problems),
        reminders=_block(data, "reminders", RemindersSchema().load, problems,
                         default=RemindersSchema().load({})),
        survey=_block(data, "survey", SurveySchema().load, problems),
        classification=_classification(data.get("classification"), problems),
        people={},
    )
    _cross_checks(plan, problems)
    if not any(b is _BAD for b in (plan.secretariat, plan.authority_leader, plan.communes, plan.council)):
        plan.people = _collect_people(plan, problems)
    _database_checks(plan, problems)
    if problems:
        raise PlanInvalid(problems, what=WHAT)
    return plan


# --- applying ------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What a load created and updated, for the CLI's one-line summary."""

    campaign: Campaign
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        def words(counter: Counter) -> str:
            return ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counter.items() if n)

        if not self.changed:
            return f"campaign {self.campaign.key}: unchanged (the plan was already loaded)"
        parts = []
        if self.created:
            parts.append("created " + words(self.created))
        if self.updated:
            parts.append("updated " + words(self.updated))
        return f"campaign {self.campaign.key}: " + "; ".join(parts)


def _survey_json(survey: dict | None) -> dict | None:
    if survey is None:
        return None
    out: dict = {"groups": [
        {"code": g["code"], "name": g["name"], "per_commune": g.get("per_commune"), "total": g.get("total")}
        for g in survey["groups"]]}
    if "due" in survey:
        out["due"] = survey["due"][0]
        out["due_date"] = survey["due"][1].isoformat()
    return out


def _desired(plan: ValidPlan, sha: str) -> dict:
    """The campaign as the plan describes it, in the same shape as ``_snapshot``."""
    info, council = plan.campaign, plan.council
    staff: dict[str, list[str]] = {}
    for email, person in plan.people.items():
        for part in person.parts:
            staff.setdefault(part, []).append(email)
    return {
        "year": info["year"], "authority": info["authority"], "title": info.get("title"),
        "reference": info.get("reference"), "timezone": info["timezone"],
        "criteria_set": plan.criteria_set.label,
        "calendar": {"country": plan.calendar["country"],
                     "extra_holidays": sorted(d.isoformat() for d in plan.calendar["extra_holidays"]),
                     "extra_working_days": sorted(d.isoformat() for d in plan.calendar["extra_working_days"])},
        "quorum": council["quorum"] if council else "1/2",
        "chair_required": council["chair_required"] if council else False,
        "sign_off": list(plan.sign_off),
        "reminders": plan.reminders,
        "survey": _survey_json(plan.survey),
        # min is kept as text: exact two-decimal points, compared as Decimal by readers
        "classification": [{"min": f"{b['min']:.2f}", "label": b["label"]} for b in plan.classification],
        "secretariat_name": plan.secretariat["name"] if plan.secretariat else None,
        "stages": {stage: raw for stage, (raw, _) in sorted(plan.stages.items())},
        "council": {"chair": council["chair"]["email"] if council else None,
                    "members": sorted({m["email"] for m in council["members"]} | {council["chair"]["email"]})
                    if council else []},
        "staff": {part: sorted(emails) for part, emails in sorted(staff.items())},
        "plan_sha256": sha,
    }


_COLUMNS = ("year", "title", "reference", "timezone", "calendar", "quorum", "chair_required", "sign_off",
            "reminders", "survey", "classification", "secretariat_name", "plan_sha256")


def _snapshot(campaign: Campaign) -> dict:
    """The stored campaign in the shape of ``_desired``, for diffs and audit before/after."""
    staff: dict[str, list[str]] = {}
    for row in campaign.staff:
        staff.setdefault(row.part, []).append(row.user.email)
    chair = next((s.user.email for s in campaign.council if s.is_chair), None)
    snap = {name: getattr(campaign, name) for name in _COLUMNS}
    snap.update({
        "authority": campaign.authority.name,
        "criteria_set": campaign.criteria_set.label,
        "stages": {d.stage: d.raw for d in sorted(campaign.stage_dues, key=lambda d: d.stage)},
        "council": {"chair": chair, "members": sorted(s.user.email for s in campaign.council)},
        "staff": {part: sorted(emails) for part, emails in sorted(staff.items())},
    })
    return snap


def _sync_users(plan: ValidPlan, communes: dict[str, int], actor, now, report, campaign) -> dict[str, int]:
    """The plan's people by e-mail -> user id: new users and their roles inserted in two statements."""
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(list(plan.people))))}
    entries: list[audit.Entry] = []  # appended to the chain at the end, in this order, in one insert
    new: list[dict] = []  # users to create, inserted at the end in one statement with their roles
    for email, person in plan.people.items():
        commune_id = communes[person.commune] if person.commune else None
        user = users.get(email)
        if user is None:
            if commune_id is None and person.roles & COMMUNE_SCOPED_ROLES:  # as User.grant refuses it
                raise ValueError(f"{email}: a commune-scoped role needs a commune")
            new.append({"email": email, "name": person.name, "commune_id": commune_id, "created_at": now})
            report.created["user"] += 1
            entries.append(audit.Entry("user.created", campaign.id, subject=email,
                                       after={"email": email, "name": person.name, "roles": sorted(person.roles),
                                              "commune": person.commune}))
            continue
        before, after = {}, {}
        if user.name != person.name:
            before["name"], after["name"] = user.name, person.name
            user.name = person.name
        if commune_id is not None and user.commune_id is None:
            before["commune"], after["commune"] = None, person.commune
            user.commune = db.session.get(Commune, commune_id)
        old_roles = sorted(user.roles)
        added = [r for r in sorted(person.roles) if user.grant(r)]
        if added:
            before["roles"], after["roles"] = old_roles, sorted(user.roles)
        if after:
            report.updated["user"] += 1
            entries.append(audit.Entry("user.updated", campaign.id, subject=email, before=before, after=after))
    db.session.flush()
    ids = {email: user.id for email, user in users.items()}
    if new:  # Core statements: no ORM objects for thousands of officers and chairs
        table = User.__table__
        ids.update((row.email, row.id) for row in db.session.execute(
            insert(table).returning(table.c.id, table.c.email), new))  # Core fills the columns' defaults
        db.session.execute(insert(UserRole.__table__), [
            {"user_id": ids[row["email"]], "role": role.value}
            for row in new for role in sorted(plan.people[row["email"]].roles)])
    audit.record_many(entries, actor=actor, now=now)
    return ids


def _sync_communes(plan: ValidPlan, authority: Authority, actor, now, report, campaign) -> dict[str, int]:
    """The plan's communes by code -> id: new ones inserted in one statement, changed ones updated."""
    codes = [c["code"] for c in plan.communes]
    stored = {c.code: c for c in db.session.scalars(select(Commune).where(Commune.code.in_(codes)))}
    entries: list[audit.Entry] = []  # appended to the chain at the end, in this order, in one insert
    new: list[dict] = []  # communes to create, inserted at the end in one statement (Core: no ORM objects)
    for c in plan.communes:
        wanted = {k: c.get(k) for k in ("name", "email", "phone", "address") if k == "name" or k in c}
        commune = stored.get(c["code"])
        if commune is None:
            new.append({"code": c["code"], "authority_id": authority.id, "name": c["name"],
                        "email": c.get("email"), "phone": c.get("phone"), "address": c.get("address")})
            report.created["commune"] += 1
            entries.append(audit.Entry("commune.created", campaign.id, subject=c["code"],
                                       after={"code": c["code"], "authority": authority.name, **wanted}))
            continue
        changed = {k: v for k, v in wanted.items() if getattr(commune, k) != v}
        if changed:
            before = {k: getattr(commune, k) for k in changed}
            for k, v in changed.items():
                setattr(commune, k, v)
            report.updated["commune"] += 1
            entries.append(audit.Entry("commune.updated", campaign.id, subject=c["code"], before=before,
                                       after=changed))
    db.session.flush()
    ids = {code: commune.id for code, commune in stored.items()}
    if new:
        table = Commune.__table__
        made = db.session.execute(insert(table).returning(table.c.code, table.c.id), new)
        ids.update((code, commune_id) for code, commune_id in made)
    audit.record_many(entries, actor=actor, now=now)
    return ids


def _apply_campaign(campaign: Campaign, plan: ValidPlan, desired: dict, changed: set[str],
                    users: dict[str, int]) -> None:
    for name in _COLUMNS:
        if name in changed:
            setattr(campaign, name, desired[name])
    if "criteria_set" in changed:
        campaign.criteria_set = plan.criteria_set
    if "stages" in changed:
        rows = {d.stage: d for d in campaign.stage_dues}
        for stage, (raw, due) in plan.stages.items():
            row = rows.pop(stage, None)
            if row is None:
                campaign.stage_dues.append(CampaignStageDue(stage=stage, raw=raw, due=due))
            elif (row.raw, row.due) != (raw, due):
                row.raw, row.due = raw, due
        for row in rows.values():
            campaign.stage_dues.remove(row)
    if "council" in changed:
        wanted = {email: email == desired["council"]["chair"] for email in desired["council"]["members"]}
        for seat in list(campaign.council):
            if seat.user.email not in wanted:
                campaign.council.remove(seat)
            else:
                seat.is_chair = wanted.pop(seat.user.email)
        for email, is_chair in wanted.items():
            campaign.council.append(CouncilSeat(user_id=users[email], is_chair=is_chair))
    if "staff" in changed:
        wanted_parts = {(email, part) for part, emails in desired["staff"].items() for email in emails}
        for row in list(campaign.staff):
            key = (row.user.email, row.part)
            if key in wanted_parts:
                wanted_parts.discard(key)
            else:
                campaign.staff.remove(row)
        for email, part in sorted(wanted_parts):
            campaign.staff.append(CampaignStaff(user_id=users[email], part=part))


def _refresh_open_deadlines(campaign: Campaign, actor, now: dt.datetime) -> int:
    """After a change of dues or calendar: move the open stage deadlines of running cases."""
    cal = WorkingCalendar.from_plan(campaign.calendar)
    moved = 0
    rows = db.session.execute(select(Deadline, Case).join(Case, Deadline.case_id == Case.id).where(
        Case.campaign_id == campaign.id, Deadline.kind == "stage", Deadline.completed_at.is_(None),
        Deadline.stage == Case.stage)).all()
    for row, case in rows:
        due = campaign.due_for(row.stage)
        if due is None:
            continue
        before = row.due
        deadlines.open_stage_deadline(case, row.stage, cal)
        if row.due != before:
            moved += 1
            audit.record("deadline.moved", actor=actor, now=now, case=case, subject=row.stage,
                         before={"due": before}, after={"due": row.due, "explanation": row.explanation})
    return moved


def load_plan(data: dict, *, actor: User | None, now: dt.datetime, source_sha256: str | None = None) -> LoadReport:
    """Create or update a campaign from a plan (already parsed); the caller commits."""
    plan = validate_plan(data)
    sha = source_sha256 or canonical_sha256(data)
    info = plan.campaign
    report_created, report_updated = Counter(), Counter()

    authority = db.session.scalar(select(Authority).where(Authority.name == info["authority"]))
    if authority is None:
        authority = Authority(name=info["authority"])
        db.session.add(authority)
        db.session.flush()
        report_created["authority"] += 1
        audit.record("authority.created", actor=actor, now=now, subject=authority.name,
                     after={"name": authority.name})

    campaign = db.session.scalar(select(Campaign).where(Campaign.key == info["key"]))
    is_new = campaign is None
    if is_new:
        campaign = Campaign(key=info["key"], year=info["year"], authority=authority,
                            criteria_set=plan.criteria_set, created_at=now, calendar={}, sign_off=[],
                            reminders={}, classification=[])
        db.session.add(campaign)
        db.session.flush()
        report_created["campaign"] += 1
    report = LoadReport(campaign, report_created, report_updated)

    communes = _sync_communes(plan, authority, actor, now, report, campaign)
    users = _sync_users(plan, communes, actor, now, report, campaign)

    desired = _desired(plan, sha)
    before = {} if is_new else _snapshot(campaign)
    changed = set(desired) if is_new else {k for k in desired if before.get(k) != desired[k]}
    if changed:
        _apply_campaign(campaign, plan, desired, changed, users)
        db.session.flush()
        if is_new:
            audit.record("campaign.created", actor=actor, now=now, campaign_id=campaign.id, subject=campaign.key,
                         after={"key": campaign.key, **desired})
        else:
            report.updated["campaign"] += 1
            audit.record("campaign.updated", actor=actor, now=now, campaign_id=campaign.id, subject=campaign.key,
                         before={k: before.get(k) for k in sorted(changed)},
                         after={k: desired[k] for k in sorted(changed)})

    have = set(db.session.scalars(select(Case.commune_id).where(Case.campaign_id == campaign.id)))
    missing = {c["code"]: communes[c["code"]] for c in plan.communes if communes[c["code"]] not in have}
    if missing:
        cases.create_cases(campaign, missing, actor=actor, now=now)
        report.created["case"] += len(missing)

    if not is_new and changed & {"stages", "calendar"}:
        moved = _refresh_open_deadlines(campaign, actor, now)
        if moved:
            report.updated["deadline"] += moved
    db.session.flush()
    return report


def load_plan_file(path, *, actor: User | None, now: dt.datetime) -> LoadReport:
    """``load_plan`` on a YAML (safe loader only) or JSON file; records the file's SHA-256."""
    data, sha = read_file(path, what=WHAT)
    return load_plan(data, actor=actor, now=now, source_sha256=sha)


# --- starting ------------------------------------------------------------------------------------


def cases_in_planning(campaign: Campaign) -> list[Case]:
    """The campaign's cases not yet opened, by commune code."""
    return list(db.session.scalars(
        select(Case).join(Commune).where(Case.campaign_id == campaign.id, Case.stage == Stage.planning.value)
        .order_by(Commune.code)))


def check_can_start(campaign: Campaign, actor: User | None, waiting: list[Case] | None = None) -> None:
    """NotPermitted unless ``actor`` may open the campaign's cases (checked before any is opened)."""
    waiting = cases_in_planning(campaign) if waiting is None else waiting
    if waiting:
        access.require_fire(actor, waiting[0], TRANSITIONS["open"])


def start_campaign(campaign: Campaign, actor: User, *, now: dt.datetime,
                   progress: Callable[[int], object] | None = None) -> int:
    """Fire ``open`` on every case still in planning (each with its audit event); the count opened."""
    waiting = cases_in_planning(campaign)
    check_can_start(campaign, actor, waiting)
    opened = 0
    for i in range(0, len(waiting), 1000):  # in batches, so a progress bar moves
        batch = waiting[i:i + 1000]
        opened += cases.fire_many(batch, "open", actor, now=now)
        if progress is not None:
            progress(len(batch))
    return opened
