"""The remediation plan as a document in the shape communes file (seeds/remediation-*.txt): Vietnamese,
lost points grouped by part and area ("Chỉ đạt 0,5/1 điểm. Nguyên nhân: …"), then who does what by when.

``outline`` builds the content once; ``to_docx`` (python-docx) and ``to_pdf`` (workflow.pdf) lay it out.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from models import CriteriaItem, RemediationItem, RemediationPlan, db

from .clock import local_date
from .remediation import CLEARED
from .scoring import case_totals

# the letters Vietnamese documents number sub-points with (no f, j, w, z; đ after d)
LETTERS = "a b c d đ e g h i k l m n o p q r s t u v x y".split()
ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
STATUS_VI = {"open": "Đang thực hiện", "done": "Đã hoàn thành", "carried": "Chuyển sang năm sau"}
TABLE_HEADER = ("STT", "Mục", "Nội dung khắc phục", "Người chịu trách nhiệm", "Thời hạn", "Trạng thái")


def vn_points(value: Decimal) -> str:
    """Points as Vietnamese plans write them: 0,5 · 1 · 61,12 (no trailing zeros, decimal comma)."""
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "chưa xác định"


@dataclass
class ItemLine:
    letter: str
    headline: str  # "Mục 1.1.1. Ban hành …: Chỉ đạt 0,5/1 điểm."
    cause: str  # "Nguyên nhân: …"
    responsible: str
    action: str
    due: str
    status: str
    code: str


@dataclass
class Group:
    heading: str | None  # an area's line; None for items of a part without areas
    items: list[ItemLine] = field(default_factory=list)


@dataclass
class PartBlock:
    heading: str
    groups: list[Group] = field(default_factory=list)


@dataclass
class Outline:
    commune: str
    place_date: str
    title: str
    subtitle: str
    basis: str
    section_one: str
    parts: list[PartBlock]
    carried_heading: str
    carried: list[ItemLine]
    section_two: str
    table: list[tuple[str, ...]]
    closing: str


def _headline(item: RemediationItem) -> str:
    reached = "đạt" if item.obtained == 0 else "Chỉ đạt"
    return f"Mục {item.code}. {item.title_vi}: {reached} {vn_points(item.obtained)}/{vn_points(item.max_points)} điểm."


def _line(letter: str, item: RemediationItem) -> ItemLine:
    cause = (item.cause or "").strip() or "chưa ghi nhận"
    if not cause.endswith((".", "!", "?", "…", ":")):
        cause += "."  # a sentence of its own, like the appraisers' notes that end with a full stop
    return ItemLine(letter=letter, headline=_headline(item), cause=f"Nguyên nhân: {cause}",
                    responsible=item.responsible or "chưa phân công", action=item.action or "chưa xác định",
                    due=_date(item.due), status=STATUS_VI.get(item.status, item.status), code=item.code)


def outline(plan: RemediationPlan, *, now: dt.datetime) -> Outline:
    """The document's content: parts and areas with their obtained/maximum, one line per lost sub-criterion."""
    case = plan.case
    campaign, commune = case.campaign, case.commune
    totals = case_totals(case)
    nodes = {i.code: i for i in db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == campaign.criteria_set_id))}
    by_id = {i.id: i for i in nodes.values()}

    def ancestor(code: str, depth: int) -> CriteriaItem | None:
        node = nodes.get(code)
        while node is not None and node.depth > depth:
            node = by_id.get(node.parent_id)
        return node if node is not None and node.depth == depth else None

    def reached(code: str) -> str:
        node = totals.nodes[code]
        word = "đạt" if node.final_total >= node.own_max else "chỉ đạt"
        return f"{word} {vn_points(node.final_total)}/{vn_points(node.own_max)} điểm"

    parts: dict[str, PartBlock] = {}
    groups: dict[tuple[str, str | None], Group] = {}
    carried: list[ItemLine] = []
    # an item a correction cleared is no lost point any more: the document leaves it out
    listed = [i for i in plan.items if i.status != CLEARED]
    own = [i for i in listed if i.carried_from_id is None]
    for item in own:
        part, area = ancestor(item.code, 1), ancestor(item.code, 2)
        if part is None:  # a code this year's criteria set no longer has: listed with the carried items
            carried.append(_line(LETTERS[len(carried) % len(LETTERS)], item))
            continue
        if part.code not in parts:
            number = int(part.code) if part.code.isdigit() else 0
            roman = ROMAN[number] if 0 < number < len(ROMAN) else part.code
            parts[part.code] = PartBlock(f"{len(parts) + 1}. Phần {roman}. {part.title_vi} {reached(part.code)}. "
                                         f"Trong đó:")
        # every item under its area's line (an area that is itself a sub-criterion, like 1.5, too)
        area_code = area.code if area is not None else None
        key = (part.code, area_code)
        if key not in groups:
            heading = f"{area.code}. {area.title_vi}: {reached(area.code)}" if area_code else None
            groups[key] = Group(heading)
            parts[part.code].groups.append(groups[key])
        group = groups[key]
        group.items.append(_line(LETTERS[len(group.items) % len(LETTERS)], item))
    for item in listed:
        if item.carried_from_id is not None:
            carried.append(_line(LETTERS[len(carried) % len(LETTERS)], item))

    day = local_date(now, campaign.timezone or "Asia/Ho_Chi_Minh")
    place = commune.name.removeprefix("Xã ").removeprefix("Phường ").removeprefix("Thị trấn ")
    year = campaign.year
    table = [(str(n), i.code, i.action or "", i.responsible or "", _date(i.due), STATUS_VI.get(i.status, i.status))
             for n, i in enumerate(listed, start=1)]
    return Outline(
        commune=f"ỦY BAN NHÂN DÂN {commune.name.upper()}",
        place_date=f"{place}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}",
        title="KẾ HOẠCH",
        subtitle=(f"Khắc phục những tồn tại, hạn chế Chỉ số cải cách hành chính năm {year}, "
                  f"nâng cao Chỉ số CCHC năm {year + 1}"),
        basis=(f"Căn cứ kết quả công bố Chỉ số cải cách hành chính năm {year} ({campaign.title or campaign.key}), "
               f"{commune.name} đạt {vn_points(totals.total)}/{vn_points(totals.own_max)} điểm. "
               f"{commune.name} xây dựng kế hoạch khắc phục những tiêu chí, tiêu chí thành phần chưa đạt điểm tối "
               f"đa như sau:"),
        section_one=f"I. ĐÁNH GIÁ KẾT QUẢ CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM {year}",
        parts=list(parts.values()),
        carried_heading="Các nội dung chưa khắc phục xong của kế hoạch năm trước:",
        carried=carried,
        section_two="II. TỔ CHỨC THỰC HIỆN",
        table=table,
        closing="TM. ỦY BAN NHÂN DÂN\nCHỦ TỊCH",
    )


