"""`flask scores import` as an operator runs it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import AuditEvent, Score
from states import Stage

K = "tiny-2023.example.vn"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=["scores", "import", *args])

    return run


@pytest.fixture
def world(make, db):
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    make.advance(make.case_of(campaign, "10002"), Stage.appraisal)
    db.session.commit()
    return campaign


def _score_events(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "score.changed"))


def _csv(tmp_path, text: str):
    path = tmp_path / "scores.csv"
    path.write_text("commune_code,code,score,note\n" + text, encoding="utf-8")
    return str(path)


def test_import_applies_and_ends_with_a_summary(cli, world, db, tmp_path):
    path = _csv(tmp_path, '10001,1.1.1,"0,5",Chậm 6 ngày\n10001,1.1.2,2,\n10002,2.1.1,"1,25",\n')
    before = _score_events(db)
    result = cli("--campaign", "tiny-2023", "--kind", "appraised", "--actor", f"secretariat@{K}", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "applied 3 changes in 2 cases (0 rows unchanged)"
    assert "importing appraised scores" in result.stderr  # the progress bar's label
    db.session.expire_all()
    assert _score_events(db) == before + 3
    assert db.session.scalar(select(Score.appraised_score).where(Score.appraiser_note == "Chậm 6 ngày")) == \
        Decimal("0.50")

    again = cli("--campaign", "tiny-2023", "--kind", "appraised", "--actor", f"secretariat@{K}", path)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "applied 0 changes in 0 cases (3 rows unchanged)"


def test_an_xlsx_file_is_imported(cli, world, db, tmp_path):
    book = Workbook()
    book.active.append(["commune_code", "code", "score"])
    book.active.append(["10002", "2.2.1", 1.5])
    path = tmp_path / "survey.xlsx"
    book.save(path)
    result = cli("--campaign", "tiny-2023", "--kind", "survey", "--actor", f"head@{K}", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("applied 1 changes in 1 cases (0 rows unchanged)")


def test_a_bad_file_lists_every_bad_row_and_writes_nothing(cli, world, db, tmp_path):
    path = _csv(tmp_path, "10001,1.1.1,1,\n10001,1.1.2,x,\n10003,1.1.1,1,\n10002,2.2.1,1,\n")
    before = _score_events(db)
    result = cli("--campaign", "tiny-2023", "--kind", "appraised", "--actor", f"secretariat@{K}", path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    error_at = next(i for i, line in enumerate(lines) if line.startswith("Error:"))  # after the bar's label
    assert lines[error_at:] == [
        "Error: score file refused, nothing written (3 problem(s)):",
        "  row 3, score: 'x': not a number",
        "  row 4, commune_code: no commune '10003' in campaign tiny-2023",
        "  row 5, code: '2.2.1' is a survey-method sub-criterion; it takes no appraised score",
    ]
    db.session.expire_all()
    assert _score_events(db) == before


@pytest.mark.parametrize("args, fragment", [
    (["--campaign", "nope", "--kind", "self", "--actor", f"officer10001@{K}"], "no campaign with key 'nope'"),
    (["--campaign", "tiny-2023", "--kind", "self", "--actor", "ghost@example.vn"], "no user with e-mail"),
    (["--campaign", "tiny-2023", "--kind", "final", "--actor", f"officer10001@{K}"], "'final' is not one of"),
])
def test_bad_arguments_are_one_line_errors(args, fragment, cli, world, tmp_path):
    result = cli(*args, _csv(tmp_path, "10001,1.1.1,1,\n"))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert fragment in result.stderr


def test_a_missing_file_or_an_unknown_type_is_refused(cli, world, tmp_path):
    result = cli("--campaign", "tiny-2023", "--kind", "self", "--actor", f"officer10001@{K}",
                 str(tmp_path / "missing.csv"))
    assert result.exit_code != 0 and "does not exist" in result.stderr
    other = tmp_path / "scores.ods"
    other.write_bytes(b"x")
    result = cli("--campaign", "tiny-2023", "--kind", "self", "--actor", f"officer10001@{K}", str(other))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "  file: unsupported file type '.ods' (use .csv or .xlsx)"
