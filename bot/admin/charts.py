"""Inline SVG charts for the back office: no JavaScript, no CDN, nothing to download.

Each function is pure and returns one `<svg>` element sized by its viewBox, so it scales with
the page. Shapes carry CSS classes (`chart`, `bar`, `axis`, `grid`, `label`, `value`, `line`,
`point`, `stage`) for a stylesheet to restyle, and presentation attributes as defaults so a
chart still reads well without one. Labels may come from merchants: every piece of text is
XML-escaped and stripped of characters XML forbids. Numbers are written the French way
(`1 234,5 %`).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import date

WIDTH = 640
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
COLOR_BAR = "#3b6ea5"
COLOR_STAGE = "#4f8a6b"
COLOR_TEXT = "#222222"
COLOR_MUTED = "#666666"
COLOR_AXIS = "#888888"
COLOR_GRID = "#e4e4e4"
TITLE_BAND = 36  # room for the visible title at the top
EMPTY_TEXT = "Aucune donnée sur la période"

# XML 1.0 forbids these code points even escaped: drop them so the SVG always parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
NNBSP = "\u202f"  # French thousands separator
NBSP = "\u00a0"  # between a number and its unit


def esc(value: object) -> str:
    """Text or attribute content, safe whatever a merchant typed."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def format_number(value: float) -> str:
    """`1234.5` -> `1 234,5`; whole numbers without decimals; non-finite as a dash."""
    if not math.isfinite(value):
        return "–"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}".replace(",", NNBSP)
    return f"{value:,.1f}".replace(",", NNBSP).replace(".", ",")


def format_value(value: float, unit: str = "") -> str:
    number = format_number(value)
    return f"{number}{NBSP}{unit}" if unit else number


def format_day(day: date, with_year: bool = False) -> str:
    return day.strftime("%d/%m/%Y" if with_year else "%d/%m")


def _finite(value: float) -> float:
    """Geometry never sees NaN or infinities (they would make invalid coordinates)."""
    return float(value) if math.isfinite(value) else 0.0


