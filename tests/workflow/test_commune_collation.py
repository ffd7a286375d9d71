"""Communes in Vietnamese alphabetical order: the sort key, kept by every way a commune is written
(plan files, bulk inserts, renames), and the migration that keys the communes already stored."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, insert, inspect, make_url, select, text

from config import ROOT
from models import Commune
from models.collation import sort_key
from tests.conftest import PG_URL, _create_database, _make_app
from workflow import board
from workflow.criteria_sets import load_criteria_file
from workflow.plans import load_plan

PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"


def vietnamese_sorted(names) -> list[str]:
    return sorted(names, key=lambda name: (sort_key(name), name))


# --- the key ------------------------------------------------------------------------------------------

def test_the_letters_sort_in_the_vietnamese_alphabet():
    alphabet = "a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y".split()
    assert vietnamese_sorted(reversed(alphabet)) == alphabet
    assert vietnamese_sorted(["Tam Hòa", "Tam Hiệp", "Tam Hải"]) == ["Tam Hải", "Tam Hiệp", "Tam Hòa"]
    assert vietnamese_sorted(["Tam Mỹ Tây", "Tam Mỹ Đông"]) == ["Tam Mỹ Đông", "Tam Mỹ Tây"]
    assert vietnamese_sorted(["Ưng", "Uyên", "Ơn", "Ôn", "Oanh"]) == ["Oanh", "Ôn", "Ơn", "Uyên", "Ưng"]


def test_tones_decide_only_between_the_same_letters():
    assert vietnamese_sorted(["ma", "mạ", "má", "mã", "mả", "mà"]) == ["ma", "mà", "mả", "mã", "má", "mạ"]
    # the letters first: "mạ" (nặng) before "mac", though "mac" has no tone
    assert vietnamese_sorted(["mac", "mạ"]) == ["mạ", "mac"]
    assert sort_key("Hòa") == sort_key("Hoà")  # the tone belongs to the syllable, wherever it is written


def test_case_spaces_and_numbers():
    assert sort_key("XÃ TAM ĐÀN") == sort_key("xã tam đàn") == sort_key("  Xã  Tam Đàn ")
    assert vietnamese_sorted(["Tama", "Tam An", "Tam"]) == ["Tam", "Tam An", "Tama"]
    assert vietnamese_sorted(["Phường 10", "Phường 2", "Phường 1"]) == ["Phường 1", "Phường 2", "Phường 10"]
    key = sort_key("Xã Tam Xuân 1 – Ø 北")
    assert key.isascii() and key.isalnum()


# --- every write keeps it ----------------------------------------------------------------------------

NUI_THANH_IN_ORDER = [
    "Thị trấn Núi Thành", "Xã Tam Anh Bắc", "Xã Tam Anh Nam", "Xã Tam Giang", "Xã Tam Hải", "Xã Tam Hiệp",
    "Xã Tam Hòa", "Xã Tam Mỹ Đông", "Xã Tam Mỹ Tây", "Xã Tam Nghĩa", "Xã Tam Quang", "Xã Tam Sơn",
    "Xã Tam Thạnh", "Xã Tam Tiến", "Xã Tam Trà", "Xã Tam Xuân I", "Xã Tam Xuân II",
]


def _plan() -> dict:
    return yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))


def _table_names(campaign) -> list[str]:
    """The board table's commune column sorted by commune, read five rows a page (the order is SQL's)."""
    flt = board.BoardFilter(today=dt.date(2023, 11, 14))
    return [card.commune_name for page in range(1, 5)
            for card in board.table_page(campaign, flt, sort="commune", page=page, size=5).cards]


def test_a_plan_keys_its_new_communes_and_a_changed_plan_re_sorts_a_renamed_one(db, now):
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    campaign = load_plan(_plan(), actor=None, now=now).campaign  # new communes: one Core insert
    db.session.commit()
    assert _table_names(campaign) == NUI_THANH_IN_ORDER
    plan = _plan()
    renamed = next(c for c in plan["communes"] if c["name"] == "Xã Tam Trà")
    renamed["name"] = "Xã Tam Anh"
    load_plan(plan, actor=None, now=now)
    db.session.commit()
    assert _table_names(campaign) == ["Thị trấn Núi Thành", "Xã Tam Anh", *NUI_THANH_IN_ORDER[1:14],
                                      *NUI_THANH_IN_ORDER[15:]]


def test_a_bulk_insert_and_a_rename_keep_the_key(db, make):
    campaign = make.campaign("bulk-2023", communes=())
    # as bench/fixtures.py does: no ORM object, so no validator; the column's default keys the row
    db.session.execute(insert(Commune), [{"code": "20901", "name": "Xã Tam Mỹ Tây",
                                          "authority_id": campaign.authority_id}])
    commune = db.session.scalar(select(Commune).where(Commune.code == "20901"))
    assert commune.name_key == sort_key("Xã Tam Mỹ Tây")
    commune.name = "Xã Tam Mỹ Đông"
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Commune.name_key).where(Commune.code == "20901")) == sort_key("Xã Tam Mỹ Đông")


# --- the migration -----------------------------------------------------------------------------------

@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of its own (the tests' database is already at the head)."""
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    url = make_url(PG_URL).set(database=f"{make_url(PG_URL).database}_migrations")
    _create_database(PG_URL, url.database)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url.render_as_string(hide_password=False)


def test_the_migration_keys_stored_communes_and_goes_back(scratch_url, tmp_path):
    scratch = _make_app(scratch_url, tmp_path)
    directory = str(ROOT / "migrations")
    names = {"20371": "Xã Tam Hải", "20370": "Xã Tam Hòa", "20386": "Xã Tam Mỹ Tây", "20385": "Xã Tam Mỹ Đông"}
    with scratch.app_context():
        from models import db

        upgrade(directory=directory, revision="0014")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO authorities (id, name) VALUES (1, 'UBND huyện Núi Thành')"))
            for i, (code, name) in enumerate(names.items(), start=1):
                conn.execute(text("INSERT INTO communes (id, code, name, authority_id) VALUES (:i, :code, :name, 1)"),
                             {"i": i, "code": code, "name": name})
        upgrade(directory=directory, revision="0015")
        with db.engine.connect() as conn:
            keyed = dict(conn.execute(text("SELECT name, name_key FROM communes")).all())
            in_order = list(conn.execute(text("SELECT code FROM communes ORDER BY name_key")).scalars())
        assert keyed == {name: sort_key(name) for name in names.values()}
        assert in_order == ["20371", "20370", "20385", "20386"]
        column = next(c for c in inspect(db.engine).get_columns("communes") if c["name"] == "name_key")
        assert column["nullable"] is False

        downgrade(directory=directory, revision="0014")
        assert "name_key" not in {c["name"] for c in inspect(db.engine).get_columns("communes")}
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM communes")).scalar() == len(names)
        upgrade(directory=directory)
        db.engine.dispose()
