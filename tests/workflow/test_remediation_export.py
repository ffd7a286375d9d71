"""The plan as a document in the shape of the seed plans: read back from the DOCX and from the PDF's text."""

from __future__ import annotations

import datetime as dt
import io

import docx
import pypdf

from tests.workflow.test_remediation import publish_quang_thai
from workflow import remediation, remediation_export
from workflow.remediation import ItemRow

NOW = dt.datetime(2020, 1, 20, 2, 0, tzinfo=dt.UTC)


def _plan(make, db):
    case = publish_quang_thai(make, db)
    plan = remediation.plan_of(case)
    first = plan.items[0]
    remediation.save_items(plan, [ItemRow(first.id, "Công chức Văn phòng - Thống kê",
                                          "Tham mưu ban hành Kế hoạch CCHC trước ngày 05/12", "2024-11-29")],
                           make.officers["46BQT"], now=dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC))
    db.session.commit()
    return plan


def test_vietnamese_points():
    from decimal import Decimal

    assert [remediation_export.vn_points(Decimal(v)) for v in ("0.50", "1.00", "61.12", "7.62", "0")] == \
        ["0,5", "1", "61,12", "7,62", "0"]


def test_docx_reads_back_grouped_by_part_and_area(app, db, make):
    plan = _plan(make, db)
    document = docx.Document(io.BytesIO(remediation_export.to_docx(plan, now=NOW)))
    lines = [p.text for p in document.paragraphs]
    text = "\n".join(lines)
    assert "KẾ HOẠCH" in lines and "Xã 46BQT đạt 84,12/100 điểm" in text
    assert "Ngày 20" not in text and "ngày 20 tháng 01 năm 2020" in text
    # part, then its area, then the item line with the cause on the next line, as in the seed
    part_one = lines.index(next(x for x in lines if x.startswith("1. Phần I.")))
    assert lines[part_one].endswith("chỉ đạt 19/22 điểm. Trong đó:")
    i = lines.index("a) Mục 1.1.1. Ban hành Kế hoạch CCHC trước ngày 05/12: Chỉ đạt 0,5/1 điểm.")
    assert i > part_one and lines[i - 1].startswith("1.1. ")
    assert lines[i + 1] == "Nguyên nhân: do ban hành văn bản bằng kí số ngày 11/12, chậm 06 ngày so với quy định."
    assert "Người chịu trách nhiệm: Công chức Văn phòng - Thống kê" in lines[i + 2] and "29/11/2024" in lines[i + 2]
    assert any(x.startswith("2.1. Cải cách thể chế: chỉ đạt 6/11 điểm") for x in lines)
    assert any(x.startswith("2.6. Hiện đại hóa nền hành chính: chỉ đạt 13,62/16 điểm") for x in lines)
    assert "a) Mục 2.1.2.2. Báo cáo kết quả rà soát văn bản QPPL: đạt 0/1,5 điểm." in lines
    assert "Mục 2.6.1. " in text and "7,62/8 điểm" in text
    # the follow-up table: one row per item, under its header
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == list(remediation_export.TABLE_HEADER)
    assert len(table.rows) == 1 + 18
    assert [c.text for c in table.rows[1].cells][1:5] == [
        "1.1.1", "Tham mưu ban hành Kế hoạch CCHC trước ngày 05/12", "Công chức Văn phòng - Thống kê", "29/11/2024"]


def test_pdf_text_has_the_lines_of_the_plan(app, db, make):
    plan = _plan(make, db)
    data = remediation_export.to_pdf(plan, now=NOW)
    assert data.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "KẾ HOẠCH" in text
    assert "Mục 1.1.1. Ban hành Kế hoạch CCHC trước ngày 05/12: Chỉ đạt 0,5/1 điểm." in text
    assert "Nguyên nhân: do không có bố trí kinh phí trong Kế hoạch" in text
    assert "2.7. Thực hiện cơ chế một cửa, một cửa liên thông: chỉ đạt 12/15 điểm" in text
    assert "Người chịu trách nhiệm: Công chức Văn phòng - Thống kê" in text


def test_every_cause_is_a_sentence_of_its_own():
    """A cause without a final full stop ran into the next line of the document ("chưa ghi nhận Người …")."""
    from decimal import Decimal

    from models import RemediationItem

    def cause(text):
        item = RemediationItem(code="1.1.1", title_vi="Kế hoạch", max_points=Decimal("1"), obtained=Decimal("0"),
                               lost=Decimal("1"), cause=text, status="open")
        return remediation_export._line("a", item).cause

    assert cause(None) == "Nguyên nhân: chưa ghi nhận."
    assert cause("do chậm ban hành ") == "Nguyên nhân: do chậm ban hành."
    assert cause("chậm 06 ngày so với quy định.") == "Nguyên nhân: chậm 06 ngày so với quy định."
