"""Remediation plans (kế hoạch khắc phục): drafted from the lost points after publication, filled in by
the commune officer, submitted, returned or followed up by the secretariat, chased by the deadline sweep.

Every operation takes the actor and ``now``, writes its audit event in the caller's transaction and
flushes; the entry point commits. An item's due date becomes a deadline row (stage and kind
``remediation``, ``round`` = the item's id) that the reminder sweep turns into e-mails to the commune's
officers like any stage deadline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.orm.attributes import flag_modified

from models import Campaign, Case, CriteriaItem, Deadline, RemediationItem, RemediationPlan, Score, User, db
from states import Role, Stage

from . import access, audit, txn
from .clock import local_date
from .deadlines import calendar_of
from .errors import Conflict, InvalidInput, NotFound, NotPermitted
from .reminders import first_notice_at
from .txn import guarded

DEADLINE_STAGE = "remediation"  # Deadline.stage and Deadline.kind of an item's due date
EDITABLE = ("draft", "returned")
RESPONSIBLE_MAX = 200
ACTION_MAX = 4000
ZERO = Decimal("0.00")
# an item's status once a correction after publication gave its sub-criterion full points (re-draft)
CLEARED = "cleared"


class PlanIncomplete(InvalidInput):
    """Submission refused: ``missing`` lists (code, [fields]) of the open items not filled in."""

    code = "plan-incomplete"

    def __init__(self, missing: list[tuple[str, list[str]]]):
        self.missing = missing
        super().__init__("The plan cannot be submitted; incomplete items: "
                         + "; ".join(f"{code} ({', '.join(fields)})" for code, fields in missing),
                         {code: fields for code, fields in missing})


class ItemsRefused(InvalidInput):
    """Some rows of the plan form are invalid; nothing was saved. ``item_errors``: code -> field -> reasons."""

    code = "items-refused"

    def __init__(self, item_errors: dict[str, dict[str, list[str]]]):
        self.item_errors = item_errors
        super().__init__(f"{len(item_errors)} item(s) have problems; nothing was saved: " + "; ".join(
            f"{code}: {', '.join(r for rs in fields.values() for r in rs)}" for code, fields in item_errors.items()),
            {code: [r for rs in fields.values() for r in rs] for code, fields in item_errors.items()})


@dataclass(frozen=True)
class LostPoints:
    """A sub-criterion below its maximum in a published case."""

    code: str
    title_vi: str
    max_points: Decimal
    obtained: Decimal
    cause: str | None

    @property
    def lost(self) -> Decimal:
        return self.max_points - self.obtained


@dataclass(frozen=True)
class ItemRow:
    """What the plan form posts for one item (``due`` as typed: YYYY-MM-DD or dd/mm/yyyy)."""

    item_id: int
    responsible: str | None = None
    action: str | None = None
    due: str | None = None


# --- reading ------------------------------------------------------------------------------------

_LEAVES_WITH_SCORES = (
    select(CriteriaItem.code, CriteriaItem.title_vi, CriteriaItem.max_points, CriteriaItem.method,
           Score.not_applicable, Score.appraised_score, Score.survey_score, Score.appraiser_note)
    .outerjoin(Score, and_(Score.item_id == CriteriaItem.id, Score.case_id == bindparam("case_id")))
    .where(CriteriaItem.criteria_set_id == bindparam("set_id"), CriteriaItem.method.is_not(None))
    .order_by(CriteriaItem.position))


def lost_points(case: Case) -> list[LostPoints]:
    """Every sub-criterion whose final score is below its maximum, in criteria order (N/A items are skipped)."""
    out = []
    for code, title, max_points, method, not_applicable, appraised, survey, note in txn.connection().execute(
            _LEAVES_WITH_SCORES, {"case_id": case.id, "set_id": case.campaign.criteria_set_id}):
        if not_applicable:
            continue
        # the score that counts (Score.final): survey points for survey items, else the appraised score;
        # unscored counts as nothing, as in the index
        obtained = (survey if method == "survey" else appraised) or ZERO
        if obtained < max_points:
            out.append(LostPoints(code, title, max_points, obtained, note or None))
    return out


def plan_of(case: Case) -> RemediationPlan | None:
    return db.session.scalar(select(RemediationPlan).where(RemediationPlan.case_id == case.id))


def item_of(plan: RemediationPlan, item_id: int) -> RemediationItem:
    found = next((i for i in plan.items if i.id == item_id), None)
    if found is None:
        raise NotFound(f"no item {item_id} in this remediation plan")
    return found


def incomplete_items(plan: RemediationPlan) -> list[tuple[str, list[str]]]:
    """(code, missing fields) of every open item still lacking a responsible person, an action or a due date."""
    out = []
    for item in plan.items:
        if item.status != "open":
            continue
        missing = [name for name in ("responsible", "action", "due") if not getattr(item, name)]
        if missing:
            out.append((item.code, missing))
    return out


def draft_rows(plan: RemediationPlan) -> list[dict]:
    """The plan's items as the CLI prints them: code, max, obtained, lost, cause."""
    return [{"code": i.code, "max": str(i.max_points), "obtained": str(i.obtained), "lost": str(i.lost),
             "cause": i.cause} for i in plan.items]


