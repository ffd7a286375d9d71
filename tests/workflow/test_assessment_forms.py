import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import AuditEvent, CriteriaItem, Evidence, Score
from states import Stage
from workflow import assessment_forms as forms
from workflow import audit
from workflow.assessment_forms import AppraisalRow, FormRefused, SelfRow, Upload
from workflow.errors import Conflict, NotPermitted

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def case(make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    return case


def _events(db, action="score.changed") -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _score(db, case, code) -> Score | None:
    return db.session.scalar(select(Score).join(CriteriaItem, Score.item_id == CriteriaItem.id)
                             .where(Score.case_id == case.id, CriteriaItem.code == code))


def test_save_applies_every_valid_row_and_names_the_changed_ones(make, case, db, now):
    officer = make.officers["10001"]
    changed = forms.save_self_assessment(case, [
        SelfRow("1.1.1", "0,5", explanation="  Kế hoạch số 12/KH-UBND  "),
        SelfRow("1.1.2", "1.75"),
        SelfRow("2.1.1", "", not_applicable=True, explanation="Không phát sinh TTHC"),
    ], officer, now=now, expected_version=case.version)
    db.session.commit()
    assert changed == ["1.1.1", "1.1.2", "2.1.1"]
    assert _score(db, case, "1.1.1").self_score == Decimal("0.50")
    assert _score(db, case, "1.1.1").explanation == "Kế hoạch số 12/KH-UBND"
    assert _score(db, case, "1.1.2").self_score == Decimal("1.75")
    assert _score(db, case, "2.1.1").not_applicable is True and _score(db, case, "2.1.1").self_score is None
    assert _events(db) == 3
    assert audit.verify().ok


def test_unchanged_rows_are_not_rewritten(make, case, db, now):
    officer = make.officers["10001"]
    rows = [SelfRow("1.1.1", "1", explanation="Đã ban hành"), SelfRow("1.1.2", "")]
    assert forms.save_self_assessment(case, rows, officer, now=now) == ["1.1.1"]
    db.session.commit()
    # 1.1.2 was blank and stays blank: no empty score row is created for it
    assert _score(db, case, "1.1.2") is None
    version, events = case.version, _events(db)
    # the same values again, typed differently ("1,00" is 1): nothing to do, no audit noise, version unchanged
    same = [SelfRow("1.1.1", "1,00", explanation="Đã ban hành "), SelfRow("1.1.2", " ")]
    assert forms.save_self_assessment(case, same, officer, now=now, expected_version=version) == []
    db.session.commit()
    assert case.version == version and _events(db) == events
    # one field of one row changed: exactly one event, naming only that field
    assert forms.save_self_assessment(case, [SelfRow("1.1.1", "1", explanation="Số 5/KH")], officer, now=now) \
        == ["1.1.1"]
    db.session.commit()
    last = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    assert _events(db) == events + 1 and set(last.after) == {"explanation"}


def test_one_bad_row_refuses_the_whole_form_with_every_problem(make, case, db, now):
    officer = make.officers["10001"]
    version = case.version
    with pytest.raises(FormRefused) as refused:
        forms.save_self_assessment(case, [
            SelfRow("1.1.1", "abc"),
            SelfRow("1.1.2", "2,5"),      # max 2
            SelfRow("2.1.1", "0.125"),    # three decimals
            SelfRow("2.2.1", "1"),        # a survey item
            SelfRow("9.9.9", "1"),        # not in the set
        ], officer, now=now, expected_version=version)
    errors = refused.value.item_errors
    assert errors["1.1.1"] == {"score": ["not a number"]}
    assert errors["1.1.2"] == {"score": ["must be between 0 and 2.00"]}
    assert errors["2.1.1"] == {"score": ["at most two decimals"]}
    assert errors["2.2.1"] == {"score": ["filled from the survey"]}
    assert "code" in errors["9.9.9"]
    db.session.rollback()
    assert _events(db) == 0 and case.version == version
    # a valid row next to a bad one is not saved either
    with pytest.raises(FormRefused):
        forms.save_self_assessment(case, [SelfRow("1.1.1", "1"), SelfRow("1.1.2", "x")], officer, now=now)
    db.session.rollback()
    assert _score(db, case, "1.1.1") is None


def test_not_applicable_only_where_allowed_and_no_duplicates(make, case, db, now):
    item = db.session.scalar(select(CriteriaItem).where(CriteriaItem.code == "1.1.2"))
    item.not_applicable_allowed = False
    db.session.commit()
    with pytest.raises(FormRefused) as refused:
        forms.save_self_assessment(case, [SelfRow("1.1.2", "1", not_applicable=True),
                                          SelfRow("1.1.1", "1"), SelfRow("1.1.1", "0")],
                                   make.officers["10001"], now=now)
    assert refused.value.item_errors == {"1.1.2": {"not_applicable": ["may not be marked not applicable"]},
                                         "1.1.1": {"code": ["listed twice in the form"]}}


def test_version_is_checked_once_before_anything(make, case, db, now):
    officer = make.officers["10001"]
    with pytest.raises(Conflict):
        forms.save_self_assessment(case, [SelfRow("1.1.1", "1")], officer, now=now,
                                   expected_version=case.version - 1)
    # several rows in one save move the version several times: only the form's version is compared
    forms.save_self_assessment(case, [SelfRow("1.1.1", "1"), SelfRow("1.1.2", "2"), SelfRow("2.1.1", "2")],
                               officer, now=now, expected_version=case.version)
    db.session.commit()
    assert _events(db) == 3


def test_only_the_commune_and_only_in_self_assessment(make, case, db, now):
    with pytest.raises(NotPermitted):
        forms.save_self_assessment(case, [SelfRow("1.1.1", "1")], make.officers["10002"], now=now)
    with pytest.raises(NotPermitted):
        forms.save_self_assessment(case, [SelfRow("1.1.1", "1")], make.secretariat, now=now)
    make.advance(case, Stage.appraisal)
    with pytest.raises(NotPermitted):
        forms.save_self_assessment(case, [], make.officers["10001"], now=now)


def test_save_appraisal_checks_all_rows_then_applies_changes(make, case, db, now):
    make.advance(case, Stage.appraisal)
    events = _events(db)
    with pytest.raises(FormRefused) as refused:
        forms.save_appraisal(case, [AppraisalRow("1.1.1", "0,5"), AppraisalRow("1.1.2", "3")],
                             make.secretariat, now=now, expected_version=case.version)
    assert refused.value.item_errors == {"1.1.2": {"score": ["must be between 0 and 2.00"]}}
    db.session.rollback()
    assert _events(db) == events
    changed = forms.save_appraisal(case, [AppraisalRow("1.1.1", "0,5", note="Ban hành chậm 6 ngày"),
                                          AppraisalRow("1.1.2", "")], make.secretariat, now=now,
                                   expected_version=case.version)
    db.session.commit()
    assert changed == ["1.1.1"]
    row = _score(db, case, "1.1.1")
    assert row.appraised_score == Decimal("0.50") and row.appraiser_note == "Ban hành chậm 6 ngày"
    assert _events(db) == events + 1
    with pytest.raises(NotPermitted):
        forms.save_appraisal(case, [AppraisalRow("1.1.1", "1")], make.officers["10001"], now=now)


def test_several_files_a_refused_one_does_not_stop_the_others(make, case, db, now):
    result = forms.add_evidence_files(case, "1.1.1", [
        Upload("ke-hoach.pdf", PDF, "application/pdf"),
        Upload("virus.exe", b"MZ\x90\x00", None),
        Upload("anh-chup.pdf", PNG, "application/pdf"),
        Upload("anh.png", PNG, "image/png"),
    ], make.officers["10001"], now=now, locator="trang 2", expected_version=case.version)
    db.session.commit()
    assert [e.file_name for e in result.added] == ["ke-hoach.pdf", "anh.png"]
    assert [name for name, _reason in result.refused] == ["virus.exe", "anh-chup.pdf"]
    assert "only PDF" in result.refused[0][1] and "not a PDF" in result.refused[1][1]
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 2
    assert _events(db, "evidence.added") == 2


def test_uploading_checks_the_version(make, case, now):
    with pytest.raises(Conflict):
        forms.add_evidence_files(case, "1.1.1", [Upload("a.pdf", PDF)], make.officers["10001"], now=now,
                                 expected_version=case.version + 1)


def test_default_revision_deadline_counts_working_days(make, case):
    # Friday 29 Dec 2023 (Hà Nội): Mon 1 Jan is New Year's Day, so the fifth working day is Mon 8 Jan
    # (2, 3, 4, 5 and 8 January); without the holiday it would be Fri 5 Jan
    friday = dt.datetime(2023, 12, 29, 3, 0, tzinfo=dt.UTC)
    assert forms.default_revision_due(case, friday) == dt.date(2024, 1, 8)
    assert forms.default_revision_due(case, dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)) == dt.date(2023, 11, 8)


def test_form_view_counts_progress_and_totals(make, case, db, now):
    officer = make.officers["10001"]
    forms.save_self_assessment(case, [SelfRow("1.1.1", "1"), SelfRow("1.1.2", "1,5"),
                                      SelfRow("2.1.1", "", not_applicable=True)], officer, now=now)
    db.session.commit()
    view = forms.form_view(case)
    assert [e.item.code for e in view.entries] == ["1", "1.1", "1.1.1", "1.1.2", "2", "2.1", "2.1.1", "2.2", "2.2.1"]
    assert (view.self_items, view.scored, view.missing_evidence) == (3, 3, 1)  # 1.1.1 needs evidence
    assert view.self_total == Decimal("2.50") and view.max_total == Decimal("3.00")
    assert view.difference is None
    make.advance(case, Stage.appraisal)
    forms.save_appraisal(case, [AppraisalRow("1.1.2", "1")], make.secretariat, now=now)
    db.session.commit()
    view = forms.form_view(case)
    # advancing filled the self scores to the maximum (1.1.2: 2); 2.1.1 stays N/A and counts as done
    assert (view.appraised, view.appraised_total, view.difference) == (2, Decimal("1.00"), Decimal("-1.00"))
