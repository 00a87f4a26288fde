"""report.html in a real browser (headless Chromium, Debian's `chromium`; CI installs it): one
self-contained page that makes no network request, whose effects table has a row per effect and
sorts, and whose figures render. Read from the committed reports of real experiments: no Ray."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from se_train.cli import main

BROWSER = shutil.which("chromium") or shutil.which("chromium-headless-shell")
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (CI installs Debian's chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    assert main(["report", "results/decisive_mnist", "--out", str(out)]) == 0  # 68 real runs, 4 adaptive effects
    return out


def _browser(tmp_path: Path, page: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess:
    """Chromium on `page`, offline: every host name fails to resolve, so a request could not load."""
    return subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         "--host-resolver-rules=MAP * ~NOTFOUND", *args, page.resolve().as_uri() + fragment],
        capture_output=True, text=True, timeout=120, check=True,
    )


def test_the_page_carries_everything_it_shows(report):
    page = (report / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external resource"
    assert "<link" not in page and "<script src" not in page and "url(http" not in page
    figures = re.findall(r'<img[^>]*src="data:image/png;base64,[^"]+"[^>]*id="fig-(\w+)"', page)
    assert {"curves", "heatmap", "seeds", "effects", "search"} <= set(figures), figures
    # the effects come first: their heading is the page's first section
    assert page.index("<h2>Effects, paired by seed</h2>") < page.index("<h2>Results")


def _effects_rows(dom: str) -> list[list[str]]:
    table = re.search(r'<table id="effects">(.*?)</table>', dom, re.S).group(1)
    body = table.split("<tbody>")[1]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


@needs_browser
def test_in_a_browser_the_effects_table_has_a_row_per_effect_and_sorts(report, tmp_path):
    effects = pd.read_csv(report / "effects.csv")
    dom = _browser(tmp_path, report / "report.html", "--dump-dom").stdout
    assert len(_effects_rows(dom)) == len(effects) == 4
    assert not re.search(r"""(src|href)="(https?:)?//""", dom)  # nor did the script add one
    for order, expected in (("", sorted(effects["mean"])), (":desc", sorted(effects["mean"], reverse=True))):
        dom = _browser(tmp_path, report / "report.html", "--dump-dom", fragment=f"#sort=effects:Δ (points){order}").stdout
        shown = [float(row[4].replace("−", "-")) for row in _effects_rows(dom)]
        assert shown == pytest.approx([round(v, 2) for v in expected], abs=0.006), (order, shown)


@needs_browser
@pytest.mark.parametrize("element", ["runs", "parallel", "fig-curves", "fig-seeds", "fig-effects", "fig-heatmap"])
def test_in_a_browser_each_figure_renders(report, tmp_path, element):
    from PIL import Image

    shot = tmp_path / f"{element}.png"
    _browser(tmp_path, report / "report.html", f"--screenshot={shot}", "--window-size=1000,900", fragment=f"#only={element}")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    inked = (pixels < 200).mean()  # the figure alone on the page: lines, points, text
    assert 0.005 < inked < 0.9 and pixels.std() > 10, (element, inked, pixels.std())


def test_every_table_is_named_after_its_section_and_the_runs_axis_holds_every_point(report):
    page = (report / "report.html").read_text()
    assert re.findall(r'<table id="([^"]+)"', page)[:3] == ["effects", "results", "the-search"]
    svg = re.search(r'<svg class="runs" id="runs".*?</svg>', page, re.S).group(0)
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', svg)]
    shown = 100 * pd.read_parquet(report / "runs.parquet")["max_valid_acc"].dropna()
    assert ticks[0] <= shown.min() and ticks[-1] >= shown.max(), (ticks, shown.min(), shown.max())  # an axis ends on a tick past the points
    # the first cell's label, at 30°, reaches about 5 px a character left of its column: inside the figure
    x, label = re.search(r'<text transform="translate\(([\d.]+),[\d.]+\) rotate\(-30\)"[^>]*>([^<]+)</text>', svg).groups()
    assert float(x) >= 5 * len(label) * math.cos(math.radians(30)), (x, label)


@needs_browser
def test_a_sort_link_naming_no_table_or_column_says_so_on_the_page(report, tmp_path):
    dom = _browser(tmp_path, report / "report.html", "--dump-dom", fragment="#sort=effects:Δ (pionts)").stdout
    assert re.search(r'<p class="notice">#sort: table "effects" has no column "Δ \(pionts\)"; its columns: [^<]*Δ \(points\)', dom), dom[:2000]
    dom = _browser(tmp_path, report / "report.html", "--dump-dom", fragment="#sort=efects:cell").stdout
    assert '<p class="notice">#sort: no table "efects"; the tables: effects, results' in dom


