"""Loading criteria sets (Bộ chỉ số) from files: validate the whole tree, then store a version.

Same key and same content (SHA-256 of the canonical JSON) is a no-op; same key with different
content becomes the next version, so campaigns already bound to an older version keep it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import func, select

from models import CriteriaItem, CriteriaSet, User, db

from . import audit
from .errors import NotFound, PlanInvalid
from .schemas.common import N_, TOP_LEVEL, Problem, as_points, canonical_sha256, flatten, join_path, read_file
from .schemas.criteria import CODE, CriteriaSetSchema

WHAT = "criteria file"


def natural_key(code: str) -> tuple[int, ...]:
    """``2.7.9`` before ``2.7.11``."""
    return tuple(int(p) for p in code.split("."))


def _tree_problems(data: dict) -> list[Problem]:
    """Checks across nodes (unique codes, code nesting, sums), on the raw data, tolerant of bad fields."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}

    def walk(nodes, prefix: str, parent_code: str | None, parent_max: Decimal | None, parent_path: str):
        if not isinstance(nodes, list):
            return
        total = Decimal(0)
        summable = True
        for i, node in enumerate(nodes):
            path = join_path(prefix, i)
            if not isinstance(node, dict):
                summable = False
                continue
            code = node.get("code")
            if isinstance(code, str) and CODE.match(code.strip()):
                code = code.strip()
                if code in seen:
                    problems.append(Problem(f"{path}.code", N_("duplicate code %(code)s (also at %(other)s)",
                                                               code=code, other=seen[code])))
                else:
                    seen[code] = path
                if parent_code is not None and not code.startswith(parent_code + "."):
                    problems.append(Problem(f"{path}.code", N_("%(code)s is not under its parent %(parent)s",
                                                               code=code, parent=parent_code)))
                if parent_code is None and "." in code:
                    problems.append(Problem(f"{path}.code", N_(
                        "%(code)s is at the top level but is not an area code", code=code)))
            points = as_points(node.get("max_points"))
            if points is None:
                summable = False
            else:
                total += points
            children = node.get("children")
            if isinstance(children, list) and children:
                walk(children, f"{path}.children", code if isinstance(code, str) else None, points, path)
        if summable and parent_max is not None and total != parent_max:
            where = f"{parent_path}.max_points" if parent_path else "total_points"
            problems.append(Problem(where, N_("%(max)s but its children sum to %(sum)s", max=_fmt(parent_max),
                                              sum=_fmt(total))))

    walk(data.get("items"), "items", None, as_points(data.get("total_points")), "")
    return problems


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def validate_criteria(data) -> dict:
    """The loaded criteria set, or PlanInvalid listing every problem by its path."""
    if not isinstance(data, dict):
        raise PlanInvalid([Problem(TOP_LEVEL, N_("expected a mapping with id, title_vi, year, total_points, items"))],
                          what=WHAT)
    problems: list[Problem] = []
    loaded = None
    try:
        loaded = CriteriaSetSchema().load(data)
    except ValidationError as exc:
        problems.extend(flatten(exc.messages))
    problems.extend(_tree_problems(data))
    if problems:
        raise PlanInvalid(problems, what=WHAT)
    return loaded


def latest(key: str) -> CriteriaSet | None:
    """The newest version of the criteria set ``key``."""
    return db.session.scalar(
        select(CriteriaSet).where(CriteriaSet.key == key).order_by(CriteriaSet.version.desc()).limit(1))


def get_latest(key: str) -> CriteriaSet:
    """Like ``latest`` but NotFound when no version exists."""
    found = latest(key)
    if found is None:
        raise NotFound(f"no criteria set with id {key!r}; load it first (flask criteria load FILE)")
    return found


def load_criteria(data: dict, *, actor: User | None, now: dt.datetime) -> tuple[CriteriaSet, bool]:
    """Validate and store a criteria set; (set, created). Unchanged content is a no-op; the caller commits."""
    loaded = validate_criteria(data)
    sha = canonical_sha256(data)
    current = latest(loaded["id"])
    if current is not None and current.content_sha256 == sha:
        return current, False
    version = (db.session.scalar(
        select(func.max(CriteriaSet.version)).where(CriteriaSet.key == loaded["id"])) or 0) + 1
    cs = CriteriaSet(key=loaded["id"], version=version, title_vi=loaded["title_vi"],
                     title_en=loaded.get("title_en"), issuer=loaded.get("issuer"), year=loaded["year"],
                     total_points=loaded["total_points"], content_sha256=sha, loaded_at=now)
    db.session.add(cs)
    db.session.flush()

    flat: list[tuple[dict, int, dict | None]] = []

    def collect(nodes, depth, parent):
        for node in nodes:
            flat.append((node, depth, parent))
            collect(node.get("children") or [], depth + 1, node)

    collect(loaded["items"], 1, None)
    order = {node["code"]: n for n, (node, _, _) in
             enumerate(sorted(flat, key=lambda f: natural_key(f[0]["code"])), start=1)}
    rows: dict[str, CriteriaItem] = {}
    # parents come before their children in ``flat``, so parent ids exist when a child is added
    for depth in sorted({d for _, d, _ in flat}):
        for node, d, parent in flat:
            if d != depth:
                continue
            leaf = not node.get("children")
            item = CriteriaItem(
                criteria_set_id=cs.id, code=node["code"], position=order[node["code"]], depth=depth,
                parent_id=rows[parent["code"]].id if parent is not None else None,
                title_vi=node["title_vi"], title_en=node.get("title_en"), max_points=node["max_points"],
                method=node["method"] if leaf else None,
                evidence_required=bool(node.get("evidence_required")) if leaf else False,
                not_applicable_allowed=node.get("not_applicable_allowed", True),
                rule_vi=node.get("rule_vi"), rule_en=node.get("rule_en"), source=node.get("source"))
            db.session.add(item)
            rows[node["code"]] = item
        db.session.flush()
    audit.record("criteria.loaded", actor=actor, now=now, subject=cs.key,
                 after={"key": cs.key, "version": cs.version, "sha256": sha,
                        "items": len(flat), "leaves": sum(1 for n, _, _ in flat if not n.get("children"))})
    db.session.flush()
    return cs, True


def load_criteria_file(path, *, actor: User | None, now: dt.datetime) -> tuple[CriteriaSet, bool]:
    """``load_criteria`` on a JSON or YAML file (YAML read with a safe loader only)."""
    data, _ = read_file(path, what=WHAT)
    return load_criteria(data, actor=actor, now=now)
