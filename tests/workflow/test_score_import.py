"""Score import: the whole sheet is checked first, refused with every bad row, or applied row by row."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import AuditEvent, Score
from states import Stage
from workflow import score_import
from workflow.errors import InvalidInput
from workflow.score_import import ImportRefused, RowProblem, import_scores, read_sheet

HEADER = "commune_code,code,score,note\n"


def _events(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "score.changed"))


def _scores(db) -> dict[tuple[int, str], tuple]:
    rows = db.session.execute(select(Score.case_id, Score.item_id, Score.self_score, Score.appraised_score,
                                     Score.survey_score, Score.explanation, Score.appraiser_note)).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.fixture
def world(make, db):
    campaign = make.campaign(communes=("10001", "10002", "10003"))
    for code in ("10001", "10002"):
        make.advance(make.case_of(campaign, code), Stage.self_assessment)
    make.advance(make.case_of(campaign, "10003"), Stage.appraisal)
    db.session.commit()
    return campaign


def _write(tmp_path, name: str, text: str, encoding="utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_a_sheet_with_good_and_bad_rows_is_refused_whole_with_every_bad_row(world, make, db, now, tmp_path):
    path = _write(tmp_path, "appraisal.csv", HEADER + "\n".join([
        '10003,1.1.1,"0,5",Thiếu quyết định',    # 2 good
        "10003,1.1.2,abc,",                        # 3 not a number
        "10002,1.1.2,1.255,",                      # 4 three decimals
        "10003,2.1.1,2.5,",                        # 5 over the maximum 2
        "10002,2.1.1,-1,",                         # 6 below zero
        "99999,1.1.1,1,",                          # 7 unknown commune
        "10003,9.9.9,1,",                          # 8 unknown code
        "10003,1.1,1,",                            # 9 not a sub-criterion
        "10003,2.2.1,1,",                          # 10 a survey item has no appraised score
        '10003,1.1.1,"0,75",',                     # 11 duplicate of row 2
        "10001,1.1.1,1,",                          # 12 case still in self-assessment
        ",1.1.1,,",                                # 13 commune and score missing
    ]) + "\n")
    make.advance(make.case_of(world, "10002"), Stage.appraisal)
    before_scores, before_events = _scores(db), _events(db)
    with pytest.raises(ImportRefused) as info:
        import_scores(world, "appraised", path, make.secretariat, now=now)
    problems = [str(p) for p in info.value.problems]
    assert problems == [
        "row 3, score: 'abc': not a number",
        "row 4, score: '1.255': at most two decimals",
        "row 5, score: '2.5': must be between 0 and 2.00",
        "row 6, score: '-1': must be between 0 and 2.00",
        "row 7, commune_code: no commune '99999' in campaign tiny-2023",
        "row 8, code: no sub-criterion '9.9.9' in the campaign's criteria set",
        "row 9, code: '1.1' is not a sub-criterion (scores go on sub-criteria)",
        "row 10, code: '2.2.1' is a survey-method sub-criterion; it takes no appraised score",
        "row 11, code: duplicate of row 2 (commune 10003, 1.1.1)",
        "row 12, commune_code: the case is in stage 'self_assessment'; appraised scores change only in appraisal",
        "row 13, commune_code: missing",
        "row 13, score: missing",
    ]
    assert isinstance(info.value, InvalidInput) and "12 problem(s)" in info.value.message
    db.session.rollback()
    assert _scores(db) == before_scores and _events(db) == before_events


def test_rows_the_actor_may_not_touch_are_listed(world, make, db, now):
    officer = make.officers["10001"]
    rows = [{"commune_code": "10001", "code": "1.1.2", "score": "2"},
            {"commune_code": "10002", "code": "1.1.2", "score": "2"}]
    with pytest.raises(ImportRefused) as info:
        import_scores(world, "self", rows, officer, now=now)
    assert [str(p) for p in info.value.problems] == [
        "row 3, commune_code: Only the commune's own officer may self-assess this case."]
    with pytest.raises(ImportRefused) as info:
        import_scores(world, "appraised", [{"commune_code": "10003", "code": "1.1.2", "score": "1"}], officer,
                      now=now)
    assert [p.column for p in info.value.problems] == ["commune_code"]
    seq = _last_seq(db)
    with pytest.raises(ImportRefused, match="Only the secretariat"):
        import_scores(world, "survey", [{"commune_code": "10003", "code": "2.2.1", "score": "1"}], officer, now=now)
    assert _events_since(db, seq) == []


def _events_since(db, seq):
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "score.changed", AuditEvent.seq > seq).order_by(AuditEvent.seq)).all()


def _last_seq(db) -> int:
    return db.session.scalar(select(func.max(AuditEvent.seq)))


def test_a_good_csv_applies_one_audit_event_per_changed_score(world, make, db, now, tmp_path):
    path = _write(tmp_path, "self.csv", HEADER + "\n".join([
        '10001,1.1.1,1,"Quyết định 12/QĐ-UBND ngày 05/01"',
        '10001,1.1.2,"1,5",',
        "",                                       # blank lines are skipped
        "10001,2.1.1,2,Ảnh niêm yết",
    ]) + "\n", encoding="utf-8-sig")  # Excel writes a BOM
    chair = make.chairs["10001"]  # the commune chair may self-assess too
    seq = _last_seq(db)
    report = import_scores(world, "self", path, chair, now=now)
    db.session.commit()
    assert (report.rows, report.changes, report.cases, report.unchanged) == (3, 3, 1, 0)
    assert report.summary() == "applied 3 changes in 1 cases (0 rows unchanged)"
    assert [(e.subject, e.actor, e.before, e.after) for e in _events_since(db, seq)] == [
        ("1.1.1", chair.email, {"self_score": None, "explanation": None},
         {"self_score": "1.00", "explanation": "Quyết định 12/QĐ-UBND ngày 05/01"}),
        ("1.1.2", chair.email, {"self_score": None}, {"self_score": "1.50"}),
        ("2.1.1", chair.email, {"self_score": None, "explanation": None},
         {"self_score": "2.00", "explanation": "Ảnh niêm yết"}),
    ]

    seq = _last_seq(db)
    again = import_scores(world, "self", path, chair, now=now)
    db.session.commit()
    assert (again.changes, again.unchanged, again.cases) == (0, 3, 0)
    assert _events_since(db, seq) == []


def test_a_good_xlsx_of_appraised_scores(world, make, db, now, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["commune_code", "code", "score", "note"])
    sheet.append([10003, "1.1.1", 0.5, "Ban hành chậm 6 ngày: trừ 0,5"])  # numbers as Excel stores them
    sheet.append(["10003", "1.1.2", "1,75", None])
    sheet.append(["10003", "2.1.1", 2, ""])
    book.create_sheet("ghi chú").append(["this second sheet is ignored"])
    path = tmp_path / "tham-dinh.xlsx"
    book.save(path)

    case = make.case_of(world, "10003")
    seq = _last_seq(db)
    report = import_scores(world, "appraised", path, make.secretariat, now=now)
    db.session.commit()
    assert (report.changes, report.cases, report.changed_communes) == (3, 1, ["10003"])
    stored = {s.item.code: (s.appraised_score, s.appraiser_note) for s in
              db.session.scalars(select(Score).where(Score.case_id == case.id))}
    assert stored["1.1.1"] == (Decimal("0.50"), "Ban hành chậm 6 ngày: trừ 0,5")
    assert stored["1.1.2"] == (Decimal("1.75"), None)
    assert stored["2.1.1"] == (Decimal("2.00"), None)
    events = _events_since(db, seq)
    assert [(e.subject, e.actor, e.after) for e in events] == [
        ("1.1.1", make.secretariat.email, {"appraised_score": "0.50", "appraiser_note": "Ban hành chậm 6 ngày: trừ 0,5"}),
        ("1.1.2", make.secretariat.email, {"appraised_score": "1.75"}),
        ("2.1.1", make.secretariat.email, {"appraised_score": "2.00"}),
    ]
    seq = _last_seq(db)
    assert import_scores(world, "appraised", path, make.secretariat, now=now).changes == 0
    assert _events_since(db, seq) == []


def test_survey_points_for_every_commune_and_reimport_changes_nothing(world, make, db, now, tmp_path):
    # semicolons, as a Vietnamese-locale spreadsheet writes CSV; notes are ignored for survey points
    path = _write(tmp_path, "survey.csv", "commune_code;code;score;note\n"
                  "10001;2.2.1;1,5;\n10002;2.2.1;1,75;ignored\n10003;2.2.1;2;\n")
    first = import_scores(world, "survey", path, make.head, now=now)
    db.session.commit()
    assert (first.changes, first.cases) == (3, 3)
    count = _events(db)
    second = import_scores(world, "survey", path, make.head, now=now)
    db.session.commit()
    assert (second.changes, second.unchanged) == (0, 3) and _events(db) == count
    assert sorted(v[2] for v in _scores(db).values() if v[2] is not None) == [
        Decimal("1.50"), Decimal("1.75"), Decimal("2.00")]


def test_a_blank_note_keeps_the_stored_one(world, make, db, now):
    officer = make.officers["10001"]
    import_scores(world, "self", [{"commune_code": "10001", "code": "1.1.2", "score": "1", "note": "Giải trình"}],
                  officer, now=now)
    report = import_scores(world, "self", [{"commune_code": "10001", "code": "1.1.2", "score": "1,5"}],
                           officer, now=now)
    assert report.changes == 1
    case = make.case_of(world, "10001")
    row = db.session.scalar(select(Score).where(Score.case_id == case.id, Score.item.has(code="1.1.2")))
    assert (row.self_score, row.explanation) == (Decimal("1.50"), "Giải trình")


@pytest.mark.parametrize("content, problem", [
    ("commune_code,score\n10001,1\n", "row 1, code: column missing from the header"),
    ("", "file: empty"),
])
def test_a_sheet_without_the_columns_is_refused(content, problem, world, make, now, tmp_path):
    with pytest.raises(ImportRefused) as info:
        import_scores(world, "self", _write(tmp_path, "x.csv", content), make.officers["10001"], now=now)
    assert str(info.value.problems[0]) == problem


def test_unreadable_files_are_refused_with_a_reason(world, make, now, tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(HEADER.encode() + "10001,1.1.2,1,Gi\xe1i trình\n".encode("latin-1", "replace"))
    with pytest.raises(ImportRefused, match="not UTF-8"):
        read_sheet(latin1)
    with pytest.raises(ImportRefused, match="unsupported file type '.xls'"):
        read_sheet(tmp_path / "old.xls")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ImportRefused, match="not a readable .xlsx"):
        read_sheet(broken)
    with pytest.raises(InvalidInput, match="kind"):
        import_scores(world, "final", [], make.officers["10001"], now=now)


def test_problems_read_like_the_file():
    assert str(RowProblem(7, "score", "missing")) == "row 7, score: missing"
    assert str(RowProblem(0, "file", "empty")) == "file: empty"
    assert score_import.COLUMNS == ("commune_code", "code", "score", "note")
