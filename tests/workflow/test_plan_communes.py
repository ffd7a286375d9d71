"""The plan's communes are checked without marshmallow when well formed: same result, same problems."""

from __future__ import annotations

import random

import pytest
from marshmallow import ValidationError

from workflow.schemas.plan import CommuneSchema, _plain_commune, load_communes

TEXTS = ["x", " Xã A ", "", "  ", "a" * 200, " " + "a" * 200 + " ", "a" * 201, None, 5, True, b"x", 12.5, ["a"],
         {"name": "n"}, "12", " 0203 ", "１２", "12a", "a@b.vn", " A@B.VN ", "bad@", "ü@example.vn", "a" * 51, "a" * 301]
GOOD = {"code": ["12", " 0203 ", "020341"], "name": [" Xã A ", "a" * 200, " " + "a" * 200 + " "],
        "email": ["a@b.vn", " A@B.VN ", "ü@example.vn"], "phone": ["", "a" * 50, " 09 "], "address": ["a" * 300, ""]}
PEOPLE = [{"name": "An", "email": "an@x.vn"}, {"name": " An ", "email": " AN@X.VN "}, {"name": "", "email": "a@x.vn"},
          {"name": "An"}, {"name": "An", "email": "bad"}, {"name": "An", "email": "a@x.vn", "x": 1}, None, "p", []]


def _entry(rnd: random.Random):
    if rnd.random() < 0.03:
        return rnd.choice([None, "x", 5, []])
    entry = {}
    for key in ("code", "name", "officers", "chair", "email", "phone", "address", "typo"):
        if rnd.random() >= {"code": 0.95, "name": 0.95, "typo": 0.03}.get(key, 0.4):
            continue
        if key == "officers":
            entry[key] = rnd.choice([[rnd.choice(PEOPLE[:2] if rnd.random() < 0.8 else PEOPLE)
                                      for _ in range(rnd.randint(0, 3))]] * 6 + [None, "x", {}])
        elif key == "chair":
            entry[key] = rnd.choice(PEOPLE[:2] if rnd.random() < 0.8 else PEOPLE)
        elif key == "typo" or rnd.random() < 0.25:
            entry[key] = rnd.choice(TEXTS)
        else:
            entry[key] = rnd.choice(GOOD[key])
    return entry


def _outcome(load, raw):
    try:
        return "loaded", load(raw)
    except ValidationError as exc:
        return "refused", exc.messages


def test_well_formed_and_bad_entries_load_as_the_schema_loads_them():
    rnd, fast = random.Random(7), 0
    for _ in range(3000):
        entry = _entry(rnd)
        schema = _outcome(CommuneSchema(many=True).load, [entry])
        assert _outcome(load_communes, [entry]) == schema, entry
        fast += _plain_commune(entry) is not None
        if schema[0] == "loaded":
            assert list(load_communes([entry])[0]) == list(schema[1][0])  # the same keys, in the same order
    assert fast > 300  # the fast path was exercised, not only the fallback


@pytest.mark.parametrize("raw", [None, "x", {}, 5, [], ({"code": "1", "name": "a"},)])
def test_a_communes_block_that_is_not_a_list_is_left_to_the_schema(raw):
    assert _outcome(load_communes, raw) == _outcome(CommuneSchema(many=True).load, raw)


def test_one_bad_entry_among_good_ones_is_named_as_before():
    raw = [{"code": f"{i:05d}", "name": f"Xã {i}", "officers": [{"name": "An", "email": f"a{i}@x.vn"}]}
           for i in range(50)]
    raw[31]["officers"][0]["email"] = "not-an-address"
    assert _outcome(load_communes, raw) == _outcome(CommuneSchema(many=True).load, raw)
    assert _outcome(load_communes, raw)[1] == {31: {"officers": {0: {"email": ["not a valid e-mail address"]}}}}