def previous_items(case: Case) -> dict[str, list[RemediationItem]]:
    """Last year's remediation items of the same commune, by sub-criterion code (the self-assessment form)."""
    stmt = select(RemediationPlan).join(Case, Case.id == RemediationPlan.case_id).join(
        Campaign, Campaign.id == Case.campaign_id).where(Case.commune_id == case.commune_id)
    if case.campaign.previous_campaign_id is not None:  # the campaign it was opened from, when known
        stmt = stmt.where(Campaign.id == case.campaign.previous_campaign_id)
    else:
        stmt = stmt.where(Campaign.year < case.campaign.year).order_by(Campaign.year.desc(), Campaign.id.desc())
    previous = db.session.scalar(stmt.limit(1))
    out: dict[str, list[RemediationItem]] = {}
    for item in previous.items if previous is not None else ():
        out.setdefault(item.code, []).append(item)
    # items carried into this year's plan are last year's items too
    current = plan_of(case)
    for item in current.items if current is not None else ():
        if item.carried_from is not None and item.carried_from not in out.get(item.code, []):
            out.setdefault(item.code, []).append(item.carried_from)
    return out


# --- access -------------------------------------------------------------------------------------

def may_edit(user: User | None, plan: RemediationPlan) -> bool:
    return (user is not None and user.is_active and user.has_role(Role.commune_officer)
            and access.in_commune_scope(user, plan.case))


def _require_officer(user: User, plan: RemediationPlan) -> None:
    if not may_edit(user, plan):
        raise NotPermitted("Only the commune's own officer may fill in its remediation plan.")


def _require_editable(plan: RemediationPlan) -> None:
    if plan.status not in EDITABLE:
        raise NotPermitted(f"The remediation plan is {plan.status}; it can be changed only as a draft or "
                           f"after it is returned.")


def _check_version(plan: RemediationPlan, expected_version: int | None) -> None:
    if expected_version is not None and plan.version != expected_version:
        raise Conflict("The remediation plan was changed by someone else; reload it and try again.")


def _touch(plan: RemediationPlan, now: dt.datetime) -> None:
    """Mark the plan changed, so its version moves on at flush (even when ``now`` equals the stored value)."""
    plan.updated_at = now
    flag_modified(plan, "updated_at")


# --- generating ---------------------------------------------------------------------------------

@guarded()
def generate_plan(case: Case, *, actor: User | None, now: dt.datetime) -> RemediationPlan:
    """The case's plan, drafted from its lost points (idempotent: figures are brought up to date).

    Only a published case has one. An item already in the plan keeps what the commune wrote; its figures
    and cause follow the published scores (a correction after ``reopen`` changes them).
    """
    return db.session.get(RemediationPlan, _generate(case, actor=actor, now=now))


