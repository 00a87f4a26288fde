"""Paper figures: training curves as small multiples, a heatmap of valid accuracy over the grid,
and the effects with their 95% intervals. PNG, which summary.md embeds; PDF too when asked
(`report --pdf`): a PDF costs as much again to draw."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, MaxNLocator  # noqa: E402

from se_train.models.catalog import activation_names  # noqa: E402
from se_train.report import tables  # noqa: E402
from se_train.result import Key, Run, Outcome  # noqa: E402



def color(activation: str) -> str | None:
    """An activation's colour, the same in every figure: matplotlib's cycle in registration order
    (relu C0, selu C1, study_selu C2, a plugin's next)."""
    names = activation_names()
    return f"C{names.index(activation) % 10}" if activation in names else None
MAX_CURVE_ROWS = 12  # beyond, each model / dataset / SE is drawn at its best setting only
FEW_POINTS = 5  # a curve with fewer points than this gets markers


def _save(fig, out: Path, stem: str, pdf: bool, crop: bool = True) -> list[Path]:
    """PNG, and PDF if `pdf`. `crop`: to what was drawn (bbox_inches="tight"), which draws the
    figure once more per format; the many-panel curves are laid out once by tight_layout instead,
    which was a third of a 2,000-trial study's report time."""
    paths = [out / f"{stem}.{kind}" for kind in ("png", "pdf")[: 1 + pdf]]
    for p in paths:
        fig.savefig(p, dpi=150 if p.suffix == ".png" else "figure", bbox_inches="tight" if crop else None)
    plt.close(fig)
    return paths


def _best_settings(epochs: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The epochs of each model / dataset / SE at the setting of its other axes (lr, ...) with the
    best mean valid accuracy, all activations together: what a figure of hundreds of panels would
    have hidden. Every setting stays in the table and the heatmap."""
    score = runs.groupby(keys, dropna=False)[Run.MAX_VALID_ACC].mean().reset_index()
    best = score.loc[score.fillna({Run.MAX_VALID_ACC: -1}).groupby(tables.ROW_KEYS, dropna=False)[Run.MAX_VALID_ACC].idxmax(), keys]
    return epochs.merge(best, on=keys)


def curves(epochs: pd.DataFrame, runs: pd.DataFrame, grid_axes: list[str], out: Path, pdf: bool = False) -> tuple[list[Path], bool]:
    """One row per table row (model / dataset / SE and other settings); loss and accuracy per epoch,
    train dashed and valid solid, mean +- std over seeds; a diverged run drawn to its last finite
    epoch and marked x. Beyond MAX_CURVE_ROWS rows, each model / dataset / SE at its best setting
    only; the second value says whether that was done."""
    keys = tables.row_keys(grid_axes)
    # dropna=False: an axis that only some grids set (image_size) is NaN in the others' runs.
    best_only = epochs[keys].drop_duplicates().shape[0] > MAX_CURVE_ROWS
    if best_only:
        epochs = _best_settings(epochs, runs, keys)
    cells = [(dict(zip(keys, values)), cell) for values, cell in epochs.groupby(keys, sort=True, dropna=False)]
    fig, axes = plt.subplots(len(cells), 2, figsize=(10, 2.6 * len(cells)), squeeze=False)
    status = runs.set_index(Run.TRIAL_ID)[Run.STATUS]
    styles = {}  # one legend for the line styles, which are the same in every panel: a legend per
    # panel was most of the drawing time of a many-row figure
    for row, (key, cell) in enumerate(cells):
        ax_loss, ax_acc = axes[row]
        labelled = set()  # one legend entry per activation and epoch, however many seeds diverged
        for act, group in cell.groupby("activation"):
            finite = group[~group[Key.DIVERGED].astype(bool)]
            for split, style in (("train", "--"), ("valid", "-")):
                for ax, metric, scale in ((ax_loss, f"{split}_loss", 1), (ax_acc, f"{split}_acc", 100)):
                    agg = finite.groupby(Key.EPOCH)[metric].agg(["mean", "std"]).fillna(0) * scale
                    if agg.empty:
                        continue
                    # a marker where a line has too few points to be seen: one epoch is a dot, not nothing
                    marker = ("s" if split == "train" else "o") if len(agg) < FEW_POINTS else None
                    (line,) = ax.plot(agg.index, agg["mean"], style, color=color(act), marker=marker, ms=4)
                    styles.setdefault(f"{act} {split}", line)
                    ax.fill_between(agg.index, agg["mean"] - agg["std"], agg["mean"] + agg["std"], color=color(act), alpha=0.15)
            for trial_id in group[Run.TRIAL_ID].unique():
                if status.get(trial_id) == Outcome.DIVERGED:
                    div = group[group[Run.TRIAL_ID] == trial_id]
                    last = div[div[Key.DIVERGED].astype(bool)].iloc[-1]
                    y = last.get(Key.LAST_FINITE_LOSS)
                    y = y if y is not None and math.isfinite(y) else 0
                    label = f"{act} diverged @ epoch {int(last[Key.EPOCH])}"
                    ax_loss.plot([last[Key.EPOCH]], [y], "x", color=color(act), markersize=10, mew=2,
                                 label=None if label in labelled else label)
                    labelled.add(label)
        title = tables.row_title(key)
        ax_loss.set_title(f"{title}: loss", fontsize=8)
        ax_acc.set_title(f"{title}: accuracy", fontsize=8)
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)")
        last = int(cell[Key.EPOCH].max())
        for ax in (ax_loss, ax_acc):
            # epochs are whole: one epoch reads 1, not 0.945 ... 1.050
            ax.xaxis.set_major_locator(FixedLocator(range(1, last + 1)) if last < 10 else MaxNLocator(integer=True))
            ax.set_xlim(0.5, last + 0.5)
            ax.grid(alpha=0.3)
        if labelled:
            ax_loss.legend(fontsize=7)  # where and when runs diverged
    if styles:
        styles["band: mean ± std over seeds"] = Patch(color="grey", alpha=0.15)
        axes[0][1].legend(styles.values(), styles.keys(), fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "curves", pdf, crop=False), best_only


def text_color(rgba: tuple[float, float, float, float]) -> str:
    """Dark text on a light cell, light on a dark one, whatever the colour (by its luma, BT.601)."""
    red, green, blue, _ = rgba
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def heatmap(runs: pd.DataFrame, grid_axes: list[str], out: Path, pdf: bool = False) -> list[Path]:
    """Mean best valid accuracy (%) per model / dataset (and other settings) x activation / SE;
    diverged cells say so."""
    keys = [k for k in tables.row_keys(grid_axes) if k != "se"]
    # Titled once per row, not per run (a 2,000-run study spent a second here).
    rows = runs[keys].drop_duplicates()
    rows = rows.assign(row=[tables.row_title({**dict(zip(keys, values)), "se": False}) for values in rows.itertuples(index=False)])
    runs = runs.assign(col=runs["activation"] + runs["se"].map({True: " +SE", False: ""})).merge(rows, on=keys, how="left")
    ok = runs[runs[Run.STATUS] != Outcome.DIVERGED]
    grid = ok.pivot_table(index="row", columns="col", values=Run.MAX_VALID_ACC, aggfunc="mean") * 100
    grid = grid.reindex(index=sorted(set(runs["row"])), columns=sorted(set(runs["col"])))
    fig, ax = plt.subplots(figsize=(1.6 * len(grid.columns) + 2.5, 0.6 * len(grid.index) + 1.5))
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(grid.columns)), grid.columns)
    ax.set_yticks(range(len(grid.index)), grid.index)
    diverged = set(zip(runs.loc[runs[Run.STATUS] == Outcome.DIVERGED, "row"], runs.loc[runs[Run.STATUS] == Outcome.DIVERGED, "col"]))
    for i, r in enumerate(grid.index):
        for j, c in enumerate(grid.columns):
            v = grid.loc[r, c]
            text = "diverged" if math.isnan(v) and (r, c) in diverged else ("" if math.isnan(v) else f"{v:.1f}")
            if (r, c) in diverged and not math.isnan(v):
                text += "\n(some diverged)"
            ax.text(j, i, text, ha="center", va="center", color=text_color(im.cmap(im.norm(v)) if not math.isnan(v) else (1, 1, 1, 1)), fontsize=8)
    fig.colorbar(im, ax=ax, label="best valid accuracy (%)")
    ax.set_title("valid accuracy over the grid (mean over seeds)")
    return _save(fig, out, "heatmap", pdf)


def effects_plot(eff: pd.DataFrame, out: Path, pdf: bool = False) -> list[Path]:
    """Each effect's mean difference with its final interval (points). An effect whose interval is
    unbounded (one seed, or too few for its method) is a hollow point marked "no interval", never
    a point that looks like an estimate with a zero-width interval."""
    if eff.empty:
        return []
    bounded = (np.isfinite(eff["ci_low"]) & np.isfinite(eff["ci_high"])).to_numpy()
    labels = [f"{r.effect}: {r.model} / {r.dataset}, {r.cell} (n={r.n}{'' if b else ': no interval'})" for r, b in zip(eff.itertuples(), bounded)]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(eff) + 1.2))
    y = np.arange(len(eff))
    mean = eff["mean"].to_numpy()
    if bounded.any():
        err = [(eff["mean"] - eff["ci_low"]).to_numpy()[bounded], (eff["ci_high"] - eff["mean"]).to_numpy()[bounded]]
        ax.errorbar(mean[bounded], y[bounded], xerr=err, fmt="o", capsize=4, label="estimate and interval")
    if not bounded.all():
        ax.plot(mean[~bounded], y[~bounded], "o", mfc="none", color="grey", label="estimate, no interval")
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(list(y), labels)
    ax.set_xlabel("Δ accuracy (percentage points), interval of each effect's method")
    ax.legend(fontsize=7)
    ax.invert_yaxis()
    return _save(fig, out, "effects", pdf)


def seeds_plot(eff: pd.DataFrame, out: Path, pdf: bool = False) -> list[Path]:
    """Each effect's interval narrowing as seeds were added (one panel per effect, its looks from
    `start` to the verdict), with 0 and ±margin drawn. An interval still unbounded is drawn to
    the panel's edge, with arrows that say so."""
    if eff.empty:
        return []
    cols = min(3, len(eff))
    rows = math.ceil(len(eff) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False, sharey=True)
    finite = [v for looks in eff["looks"] for _, mean, low, high in looks for v in (low, high) if math.isfinite(v)]
    reach = max([abs(v) for v in finite] + [2 * eff["margin"].max()])
    for ax, r in zip(axes.flat, eff.itertuples()):
        seeds = [k for k, *_ in r.looks]
        low = [max(lo, -reach) if math.isfinite(lo) else -reach for _, _, lo, _ in r.looks]
        high = [min(hi, reach) if math.isfinite(hi) else reach for _, _, _, hi in r.looks]
        ax.fill_between(seeds, low, high, alpha=0.3, step="mid")
        unbounded = [k for k, _, lo, hi in r.looks if not (math.isfinite(lo) and math.isfinite(hi))]
        if unbounded:  # too few seeds to bound it: arrows off the panel, not an interval that ends at its edge
            ax.plot(unbounded, [reach] * len(unbounded), "^", color="tab:blue", ms=6, label="unbounded: too few seeds")
            ax.plot(unbounded, [-reach] * len(unbounded), "v", color="tab:blue", ms=6)
            ax.legend(fontsize=7, loc="lower right")
        ax.plot(seeds, [m for _, m, _, _ in r.looks], "o-", ms=3)
        ax.axhline(0, color="black", lw=1)
        for m in (-r.margin, r.margin):
            ax.axhline(m, color="grey", lw=1, ls="--")
        ax.set_title(f"{r.effect}: {r.verdict}\n{r.model} / {r.dataset}, {r.cell}", fontsize=8)
        ax.set_xlabel("seeds")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(eff):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("Δ (points), interval")
    fig.tight_layout()
    return _save(fig, out, "seeds", pdf)


def search_plot(chosen, out: Path, pdf: bool = False) -> list[Path]:
    """Valid accuracy of each try against the (first) searched value, one panel per cell; the
    chosen setting starred, a try that diverged or failed marked x at the panel's floor."""
    field = chosen.fields[0]
    cells = chosen.cells
    cols = min(4, len(cells))
    rows = math.ceil(len(cells) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
    log = "loguniform" in chosen.space[field]
    for ax, choice in zip(axes.flat, cells):
        tries = [t for t in choice.tries if t.valid_acc is not None and t.eligible]
        failed = [t for t in choice.tries if t not in tries]
        ax.plot([t.value(field) for t in tries], [t.valid_acc * 100 for t in tries], "o-", color="tab:blue")
        if failed:
            floor = min((t.valid_acc * 100 for t in tries), default=0)
            ax.plot([t.value(field) for t in failed], [floor] * len(failed), "x", color="tab:red", markersize=8, label="diverged / failed")
            ax.legend(fontsize=7)
        if choice.chosen:
            best = next(t for t in tries if t.value(field) == choice.chosen[field])
            ax.plot([best.value(field)], [best.valid_acc * 100], "*", color="tab:orange", markersize=14)
        if log:
            ax.set_xscale("log")
        ax.set_title(", ".join(f"{v}" if k != "se" else ("SE" if v else "no SE") for k, v in choice.cell.items()), fontsize=8)
        ax.set_xlabel(field)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("best valid accuracy (%)")
    for ax in list(axes.flat)[len(cells):]:
        ax.set_visible(False)
    return _save(fig, out, "search", pdf)
