"""report.html: summary.md as one self-contained page a colleague can open from an e-mail: its
figures embedded, no network request, every table sortable and filterable, the effects first,
and a figure of every run whose points say which run they are on hover.

The interactive figures are hand-made SVG (`svg.py`), whose tooltips need no script; the page's
one script (sorting, filtering) is ~40 lines, inline.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

import pandas as pd

from se_train.report import markup, svg
from se_train.result import Run

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
    body = body.replace(f"<p>{RUNS_FIGURE}</p>", svg.runs(runs, axes) + svg.parallel(runs, axes))
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


def _runs_section(runs: pd.DataFrame, axes: list[str]) -> str:
    if runs.empty or Run.MAX_VALID_ACC not in runs:
        return ""
    return ("## Every run\n\nEach point is one run's best valid accuracy, one column per cell over its seeds; hover on a point "
            f"to see which run it is. Diverged runs sit on the bottom edge as ×. Below it, the same runs across the grid: "
            f"each line one run through the value of each axis that varies to its best valid accuracy (parallel coordinates), "
            f"darker for better.\n\n{RUNS_FIGURE}\n")