def _generate(case: Case, *, actor: User | None, now: dt.datetime) -> int:
    """``generate_plan``'s work; returns the plan's id."""
    if case.stage_enum != Stage.publication:
        raise NotPermitted(f"A remediation plan is drafted after publication (the case is in {case.stage}).")
    # a bare read first: a case published for the first time (the usual case) has no plan to load
    if txn.connection().execute(_PLAN_ID, {"case_id": case.id}).first() is None:
        return _draft(case, lost_points(case), actor=actor, now=now)
    plan = plan_of(case)
    generated = {i.code: i for i in plan.items if i.carried_from_id is None}
    position = max((i.position for i in plan.items), default=0)
    added, changed, removed, cleared = [], [], [], []
    now_lost = lost_points(case)
    for lost in now_lost:
        row = generated.get(lost.code)
        if row is None:
            position += 1
            row = RemediationItem(plan=plan, position=position, code=lost.code, title_vi=lost.title_vi,
                                  max_points=lost.max_points, obtained=lost.obtained, lost=lost.lost,
                                  cause=lost.cause, status="open")
            db.session.add(row)
            added.append(lost.code)
        elif row.status == CLEARED or \
                (row.max_points, row.obtained, row.cause) != (lost.max_points, lost.obtained, lost.cause):
            # lost again after a correction had cleared it: open once more, with the commune's entries
            row.status = "open" if row.status == CLEARED else row.status
            row.max_points, row.obtained, row.lost, row.cause = lost.max_points, lost.obtained, lost.lost, lost.cause
            changed.append(lost.code)
    still = {x.code for x in now_lost}
    for code, row in generated.items():
        if code in still or row.status != "open":
            continue
        # a correction gave the sub-criterion its full points: nothing left to remediate
        if row.responsible or row.action or row.due:
            row.status, row.obtained, row.lost = CLEARED, row.max_points, ZERO  # what the commune wrote stays
            _complete_deadline(case.id, row, now)  # and its due date stops chasing
            cleared.append(code)
        else:
            plan.items.remove(row)  # nothing written in it yet: it goes (the audit event names it)
            removed.append(code)
    if added or changed or removed or cleared:
        _touch(plan, now)
        audit.record("remediation.updated", actor=actor, now=now, case=case, subject=f"plan:{plan.id}",
                     after={"items": added, "changed": changed, "removed": removed, "cleared": cleared,
                            "lost": str(sum((i.lost for i in plan.items if i.carried_from_id is None), ZERO))})
    db.session.flush()
    return plan.id


_PLANS, _ITEMS = RemediationPlan.__table__, RemediationItem.__table__
_PLAN_ID = select(_PLANS.c.id).where(_PLANS.c.case_id == bindparam("case_id"))


def _draft(case: Case, lost: list[LostPoints], *, actor: User | None, now: dt.datetime) -> int:
    """A new draft plan with one open item per lost sub-criterion: written in three statements, as every
    case reaching publication gets one in the transaction that publishes it."""
    conn = db.session.connection()
    plan_id = conn.execute(insert(_PLANS).values(case_id=case.id, status="draft", version=1, created_at=now,
                                                 updated_at=now)).inserted_primary_key[0]
    if lost:
        conn.execute(insert(_ITEMS), [
            {"plan_id": plan_id, "position": n, "code": x.code, "title_vi": x.title_vi, "max_points": x.max_points,
             "obtained": x.obtained, "lost": x.lost, "cause": x.cause, "status": "open"}
            for n, x in enumerate(lost, start=1)])
    audit.record("remediation.drafted", actor=actor, now=now, case=case, subject=f"plan:{plan_id}",
                 after={"items": [x.code for x in lost], "changed": [], "lost": str(sum((x.lost for x in lost), ZERO))})
    return plan_id


def on_stage_changed(event) -> None:
    """In-transaction handler: a case reaching publication gets its draft plan."""
    if event.dest != Stage.publication.value or event.case_id is None:
        return
    case = db.session.get(Case, event.case_id)
    # by id: the actor is already in the session (a look-up by e-mail would be a query every time)
    actor = db.session.get(User, event.actor_id) if event.actor_id is not None else None
    _generate(case, actor=actor, now=event.occurred_at)


# --- the commune officer ------------------------------------------------------------------------

def parse_due(raw: str | None) -> dt.date | None:
    """YYYY-MM-DD (a date input) or dd/mm/yyyy; None for blank; ValueError otherwise."""
    text = (raw or "").strip()
    if not text:
        return None
    if "/" in text:
        return dt.datetime.strptime(text, "%d/%m/%Y").date()
    return dt.date.fromisoformat(text)


