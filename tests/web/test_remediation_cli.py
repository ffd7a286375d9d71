"""`flask remediation draft` and `flask remediation export`."""

from __future__ import annotations

import io
import json

import docx
import pypdf
from sqlalchemy import func, select

from models import RemediationPlan
from states import Stage
from tests.workflow.test_remediation import publish_quang_thai


def test_draft_json_lists_the_lost_points_with_exactly_the_agreed_keys(app, db, make):
    publish_quang_thai(make, db)
    result = app.test_cli_runner().invoke(args=["remediation", "draft", "--campaign", "quang-dien-2019",
                                                "--commune", "46BQT", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 18 and all(set(r) == {"code", "max", "obtained", "lost", "cause"} for r in rows)
    assert rows[0] == {"code": "1.1.1", "max": "1.00", "obtained": "0.50", "lost": "0.50",
                       "cause": "do ban hành văn bản bằng kí số ngày 11/12, chậm 06 ngày so với quy định."}
    assert rows[12]["code"] == "2.6.1" and rows[12]["lost"] == "0.38"
    table = app.test_cli_runner().invoke(args=["remediation", "draft", "--campaign", "quang-dien-2019",
                                               "--commune", "46BQT"])
    assert table.exit_code == 0 and "18 item(s), 15.88 point(s) lost; plan draft" in table.output


def test_draft_of_an_unpublished_case_or_unknown_commune_is_a_one_line_error(app, db, make):
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.appraisal)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["remediation", "draft", "--campaign", campaign.key, "--commune", "10001"])
    assert result.exit_code != 0 and "drafted after publication" in result.output
    result = runner.invoke(args=["remediation", "draft", "--campaign", campaign.key, "--commune", "99999"])
    assert result.exit_code != 0 and "No case for commune 99999" in result.output
    result = runner.invoke(args=["remediation", "draft", "--campaign", "nope", "--commune", "10001"])
    assert result.exit_code != 0 and "no campaign with key 'nope'" in result.output
    assert db.session.scalar(select(func.count(RemediationPlan.id))) == 0


def test_export_writes_docx_and_pdf(app, db, make, tmp_path):
    publish_quang_thai(make, db)
    runner = app.test_cli_runner()
    target = tmp_path / "plan.docx"
    result = runner.invoke(args=["remediation", "export", "--campaign", "quang-dien-2019", "--commune", "46BQT",
                                 "--format", "docx", "--output", str(target)])
    assert result.exit_code == 0, result.output
    lines = [p.text for p in docx.Document(io.BytesIO(target.read_bytes())).paragraphs]
    assert "a) Mục 2.7.7. Kết quả giải quyết TTHC theo cơ chế một cửa, cơ chế một cửa liên thông đúng và " \
           "trước hạn: Chỉ đạt 0,5/1 điểm." in lines
    target = tmp_path / "plan.pdf"
    result = runner.invoke(args=["remediation", "export", "--campaign", "quang-dien-2019", "--commune", "46BQT",
                                 "--format", "pdf", "--output", str(target)])
    assert result.exit_code == 0, result.output
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(target).pages)
    assert "Mục 2.6.2.3. Kiểm soát vận hành hệ thống quản lý chất lượng ISO 9001:2015: đạt 0/2 điểm." in text
    result = runner.invoke(args=["remediation", "export", "--campaign", "quang-dien-2019", "--commune", "46BQT",
                                 "--format", "odt"])
    assert result.exit_code != 0 and "odt" in result.output
