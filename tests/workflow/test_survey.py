"""The survey: conversion with hand-computed points, group weights, import all-or-nothing, the guard, progress."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import AuditEvent, Score, SurveyAnswer, SurveyForm
from states import Stage
from workflow import guards, survey
from workflow.errors import InvalidInput, NotPermitted

# two survey questions of 0,75 points, as 3.1.1 and 3.1.2 of the Quảng Điền set
SURVEY_TREE = [
    ("1", "Chỉ đạo, điều hành", 1, None, False, [
        ("1.1", "Kế hoạch CCHC", 1, None, False, [("1.1.1", "Ban hành Kế hoạch CCHC", 1, "self", False, [])]),
    ]),
    ("3", "Sự hài lòng", 1.5, None, False, [
        ("3.1", "Mức độ hài lòng", 1.5, None, False, [
            ("3.1.1", "Tiếp cận dịch vụ", 0.75, "survey", False, []),
            ("3.1.2", "Công khai, minh bạch", 0.75, "survey", False, []),
        ]),
    ]),
]
SURVEY_BLOCK = {"due": "2023-11-20", "due_date": "2023-11-20", "groups": [
    {"code": "leaders", "name": "Lãnh đạo các cơ quan chuyên môn", "per_commune": 3, "total": None},
    {"code": "delegates", "name": "Đại biểu HĐND xã", "per_commune": {"10001": 4, "10002": 2}, "total": None},
    {"code": "district", "name": "Người dân cấp huyện", "per_commune": None, "total": 5},
]}
HEADER = ["commune_code", "group", "form_number", "surveyor", "mode", "3.1.1", "3.1.2"]
# commune 10001: three leaders' forms, four delegates' forms
GOOD_ROWS = [
    ["10001", "leaders", "L1", "Nguyễn Văn An", "in_person", "A", "A"],
    ["10001", "leaders", "L2", "Nguyễn Văn An", "in_person", "B", "D"],
    ["10001", "leaders", "L3", "Nguyễn Văn An", "online", "X", "D"],
    ["10001", "delegates", "D1", "Trần Thị Bình", "trực tiếp", "B", "D"],
    ["10001", "delegates", "D2", "Trần Thị Bình", "in_person", "C", "D"],
    ["10001", "delegates", "D3", "Trần Thị Bình", "in_person", "", "D"],
    ["10001", "delegates", "D4", "Trần Thị Bình", "online", "D", ""],
]


@pytest.fixture
def campaign(make, db, now):
    cs = make.criteria_set(key="survey-criteria", tree=SURVEY_TREE)
    c = make.campaign(key="survey-2023", criteria_set=cs)
    c.survey = SURVEY_BLOCK
    make.advance(make.case_of(c, "10001"), Stage.self_assessment)
    db.session.commit()
    return c


def csv_bytes(rows, header=HEADER, sep=",") -> io.BytesIO:
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    stream = io.BytesIO(text.encode("utf-8"))
    stream.name = "phieu.csv"
    return stream


def audit_count(db) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def test_import_then_convert_gives_the_hand_computed_points(campaign, make, db, now):
    report = survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=now)
    assert report.ok, report.problems
    assert (report.rows, report.created, report.updated, report.communes) == (7, 7, 0, ["10001"])
    db.session.commit()
    answers = {(a.form.number, a.code): (a.option, a.state) for a in db.session.scalars(select(SurveyAnswer))}
    assert answers[("L3", "3.1.1")] == (None, "invalid") and answers[("D3", "3.1.1")] == (None, "blank")
    assert answers[("D1", "3.1.1")] == ("B", "valid")

    result = survey.convert(campaign, actor=make.secretariat, now=now)
    db.session.commit()
    # 3.1.1, valid answers A B | B C D (X and blank left out): (100+60+60+20+0)/5 = 48 % x 0,75 = 0,36
    # 3.1.2, valid answers A D D | D D D (blank left out): 100/6 = 16,67 % x 0,75 = 0,125 -> 0,13 (half up)
    assert result.points == {"10001": {"3.1.1": Decimal("0.36"), "3.1.2": Decimal("0.13")}}
    assert result.changed == 2
    assert result.missing == [("10002", "3.1.1"), ("10002", "3.1.2")]  # no forms from commune 10002
    case = make.case_of(campaign, "10001")
    stored = {s.item_id: s.survey_score for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}
    assert sorted(v for v in stored.values() if v is not None) == [Decimal("0.13"), Decimal("0.36")]
    assert guards.survey_points_recorded(case) == []
    assert [b.code for b in guards.survey_points_recorded(make.case_of(campaign, "10002"))] == ["3.1.1", "3.1.2"]
    actions = [a for a, in db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq))]
    assert actions[-4:] == ["survey.forms_recorded", "score.changed", "score.changed", "survey.converted"]
    # a second conversion changes nothing
    again = survey.convert(campaign, actor=make.secretariat, now=now)
    assert (again.changed, again.unchanged) == (0, 2)


def test_group_weights_average_each_group_first(campaign, make, db, now):
    survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=now)
    survey.set_weights(campaign, actor=make.head, now=now, groups={"leaders": "1", "delegates": "3", "district": "0"})
    result = survey.convert(campaign, actor=make.secretariat, now=now)
    # 3.1.1: leaders (100+60)/2 = 80 %, delegates (60+20+0)/3 = 26,67 %; (80x1 + 26,67x3)/4 = 40 % x 0,75 = 0,30
    # 3.1.2: leaders (100+0+0)/3 = 33,33 %, delegates 0 %; (33,33x1 + 0x3)/4 = 8,33 % x 0,75 = 0,0625 -> 0,06
    assert result.points["10001"] == {"3.1.1": Decimal("0.30"), "3.1.2": Decimal("0.06")}
    campaign.survey = {**SURVEY_BLOCK, "groups": SURVEY_BLOCK["groups"][:2]}  # the plan reloaded, a group gone
    with pytest.raises(InvalidInput, match="no longer match"):
        survey.convert(campaign, actor=make.secretariat, now=now)


def test_option_weights_are_configurable_and_checked(campaign, make, db, now):
    survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=now)
    survey.set_weights(campaign, actor=make.head, now=now, options={"A": "100", "B": "75", "C": "50", "D": "25"})
    result = survey.convert(campaign, actor=make.secretariat, now=now)
    # 3.1.1: (100+75+75+50+25)/5 = 65 % x 0,75 = 0,4875 -> 0,49
    assert result.points["10001"]["3.1.1"] == Decimal("0.49")
    with pytest.raises(InvalidInput) as bad:
        survey.set_weights(campaign, actor=make.head, now=now, options={"A": "120", "B": "60", "C": "20"})
    assert "options" in bad.value.errors
    with pytest.raises(InvalidInput) as bad:
        survey.set_weights(campaign, actor=make.head, now=now, groups={"leaders": "1"})
    assert "no weight for delegates, district" in bad.value.errors["groups"][0]
    with pytest.raises(NotPermitted):
        survey.set_weights(campaign, actor=make.officers["10001"], now=now, options={"A": 1, "B": 1, "C": 1, "D": 1})


def test_a_file_with_bad_rows_is_refused_whole_and_names_each_problem(campaign, make, db, now):
    rows = [
        *GOOD_ROWS[:2],
        ["99999", "leaders", "L9", "", "in_person", "A", "A"],       # row 4: unknown commune
        ["10001", "citizens", "C1", "", "in_person", "A", "A"],      # row 5: unknown group
        ["10001", "leaders", "L4", "", "by post", "E", "A"],         # row 6: bad mode, bad answer
        ["10001", "leaders", "L1", "", "online", "A", "A"],          # row 7: duplicate of row 2
        ["10002", "delegates", "", "", "online", "A", "A"],          # row 8: no form number
    ]
    before = audit_count(db)
    report = survey.import_file(campaign, csv_bytes(rows, sep=";"), actor=make.secretariat, now=now)
    db.session.commit()
    assert not report.ok and report.created == 0
    found = {(p.row, p.column) for p in report.problems}
    assert found == {(4, "commune_code"), (5, "group"), (6, "mode"), (6, "3.1.1"), (7, "form_number"),
                     (8, "form_number")}
    reasons = {(p.row, p.column): p.reason for p in report.problems}
    assert "no commune '99999'" in reasons[(4, "commune_code")]
    assert "duplicate of row 2" in reasons[(7, "form_number")]
    assert "'E' is not an answer" in reasons[(6, "3.1.1")]
    assert "refused, nothing written" in report.summary()
    assert db.session.scalar(select(func.count(SurveyForm.id))) == 0
    assert audit_count(db) == before


def test_header_problems_and_file_type(campaign, make, db, now):
    bad = survey.import_file(campaign, csv_bytes([], header=["mã xã", "nhóm", "3.1.1", "1.1.1", "ghi chú"]),
                             actor=make.secretariat, now=now)
    columns = {p.column: p.reason for p in bad.problems}
    assert "not a survey question" in columns["1.1.1"] and "unknown column" in columns["ghi chú"]
    assert {"form_number", "mode"} <= set(columns)
    stream = io.BytesIO(b"%PDF-1.4")
    stream.name = "phieu.pdf"
    refused = survey.import_file(campaign, stream, actor=make.secretariat, now=now)
    assert [str(p) for p in refused.problems] == ["file: unsupported file type '.pdf' (use .csv or .xlsx)"]
    big = survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=now, max_bytes=100)
    assert "larger than" in big.problems[0].reason
    with pytest.raises(NotPermitted):
        survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.officers["10001"], now=now)


def test_xlsx_with_vietnamese_headers_imports_and_reimport_changes_nothing(campaign, make, db, now, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Mã xã", "Nhóm", "Số phiếu", "Khảo sát viên", "Hình thức", "3.1.1", "3.1.2"])
    for row in GOOD_ROWS:
        sheet.append([int(row[0]), *row[1:]])  # Excel keeps the commune code as a number
    path = tmp_path / "phieu.xlsx"
    book.save(path)
    first = survey.import_file(campaign, path, actor=make.secretariat, now=now)
    db.session.commit()
    assert first.ok and first.created == 7, first.problems
    events = audit_count(db)
    second = survey.import_file(campaign, path, actor=make.secretariat, now=now)
    db.session.commit()
    assert (second.created, second.updated, second.unchanged) == (0, 0, 7)
    assert audit_count(db) == events  # nothing changed, nothing recorded
    sheet["F2"] = "C"  # L1's answer to 3.1.1 corrected
    book.save(path)
    third = survey.import_file(campaign, path, actor=make.secretariat, now=now)
    assert (third.updated, third.unchanged) == (1, 6)


def test_progress_counts_and_colours_against_the_working_day_due(campaign, make, db, now):
    survey.import_file(campaign, csv_bytes(GOOD_ROWS), actor=make.secretariat, now=now)
    survey.record_issue(campaign, "10001", "leaders", 3, actor=make.secretariat, now=now, surveyor="An")
    survey.record_issue(campaign, "10002", "leaders", 2, actor=make.secretariat, now=now, mode="online")
    db.session.commit()
    # 1 Nov 2023: 13 working days before the due date (Monday 20 Nov)
    rows = {(r.commune_code, r.group): r for r in survey.progress(campaign, now=now).rows}
    assert [r.as_json() for r in survey.progress(campaign, now=now).rows] == [
        {"commune_code": "10001", "group": "leaders", "quota": 3, "issued": 3, "returned": 3},
        {"commune_code": "10001", "group": "delegates", "quota": 4, "issued": 4, "returned": 4},
        {"commune_code": "10002", "group": "leaders", "quota": 3, "issued": 2, "returned": 0},
        {"commune_code": "10002", "group": "delegates", "quota": 2, "issued": 0, "returned": 0},
        {"commune_code": None, "group": "district", "quota": 5, "issued": 0, "returned": 0},
    ]
    assert rows[("10001", "leaders")].status == survey.COMPLETE
    assert rows[("10002", "leaders")].status == survey.ON_TRACK
    soon = dt.datetime(2023, 11, 15, 2, 0, tzinfo=dt.UTC)  # 3 working days left
    assert {r.status for r in survey.progress(campaign, now=soon).rows if r.commune_code == "10002"} == {
        survey.DUE_SOON}
    after = dt.datetime(2023, 11, 21, 2, 0, tzinfo=dt.UTC)
    late = survey.progress(campaign, now=after)
    assert list(late.lagging()) == ["10002"]
    assert [r.group for r in late.lagging()["10002"]] == ["leaders", "delegates"]


def test_due_date_on_a_day_off_moves_to_the_next_working_day(campaign, db):
    campaign.survey = {**SURVEY_BLOCK, "due": "2023-11-18", "due_date": "2023-11-18"}  # a Saturday
    assert survey.survey_due(campaign).date == dt.date(2023, 11, 20)


def test_forms_of_a_closed_case_are_refused(campaign, make, db, now):
    case = make.case_of(campaign, "10001")
    case.stage = Stage.council_meeting.value  # as if the council had met (the factory's survey points exceed 0,75)
    db.session.commit()
    report = survey.import_file(campaign, csv_bytes(GOOD_ROWS[:1]), actor=make.secretariat, now=now)
    assert [(p.row, p.column) for p in report.problems] == [(2, "commune_code")]
    assert "survey data can no longer change" in report.problems[0].reason
    with pytest.raises(NotPermitted):
        survey.record_form(campaign, "10001", "leaders", "L9", {"3.1.1": "A"}, actor=make.secretariat, now=now)


def test_record_one_form_is_audited_on_the_case(campaign, make, db, now):
    outcome = survey.record_form(campaign, "10002", "delegates", "7", {"3.1.1": "b", "3.1.2": ""},
                                 actor=make.secretariat, now=now, mode="online", surveyor="Lê Văn C")
    db.session.commit()
    assert outcome == "created"
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert (event.action, event.case_id, event.after) == (
        "survey.forms_recorded", make.case_of(campaign, "10002").id, {"created": {"delegates": ["7"]}})
    with pytest.raises(InvalidInput) as bad:
        survey.record_form(campaign, "10002", "delegates", "8", {"3.1.1": "F"}, actor=make.secretariat, now=now)
    assert "3.1.1" in bad.value.errors


def test_a_numeric_commune_code_from_excel_keeps_its_leading_zeros(make, db):
    from workflow import survey_import

    cs = make.criteria_set(key="pad-criteria", tree=SURVEY_TREE)
    c = make.campaign(key="pad-2023", communes=("00004",), criteria_set=cs)
    c.survey = {**SURVEY_BLOCK, "groups": SURVEY_BLOCK["groups"][:1]}
    forms, rows, problems = survey_import.check(c, [HEADER, [4, "leaders", 1.0, None, "online", "a", " B "]])
    assert (rows, problems) == (1, [])
    assert (forms[0].case.commune.code, forms[0].number, forms[0].answers) == (
        "00004", "1", {"3.1.1": ("A", "valid"), "3.1.2": ("B", "valid")})