def _short(label: str, limit: int) -> str:
    limit = max(limit, 2)
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _n(value: float) -> str:
    """A coordinate: short, and never `-0`."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _svg(height: float, title: str, desc: str, body: list[str], kind: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(height)}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{esc(title)}" class="chart chart-{kind}" font-family="{esc(FONT)}" '
        f'font-size="13" fill="{COLOR_TEXT}">'
        f"<title>{esc(title)}</title><desc>{esc(desc)}</desc>"
        f'<text class="chart-title" x="8" y="22" font-size="15" font-weight="600">'
        f"{esc(_short(title, 80))}</text>"
    )
    return head + "".join(body) + "</svg>"


def _empty(title: str, kind: str) -> str:
    body = [
        f'<text class="empty" x="{WIDTH / 2:.0f}" y="{TITLE_BAND + 40}" text-anchor="middle" '
        f'fill="{COLOR_MUTED}">{esc(EMPTY_TEXT)}</text>'
    ]
    return _svg(TITLE_BAND + 70, title, EMPTY_TEXT, body, kind)


def _summary(items: Sequence[tuple[str, float]], unit: str, limit: int = 12) -> str:
    parts = [f"{label} : {format_value(value, unit)}" for label, value in items[:limit]]
    if len(items) > limit:
        parts.append(f"et {len(items) - limit} autres")
    return " ; ".join(parts)


def bar_chart(
    items: Sequence[tuple[str, float]], *, title: str, unit: str = "", horizontal: bool = True
) -> str:
    """Bars scaled to the largest value (0 at the origin; negative values draw no bar)."""
    items = [(str(label), _finite(value)) for label, value in items]
    if not items:
        return _empty(title, "bar")
    top = max(max(value for _, value in items), 0.0)
    desc = _summary(items, unit)
    if horizontal:
        return _bars_horizontal(items, top, title, unit, desc)
    return _bars_vertical(items, top, title, unit, desc)


def _bars_horizontal(
    items: list[tuple[str, float]], top: float, title: str, unit: str, desc: str
) -> str:
    row, bar, label_w, value_w = 28, 18, 210, 90
    x0, span = label_w + 8, WIDTH - label_w - 8 - value_w
    body = []
    for i, (label, value) in enumerate(items):
        y = TITLE_BAND + 8 + i * row
        length = span * value / top if top > 0 and value > 0 else 0.0
        if value > 0:
            length = max(length, 1.0)  # a tiny value stays visible
        shown = format_value(value, unit)
        body.append(
            f'<g class="bar-row"><title>{esc(label)} : {esc(shown)}</title>'
            f'<text class="label" x="{label_w}" y="{_n(y + bar / 2 + 4)}" text-anchor="end">'
            f"{esc(_short(label, 28))}</text>"
            f'<rect class="bar" x="{x0}" y="{_n(y)}" width="{_n(length)}" height="{bar}" '
            f'rx="2" fill="{COLOR_BAR}"/>'
            f'<text class="value" x="{_n(x0 + length + 6)}" y="{_n(y + bar / 2 + 4)}" '
            f'fill="{COLOR_MUTED}">{esc(shown)}</text></g>'
        )
    body.append(
        f'<line class="axis" x1="{x0}" y1="{TITLE_BAND + 4}" x2="{x0}" '
        f'y2="{TITLE_BAND + 8 + len(items) * row - (row - bar)}" stroke="{COLOR_AXIS}"/>'
    )
    return _svg(TITLE_BAND + 16 + len(items) * row, title, desc, body, "bar")


def _bars_vertical(
    items: list[tuple[str, float]], top: float, title: str, unit: str, desc: str
) -> str:
    height, left, right, bottom = 300, 16, 16, 48
    base = height - bottom
    plot_h = base - TITLE_BAND - 24  # room for the value above the tallest bar
    slot = (WIDTH - left - right) / len(items)
    bar = slot * 0.7
    chars = max(int(slot / 7), 3)
    body = []
    for i, (label, value) in enumerate(items):
        length = plot_h * value / top if top > 0 and value > 0 else 0.0
        if value > 0:
            length = max(length, 1.0)
        cx = left + slot * (i + 0.5)
        shown = format_value(value, unit)
        body.append(
            f'<g class="bar-row"><title>{esc(label)} : {esc(shown)}</title>'
            f'<rect class="bar" x="{_n(cx - bar / 2)}" y="{_n(base - length)}" '
            f'width="{_n(bar)}" height="{_n(length)}" rx="2" fill="{COLOR_BAR}"/>'
            f'<text class="value" x="{_n(cx)}" y="{_n(base - length - 6)}" text-anchor="middle" '
            f'font-size="12" fill="{COLOR_MUTED}">{esc(_short(shown, chars))}</text>'
            f'<text class="label" x="{_n(cx)}" y="{base + 18}" text-anchor="middle" '
            f'font-size="12">{esc(_short(label, chars))}</text></g>'
        )
    body.append(
        f'<line class="axis" x1="{left}" y1="{base}" x2="{WIDTH - right}" y2="{base}" '
        f'stroke="{COLOR_AXIS}"/>'
    )
    return _svg(height, title, desc, body, "bar")


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`."""
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return nice * 10**exponent


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high]; a flat series still gets a 0..1 axis."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        return [low, low + 1]
    step = _nice_step((high - low) / count)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    steps = round((last - first) / step)
    return [round(first + i * step, 10) for i in range(steps + 1)]


