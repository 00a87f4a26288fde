"""MkDocs hook: the sweep file reference page is generated from the models that check a sweep
file (`se_train.reference`), where the page says `<!-- sweep file reference -->`."""

from se_train.reference import sweep_file_reference

MARKER = "<!-- sweep file reference -->"


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(MARKER, sweep_file_reference()) if MARKER in markdown else markdown
