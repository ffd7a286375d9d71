"""The case board (issue 4): columns and cards, filters, search, the table, its exports, access and scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sqlalchemy_event
from werkzeug.security import generate_password_hash

from models import Commune, db
from states import STAGE_TITLES_VI, Stage
from tests.factories import NOW
from tests.web.helpers import PASSWORD, post_form
from tests.web.helpers import logged_in as _logged_in
from workflow import board, cases, evidence, scores
from workflow.guards import GUARDS

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

NAMES = {
    "10001": "Xã Tam Đàn",
    "10002": "Xã Bình Minh",
    "10003": "Thị trấn Núi Thành",
    "10004": "Xã Tam Hiệp",
    "10005": "Xã Tam Anh Nam",
    "10006": "Xã Tam Xuân 1",
    "10007": "Xã Đông Phú",
}
STAGES = {
    "10001": Stage.self_assessment,
    "10002": Stage.appraisal,
    "10003": Stage.survey,
    "10004": Stage.council_meeting,
    "10005": Stage.publication,
    "10006": Stage.planning,
    "10007": Stage.appraisal,  # then returned for revision: back in self-assessment, revision due 20/11
}


class World:
    """The board campaign and its people."""

    def __init__(self, make, campaign):
        self.make, self.campaign = make, campaign
        self.secretariat, self.head, self.leader = make.secretariat, make.head, make.leader
        self.auditor, self.admin, self.council = make.auditor, make.admin, list(make.council)
        self.officers, self.chairs = dict(make.officers), dict(make.chairs)

    def case(self, code: str):
        return cases.get_case(self.campaign.key, code)


def logged_in(app, user):
    """A client logged in through the real form; the password gets a cheap hash (scrypt for every
    user of every fixture would dominate this file's run time)."""
    user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    db.session.commit()
    return _logged_in(app, user)


@pytest.fixture
def w(make, db):
    campaign = make.campaign("board-2023", communes=tuple(NAMES))
    for code, name in NAMES.items():
        db.session.scalar(db.select(Commune).where(Commune.code == code)).name = name
    world = World(make, campaign)
    for code, stage in STAGES.items():
        make.advance(world.case(code), stage)
    cases.fire(world.case("10007"), "return_for_revision", make.secretariat, now=NOW,
               reason="Thiếu tài liệu kiểm chứng", revision_due=dt.date(2023, 11, 20))
    db.session.commit()
    return world


def _attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def cards(html: str) -> list[dict]:
    return [_attrs(tag) for tag in re.findall(r'<li class="case-card[^>]*>', html)]


def rows(html: str) -> list[dict]:
    return [_attrs(tag) for tag in re.findall(r'<tr class="case-row[^>]*>', html)]


def by_code(items: list[dict]) -> dict[str, dict]:
    return {item["data-code"]: item for item in items}


def column_counts(html: str) -> dict[str, int]:
    return {a["data-stage"]: int(a["data-count"])
            for a in (_attrs(t) for t in re.findall(r'<section class="board-column[^>]*>', html))}


def get(client, url: str, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def guard_count(case) -> int:
    return sum(len(GUARDS[name](case)) for name in board.FORWARD_GUARDS[case.stage])


# --- columns and cards -------------------------------------------------------------------------------

def test_columns_and_cards_show_stage_due_days_left_colour_and_blockers(app, w):
    html = get(logged_in(app, w.secretariat), "/board?as_of=2023-11-08")
    for stage in Stage:
        assert STAGE_TITLES_VI[stage] in html  # Vietnamese column titles
    assert column_counts(html) == {s.value: 1 for s in Stage} | {"self_assessment": 2}
    found = by_code(cards(html))
    assert {code: c["data-stage"] for code, c in found.items()} == {
        "10001": "self_assessment", "10002": "appraisal", "10003": "survey", "10004": "council_meeting",
        "10005": "publication", "10006": "planning", "10007": "self_assessment"}
    # self-assessment due Fri 10/11: Thu and Fri left, within the "due soon" window of 2 working days
    assert (found["10001"]["data-due"], found["10001"]["data-left"], found["10001"]["data-status"]) == \
        ("2023-11-10", "2", "due-soon")
    # the revision deadline binds 10007 (20/11: 8 working days from Wed 8/11)
    assert (found["10007"]["data-due"], found["10007"]["data-left"], found["10007"]["data-status"]) == \
        ("2023-11-20", "8", "on-track")
    # the council's due is Sunday 10/12: art. 148 moves it to Monday 11/12
    assert found["10004"]["data-due"] == "2023-12-11"
    assert found["10002"]["data-status"] == found["10003"]["data-status"] == "on-track"
    assert (found["10006"]["data-due"], found["10006"]["data-status"]) == ("", "no-deadline")
    # blocking items: three unscored sub-criteria, three unappraised, one survey item without points
    assert {code: int(c["data-blockers"]) for code, c in found.items()} == {
        "10001": 3, "10002": 3, "10003": 1, "10004": 0, "10005": 0, "10006": 0, "10007": 0}
    assert "10/11/2023" in html and "còn 2 ngày làm việc" in html
    # most urgent first within a column; each card opens the case page as of the same day
    self_column = [c["data-code"] for c in cards(html) if c["data-stage"] == "self_assessment"]
    assert self_column == ["10001", "10007"]
    assert f'href="/cases/{found["10001"]["data-case-id"]}?as_of=2023-11-08"' in html


def test_due_today_then_overdue_with_working_days_late(app, w):
    client = logged_in(app, w.secretariat)
    today = by_code(cards(get(client, "/board?as_of=2023-11-10")))["10001"]
    assert (today["data-left"], today["data-status"]) == ("0", "due-soon")
    html = get(client, "/board?as_of=2023-11-14")  # Tuesday: Monday and Tuesday past the due
    late = by_code(cards(html))["10001"]
    assert (late["data-left"], late["data-status"]) == ("-2", "overdue")
    assert "quá hạn 2 ngày làm việc" in html
    assert 'data-overdue-total="1"' in html
    assert 'data-overdue-total="2"' in get(client, "/board?as_of=2023-11-21")  # the revision due passed too


def test_blocking_counts_follow_the_scores_and_agree_with_the_guards(app, w):
    client = logged_in(app, w.secretariat)
    case, officer = w.case("10001"), w.officers["10001"]

    def shown() -> int:
        return int(by_code(cards(get(client, "/board?as_of=2023-11-08")))["10001"]["data-blockers"])

    assert shown() == guard_count(case) == 3
    scores.set_self_assessment(case, "1.1.2", officer, now=NOW, score=2)
    db.session.commit()
    assert shown() == guard_count(case) == 2
    # scored but evidence required: still blocked until a file (or an explanation) is given
    scores.set_self_assessment(case, "1.1.1", officer, now=NOW, score=1)
    db.session.commit()
    assert shown() == guard_count(case) == 2
    evidence.add_evidence(case, "1.1.1", officer, now=NOW, file_name="ke-hoach.pdf", data=PDF,
                          media_type="application/pdf")
    db.session.commit()
    assert shown() == guard_count(case) == 1
    scores.set_self_assessment(case, "2.1.1", officer, now=NOW, not_applicable=True)
    db.session.commit()
    assert shown() == guard_count(case) == 0
    assert 'data-code="10001"' in get(client, "/board?as_of=2023-11-08")
    # appraisal: one appraised item fewer to go
    appraised = w.case("10002")
    scores.set_appraisal(appraised, "1.1.1", w.secretariat, now=NOW, score=1)
    db.session.commit()
    assert int(by_code(cards(get(client, "/board")))["10002"]["data-blockers"]) == guard_count(appraised) == 2
    # the SQL count agrees with the Python guards for every case
    every = [w.case(code) for code in NAMES]
    assert board.blocker_counts(w.campaign, [c.id for c in every]) == {c.id: guard_count(c) for c in every}


# --- filters and search ------------------------------------------------------------------------------

def test_filter_by_stage(app, w):
    html = get(logged_in(app, w.secretariat), "/board?stage=appraisal")
    assert list(column_counts(html)) == ["appraisal"]
    assert [c["data-code"] for c in cards(html)] == ["10002"]
    assert 'data-stage="self_assessment" data-count="2"' in html  # the summary still counts every stage


def test_overdue_only(app, w):
    client = logged_in(app, w.secretariat)
    html = get(client, "/board?overdue=1&as_of=2023-11-14")
    assert [c["data-code"] for c in cards(html)] == ["10001"]
    assert column_counts(html)["self_assessment"] == 1 and column_counts(html)["appraisal"] == 0
    assert [c["data-code"] for c in cards(get(client, "/board?overdue=1&as_of=2023-11-21"))] == ["10001", "10007"]
    assert cards(get(client, "/board?overdue=1&as_of=2023-11-01")) == []
    assert [r["data-code"] for r in rows(get(client, "/board/table?overdue=1&as_of=2023-11-14"))] == ["10001"]


@pytest.mark.parametrize(("q", "codes"), [
    ("tam dan", {"10001"}),  # no accents typed
    ("TAM ĐÀN", {"10001"}),  # upper case with accents
    ("tam", {"10001", "10004", "10005", "10006"}),
    ("đông phú", {"10007"}),
    ("núi", {"10003"}),
    ("10003", {"10003"}),
    ("1000", set(NAMES)),
    ("%", set()),  # LIKE wildcards are text
    ("_", set()),
])
def test_search_commune_name_or_code(app, w, q, codes):
    client = logged_in(app, w.secretariat)
    assert {c["data-code"] for c in cards(get(client, f"/board?q={q}"))} == codes
    assert {r["data-code"] for r in rows(get(client, f"/board/table?q={q}"))} == codes


def test_filters_combine_and_links_keep_them(app, w):
    client = logged_in(app, w.secretariat)
    html = get(client, "/board?stage=self_assessment&q=tam&as_of=2023-11-14&overdue=1")
    assert [c["data-code"] for c in cards(html)] == ["10001"]
    assert list(column_counts(html)) == ["self_assessment"]
    table_link = re.search(r'id="to-table" href="([^"]+)"', html) or re.search(r'href="([^"]+)" id="to-table"', html)
    link = table_link.group(1).replace("&amp;", "&")
    for part in ("stage=self_assessment", "q=tam", "as_of=2023-11-14", "overdue=1"):
        assert part in link
    assert [r["data-code"] for r in rows(get(client, link))] == ["10001"]
    assert cards(get(client, "/board?stage=appraisal&q=tam")) == []


def test_fold_removes_vietnamese_accents_and_case():
    assert board.fold("Xã Tam Đàn") == "xa tam dan"
    assert board.fold("THỊ TRẤN NÚI THÀNH") == "thi tran nui thanh"


# --- the table ---------------------------------------------------------------------------------------

def _table(client, query: str) -> list[dict]:
    return rows(get(client, f"/board/table?as_of=2023-11-14&{query}"))


def test_table_sorts_by_each_column_with_a_stable_second_order(app, w):
    client = logged_in(app, w.secretariat)
    default = _table(client, "")
    assert [r["data-code"] for r in default] == sorted(NAMES)
    assert [r["data-code"] for r in _table(client, "sort=code&dir=desc")] == sorted(NAMES, reverse=True)
    order = [s.value for s in Stage]
    staged = _table(client, "sort=stage")
    assert [r["data-code"] for r in staged] == sorted(NAMES, key=lambda c: (order.index(by_code(default)[c]["data-stage"]), c))
    due = [r["data-code"] for r in _table(client, "sort=due")]
    # by due date, ties by code, the case without a deadline last
    assert due == ["10001", "10007", "10003", "10004", "10002", "10005", "10006"]
    assert [r["data-code"] for r in _table(client, "sort=days_left")] == due
    assert [r["data-code"] for r in _table(client, "sort=due&dir=desc")] == \
        ["10002", "10005", "10004", "10003", "10007", "10001", "10006"]
    blocked = [(r["data-code"], int(r["data-blockers"])) for r in _table(client, "sort=blockers&dir=desc")]
    assert blocked == [("10001", 3), ("10002", 3), ("10003", 1), ("10004", 0), ("10005", 0), ("10006", 0),
                       ("10007", 0)]
    by_name = [r["data-code"] for r in _table(client, "sort=commune")]
    assert by_name[0] == "10003"  # "Thị trấn …" before every "Xã …"
    assert [r["data-code"] for r in _table(client, "sort=commune&dir=desc")] == by_name[::-1]
    assert [r["data-code"] for r in _table(client, "sort=nonsense")] == sorted(NAMES)


# codes in another order than the names, so that only a Vietnamese sort gives the order below
TAM = {"20001": "Xã Tam Mỹ Tây", "20002": "Xã Tam Hòa", "20003": "Xã Tam Mỹ Đông", "20004": "Xã Tam Hiệp",
       "20005": "Xã Tam Hải"}
# a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y: code points would put Hòa before Hải
# and Tây before Đông
TAM_IN_ORDER = ["20005", "20004", "20002", "20003", "20001"]


@pytest.fixture
def tam(make, db):
    campaign = make.campaign("tam-2023", communes=tuple(TAM))
    for code, name in TAM.items():
        db.session.scalar(db.select(Commune).where(Commune.code == code)).name = name
    db.session.commit()
    return World(make, campaign)


def test_table_sorts_communes_in_vietnamese_alphabetical_order(app, tam):
    client = logged_in(app, tam.secretariat)
    assert [r["data-code"] for r in _table(client, "campaign=tam-2023&sort=commune")] == TAM_IN_ORDER
    assert [r["data-code"] for r in _table(client, "campaign=tam-2023&sort=commune&dir=desc")] == TAM_IN_ORDER[::-1]
    # the order is SQL's, page by page
    flt = board.BoardFilter(today=dt.date(2023, 11, 14))
    paged = [card.commune_code for page in (1, 2, 3)
             for card in board.table_page(tam.campaign, flt, sort="commune", page=page, size=2).cards]
    assert paged == TAM_IN_ORDER
    body = list(csv.reader(io.StringIO(
        get_bytes(client, "/board/table.csv?campaign=tam-2023&sort=commune").decode("utf-8-sig"))))
    assert [r[1] for r in body[1:]] == [TAM[code] for code in TAM_IN_ORDER]
    sheet = load_workbook(io.BytesIO(get_bytes(client, "/board/table.xlsx?campaign=tam-2023&sort=commune"))).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == TAM_IN_ORDER


def test_a_renamed_commune_sorts_under_its_new_name(app, tam):
    admin = logged_in(app, tam.admin)
    commune = db.session.scalar(db.select(Commune).where(Commune.code == "20001"))
    form = {"code": "20001", "name": "Xã Tam Anh Bắc", "authority": commune.authority.name}
    response = post_form(admin, "/admin/communes", f"/admin/communes/{commune.id}", form)
    assert response.status_code == 303
    client = logged_in(app, tam.secretariat)
    assert [r["data-code"] for r in _table(client, "campaign=tam-2023&sort=commune")] == \
        ["20001", "20005", "20004", "20002", "20003"]


def get_bytes(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data()


@pytest.fixture
def big(make, db):
    """75 communes in self-assessment: more than a column's first cards and more than a table page."""
    codes = tuple(f"3{i:04d}" for i in range(75))
    campaign = make.campaign("big-2023", communes=codes)
    for code in codes:
        cases.fire(cases.get_case("big-2023", code), "open", make.secretariat, now=NOW)
    # two revision-like outliers would need appraisal first; the order by case id is checked instead
    db.session.commit()
    return World(make, campaign)


def test_more_loads_the_next_fifty_cards_with_htmx_or_as_a_page(app, big):
    client = logged_in(app, big.secretariat)
    html = get(client, "/board?campaign=big-2023&q=3")
    first = [c["data-case-id"] for c in cards(html)]
    assert len(first) == board.COLUMN_FIRST
    more = re.search(r'<a class="more" href="([^"]+)" hx-get="([^"]+)"', html)
    assert more.group(1) == more.group(2)
    url = more.group(1).replace("&amp;", "&")
    assert "offset=20" in url and "q=3" in url and "campaign=big-2023" in url
    fragment = get(client, url, **{"HX-Request": "true"})
    assert "<html" not in fragment
    second = [c["data-case-id"] for c in cards(fragment)]
    assert len(second) == board.COLUMN_MORE
    url = re.search(r'<a class="more" href="([^"]+)"', fragment).group(1).replace("&amp;", "&")
    assert "offset=70" in url
    third_page = get(client, url)  # without htmx: a whole page with the same cards
    assert "<html" in third_page and 'id="back-to-board"' in third_page
    third = [c["data-case-id"] for c in cards(third_page)]
    assert len(third) == 5 and 'class="more"' not in third_page
    shown = first + second + third
    assert len(set(shown)) == 75
    assert shown == sorted(shown, key=int)  # one due date for all: then by case


def test_table_pages_of_fifty_with_a_total(app, big):
    client = logged_in(app, big.secretariat)
    page1 = get(client, "/board/table?campaign=big-2023")
    assert 'data-total="75"' in page1 and 'data-pages="2"' in page1
    first = [r["data-code"] for r in rows(page1)]
    assert len(first) == 50
    next_url = re.search(r'href="([^"]+)" rel="next"', page1).group(1).replace("&amp;", "&")
    second = [r["data-code"] for r in rows(get(client, next_url))]
    assert len(second) == 25 and first + second == sorted(first + second)
    assert [r["data-code"] for r in rows(get(client, "/board/table?campaign=big-2023&page=99"))] == second
    desc = [r["data-code"] for r in rows(get(client, "/board/table?campaign=big-2023&sort=code&dir=desc&page=2"))]
    assert desc == sorted(first + second, reverse=True)[50:]


# --- exports -----------------------------------------------------------------------------------------

def _all_table_rows(client, query: str) -> list[dict]:
    found, page = [], 1
    while True:
        html = get(client, f"/board/table?{query}&page={page}")
        found += rows(html)
        if 'rel="next"' not in html:
            return found
        page += 1


@pytest.mark.parametrize("query", ["as_of=2023-11-14&sort=due&dir=desc", "as_of=2023-11-14&q=tam&sort=blockers",
                                   "as_of=2023-11-21&overdue=1"])
def test_csv_and_excel_hold_the_filtered_sorted_rows(app, w, query):
    client = logged_in(app, w.secretariat)
    expected = _all_table_rows(client, query)
    response = client.get(f"/board/table.csv?{query}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"] and ".csv" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # BOM: Excel reads the file as UTF-8
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = parsed[0], parsed[1:]
    assert header[:4] == ["Mã", "Xã, thị trấn", "Giai đoạn", "Hạn"]
    assert [r[0] for r in body] == [r["data-code"] for r in expected]
    assert [r[1] for r in body] == [NAMES[r["data-code"]] for r in expected]
    assert [r[3] for r in body] == [dt.date.fromisoformat(r["data-due"]).strftime("%d/%m/%Y") if r["data-due"] else ""
                                    for r in expected]
    assert [r[4] for r in body] == [r["data-left"] for r in expected]
    assert [int(r[6]) for r in body] == [int(r["data-blockers"]) for r in expected]

    xlsx = client.get(f"/board/table.xlsx?{query}")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header
    assert sheet.auto_filter.ref == f"A1:G{len(expected) + 1}"
    assert sheet["A1"].font.bold
    assert [v[0] for v in values[1:]] == [r["data-code"] for r in expected]
    for row, want in zip(values[1:], expected, strict=True):
        due = row[3]
        if want["data-due"]:
            assert isinstance(due, dt.datetime) and due.date() == dt.date.fromisoformat(want["data-due"])
        else:
            assert due is None
        assert (row[4] if row[4] is not None else "") == (int(want["data-left"]) if want["data-left"] else "")
        assert row[6] == int(want["data-blockers"])
    assert [list(map(lambda v: "" if v is None else v, r))[1] for r in values[1:]] == [r[1] for r in body]


def test_exports_neutralise_formulas(app, w):
    hostile = {"10002": '=HYPERLINK("http://evil.example","x")', "10003": "+84 SUM(A1)", "10004": "@cmd",
               "10005": "-1+2"}
    for code, name in hostile.items():
        db.session.scalar(db.select(Commune).where(Commune.code == code)).name = name
    db.session.commit()
    client = logged_in(app, w.secretariat)
    body = list(csv.reader(io.StringIO(client.get("/board/table.csv?as_of=2023-11-14").get_data().decode("utf-8-sig"))))
    names = {r[0]: r[1] for r in body[1:]}
    for code, name in hostile.items():
        assert names[code] == "'" + name
    lefts = {r[0]: r[4] for r in body[1:]}
    assert lefts["10001"] == "-2"  # a number stays a number
    sheet = load_workbook(io.BytesIO(client.get("/board/table.xlsx?as_of=2023-11-14").get_data())).active
    cells = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    for code, name in hostile.items():
        assert cells[code].data_type == "s" and cells[code].value == name  # text, never a formula


# --- access and scope --------------------------------------------------------------------------------

URLS = ("/board", "/board/table", "/board/table.csv", "/board/table.xlsx", "/board/column/self_assessment")


@pytest.mark.parametrize("who", ["officer", "chair", "council member", "council chair"])
def test_commune_users_and_council_get_403(app, w, who):
    user = {"officer": w.officers["10001"], "chair": w.chairs["10001"], "council member": w.council[1],
            "council chair": w.council[0]}[who]
    client = logged_in(app, user)
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Xã Tam Đàn" not in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["secretariat", "head", "admin", "leader", "auditor"])
def test_campaign_wide_readers_see_the_board(app, w, who):
    client = logged_in(app, getattr(w, who))
    for url in URLS:
        assert client.get(url).status_code == 200, url


def test_logged_out_goes_to_login(app, w):
    response = app.test_client().get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_home_of_the_secretariat_is_the_board(app, w):
    response = logged_in(app, w.secretariat).get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/board")


def test_nothing_of_another_campaign(app, w, make, db):
    other = make.campaign("other-2024", communes=("20001", "20002"))
    other.year = 2024
    make.advance(cases.get_case("other-2024", "20001"), Stage.self_assessment)
    db.session.commit()
    client = logged_in(app, w.secretariat)
    newest = get(client, "/board")  # the newest campaign by default
    assert {c["data-code"] for c in cards(newest)} == {"20001", "20002"}
    assert 'value="board-2023"' in newest and 'value="other-2024"' in newest
    mine = "campaign=board-2023&as_of=2023-11-14"
    assert {c["data-code"] for c in cards(get(client, f"/board?{mine}"))} == set(NAMES)
    assert {r["data-code"] for r in rows(get(client, f"/board/table?{mine}"))} == set(NAMES)
    exported = client.get(f"/board/table.csv?{mine}").get_data().decode("utf-8-sig")
    assert "20001" not in exported and "10001" in exported
    column = get(client, f"/board/column/self_assessment?{mine}&offset=0", **{"HX-Request": "true"})
    assert {c["data-code"] for c in cards(column)} == {"10001", "10007"}
    assert client.get("/board?campaign=no-such").status_code == 404
    assert client.get("/board/table.csv?campaign=no-such").status_code == 404


def test_english_switch_names_stages_in_english(app, w):
    client = logged_in(app, w.secretariat)
    client.get("/lang/en")
    html = get(client, "/board")
    assert "Self-assessment and scoring" in html and "Tự đánh giá, chấm điểm" not in html


# --- no N+1 ------------------------------------------------------------------------------------------

class _Statements:
    """Counts the SQL statements the app sends while the block runs."""

    def __enter__(self):
        self.count = 0
        sqlalchemy_event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def _seen(self, *_args):
        self.count += 1

    def __exit__(self, *_exc):
        sqlalchemy_event.remove(db.engine, "before_cursor_execute", self._seen)


def test_statements_do_not_grow_with_the_cases_shown(app, w, big):
    client = logged_in(app, w.secretariat)
    counts = {}
    for key in ("board-2023", "big-2023"):
        for page in ("/board", "/board/table", "/board/column/self_assessment?offset=0"):
            client.get(f"{page}{'&' if '?' in page else '?'}campaign={key}")  # warm caches alike
            with _Statements() as seen:
                assert client.get(f"{page}{'&' if '?' in page else '?'}campaign={key}").status_code == 200
            counts[key, page] = seen.count
    # 7 cases in six columns against 75 cases in one: the same statements (set-based, no query per card)
    for page in ("/board", "/board/table", "/board/column/self_assessment?offset=0"):
        assert counts["big-2023", page] <= counts["board-2023", page], (page, counts)