def line_chart(points: Sequence[tuple[date, float]], *, title: str, unit: str = "") -> str:
    """A time series with a 0-based value axis and up to seven date ticks."""
    data = sorted((day, _finite(value)) for day, value in points)
    if not data:
        return _empty(title, "line")
    height, left, right, bottom = 280, 64, 20, 40
    base, top_y = height - bottom, TITLE_BAND + 12
    plot_w, plot_h = WIDTH - left - right, base - top_y
    values = [value for _, value in data]
    ticks = _ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    first_day, last_day = data[0][0], data[-1][0]
    span = (last_day - first_day).days
    with_year = first_day.year != last_day.year

    def x_of(day: date) -> float:
        return left + plot_w / 2 if span == 0 else left + plot_w * (day - first_day).days / span

    def y_of(value: float) -> float:
        return base - plot_h * (value - low) / (high - low)

    body = []
    for tick in ticks:
        y = _n(y_of(tick))
        body.append(
            f'<line class="grid" x1="{left}" y1="{y}" x2="{WIDTH - right}" y2="{y}" '
            f'stroke="{COLOR_GRID}"/>'
            f'<text class="tick" x="{left - 8}" y="{_n(y_of(tick) + 4)}" text-anchor="end" '
            f'font-size="12" fill="{COLOR_MUTED}">{esc(format_value(tick, unit))}</text>'
        )
    step_days = max(math.ceil(span / 6), 1)
    tick_days = [first_day] if span == 0 else []
    offset = 0
    while span and offset <= span:
        tick_days.append(date.fromordinal(first_day.toordinal() + offset))
        offset += step_days
    for day in tick_days:
        x = _n(x_of(day))
        body.append(
            f'<line class="axis" x1="{x}" y1="{base}" x2="{x}" y2="{base + 5}" '
            f'stroke="{COLOR_AXIS}"/>'
            f'<text class="tick" x="{x}" y="{base + 20}" text-anchor="middle" font-size="12" '
            f'fill="{COLOR_MUTED}">{esc(format_day(day, with_year))}</text>'
        )
    body.append(
        f'<line class="axis" x1="{left}" y1="{base}" x2="{WIDTH - right}" y2="{base}" '
        f'stroke="{COLOR_AXIS}"/>'
        f'<line class="axis" x1="{left}" y1="{top_y}" x2="{left}" y2="{base}" '
        f'stroke="{COLOR_AXIS}"/>'
    )
    if len(data) > 1:
        path = " ".join(f"{_n(x_of(day))},{_n(y_of(value))}" for day, value in data)
        body.append(
            f'<polyline class="line" points="{path}" fill="none" stroke="{COLOR_BAR}" '
            f'stroke-width="2" stroke-linejoin="round"/>'
        )
    radius = 3 if len(data) <= 62 else 1.5
    for day, value in data:
        body.append(
            f'<circle class="point" cx="{_n(x_of(day))}" cy="{_n(y_of(value))}" r="{radius}" '
            f'fill="{COLOR_BAR}"><title>{esc(format_day(day, True))} : '
            f"{esc(format_value(value, unit))}</title></circle>"
        )
    desc = (
        f"{len(data)} point(s) du {format_day(first_day, True)} au {format_day(last_day, True)}"
        f" ; minimum {format_value(min(values), unit)}, maximum {format_value(max(values), unit)}"
    )
    return _svg(height, title, desc, body, "line")


def funnel_chart(stages: Sequence[tuple[str, int]], *, title: str) -> str:
    """Centred bars, each with its count and its share of the first stage."""
    stages = [(str(label), max(int(_finite(value)), 0)) for label, value in stages]
    if not stages:
        return _empty(title, "funnel")
    row, bar, label_w, value_w = 32, 24, 210, 110
    x0, span = label_w + 8, WIDTH - label_w - 8 - value_w
    first = stages[0][1]
    top = max(value for _, value in stages)
    body = []
    parts = []
    for i, (label, value) in enumerate(stages):
        y = TITLE_BAND + 8 + i * row
        length = span * value / top if top > 0 else 0.0
        if value > 0:
            length = max(length, 1.0)
        share = f" ({format_number(round(100 * value / first))}{NBSP}%)" if first > 0 else ""
        shown = f"{format_number(value)}{share}"
        parts.append(f"{label} : {shown}")
        body.append(
            f'<g class="stage-row"><title>{esc(label)} : {esc(shown)}</title>'
            f'<text class="label" x="{label_w}" y="{_n(y + bar / 2 + 4)}" text-anchor="end">'
            f"{esc(_short(label, 30))}</text>"
            f'<rect class="stage" x="{_n(x0 + (span - length) / 2)}" y="{_n(y)}" '
            f'width="{_n(length)}" height="{bar}" rx="2" fill="{COLOR_STAGE}"/>'
            f'<text class="value" x="{WIDTH - value_w + 8}" y="{_n(y + bar / 2 + 4)}" '
            f'fill="{COLOR_MUTED}">{esc(shown)}</text></g>'
        )
    return _svg(TITLE_BAND + 16 + len(stages) * row, title, " ; ".join(parts), body, "funnel")
