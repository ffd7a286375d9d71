"""Read-only views of the record, for auditors and the council.

- the audit history search (filters in SQL on indexed columns, seq order, paginated; the table may hold
  a million events, so nothing here loads more than a page, and the export streams);
- the integrity check, itself recorded in the chain as ``audit.verified``;
- a case as the log says it stood at a moment, beside the case now;
- the council's inbox and the sign-off a member reads before signing.

Nothing here changes a case; the only write is the ``audit.verified`` event of ``check_integrity``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from models import (
    AuditEvent,
    Campaign,
    Case,
    Commune,
    CouncilSeat,
    CriteriaItem,
    Evidence,
    Score,
    Signature,
    SignOff,
    User,
    db,
)

from . import audit, audit_anchor, audit_export, scoring, signoff
from .board import name_contains
from .clock import LOCAL_TZ

PAGE_SIZE = 50
VERIFIED = "audit.verified"


# --- dates as people type them ----------------------------------------------------------------------

_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_MOMENT = re.compile(r"(\S+?)(?:[T ](\d{1,2}):(\d{2}))?")


def parse_day(text: str) -> dt.date:
    """A local calendar date typed as dd/mm/yyyy or ISO yyyy-mm-dd; ValueError otherwise."""
    text = (text or "").strip()
    match = _DMY.fullmatch(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    return dt.date.fromisoformat(text)


def parse_moment(text: str, tz: ZoneInfo = LOCAL_TZ) -> tuple[dt.datetime, bool]:
    """A local moment typed as a date (dd/mm/yyyy or ISO) with an optional time (``T`` or space, HH:MM).

    Returns (moment in UTC, whether a time was given). A date alone means the END of that day:
    "as it stood on 15/11" includes what was done on the 15th.
    """
    match = _MOMENT.fullmatch((text or "").strip())
    if not match:
        raise ValueError(f"not a date: {text!r}")
    day = parse_day(match[1])
    if match[2] is None:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tz)
        return (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC), False
    moment = dt.datetime.combine(day, dt.time(int(match[2]), int(match[3])), tz)
    return moment.astimezone(dt.UTC), True


def day_start(day: dt.date, tz: ZoneInfo = LOCAL_TZ) -> dt.datetime:
    """Local midnight at the start of ``day``, in UTC."""
    return dt.datetime.combine(day, dt.time(0, 0), tz).astimezone(dt.UTC)


# --- the history search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    """What the auditor asked for; every field optional. Dates are local calendar days, both inclusive."""

    campaign_id: int | None = None
    case_id: int | None = None
    commune: str | None = None  # a commune code, or part of its name
    actor: str | None = None  # an e-mail, or part of a user's e-mail or name ("system" for the system)
    action: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(stmt, f: HistoryFilter):
    """Apply the filter in SQL, on audit_events columns: campaign_id and case_id (indexed with seq),
    occurred_at (indexed), action and actor_id; communes and users (small tables) are resolved to ids
    in a sub-select. Typed text is matched literally (% and _ escaped)."""
    if f.campaign_id is not None:
        stmt = stmt.where(AuditEvent.campaign_id == f.campaign_id)
    if f.case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == f.case_id)
    if f.commune:
        text = f.commune.strip()
        # the name as the board searches it: "tam hai" finds Tam Hải's events
        communes = select(Commune.id).where(or_(Commune.code == text, name_contains(Commune.name, text)))
        stmt = stmt.where(AuditEvent.case_id.in_(select(Case.id).where(Case.commune_id.in_(communes))))
    if f.actor:
        text = f.actor.strip()
        users = select(User.id).where(or_(User.email.ilike(_like(text), escape="\\"),
                                          User.name.ilike(_like(text), escape="\\")))
        stmt = stmt.where(or_(AuditEvent.actor_id.in_(users), AuditEvent.actor == text.lower()))
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.date_from is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= day_start(f.date_from))
    if f.date_to is not None:
        stmt = stmt.where(AuditEvent.occurred_at < day_start(f.date_to + dt.timedelta(days=1)))
    return stmt


@dataclass(frozen=True)
class HistoryRow:
    event: AuditEvent
    campaign_key: str | None
    commune_code: str | None
    commune_name: str | None
    changes: list[tuple[str, object, object]]  # (field, before, after)


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def changes_of(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """The fields an event touched, as (field, before, after), in a stable order."""
    before, after = before or {}, after or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [("", before, after)]
    keys = list(after) + [k for k in before if k not in after]
    return [(k, before.get(k), after.get(k)) for k in keys]


def _joined(stmt):
    return (stmt.outerjoin(Campaign, Campaign.id == AuditEvent.campaign_id)
            .outerjoin(Case, Case.id == AuditEvent.case_id)
            .outerjoin(Commune, Commune.id == Case.commune_id))


def search(f: HistoryFilter, page: int = 1, per_page: int = PAGE_SIZE) -> HistoryPage:
    """One page of matching events in seq order, with the total number of matches."""
    total = db.session.scalar(_where(select(func.count(AuditEvent.id)), f)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    stmt = _where(_joined(select(AuditEvent, Campaign.key, Commune.code, Commune.name)), f)
    stmt = stmt.order_by(AuditEvent.seq).offset((page - 1) * per_page).limit(per_page)
    rows = [HistoryRow(ev, key, code, name, changes_of(ev.before, ev.after))
            for ev, key, code, name in db.session.execute(stmt)]
    return HistoryPage(rows, total, page, per_page)


def actions() -> list[str]:
    """The distinct actions the log holds, for the filter's select."""
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def campaigns() -> list[Campaign]:
    return list(db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.key)))