def test_hovering_a_point_names_its_run(report):
    page = (report / "report.html").read_text()
    svg = re.search(r'<svg class="runs" id="runs".*?</svg>', page, re.S).group(0)
    runs = pd.read_parquet(report / "runs.parquet")
    titles = re.findall(r"<circle[^>]*><title>([^<]+)</title>", svg)
    assert len(titles) == len(runs) and all(t.split(":")[0] in set(runs["trial_id"]) for t in titles)
    lines = re.findall(r"<polyline[^>]*><title>([^<]+)</title>", page)  # parallel coordinates: a line per run
    assert len(lines) == len(runs) and "activation=selu, se=True" in " ".join(lines)


def test_a_sweep_of_grids_that_set_different_axes_gets_every_table_figure_and_page(tmp_path):
    # The shape of sweeps/paper.yaml: an axis set in some grids only (image_size), a text value
    # beside numbers (lr "auto"-like: here a model name axis), and a grid of one cell.
    from se_train.bench.report import fake_experiment

    grids = [{"model": ["simple_cnn"], "activation": ["relu", "selu"], "se": [False, True], "seed": [0, 1]},
             {"model": ["simple_cnn"], "activation": ["relu", "selu"], "se": [False, True], "seed": [0, 1], "image_size": [16]},
             {"model": ["resnet50"], "activation": ["relu"], "se": [False], "seed": [0], "image_size": [24]}]
    fake_experiment(tmp_path / "paper", grids, 3, np.random.default_rng(0))
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "paper"), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert '<svg class="runs" id="parallel"' in page and ">default<" in page  # the grid without image_size: its own level
    for name in ("summary.md", "table.md", "table.tex", "effects.csv", "pairs.csv", "curves.png", "heatmap.png", "effects.png"):
        assert (out / name).is_file(), name
    effects = pd.read_csv(out / "effects.csv")
    assert len(effects) == 8  # SE and SELU, each in both grids that vary them, per image size


PAYLOADS = ['m"><img src=x onerror=alert(1)>', "<script>document.body.setAttribute('data-pwned', '1')</script>",
            "<svg onload=alert(2)>", '" onmouseover="alert(3)" x="', "a|b\\c", "[link](javascript:alert(4))"]


@needs_browser
def test_names_from_plugins_and_options_show_as_text_and_run_nothing_in_a_browser(tmp_path):
    # A plugin model named with a payload, with a text option whose values are the others: each
    # reaches the tables, the effects, the figures' tooltips. In a real browser: no injected
    # element, no dialog (one would hang --dump-dom until its timeout), every name shown as text.
    import html

    from se_train.bench.report import fake_experiment

    plugin = tmp_path / "payload_models.py"
    plugin.write_text(
        "from torch import nn\nfrom se_train.models import register_model\n\n\n"
        f"@register_model(name={PAYLOADS[0]!r}, se=True)\n"
        "def payload(*, num_classes: int, input_shape: tuple, act_layer: type, se: bool, note: str = 'x') -> nn.Module:\n"
        "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n")
    grid = {"model": [PAYLOADS[0]], "activation": ["relu", "selu"], "se": [False, True], "note": PAYLOADS[1:], "seed": [0, 1]}
    fake_experiment(tmp_path / "names", grid, 2, np.random.default_rng(1), plugins=[str(plugin)])
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "names"), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert page.count("<script") == 1 and "Content-Security-Policy" in page
    dom = _browser(tmp_path, out / "report.html", "--dump-dom").stdout
    tags = _tags(dom)
    assert [t for t, _ in tags].count("script") == 1 and not [a for t, a in tags if t == "body" and a]  # no script ran or was added
    assert not [(t, a) for t, a in tags if any(name.startswith("on") for name in a)]  # no event handler
    assert not [a for t, a in tags if t == "img" and not a.get("src", "").startswith("data:image/png")]
    assert not [a for t, a in tags if "javascript:" in a.get("href", "")] and "a" not in {t for t, _ in tags}
    for payload in PAYLOADS:  # each shown, as text, in the effects or results tables
        assert html.escape(payload, quote=False) in dom, payload
    summary = (out / "summary.md").read_text()
    assert "a\\|b\\\\c" in summary  # one table cell in summary.md too


def _tags(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every element of a page and its attributes, as a browser's DOM dump has them."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {k: v or "" for k, v in attrs}))

    Collect().feed(page)
    return found
