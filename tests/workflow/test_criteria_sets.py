"""Loading criteria sets: the shipped file, versioning, and every kind of refused file."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, CriteriaItem, CriteriaSet
from workflow import audit
from workflow.criteria_sets import load_criteria, load_criteria_file, natural_key
from workflow.errors import PlanInvalid

SET_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"  # the shipped copy of shared/criteria


def _data() -> dict:
    return json.loads(SET_FILE.read_text(encoding="utf-8"))


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_shared_set_loads_with_84_sub_criteria_totalling_100(db, now):
    cs, created = load_criteria_file(SET_FILE, actor=None, now=now)
    db.session.commit()
    assert created and cs.key == "quang-dien-xa-2019" and cs.version == 1
    assert cs.total_points == Decimal("100.00")
    leaves = cs.leaves()
    assert len(leaves) == 84
    assert sum(i.max_points for i in leaves) == Decimal("100.00")
    assert {i.method for i in leaves} == {"self", "survey"}
    item = next(i for i in cs.items if i.code == "1.1.1")
    assert item.depth == 3 and item.evidence_required and item.max_points == Decimal("1.00")
    parent = db.session.get(CriteriaItem, item.parent_id)
    assert parent.code == "1.1" and db.session.get(CriteriaItem, parent.parent_id).code == "1"
    # stored position follows the natural order of codes (2.7.9 before 2.7.11)
    codes = [i.code for i in sorted(cs.items, key=lambda i: i.position)]
    assert codes == sorted(codes, key=natural_key)
    assert [i.position for i in sorted(cs.items, key=lambda i: i.position)] == list(range(1, len(codes) + 1))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "criteria.loaded"))
    assert event.actor == "system"
    assert event.after["key"] == cs.key and event.after["version"] == 1
    assert event.after["sha256"] == cs.content_sha256
    assert audit.verify().ok


def test_natural_order_puts_2_7_9_before_2_7_11(db, now):
    data = {"id": "order-test", "title_vi": "Thử", "year": 2023, "total_points": 3, "items": [
        {"code": "2", "title_vi": "Lĩnh vực", "max_points": 3, "children": [
            {"code": "2.7", "title_vi": "Tiêu chí", "max_points": 3, "children": [
                {"code": "2.7.11", "title_vi": "b", "max_points": 1, "method": "self", "evidence_required": False},
                {"code": "2.7.9", "title_vi": "a", "max_points": 1.5, "method": "self", "evidence_required": True},
                {"code": "2.7.10", "title_vi": "c", "max_points": 0.5, "method": "survey",
                 "evidence_required": False},
            ]}]}]}
    cs, _ = load_criteria(data, actor=None, now=now)
    db.session.commit()
    by_position = [i.code for i in sorted(cs.items, key=lambda i: i.position)]
    assert by_position == ["2", "2.7", "2.7.9", "2.7.10", "2.7.11"]


def test_same_content_twice_is_a_no_op(db, now):
    first, created = load_criteria_file(SET_FILE, actor=None, now=now)
    db.session.commit()
    events, items = _count(db, AuditEvent), _count(db, CriteriaItem)
    again, created_again = load_criteria_file(SET_FILE, actor=None, now=now)
    db.session.commit()
    assert created and not created_again and again.id == first.id
    assert _count(db, CriteriaSet) == 1 and _count(db, CriteriaItem) == items
    assert _count(db, AuditEvent) == events


def test_changed_content_becomes_the_next_version(db, now):
    v1, _ = load_criteria(_data(), actor=None, now=now)
    changed = _data()
    changed["title_vi"] += " (sửa đổi)"
    v2, created = load_criteria(changed, actor=None, now=now)
    db.session.commit()
    assert created and v2.key == v1.key and v2.version == 2 and v2.id != v1.id
    assert v2.content_sha256 != v1.content_sha256
    assert len(v1.leaves()) == len(v2.leaves()) == 84
    versions = [e.after["version"] for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "criteria.loaded").order_by(AuditEvent.seq))]
    assert versions == [1, 2]


def test_yaml_criteria_file_is_accepted(db, now, tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(
        "id: tiny-yaml\ntitle_vi: Bộ thử\nyear: 2024\ntotal_points: 2\nitems:\n"
        "  - {code: '1', title_vi: A, max_points: 2, children: [\n"
        "      {code: '1.1', title_vi: B, max_points: 2, method: self, evidence_required: true}]}\n",
        encoding="utf-8")
    cs, created = load_criteria_file(path, actor=None, now=now)
    assert created and [i.code for i in cs.items] == ["1", "1.1"]


def _broken(mutate) -> dict:
    data = _data()
    mutate(data)
    return data


def _item(data, *path):
    node = data["items"][path[0]]
    for i in path[1:]:
        node = node["children"][i]
    return node


BAD_SETS = [
    ("missing id", lambda d: d.pop("id"), "id: required"),
    ("missing title of a node", lambda d: _item(d, 0, 0).pop("title_vi"), "items[0].children[0].title_vi: required"),
    ("three decimals", lambda d: _item(d, 0, 0, 0).update(max_points=0.125),
     "items[0].children[0].children[0].max_points: at most two decimals"),
    ("leaf without method", lambda d: _item(d, 0, 0, 1).pop("method"),
     "items[0].children[0].children[1].method: required"),
    ("bad method", lambda d: _item(d, 0, 0, 1).update(method="guess"),
     "items[0].children[0].children[1].method: must be one of"),
    ("leaf without evidence_required", lambda d: _item(d, 0, 0, 2).pop("evidence_required"),
     "items[0].children[0].children[2].evidence_required: required"),
    ("duplicate code", lambda d: _item(d, 0, 0, 1).update(code="1.1.1"),
     "items[0].children[0].children[1].code: duplicate code 1.1.1"),
    ("inner sum wrong", lambda d: _item(d, 0, 0).update(max_points=6),
     "items[0].children[0].max_points: 6 but its children sum to 5"),
    ("top level sum wrong", lambda d: d.update(total_points=99), "total_points: 99 but its children sum to 100"),
    ("code outside its parent", lambda d: _item(d, 0, 0, 0).update(code="3.9.9"),
     "items[0].children[0].children[0].code: 3.9.9 is not under its parent 1.1"),
]


@pytest.mark.parametrize("mutate, expected", [b[1:] for b in BAD_SETS], ids=[b[0] for b in BAD_SETS])
def test_a_bad_set_is_refused_whole_with_the_path(db, now, mutate, expected):
    with pytest.raises(PlanInvalid) as exc:
        load_criteria(_broken(mutate), actor=None, now=now)
    assert any(p.startswith(expected) for p in exc.value.problems), exc.value.problems
    assert exc.value.message.startswith("criteria file refused")
    db.session.rollback()
    assert _count(db, CriteriaSet) == 0 and _count(db, AuditEvent) == 0


def test_every_problem_is_listed_at_once(db, now):
    data = _data()
    _item(data, 0, 0, 0).update(max_points=0.125)
    _item(data, 1).pop("title_vi")
    data["year"] = "last year"
    with pytest.raises(PlanInvalid) as exc:
        load_criteria(data, actor=None, now=now)
    paths = [p.split(":")[0] for p in exc.value.problems]
    assert {"year", "items[1].title_vi", "items[0].children[0].children[0].max_points"} <= set(paths)


def test_an_unchanged_reload_after_a_new_version_still_points_at_the_latest(db, now):
    load_criteria(_data(), actor=None, now=now)
    changed = copy.deepcopy(_data())
    changed["issuer"] = "UBND huyện khác"
    v2, _ = load_criteria(changed, actor=None, now=now)
    again, created = load_criteria(changed, actor=None, now=now)
    assert not created and again.id == v2.id
