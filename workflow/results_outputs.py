"""Published outputs of a results snapshot: Excel workbook, PDF report, open-data CSV and JSON.

Every output is made from a published snapshot's payload only, which holds scores and standings and
no personal data (no e-mails, notes or explanations). Labels come from the caller (the web layer
passes them translated; Vietnamese by default). The JSON export is the snapshot's canonical text
itself, so its SHA-256 is the one published.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from models import ResultSnapshot

from .clock import LOCAL_TZ
from .pdf import Document
from .publication import payload_of

# the labels every output needs; the web layer supplies them in the reader's language
LABEL_KEYS = ("title", "rank", "commune_code", "commune", "total", "max", "percentage", "band", "survey",
              "previous_rank", "rank_change", "previous_percentage", "version", "published_at", "sha256",
              "totals_sheet", "scores_sheet", "code", "criterion", "max_points", "not_applicable", "ranking",
              "areas", "difference", "no_changes", "page", "authority", "predecessors")

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_text(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (CSV/formula injection)."""
    return "'" + value if value and value.startswith(_DANGEROUS) else value


def comma(value: str | Decimal | None) -> str:
    """Two decimals with the decimal comma (84,12); '' for none."""
    return "" if value is None else f"{Decimal(value):.2f}".replace(".", ",")