@guarded()
def save_items(plan: RemediationPlan, rows: list[ItemRow], actor: User, *, now: dt.datetime,
               expected_version: int | None = None) -> list[str]:
    """Responsible person, action and due date for the rows given: all checked first, then applied.

    Returns the codes of the items that changed; refuses the whole form (ItemsRefused) if any row is bad.
    """
    _check_version(plan, expected_version)
    _require_officer(actor, plan)
    _require_editable(plan)
    today = local_date(now, plan.case.campaign.timezone or "Asia/Ho_Chi_Minh")
    errors: dict[str, dict[str, list[str]]] = {}
    pending: list[tuple[RemediationItem, dict]] = []
    by_id = {i.id: i for i in plan.items}
    for row in rows:
        item = by_id.get(row.item_id)
        if item is None:
            errors[str(row.item_id)] = {"item": ["no such item in this plan"]}
            continue
        problems: dict[str, list[str]] = {}
        responsible = (row.responsible or "").strip() or None
        action = (row.action or "").strip() or None
        if responsible and len(responsible) > RESPONSIBLE_MAX:
            problems["responsible"] = [f"at most {RESPONSIBLE_MAX} characters"]
        if action and len(action) > ACTION_MAX:
            problems["action"] = [f"at most {ACTION_MAX} characters"]
        try:
            due = parse_due(row.due)
        except ValueError:
            problems["due"] = ["not a date"]
            due = None
        if due is not None and due != item.due and due < today:
            problems["due"] = ["the due date is in the past"]
        if item.status != "open" and (responsible, action, due) != (item.responsible, item.action, item.due):
            problems["item"] = ["already done; it cannot change"]
        if problems:
            errors[item.code] = problems
            continue
        diff = {name: (getattr(item, name), value) for name, value in
                (("responsible", responsible), ("action", action), ("due", due)) if getattr(item, name) != value}
        if diff:
            pending.append((item, diff))
    if errors:
        raise ItemsRefused(errors)
    for item, diff in pending:
        for name, (_, value) in diff.items():
            setattr(item, name, value)
        audit.record("remediation.item_changed", actor=actor, now=now, case=plan.case, subject=item.code,
                     before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()})
    if pending:
        _touch(plan, now)
    db.session.flush()
    return [item.code for item, _ in pending]


@guarded()
def submit(plan: RemediationPlan, actor: User, *, now: dt.datetime, expected_version: int | None = None) -> None:
    """The officer submits the plan; refused, naming the items, while any open item is incomplete."""
    _check_version(plan, expected_version)
    _require_officer(actor, plan)
    _require_editable(plan)
    missing = incomplete_items(plan)
    if missing:
        raise PlanIncomplete(missing)
    before = plan.status
    plan.status, plan.submitted_at, plan.return_reason = "submitted", now, None
    _touch(plan, now)
    opened = [item.code for item in plan.items if item.status == "open" and _open_deadline(plan, item)]
    audit.record("remediation.submitted", actor=actor, now=now, case=plan.case, subject=f"plan:{plan.id}",
                 before={"status": before}, after={"status": "submitted", "deadlines": opened})
    db.session.flush()


# --- the secretariat ----------------------------------------------------------------------------

@guarded()
def return_plan(plan: RemediationPlan, actor: User, *, now: dt.datetime, reason: str,
                expected_version: int | None = None) -> None:
    """The secretariat sends a submitted plan back to the commune, with a reason."""
    _check_version(plan, expected_version)
    access.require_secretariat(actor)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reason is required", {"reason": ["a reason is required"]})
    if plan.status != "submitted":
        raise NotPermitted(f"Only a submitted plan can be returned (this one is {plan.status}).")
    plan.status, plan.return_reason = "returned", reason
    _touch(plan, now)
    audit.record("remediation.returned", actor=actor, now=now, case=plan.case, subject=f"plan:{plan.id}",
                 before={"status": "submitted"}, after={"status": "returned", "reason": reason})
    db.session.flush()


@guarded()
def mark_done(plan: RemediationPlan, item_id: int, actor: User, *, now: dt.datetime,
              expected_version: int | None = None) -> RemediationItem:
    """The secretariat records an item of a submitted plan as done; its deadline stops chasing."""
    _check_version(plan, expected_version)
    access.require_secretariat(actor)
    if plan.status != "submitted":
        raise NotPermitted(f"Items are marked done on a submitted plan (this one is {plan.status}).")
    item = item_of(plan, item_id)
    if item.status != "open":
        raise NotPermitted(f"{item.code}: is already {item.status}.")
    item.status, item.done_at = "done", now
    _complete_deadline(plan.case_id, item, now)
    _touch(plan, now)
    audit.record("remediation.item_done", actor=actor, now=now, case=plan.case, subject=item.code,
                 before={"status": "open"}, after={"status": "done"})
    db.session.flush()
    return item