def campaign_by_key(key: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.key == key))


def export_rows(f: HistoryFilter, batch: int = 2000) -> Iterator[dict]:
    """The matching events in seq order as audit_export rows (every chain field), streamed in batches."""
    stmt = _where(_joined(select(AuditEvent, Campaign.key, Commune.code)), f).order_by(AuditEvent.seq)
    # closed even when the reader stops early (a server-side cursor on PostgreSQL)
    with db.session.execute(stmt.execution_options(yield_per=batch)) as result:
        for event, campaign_key, commune_code in result:
            row = audit.as_dict(event)
            row.update(actor_id=event.actor_id, campaign=campaign_key, commune=commune_code)
            yield {name: row[name] for name in audit_export.FIELDS}


# --- the integrity check ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrityCheck:
    """One run of the chain check, as recorded in the log."""

    ok: bool
    checked: int
    seconds: float
    first_bad_seq: int | None
    first_bad_id: int | None
    problem: str | None
    at: dt.datetime
    by: str
    seq: int | None = None  # the audit.verified event's own seq
    hash: str | None = None  # and its hash: with seq, the anchor to keep outside the database
    anchors: tuple[audit_anchor.AnchorCheck, ...] = ()  # the anchors held that the check was given

    @property
    def anchor(self) -> audit_anchor.Anchor | None:
        return audit_anchor.Anchor(self.seq, self.hash) if self.seq and self.hash else None

    @property
    def by_anchor(self) -> bool:
        """The failure was found by an anchor held outside, not by the chain (which then links up whole:
        ``checked`` counts all of its events, not those before the failure)."""
        return not self.ok and any(not a.ok and a.seq == self.first_bad_seq for a in self.anchors)


def check_integrity(actor: User | None, *, now: dt.datetime,
                    anchors: list[audit_anchor.Anchor] = ()) -> IntegrityCheck:
    """Verify the whole chain now, and each anchor held outside the database against it; put the result on
    the record (a campaign-less ``audit.verified``). A rewritten history verifies as a chain: only an anchor
    can tell (``workflow.audit_anchor``). ``actor`` None is the system's own daily check."""
    started = time.perf_counter()
    result = audit.verify()
    held = audit_anchor.check(list(anchors))
    seconds = round(time.perf_counter() - started, 3)
    ok, first_bad_seq, first_bad_id, problem = result.ok, result.first_bad_seq, result.first_bad_id, result.problem
    failed = audit_anchor.problem_of(held)
    if failed is not None and (ok or failed[0] < (first_bad_seq or 0)):
        ok, (first_bad_seq, problem), first_bad_id = False, failed, None
    after = {"ok": ok, "checked": result.checked, "seconds": f"{seconds:.3f}",
             "first_bad_seq": first_bad_seq, "first_bad_id": first_bad_id, "problem": problem}
    if held:
        after["anchors"] = [h.as_dict() for h in held]
    event = audit.record(VERIFIED, actor=actor, now=now, subject="ok" if ok else "broken", after=after)
    db.session.flush()
    return _as_check(event)


