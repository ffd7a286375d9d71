"""Server-side SVG charts of published results: no JavaScript, nothing inline the CSP would block.

Each function returns safe markup (every text escaped); colours are SVG attributes and CSS classes
from web/static/css/results.css.
"""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup, escape

BAR_H, GAP, LABEL_W, CHART_W = 18, 6, 190, 640


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _comma(value: Decimal | str) -> str:
    return f"{Decimal(value):.2f}".replace(".", ",")


def ranking_bars(entries: list[dict], title: str) -> Markup:
    """One horizontal bar per commune, its length the index percentage (0..100), in rank order."""
    width = LABEL_W + CHART_W + 70
    body = []
    for n, e in enumerate(entries):
        y = n * (BAR_H + GAP)
        length = float(Decimal(e["percentage"])) / 100 * CHART_W
        body.append(f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 5}" text-anchor="end" class="label">'
                    f'{escape(e["rank"])}. {escape(e["commune_name"])}</text>')
        body.append(f'<rect x="{LABEL_W}" y="{y}" width="{length:.1f}" height="{BAR_H}" class="bar"/>')
        body.append(f'<text x="{LABEL_W + length + 4:.1f}" y="{y + BAR_H - 5}" class="value">'
                    f'{_comma(e["percentage"])}</text>')
    return _svg(width, max(len(entries), 1) * (BAR_H + GAP), title, body)


def band_distribution(entries: list[dict], bands: list[dict], title: str) -> Markup:
    """How many communes fall in each band, highest band first (a band nobody reached shows 0)."""
    labels = [b["label"] for b in bands] or sorted({e["band"] for e in entries if e["band"]})
    counts = [sum(1 for e in entries if e["band"] == label) for label in labels]
    width = LABEL_W + CHART_W + 50
    top = max(counts, default=0) or 1
    body = []
    for n, (label, count) in enumerate(zip(labels, counts, strict=True)):
        y = n * (BAR_H + GAP)
        length = count / top * CHART_W
        body.append(f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 5}" text-anchor="end" class="label">'
                    f'{escape(label)}</text>')
        body.append(f'<rect x="{LABEL_W}" y="{y}" width="{length:.1f}" height="{BAR_H}" class="bar band-{n}"/>')
        body.append(f'<text x="{LABEL_W + length + 4:.1f}" y="{y + BAR_H - 5}" class="value">{count}</text>')
    return _svg(width, max(len(labels), 1) * (BAR_H + GAP), title, body)


def rank_change_bars(entries: list[dict], title: str, no_comparison: str) -> Markup:
    """Places gained (right, green) or lost (left, red) since last year; communes without one say so."""
    half = CHART_W // 2
    centre = LABEL_W + half
    top = max((abs(e["rank_change"]) for e in entries if e.get("rank_change") is not None), default=0) or 1
    body = [f'<line x1="{centre}" y1="0" x2="{centre}" y2="{max(len(entries), 1) * (BAR_H + GAP)}" class="axis"/>']
    for n, e in enumerate(entries):
        y = n * (BAR_H + GAP)
        body.append(f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 5}" text-anchor="end" class="label">'
                    f'{escape(e["commune_name"])}</text>')
        change = e.get("rank_change")
        if change is None:
            body.append(f'<text x="{centre + 6}" y="{y + BAR_H - 5}" class="muted">{escape(no_comparison)}</text>')
            continue
        length = abs(change) / top * (half - 30)
        x = centre if change >= 0 else centre - length
        kind = "up" if change > 0 else "down" if change < 0 else "same"
        body.append(f'<rect x="{x:.1f}" y="{y}" width="{max(length, 1):.1f}" height="{BAR_H}" class="bar {kind}"/>')
        tx = centre + length + 4 if change >= 0 else centre - length - 4
        anchor = "start" if change >= 0 else "end"
        shown = f"{change:+d}" if change else "0"
        body.append(f'<text x="{tx:.1f}" y="{y + BAR_H - 5}" text-anchor="{anchor}" class="value">{shown}</text>')
    return _svg(LABEL_W + CHART_W + 20, max(len(entries), 1) * (BAR_H + GAP), title, body)
