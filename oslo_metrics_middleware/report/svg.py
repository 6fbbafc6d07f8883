# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Line charts as inline SVG, so the HTML report needs no scripts."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import datetime
import html
import math

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 12, 26


@dataclasses.dataclass
class Line:
    label: str
    color: str
    values: Sequence[float]
    # None: solid; else an SVG stroke-dasharray such as "6 4".
    dashes: str | None = None
    width: float = 2.0


@dataclasses.dataclass
class Band:
    """A range known only by its bounds per step: ``(lower, upper]``,
    NaN where there is none; an infinite upper runs to the top."""

    label: str
    color: str
    lower: Sequence[float]
    upper: Sequence[float]


def _nice_step(span: float, ticks: int) -> float:
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10.0 * magnitude


def _y_top(lines: Sequence[Line], bands: Sequence[Band]) -> float:
    values = [v for line in lines for v in line.values]
    values += [v for band in bands for v in (*band.lower, *band.upper)]
    top = max((v for v in values if math.isfinite(v)), default=0.0)
    return top * 1.1 if top > 0 else 1.0


def _runs(band: Band) -> list[tuple[int, int, float, float]]:
    """(first, last) step indexes of runs of one bucket, with its bounds."""
    runs: list[tuple[int, int, float, float]] = []
    for index, (lower, upper) in enumerate(
        zip(band.lower, band.upper, strict=True)
    ):
        if math.isnan(lower):
            continue
        if runs and runs[-1][1] == index - 1 and runs[-1][2:] == (lower,
                                                                  upper):
            runs[-1] = (runs[-1][0], index, lower, upper)
        else:
            runs.append((index, index, lower, upper))
    return runs


def _time_label(timestamp: float, span: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    if span > 2 * 86400:
        return moment.strftime("%m-%d %H:%M")
    if span > 600:
        return moment.strftime("%H:%M")
    return moment.strftime("%H:%M:%S")


def _segments(points: list[tuple[float, float] | None]) -> list[str]:
    """Polyline point lists, split where a value is missing."""
    segments: list[str] = []
    current: list[str] = []
    for point in points:
        if point is None:
            if current:
                segments.append(" ".join(current))
            current = []
        else:
            current.append(f"{point[0]:.1f},{point[1]:.1f}")
    if current:
        segments.append(" ".join(current))
    return segments


def chart(
    times: Sequence[float], lines: Sequence[Line], unit: str,
    css_class: str, fmt: Callable[[float], str] = lambda v: f"{v:g}",
    bands: Sequence[Band] = (), width: int = WIDTH,
) -> str:
    """An SVG chart of ``bands`` under ``lines`` over ``times``."""
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    first, last = (times[0], times[-1]) if times else (0.0, 1.0)
    span = max(last - first, 1e-9)
    top = _y_top(lines, bands)
    # A step covers (time - step, time]; a band fills its steps.
    step = times[1] - times[0] if len(times) > 1 else span

    def x(t: float) -> float:
        return LEFT + plot_w * (t - first) / span

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg class="graph {css_class}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {HEIGHT}" width="{width}" height="{HEIGHT}" '
        f'role="img"><title>{html.escape(unit)}</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#fff" stroke="#ced4da"/>',
    ]
    for band in bands:
        for begin, end, lower, upper in _runs(band):
            left = max(LEFT, x(times[begin] - step))
            high = y(min(upper, top))
            parts.append(
                f'<rect class="band" data-series="{html.escape(band.label)}"'
                f' x="{left:.1f}" y="{high:.1f}" '
                f'width="{max(x(times[end]) - left, 1.0):.1f}" '
                f'height="{y(lower) - high:.1f}" fill="{band.color}" '
                'fill-opacity="0.25"/>'
            )
    tick_step = _nice_step(top, 4)
    tick = 0.0
    while tick <= top:
        parts.append(
            f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" stroke="#f1f3f5"/>'
            f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{html.escape(fmt(tick))}</text>"
        )
        tick += tick_step
    for index in range(5):
        t = first + span * index / 4
        anchor = ("start", "middle", "middle", "middle", "end")[index]
        parts.append(
            f'<text x="{x(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{_time_label(t, span)}</text>"
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})">'
        f"{html.escape(unit)}</text>"
    )
    for line in lines:
        points = [
            (x(t), y(v)) if math.isfinite(v) else None
            for t, v in zip(times, line.values, strict=True)
        ]
        dash = f' stroke-dasharray="{line.dashes}"' if line.dashes else ""
        for segment in _segments(points):
            parts.append(
                f'<polyline class="series" data-series="'
                f'{html.escape(line.label)}" fill="none" '
                f'stroke="{line.color}" stroke-width="{line.width:g}"{dash} '
                f'points="{segment}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _drawn(values: Sequence[float]) -> bool:
    return any(math.isfinite(value) for value in values)


def legend(lines: Sequence[Line], bands: Sequence[Band] = ()) -> str:
    """Keys for what the chart draws; a quantile that is only ever a
    bound has a band and no line, so only the band has a key."""
    items = "".join(
        f'<span><i style="background:{line.color}"></i>'
        f"{html.escape(line.label)}</span>"
        for line in lines if _drawn(line.values) or not bands
    ) + "".join(
        f'<span><i class="band" style="background:{band.color}"></i>'
        f"{html.escape(band.label)}</span>"
        for band in bands if _drawn(band.lower)
    )
    return f'<div class="legend">{items}</div>'
