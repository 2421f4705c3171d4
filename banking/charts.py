"""Charts for the staff console, drawn on the server as inline SVG: no script, no CDN,
nothing to load. Time runs along a real time axis (points spaced by when they happened,
not by how many there are), with gridlines, tick labels, the current value, and each
point's value on hover (an SVG <title>, which browsers show as a tooltip)."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from banking.money import format_money

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 16, 28
TICKS = 5


def _instant(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(12), tzinfo=timezone.utc)  # a day sits at its middle


def _label(value: datetime, span_seconds: float) -> str:
    """As precise as the span needs: ticks a few seconds apart must not all read alike."""
    if span_seconds < 600:
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M" if span_seconds < 2 * 86400 else "%Y-%m-%d")


def time_chart_svg(points: list[tuple[datetime | date, Decimal]], *, title: str, steps: bool = False,
                   bars: bool = False) -> SafeString:
    """``points`` oldest first. ``steps``: the value holds until the next point (a running
    balance); ``bars``: one bar per point (a day's volume)."""
    if not points:
        return format_html('<p class="chart-empty">{}: nothing yet</p>', title)
    xs = [_instant(t).timestamp() for t, _ in points]
    ys = [float(v) for _, v in points]
    x0, x1 = xs[0], xs[-1]
    if x1 == x0:
        x0, x1 = x0 - 3600, x1 + 3600
    low, high = min(ys + [0.0]), max(ys)
    if high == low:
        high = low + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - (y - low) / (high - low) * plot_h

    grid = []
    for i in range(TICKS):
        y = low + (high - low) * i / (TICKS - 1)
        grid.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" class="tick">'
            f'{format_money(Decimal(str(round(y, 2))))}</text>')
        x = x0 + (x1 - x0) * i / (TICKS - 1)
        anchor = "start" if i == 0 else "end" if i == TICKS - 1 else "middle"
        grid.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>'
            f'<text x="{sx(x):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" class="tick">'
            f'{_label(datetime.fromtimestamp(x, timezone.utc), x1 - x0)}</text>')
    if bars:
        width = max(1.0, plot_w / max(len(points), 1) * 0.7)
        shapes = mark_safe("".join(
            f'<rect x="{sx(x) - width / 2:.1f}" y="{sy(y):.1f}" width="{width:.1f}" height="{sy(low) - sy(y):.1f}" '
            f'class="bar"><title>{_label(_instant(t), 86400 * 3)}: {format_money(v)}</title></rect>'
            for (t, v), x, y in zip(points, xs, ys)))
    else:
        coords = []
        for i, (x, y) in enumerate(zip(xs, ys)):
            if steps and i:
                coords.append(f"{sx(x):.1f},{sy(ys[i - 1]):.1f}")
            coords.append(f"{sx(x):.1f},{sy(y):.1f}")
        if steps:  # the balance holds until now (the chart's right edge)
            coords.append(f"{WIDTH - RIGHT:.1f},{sy(ys[-1]):.1f}")
        shapes = mark_safe(f'<polyline points="{" ".join(coords)}" class="line"/>' + "".join(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" class="dot">'
            f'<title>{_label(_instant(t), 0)}: {format_money(v)}</title></circle>'
            for (t, v), x, y in zip(points, xs, ys)))
    current = format_html('<text x="{}" y="{}" text-anchor="end" class="current">now: {}</text>',
                          WIDTH - RIGHT, TOP + 12, format_money(points[-1][1]))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{title}" class="time-chart">'
        "<style>.grid{{stroke:#e3e3e3}} .tick{{font-size:10px;fill:#666}} .line{{fill:none;stroke:#417690;"
        "stroke-width:2}} .dot{{fill:#417690}} .dot:hover{{r:5}} .bar{{fill:#79aec8}} .bar:hover{{fill:#417690}} "
        ".current{{font-size:12px;font-weight:bold;fill:#333}}</style>"
        "<title>{title}</title>{grid}{shapes}{current}</svg>",
        w=WIDTH, h=HEIGHT, title=title, grid=mark_safe("".join(grid)), shapes=shapes, current=current,
    )
