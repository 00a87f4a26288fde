"""The report page's two interactive figures, as inline SVG: every run's best valid accuracy by
cell (a strip plot) and every run across the grid (parallel coordinates). Each mark's <title>
names its run, the browser's own tooltip: no script, a few bytes a mark (plotly's self-contained
page carries ~3.5 MB of JavaScript, bokeh's ~1 MB)."""

from __future__ import annotations

import html
import math

import pandas as pd

from se_train import cell
from se_train.result import Outcome, Run

WIDTH, ROW, LEFT, TOP = 900, 300, 60, 20


def runs(runs: pd.DataFrame, axes: list[str]) -> str:
    """A strip plot as inline SVG: x the cell, y max valid accuracy (%); each point's <title> names
    its run (trial, cell, seed, value), the browser's own tooltip."""
    rows = runs.to_dict("records")
    extra = cell.varied(rows, axes)
    cell_of = {id(r): cell.name(r, extra, seed=False) for r in rows}
    labels = list(dict.fromkeys(cell_of.values()))
    values = [100 * r[Run.MAX_VALID_ACC] for r in rows if r[Run.STATUS] != Outcome.DIVERGED and _finite(r[Run.MAX_VALID_ACC])]
    ticks = _ticks(*((min(values), max(values)) if values else (0.0, 100.0)))
    low, high = ticks[0], ticks[-1]  # the axis ends on a tick at both ends, every point inside
    # A cell's label, at 30°, ends under its column and reaches left about 5 px a character: the
    # first column starts far enough right that its label is not cut at the figure's edge.
    longest = max((len(c) for c in labels), default=0)
    left = max(LEFT, 5 * longest - (WIDTH - LEFT - 10) / max(len(labels), 1) / 2)
    step = (WIDTH - left - 10) / max(len(labels), 1)
    y = lambda v: TOP + ROW * (high - v) / (high - low)  # noqa: E731
    marks = []
    for tick in ticks:
        marks.append(f'<line x1="{left:.1f}" x2="{WIDTH - 10}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    seen: dict[str, int] = {}
    for r in rows:
        label = cell_of[id(r)]
        k = labels.index(label)
        n = seen[label] = seen.get(label, -1) + 1
        x = left + step * (k + 0.5) + (n % 7 - 3) * min(step / 10, 4)  # a little jitter, so seeds do not hide each other
        run = f"{r[Run.TRIAL_ID]}: {cell}, seed {r.get('seed', 0)}"
        if r[Run.STATUS] == Outcome.DIVERGED:
            marks.append(f'<text x="{x:.1f}" y="{TOP + ROW + 4}" text-anchor="middle" fill="#c0392b"><title>{html.escape(run)}: diverged at epoch '
                         f'{r.get(Run.DIVERGED_EPOCH)}</title>×</text>')
        elif _finite(r[Run.MAX_VALID_ACC]):
            v = 100 * r[Run.MAX_VALID_ACC]
            marks.append(f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="4" fill="#2c7fb8" fill-opacity="0.75">'
                         f'<title>{html.escape(run)}: {v:.2f}% ({r[Run.STATUS]})</title></circle>')
    for k, label in enumerate(labels):
        x = left + step * (k + 0.5)
        marks.append(f'<text transform="translate({x:.1f},{TOP + ROW + 16}) rotate(-30)" text-anchor="end" font-size="11">{html.escape(label)}</text>')
    height = TOP + ROW + 24 + 4 * max((len(c) for c in labels), default=0)  # labels at 30°, ending under their column
    return (f'<svg class="runs" id="runs" width="{WIDTH}" height="{height}" font-size="12" '
            f'role="img" aria-label="every run\'s best valid accuracy by cell">'
            f'<text x="12" y="{TOP + ROW / 2}" transform="rotate(-90 12 {TOP + ROW / 2})" text-anchor="middle">max valid accuracy (%)</text>'
            + "".join(marks) + "</svg>")


def parallel(runs: pd.DataFrame, axes: list[str]) -> str:
    """Parallel coordinates as inline SVG: one vertical axis per grid axis that varies (its values
    evenly spaced, in order) and a last one for max valid accuracy; one line per run that did not
    diverge, its <title> naming the run."""
    ok = runs[(runs[Run.STATUS] != Outcome.DIVERGED) & runs[Run.MAX_VALID_ACC].notna()]
    varying = [a for a in axes if a != "seed" and a in ok and ok[a].astype(str).nunique() > 1]
    if ok.empty or not varying:
        return ""
    width, height, top, left = WIDTH, 260, 30, 40
    gap = (width - 2 * left) / len(varying)
    # a grid that leaves an axis out runs its default: a level of its own, "default", as the tables say
    records = [{**r, **{a: _level(r[a]) for a in varying}} for r in ok.to_dict("records")]
    levels = {a: sorted({r[a] for r in records}, key=lambda v: (isinstance(v, str), str(v) if isinstance(v, str) else v)) for a in varying}
    acc = 100 * ok[Run.MAX_VALID_ACC]
    low, high = float(acc.min()), float(acc.max())
    span = (high - low) or 1.0
    at = lambda a, v: top + height * (levels[a].index(v) + 0.5) / len(levels[a])  # noqa: E731
    marks = []
    for r, value in zip(records, acc):
        points = [(left + i * gap, at(a, r[a])) for i, a in enumerate(varying)] + [(left + len(varying) * gap, top + height * (high - value) / span)]
        shade = int(200 - 170 * (value - low) / span)  # darker for better
        run = f"{r[Run.TRIAL_ID]}: " + ", ".join(f"{a}={r[a]}" for a in varying) + f", seed {r.get('seed', 0)}: {value:.2f}%"
        marks.append(f'<polyline fill="none" stroke="rgb({shade},{shade},{min(255, shade + 60)})" stroke-width="1.5" '
                     f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"><title>{html.escape(run)}</title></polyline>')
    for i, a in enumerate([*varying, "max valid acc (%)"]):
        x = left + i * gap
        marks.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + height}" stroke="#888"/>'
                     f'<text x="{x:.1f}" y="{top - 10}" text-anchor="{"end" if a not in levels else "middle"}" font-weight="bold">{html.escape(a)}</text>')
        labels = [(at(a, v), str(v)) for v in levels[a]] if a in levels else [(top, f"{high:.2f}"), (top + height, f"{low:.2f}")]
        marks += [f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" font-size="10">{html.escape(t)}</text>' for y, t in labels]
    return (f'<svg class="runs" id="parallel" width="{width}" height="{top + height + 20}" font-size="12" role="img" '
            f'aria-label="each run across the grid to its best valid accuracy">' + "".join(marks) + "</svg>")


def _level(value):
    """An axis value as the parallel plot places it: a missing one (NaN, None) is the default."""
    return "default" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _ticks(low: float, high: float) -> list[float]:
    """Round ticks from at or below `low` to at or above `high`, at most 9 of them, within 0-100."""
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 25) if (high - low + 1) / s <= 8)
    first, last = max(0.0, math.floor((low - 0.5) / step) * step), min(100.0, math.ceil((high + 0.5) / step) * step)
    last = max(last, first + step)
    return [first + i * step for i in range(round((last - first) / step) + 1)]