def file_name(plan: RemediationPlan, fmt: str) -> str:
    return f"ke-hoach-khac-phuc-{plan.case.commune.code}-{plan.case.campaign.key}.{fmt}"


def _item_text(line: ItemLine) -> list[str]:
    return [f"{line.letter}) {line.headline}", line.cause,
            f"Người chịu trách nhiệm: {line.responsible}. Biện pháp khắc phục: {line.action}. "
            f"Thời hạn: {line.due}. Trạng thái: {line.status}."]


def to_docx(plan: RemediationPlan, *, now: dt.datetime) -> bytes:
    """The plan as a Word document."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc_outline = outline(plan, now=now)
    doc = Document()
    doc.styles["Normal"].font.name = "Times New Roman"
    doc.styles["Normal"].font.size = Pt(13)
    doc.core_properties.title = f"{doc_outline.title} {doc_outline.subtitle}"
    doc.core_properties.created = now.replace(tzinfo=None)

    def para(text: str, *, bold: bool = False, center: bool = False, style: str | None = None):
        p = doc.add_paragraph(style=style)
        p.add_run(text).bold = bold
        if center:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        return p

    para(doc_outline.commune, bold=True, center=True)
    para("Số: /KH-UBND", center=True)
    para(doc_outline.place_date, center=True)
    para(doc_outline.title, bold=True, center=True)
    para(doc_outline.subtitle, bold=True, center=True)
    para(doc_outline.basis)
    para(doc_outline.section_one, bold=True)
    for part in doc_outline.parts:
        para(part.heading, bold=True)
        for group in part.groups:
            if group.heading:
                para(group.heading, bold=True)
            for line in group.items:
                headline, cause, follow_up = _item_text(line)
                p = doc.add_paragraph()
                p.add_run(headline)
                p = doc.add_paragraph()
                p.add_run("Nguyên nhân:").bold = True
                p.add_run(cause.removeprefix("Nguyên nhân:"))
                para(follow_up)
    if doc_outline.carried:
        para(doc_outline.carried_heading, bold=True)
        for line in doc_outline.carried:
            for text in _item_text(line):
                para(text)
    para(doc_outline.section_two, bold=True)
    table = doc.add_table(rows=1, cols=len(TABLE_HEADER))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, TABLE_HEADER, strict=True):
        cell.text = ""
        cell.paragraphs[0].add_run(text).bold = True
    for row in doc_outline.table:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text
    for text in doc_outline.closing.split("\n"):
        para(text, bold=True, center=True)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def to_pdf(plan: RemediationPlan, *, now: dt.datetime) -> bytes:
    """The plan as a PDF (workflow.pdf, with the vendored DejaVu font for the Vietnamese text)."""
    from .pdf import Document

    doc_outline = outline(plan, now=now)
    doc = Document(f"{doc_outline.title}\n{doc_outline.subtitle}", author=doc_outline.commune, created_at=now)
    doc.paragraph(doc_outline.commune, bold=True, align="C")
    doc.paragraph(f"Số: /KH-UBND · {doc_outline.place_date}", align="C")
    doc.paragraph(doc_outline.basis)
    doc.heading(doc_outline.section_one)
    for part in doc_outline.parts:
        doc.paragraph(part.heading, bold=True)
        for group in part.groups:
            if group.heading:
                doc.paragraph(group.heading, bold=True)
            for line in group.items:
                for text in _item_text(line):
                    doc.paragraph(text, align="L")
    if doc_outline.carried:
        doc.paragraph(doc_outline.carried_heading, bold=True)
        for line in doc_outline.carried:
            for text in _item_text(line):
                doc.paragraph(text, align="L")
    doc.heading(doc_outline.section_two)
    doc.table(TABLE_HEADER, doc_outline.table, widths=(10, 16, 62, 40, 22, 30), size=8)
    for text in doc_outline.closing.split("\n"):
        doc.paragraph(text, bold=True, align="R")
    return doc.output()