def _as_check(event: AuditEvent | audit.Appended) -> IntegrityCheck:
    a = event.after or {}
    held = tuple(audit_anchor.AnchorCheck(h["seq"], h["hash"], h["status"], h.get("found"))
                 for h in a.get("anchors") or ())
    return IntegrityCheck(ok=bool(a.get("ok")), checked=int(a.get("checked") or 0),
                          seconds=float(a.get("seconds") or 0), first_bad_seq=a.get("first_bad_seq"),
                          first_bad_id=a.get("first_bad_id"), problem=a.get("problem"),
                          at=event.occurred_at, by=event.actor, seq=event.seq, hash=event.hash, anchors=held)


def last_integrity_check() -> IntegrityCheck | None:
    """The latest recorded check (walks the seq index backwards: recent checks are found at once)."""
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == VERIFIED)
                              .order_by(AuditEvent.seq.desc()).limit(1))
    return _as_check(event) if event is not None else None


# --- a case as it stood ------------------------------------------------------------------------------

ZERO = Decimal("0.00")


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ScoreLine:
    code: str
    title_vi: str
    method: str
    max_points: Decimal
    then: dict  # self/appraised/survey (Decimal | None), na (bool)
    now: dict

    @property
    def changed(self) -> bool:
        return self.then != self.now


@dataclass(frozen=True)
class Totals:
    total: Decimal
    own_max: Decimal
    self_total: Decimal

    @property
    def percentage(self) -> Decimal:
        return scoring.percentage(self.total, self.own_max)


@dataclass(frozen=True)
class CaseAsOf:
    case: Case
    moment: dt.datetime
    replayed: dict  # audit_export.replay_case
    lines: list[ScoreLine]
    then: Totals
    now: Totals
    evidence_now: int

    @property
    def existed(self) -> bool:
        return self.replayed["stage"] is not None


def _line_values(values: dict) -> dict:
    return {"self": _dec(values.get("self_score")), "appraised": _dec(values.get("appraised_score")),
            "survey": _dec(values.get("survey_score")), "na": bool(values.get("not_applicable"))}


def _totals(items: list[CriteriaItem], values: dict[str, dict]) -> Totals:
    """The same rule as scoring.case_totals: appraised for self items, survey points for survey items."""
    total = own_max = self_total = ZERO
    for item in items:
        v = values[item.code]
        if v["na"]:
            continue
        own_max += item.max_points
        final = v["survey"] if item.method == "survey" else v["appraised"]
        total += final or ZERO
        if item.method == "self":
            self_total += v["self"] or ZERO
    return Totals(total, own_max, self_total)


def case_as_of(case: Case, moment: dt.datetime) -> CaseAsOf:
    """The case replayed from its events up to ``moment``, beside the case now."""
    replayed = audit_export.replay_case(case, moment)
    items = [i for i in db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id).order_by(CriteriaItem.position))
        if i.is_leaf]
    current = {code: {"self_score": s, "appraised_score": a, "survey_score": sv, "not_applicable": na}
               for code, s, a, sv, na in db.session.execute(
                   select(CriteriaItem.code, Score.self_score, Score.appraised_score, Score.survey_score,
                          Score.not_applicable).join(Score, Score.item_id == CriteriaItem.id)
                   .where(Score.case_id == case.id))}
    then_values = {i.code: _line_values(replayed["scores"].get(i.code, {})) for i in items}
    now_values = {i.code: _line_values(current.get(i.code, {})) for i in items}
    lines = [ScoreLine(i.code, i.title_vi, i.method, i.max_points, then_values[i.code], now_values[i.code])
             for i in items]
    evidence_now = db.session.scalar(select(func.count(Evidence.id)).where(
        Evidence.case_id == case.id, Evidence.removed_at.is_(None))) or 0
    return CaseAsOf(case, moment, replayed, lines, _totals(items, then_values), _totals(items, now_values),
                    evidence_now)


