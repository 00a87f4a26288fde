"""report.html: summary.md as one self-contained page a colleague can open from an e-mail: its
figures embedded, no network request, every table sortable and filterable, the effects first,
and a figure of every run whose points say which run they are on hover.

Why hand-made SVG for the interactive figures (the runs' strip plot, parallel coordinates) and not
an interactive plotting library: plotly's self-contained HTML carries ~3.5 MB of JavaScript per
page and bokeh's ~1 MB, for points and lines with a tooltip each; an SVG `<title>` is the
browser's own tooltip, in a few bytes per mark, and needs no script at all. The page's one
script (sorting, filtering) is ~40 lines, inline.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from pathlib import Path

import pandas as pd

from se_train.report import markup
from se_train.result import Outcome, Run
from se_train import cell

EFFECTS = "## Effects, paired by seed"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
input.filter { margin: 0.3em 0; width: 20em; }
img, svg.runs { max-width: 100%; }
svg.runs circle:hover { stroke: #000; stroke-width: 2; }
code { background: #f4f4f4; padding: 0 3px; }
p.notice { background: #fdecea; border: 1px solid #c0392b; padding: 4px 8px; }
"""

# Click a header to sort (numbers as numbers: "97.3 ± 0.2 (3)" by 97.3); type to keep only the
# rows that contain the text. The address may carry #sort=TABLE:COLUMN[:desc] (a link that opens
# sorted; each table's filter box shows its id) and #only=ID (that element alone, as when it is
# screenshotted); one that names no table, column or element says so at the top of the page.
SCRIPT = r"""
function key(cell) { const m = cell.textContent.trim().match(/^[-+−]?\d[\d,]*\.?\d*(e[-+]?\d+)?/i);
  return m ? parseFloat(m[0].replace(/,/g, '').replace('−', '-')) : cell.textContent.trim().toLowerCase(); }
function sortBy(table, col, desc) {
  const body = table.tBodies[0], rows = Array.from(body.rows);
  rows.sort((a, b) => { const x = key(a.cells[col]), y = key(b.cells[col]);
    const c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
    return desc ? -c : c; });
  rows.forEach(r => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => th.setAttribute('aria-sort', i === col ? (desc ? 'descending' : 'ascending') : 'none'));
}
function notice(text) { const p = document.createElement('p'); p.className = 'notice'; p.textContent = text; document.body.prepend(p); }
const names = cells => Array.from(cells).map(th => th.textContent.replace(/ [▲▼]$/, ''));
document.querySelectorAll('table').forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => th.addEventListener('click',
    () => sortBy(table, col, th.getAttribute('aria-sort') === 'ascending')));
  const filter = document.createElement('input');
  filter.className = 'filter'; filter.placeholder = 'filter rows · sort link: #sort=' + table.id + ':COLUMN';
  filter.addEventListener('input', () => Array.from(table.tBodies[0].rows).forEach(r =>
    r.style.display = r.textContent.toLowerCase().includes(filter.value.toLowerCase()) ? '' : 'none'));
  table.before(filter);
});
for (const part of location.hash.slice(1).split('&')) {
  const [what, value] = part.split('=');
  if (what === 'sort' && value) { const [id, column, order] = decodeURIComponent(value).split(':');
    const table = document.getElementById(id), tables = Array.from(document.querySelectorAll('table'), t => t.id);
    if (!table || table.tagName !== 'TABLE') { notice('#sort: no table "' + id + '"; the tables: ' + tables.join(', ')); continue; }
    const columns = names(table.tHead.rows[0].cells), col = columns.indexOf(column);
    if (col < 0) { notice('#sort: table "' + id + '" has no column "' + column + '"; its columns: ' + columns.join(', ')); continue; }
    sortBy(table, col, order === 'desc'); }
  if (what === 'only' && value) { const keep = document.getElementById(decodeURIComponent(value));
    if (!keep) { notice('#only: nothing on this page is "' + decodeURIComponent(value) + '"'); continue; }
    document.body.replaceChildren(keep); document.body.style.margin = '0'; }
}
"""


