"""Survey import of 1,248 returned forms x 20 answers from Excel through workflow.survey.import_file (issue 7: <= 5 s).

    .venv-bench/bin/python bench/survey_import.py [--quick] [--out PATH]

Fixture: a criteria set with 20 survey-method sub-criteria, 39 communes whose cases are in self-assessment,
three respondent groups of 10 + 12 + 10 forms per commune (39 x 32 = 1,248 forms), written to one .xlsx
with openpyxl. Timed: import_file (read, check every row, write every form and its audit events) and the
commit; a fresh database per run, median of 5 runs (3 in --quick).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import common
from fixtures import NOW

COMMUNES = 39
GROUPS = (("dept_leaders", 10), ("council_delegates", 12), ("civil_servants", 10))
QUESTIONS = 20


def tree():
    items = [(f"3.1.{i + 1}", f"Câu hỏi {i + 1}", 0.25, "survey", False, []) for i in range(QUESTIONS)]
    return [("1", "Chỉ đạo, điều hành", 1, None, False, [
                ("1.1", "Kế hoạch CCHC", 1, None, False, [("1.1.1", "Ban hành Kế hoạch", 1, "self", False, [])])]),
            ("3", "Sự hài lòng", QUESTIONS * 0.25, None, False, [("3.1", "Mức độ hài lòng", QUESTIONS * 0.25, None,
                                                                   False, items)])]


def workbook(path: Path, codes: list[str]) -> int:
    from openpyxl import Workbook

    rnd = random.Random(7)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Phiếu")
    sheet.append(["mã xã", "nhóm", "số phiếu", "khảo sát viên", "hình thức",
                  *[f"3.1.{i + 1}" for i in range(QUESTIONS)]])
    forms = 0
    for code in codes:
        for group, count in GROUPS:
            for n in range(count):
                sheet.append([code, group, f"{group[:2].upper()}{n + 1}", "Nguyễn Văn An",
                              rnd.choice(("in_person", "online")),
                              *[rnd.choice("AABBCD ") .strip() for _ in range(QUESTIONS)]])
                forms += 1
    book.save(path)
    return forms


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-survey-"))
    codes = [f"{50000 + i:05d}" for i in range(COMMUNES)]
    xlsx = tmp / "phieu-khao-sat.xlsx"
    forms = workbook(xlsx, codes)
    times = []
    for run in range(3 if args.quick else 5):
        app = common.make_app(f"sqlite:///{tmp / f'survey{run}.sqlite3'}", tmp)
        with app.app_context():
            from sqlalchemy import text

            from models import db
            from tests.factories import Factory
            from workflow import survey, txn

            make = Factory(db)
            cs = make.criteria_set(key="bench-survey", tree=tree())
            campaign = make.campaign(key="bench-survey-2023", communes=codes, criteria_set=cs)
            campaign.survey = {"due": "2023-11-20", "due_date": "2023-11-20", "groups": [
                {"code": g, "name": g, "per_commune": n, "total": None} for g, n in GROUPS]}
            db.session.execute(text("UPDATE cases SET stage = 'self_assessment'"))
            txn.commit()
            started = time.perf_counter()
            report = survey.import_file(campaign, xlsx, actor=make.secretariat, now=NOW)
            txn.commit()
            times.append(time.perf_counter() - started)
            if not report.ok:
                raise SystemExit(f"survey import refused: {[str(p) for p in report.problems][:5]}")
            db.session.remove()
    common.write(args.out, "survey import", [common.row(
        f"survey import of {forms:,} forms × {QUESTIONS} answers from Excel", round(statistics.median(times), 2), "s",
        target=5, runs=[round(t, 2) for t in times], file_bytes=xlsx.stat().st_size)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