# --- the council's inbox -----------------------------------------------------------------------------

RECENTLY_CLOSED = 20


@dataclass(frozen=True)
class InboxItem:
    sign_off: SignOff
    case: Case
    progress: signoff.Progress
    rejections: int
    requested_by: User | None
    mine: Signature | None  # this member's signature, if any


def _seat_campaigns(member: User):
    return select(CouncilSeat.campaign_id).where(CouncilSeat.user_id == member.id)


def _item(so: SignOff, member: User) -> InboxItem:
    case = db.session.get(Case, so.case_id)
    requested_by = db.session.get(User, so.requested_by_id) if so.requested_by_id else None
    mine = next((s for s in so.signatures if s.user_id == member.id), None)
    rejections = sum(1 for s in so.signatures if s.decision == "reject")
    return InboxItem(so, case, signoff.progress(so), rejections, requested_by, mine)


def council_inbox(member: User) -> tuple[list[InboxItem], list[InboxItem]]:
    """(pending, recently closed) sign-offs of the campaigns where ``member`` holds a seat.

    Pending ones include those the member already signed (flagged by ``mine``), so progress stays visible.
    """
    base = (select(SignOff).join(Case, Case.id == SignOff.case_id)
            .where(Case.campaign_id.in_(_seat_campaigns(member))))
    pending = db.session.scalars(base.where(SignOff.status == "pending")
                                 .order_by(SignOff.requested_at, SignOff.id)).all()
    closed = db.session.scalars(base.where(SignOff.status != "pending")
                                .order_by(SignOff.closed_at.desc(), SignOff.id.desc())
                                .limit(RECENTLY_CLOSED)).all()
    return [_item(s, member) for s in pending], [_item(s, member) for s in closed]


def sign_off_for_member(member: User, sign_off_id: int) -> SignOff | None:
    """The sign-off if it belongs to a campaign where ``member`` holds a seat; None otherwise."""
    so = db.session.get(SignOff, sign_off_id)
    if so is None:
        return None
    case = db.session.get(Case, so.case_id)
    if case is None or db.session.scalar(select(CouncilSeat.id).where(
            CouncilSeat.campaign_id == case.campaign_id, CouncilSeat.user_id == member.id)) is None:
        return None
    return so


@dataclass(frozen=True)
class ScoreRow:
    code: str
    title_vi: str
    method: str
    max_points: Decimal
    self_score: Decimal | None
    appraised_score: Decimal | None
    survey_score: Decimal | None
    not_applicable: bool

    @property
    def final(self) -> Decimal | None:
        if self.not_applicable:
            return None
        return self.survey_score if self.method == "survey" else self.appraised_score


@dataclass(frozen=True)
class SignOffView:
    """What a member signs over: the scores, the evidence files and the hash stored with the signature."""

    item: InboxItem
    scores: list[ScoreRow]
    totals: scoring.CaseTotals
    evidence: list[Evidence]
    content_hash: str


def sign_off_view(sign_off: SignOff, member: User) -> SignOffView:
    item = _item(sign_off, member)
    case = item.case
    scores = {s.item_id: s for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}
    rows = []
    for i in db.session.scalars(select(CriteriaItem).where(
            CriteriaItem.criteria_set_id == case.campaign.criteria_set_id).order_by(CriteriaItem.position)):
        if not i.is_leaf:
            continue
        s = scores.get(i.id)
        rows.append(ScoreRow(i.code, i.title_vi, i.method, i.max_points,
                             s.self_score if s else None, s.appraised_score if s else None,
                             s.survey_score if s else None, bool(s and s.not_applicable)))
    evidence = list(db.session.scalars(
        select(Evidence).join(CriteriaItem, CriteriaItem.id == Evidence.item_id)
        .where(Evidence.case_id == case.id, Evidence.removed_at.is_(None))
        .order_by(CriteriaItem.position, Evidence.id)))
    return SignOffView(item, rows, scoring.case_totals(case), evidence, signoff.content_hash(case))