# What the page may do: its own inline script (by hash) and style, its figures as data: URIs,
# nothing else: no other script, no request, no plugin, even if a name got past the escaping.
CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'; '
       f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'; base-uri 'none'; form-action 'none'\">")


def write_html(summary: str, out: Path, runs: pd.DataFrame, axes: list[str]) -> Path:
    """report.html in `out`, from the report's summary.md text and its runs table."""
    title, sections = _sections(summary)
    effects = [s for s in sections if s.startswith(EFFECTS)]
    rest = [s for s in sections if not s.startswith(EFFECTS)]
    parts = [title, *effects, _runs_section(runs, axes), *rest]  # the answer first, then how it was reached
    text = re.sub(r"(?m)^  - ", "    - ", "\n\n".join(parts))  # a nested list as summary.md writes it: python-markdown nests by 4 spaces
    body = markup.to_html(text)  # raw HTML in summary.md stays text: names come from plugins and folders
    # thousands of points: past markdown's parser
    body = body.replace(f"<p>{RUNS_FIGURE}</p>", runs_svg(runs, axes) + parallel_svg(runs, axes))
    body = _embed_images(body, out)
    body = _name_tables(body)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{CSP}<title>{html.escape(_plain(title))}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n<script>{SCRIPT}</script></body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _sections(summary: str) -> tuple[str, list[str]]:
    """The header (title and its bullets) and each `## ` section, as markdown."""
    head, *sections = re.split(r"(?m)^(?=## )", summary)
    return head, sections


def _plain(markdown_text: str) -> str:
    return markdown_text.splitlines()[0].lstrip("# ").replace("`", "")


def _embed_images(body: str, out: Path) -> str:
    """Each figure's file as a data: URI, so the page needs nothing beside it; each figure's id is
    fig-<its file's name> (curves.png: fig-curves)."""
    def embed(match: re.Match) -> str:
        path = out / html.unescape(match.group(2))
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'{match.group(1)}data:image/png;base64,{data}" id="fig-{path.stem}"'
    return re.sub(r'(<img[^>]*\bsrc=")([^":]+\.png)"', embed, body)


def _name_tables(body: str) -> str:
    """Each table's id: its section's heading up to a bracket, comma or colon, as a slug ("Results
    (min loss …)": results; "Effects, paired by seed": effects), so a link can sort it
    (#sort=results:model); a second table under one heading gets -2, and so on."""
    heading, taken = "table", set()

    def name(match: re.Match) -> str:
        nonlocal heading
        if match.group(1) is not None:
            heading = re.sub(r"[^a-z0-9]+", "-", re.split(r"[(,:]", html.unescape(re.sub(r"<[^>]+>", "", match.group(1))))[0].lower()).strip("-") or "table"
            return match.group(0)
        slug, n = heading, 1
        while slug in taken:
            n += 1
            slug = f"{heading}-{n}"
        taken.add(slug)
        return f'<table id="{slug}">'
    return re.sub(r"<h[23][^>]*>(.*?)</h[23]>|<table>", name, body)


# The runs figure: every run's max valid accuracy, one column per cell.
RUNS_FIGURE = "RUNS-FIGURE-GOES-HERE"
WIDTH, ROW, LEFT, TOP = 900, 300, 60, 20


def _runs_section(runs: pd.DataFrame, axes: list[str]) -> str:
    if runs.empty or Run.MAX_VALID_ACC not in runs:
        return ""
    return ("## Every run\n\nEach point is one run's best valid accuracy, one column per cell over its seeds; hover on a point "
            f"to see which run it is. Diverged runs sit on the bottom edge as ×. Below it, the same runs across the grid: "
            f"each line one run through the value of each axis that varies to its best valid accuracy (parallel coordinates), "
            f"darker for better.\n\n{RUNS_FIGURE}\n")


def runs_svg(runs: pd.DataFrame, axes: list[str]) -> str:
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
        run = f"{r['trial_id']}: {cell}, seed {r.get('seed', 0)}"
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


def parallel_svg(runs: pd.DataFrame, axes: list[str]) -> str:
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
        run = f"{r['trial_id']}: " + ", ".join(f"{a}={r[a]}" for a in varying) + f", seed {r.get('seed', 0)}: {value:.2f}%"
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
