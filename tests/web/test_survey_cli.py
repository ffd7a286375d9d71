"""`flask survey status / import / convert / weights` as an operator runs them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Score, SurveyForm
from states import Stage
from tests.workflow.test_survey import GOOD_ROWS, HEADER, SURVEY_BLOCK, SURVEY_TREE


@pytest.fixture
def campaign(make, db):
    cs = make.criteria_set(key="cli-criteria", tree=SURVEY_TREE)
    c = make.campaign(key="cli-2023", criteria_set=cs)
    c.survey = SURVEY_BLOCK
    make.advance(make.case_of(c, "10001"), Stage.self_assessment)
    db.session.commit()
    return c


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["survey", *args])


def _csv(tmp_path, rows, name="forms.csv"):
    path = tmp_path / name
    path.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_import_status_convert(run, campaign, make, db, tmp_path):
    bad = run("import", "--campaign", "cli-2023", _csv(tmp_path, [*GOOD_ROWS, ["10002", "leaders", "1", "", "fax",
                                                                                 "A", "A"]]))
    assert bad.exit_code == 2
    assert "refused, nothing written (1 problem(s) in 8 row(s))" in bad.output
    assert "row 9, mode: 'fax' is not a mode (in_person or online)" in bad.output
    assert db.session.scalar(select(func.count(SurveyForm.id))) == 0

    good = run("import", "--campaign", "cli-2023", "--actor", make.secretariat.email, _csv(tmp_path, GOOD_ROWS))
    assert good.exit_code == 0, good.output
    assert "7 form(s): 7 new, 0 updated, 0 unchanged, in 1 commune(s)" in good.output

    status = run("status", "--campaign", "cli-2023", "--json")
    assert status.exit_code == 0, status.output
    rows = json.loads(status.output)
    assert rows[0] == {"commune_code": "10001", "group": "leaders", "quota": 3, "issued": 3, "returned": 3}
    assert rows[-1] == {"commune_code": None, "group": "district", "quota": 5, "issued": 0, "returned": 0}
    assert all(list(r) == ["commune_code", "group", "quota", "issued", "returned"] for r in rows)

    weights = run("weights", "--campaign", "cli-2023", "--actor", make.head.email, "--option", "A=100",
                  "--option", "B=60", "--option", "C=20")
    assert weights.exit_code == 1 and "give a weight for each of A, B, C and D" in weights.output

    converted = run("convert", "--campaign", "cli-2023", "--actor", make.secretariat.email)
    assert converted.exit_code == 0, converted.output
    assert "survey points: 2 set, 0 unchanged, 2 without valid answers" in converted.output
    case = make.case_of(campaign, "10001")
    assert sorted(s.survey_score for s in db.session.scalars(select(Score).where(
        Score.case_id == case.id, Score.survey_score.is_not(None)))) == [Decimal("0.13"), Decimal("0.36")]
    refused = run("convert", "--campaign", "cli-2023", "--actor", make.officers["10001"].email)
    assert refused.exit_code == 1 and "Only the secretariat" in refused.output