def _number(value: str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def _when(snapshot: ResultSnapshot) -> str:
    return snapshot.published_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def _change(value: int | None) -> str:
    return "" if value is None else f"{value:+d}" if value else "0"


def _areas(payload: dict) -> list[dict]:
    return [c for c in payload["criteria"] if c["depth"] == 1]


def _leaves(payload: dict) -> list[dict]:
    return [c for c in payload["criteria"] if c["leaf"]]


def _previous_rank(entry: dict) -> str:
    previous = entry.get("previous") or {}
    if previous.get("merged"):
        return ", ".join(f"{p['commune_code']}: {p['rank']}" for p in previous["predecessors"])
    return "" if previous.get("rank") is None else str(previous["rank"])


# --- Excel ------------------------------------------------------------------------------------------

def workbook(snapshot: ResultSnapshot, labels: dict[str, str]) -> bytes:
    """Sheet 1: totals and ranks (one row per commune); sheet 2: each sub-criterion's score per commune."""
    payload = payload_of(snapshot)
    communes = payload["communes"]
    book = Workbook()
    totals = book.active
    totals.title = labels["totals_sheet"][:31]
    areas = _areas(payload)
    header = [labels["rank"], labels["commune_code"], labels["commune"],
              *[f"{a['code']}. {a['title_vi']}" for a in areas], labels["survey"], labels["total"], labels["max"],
              labels["percentage"], labels["band"], labels["previous_rank"], labels["rank_change"]]
    totals.append([safe_text(f"{labels['title']} — {labels['version']} {snapshot.version}")])
    totals.append([safe_text(h) for h in header])
    for entry in communes:
        by_area = {a["code"]: a for a in entry["areas"]}
        totals.append([entry["rank"], safe_text(entry["commune_code"]), safe_text(entry["commune_name"]),
                       *[_number(by_area.get(a["code"], {}).get("score")) for a in areas],
                       _number(entry["survey_points"]), _number(entry["total"]), _number(entry["max"]),
                       _number(entry["percentage"]), safe_text(entry["band"] or ""),
                       safe_text(_previous_rank(entry)), _change(entry.get("rank_change"))])
    _style(totals, header_row=2, first_number_col=4)

    sheet = book.create_sheet(labels["scores_sheet"][:31])
    sheet.append([labels["code"], labels["criterion"], labels["max_points"],
                  *[safe_text(f"{e['commune_code']} {e['commune_name']}") for e in communes]])
    items = {e["commune_code"]: {i["code"]: i for i in e["items"]} for e in communes}
    for leaf in _leaves(payload):
        row = [safe_text(leaf["code"]), safe_text(leaf["title_vi"]), _number(leaf["max"])]
        for entry in communes:
            item = items[entry["commune_code"]].get(leaf["code"])
            if item is None:
                row.append(None)
            elif item["not_applicable"]:
                row.append(labels["not_applicable"])
            else:
                row.append(_number(item["score"]))
        sheet.append(row)
    _style(sheet, header_row=1, first_number_col=3)
    sheet.column_dimensions["B"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _style(sheet, *, header_row: int, first_number_col: int) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E6ECF2")
    for cell in sheet[header_row]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in sheet.iter_rows(min_row=header_row + 1, min_col=first_number_col):
        for cell in row:
            if isinstance(cell.value, float):
                cell.number_format = "0.00"
    for col in range(1, sheet.max_column + 1):
        sheet.column_dimensions[get_column_letter(col)].width = 14
    sheet.column_dimensions["C"].width = 28
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)


# --- PDF --------------------------------------------------------------------------------------------

def pdf_report(snapshot: ResultSnapshot, labels: dict[str, str]) -> bytes:
    """The published results as a report: who published what and when, the ranking, areas, the changes."""
    payload = payload_of(snapshot)
    campaign = payload["campaign"]
    doc = Document(labels["title"], author=campaign["authority"], landscape=True, page_label=labels["page"],
                   created_at=snapshot.published_at.astimezone(dt.UTC))
    doc.paragraph(f"{labels['authority']}: {campaign['authority']}. {campaign.get('title') or ''}".strip(),
                  align="L")
    doc.paragraph(f"{labels['version']} {snapshot.version} — {labels['published_at']} {_when(snapshot)}", align="L")
    doc.paragraph(f"{labels['sha256']}: {snapshot.sha256}", size=8, align="L")
    doc.heading(labels["ranking"])
    doc.table([labels["rank"], labels["commune_code"], labels["commune"], labels["total"], labels["max"],
               labels["percentage"], labels["band"], labels["previous_rank"], labels["rank_change"]],
              [[e["rank"], e["commune_code"], e["commune_name"], comma(e["total"]), comma(e["max"]),
                comma(e["percentage"]), e["band"] or "", _previous_rank(e), _change(e.get("rank_change"))]
               for e in payload["communes"]],
              widths=(12, 20, 70, 22, 22, 22, 35, 40, 20),
              align=("CENTER", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "LEFT", "CENTER"))
    areas = _areas(payload)
    doc.heading(labels["areas"])
    doc.table([labels["commune"], *[f"{a['code']} ({comma(a['max'])})" for a in areas], labels["total"]],
              [[e["commune_name"], *[comma({x["code"]: x["score"] for x in e["areas"]}.get(a["code"]))
                                     for a in areas], comma(e["total"])] for e in payload["communes"]],
              align=("LEFT", *["RIGHT"] * (len(areas) + 1)))
    if snapshot.diff is not None:
        doc.heading(labels["difference"])
        changed = snapshot.diff["changed"]
        if not changed and not snapshot.diff["added"] and not snapshot.diff["removed"]:
            doc.paragraph(labels["no_changes"])
        for change in changed:
            parts = [f"{name}: {_show(old)} → {_show(new)}" for name, (old, new) in change["fields"].items()]
            parts += [f"{code}: {_show(old)} → {_show(new)}" for code, (old, new) in change["items"].items()]
            doc.paragraph(f"{change['commune_code']} {change['commune_name']}: " + "; ".join(parts), align="L")
    return doc.output()


def _show(value) -> str:
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return comma(value)
    return "—" if value is None else str(value)


# --- open data --------------------------------------------------------------------------------------

CSV_COLUMNS = ("campaign_key", "year", "version", "commune_code", "commune_name", "rank", "total", "max",
               "percentage", "band", "survey_points", "previous_year", "previous_rank", "previous_percentage",
               "rank_change")


def open_data_csv(snapshot: ResultSnapshot) -> str:
    """One row per commune, machine-readable: decimal point, two decimals, English column names."""
    payload = payload_of(snapshot)
    areas = [a["code"] for a in _areas(payload)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *[f"area_{code}" for code in areas]])
    for e in payload["communes"]:
        previous = e.get("previous") or {}
        by_area = {a["code"]: a["score"] for a in e["areas"]}
        writer.writerow([payload["campaign"]["key"], payload["campaign"]["year"], snapshot.version,
                         safe_text(e["commune_code"]), safe_text(e["commune_name"]), e["rank"], e["total"], e["max"],
                         e["percentage"], safe_text(e["band"] or ""), e["survey_points"],
                         previous.get("year", ""), "" if previous.get("rank") is None else previous["rank"],
                         previous.get("percentage") or "",
                         "" if e.get("rank_change") is None else e["rank_change"],
                         *[by_area.get(code, "") for code in areas]])
    return out.getvalue()


def open_data_json(snapshot: ResultSnapshot) -> str:
    """The snapshot's canonical JSON, byte for byte: its SHA-256 is the published one."""
    return snapshot.payload