# --- next year ----------------------------------------------------------------------------------

@guarded()
def carry_forward(from_campaign: Campaign, to_campaign: Campaign, *, actor: User | None,
                  now: dt.datetime) -> int:
    """Open items of ``from_campaign``'s plans join the same commune's case in ``to_campaign``; returns how many.

    The old item becomes ``carried`` (its deadline stops); the new one keeps the figures, cause,
    responsible person and action, and points back at it. Run twice, it carries nothing more.
    """
    new_cases = {c.commune_id: c for c in db.session.scalars(
        select(Case).where(Case.campaign_id == to_campaign.id))}
    carried = 0
    old_plans = db.session.scalars(select(RemediationPlan).join(Case, Case.id == RemediationPlan.case_id)
                                   .where(Case.campaign_id == from_campaign.id).order_by(Case.id)).all()
    for old_plan in old_plans:
        target = new_cases.get(old_plan.case.commune_id)
        open_items = [i for i in old_plan.items if i.status == "open"]
        if target is None or not open_items:
            continue
        plan = plan_of(target)
        if plan is None:
            plan = RemediationPlan(case_id=target.id, case=target, status="draft", created_at=now, updated_at=now)
            db.session.add(plan)
            db.session.flush()
        position = max((i.position for i in plan.items), default=0)
        codes = []
        for old in open_items:
            position += 1
            db.session.add(RemediationItem(
                plan=plan, position=position, code=old.code, title_vi=old.title_vi, max_points=old.max_points,
                obtained=old.obtained, lost=old.lost, cause=old.cause, responsible=old.responsible,
                action=old.action, due=None, status="open", carried_from=old))
            old.status = "carried"
            _complete_deadline(old_plan.case_id, old, now)
            codes.append(old.code)
        _touch(plan, now)
        _touch(old_plan, now)
        audit.record("remediation.carried_forward", actor=actor, now=now, case=target, subject=f"plan:{plan.id}",
                     after={"from_campaign": from_campaign.key, "from_case_id": old_plan.case_id, "items": codes})
        carried += len(codes)
    db.session.flush()
    return carried


# --- deadlines ----------------------------------------------------------------------------------

def _deadline_row(case_id: int, item: RemediationItem) -> Deadline | None:
    return db.session.scalar(select(Deadline).where(
        Deadline.case_id == case_id, Deadline.stage == DEADLINE_STAGE, Deadline.kind == DEADLINE_STAGE,
        Deadline.round == item.id))


def _open_deadline(plan: RemediationPlan, item: RemediationItem) -> Deadline:
    """Open (or move) the deadline that chases ``item``'s due date, with the art. 148 roll-forward."""
    campaign = plan.case.campaign
    rolled = calendar_of(campaign).roll_forward(item.due)
    row = _deadline_row(plan.case_id, item)
    explanation = f"Kế hoạch khắc phục, mục {item.code}: {rolled.explanation_vi}"
    if row is None:
        row = Deadline(case_id=plan.case_id, stage=DEADLINE_STAGE, kind=DEADLINE_STAGE, round=item.id,
                       plan_due=item.due, due=rolled.date, explanation=explanation)
        db.session.add(row)
    elif (row.plan_due, row.completed_at) == (item.due, None):
        return row  # unchanged: the notices already sent or scheduled stand
    row.plan_due, row.due, row.explanation, row.completed_at = item.due, rolled.date, explanation, None
    row.next_notice_at = first_notice_at(campaign, row.due)
    return row


def _complete_deadline(case_id: int, item: RemediationItem, now: dt.datetime) -> None:
    row = _deadline_row(case_id, item)
    if row is not None and row.completed_at is None:
        row.completed_at, row.next_notice_at = now, None


def deadlines_of(plan: RemediationPlan) -> dict[int, Deadline]:
    """The plan's item deadlines, by item id."""
    rows = db.session.scalars(select(Deadline).where(
        Deadline.case_id == plan.case_id, Deadline.stage == DEADLINE_STAGE, Deadline.kind == DEADLINE_STAGE))
    return {row.round: row for row in rows}
