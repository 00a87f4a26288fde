"""Text from outside se-sweep (plugin model names, option values, class names of an image folder,
a sweep's name) made safe where it is written, for each language a report speaks:

- markdown (summary.md, and through it report.html): `text` backslash-escapes every character
  markdown gives a meaning to, so a name stays one table cell and shows as itself, never as
  emphasis, a link or an image;
- HTML (report.html): `to_html` renders markdown with raw HTML switched off, so a `<script>` or an
  `<img onerror=…>` anywhere in summary.md is shown as text, never parsed as a tag; the page's
  own markup (figures, script) is added after, by `html.py`;
- LaTeX (table.tex): pandas' own escaper (`tables.to_latex`).
"""

from __future__ import annotations

import re
from typing import Any

import markdown

# What gives text a meaning inside a line or a table cell: escapes, code, emphasis, links and
# images (their brackets), the cell separator; an underscore only at a word's edge (simple_cnn
# is plain text to Python-Markdown, _x_ is emphasis). Tags and entities are written as entities.
_SPECIAL = re.compile(r"[\\`*\[\]|]|(?<!\w)_|_(?!\w)")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def text(value: Any) -> str:
    """`value` as markdown that renders as exactly its text, inside a table cell or out. A line
    break would end a table row: it is shown as a space."""
    escaped = re.sub(r"[<>&]", lambda m: _ENTITIES[m.group(0)], str(value))
    escaped = _SPECIAL.sub(lambda m: "\\" + m.group(0), escaped)
    return escaped.replace("\r", " ").replace("\n", " ")


class _NoRawHtml(markdown.Extension):
    """Markdown without its raw-HTML block and inline parsers: a tag in the text stays text."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Python-Markdown's name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def to_html(markdown_text: str) -> str:
    return markdown.markdown(markdown_text, extensions=["tables", _NoRawHtml()], output_format="html")
