"""`se-sweep report`: write the tidy tables, the study's table, effects, plots and summary.md."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from se_train import storage
from se_train.errors import UserError
from se_train.mlflow_runs import INCOMPLETE_TAG, attach_report, check_server, read_gaps
from se_train.report import plots, tables
from se_train.report.collect import collect
from se_train.trial_status import STATUSES, hms


def write_report(experiment: str, out: Path | None = None, notes: Path | None = None, mlflow: str | None = None) -> Path:
    """Read `experiment` and write the report into `out` (default results/<sweep name>/). `notes`:
    the researcher's own discussion (markdown), kept in summary.md under "Discussion" so the
    numbers and their reading travel together and a rerun of the report keeps both. `mlflow`: a
    tracking URI whose parent run of this sweep gets the report as artifacts."""
    if notes is not None and not notes.is_file():
        raise UserError(f"{notes}: no such notes file")
    if mlflow:
        check_server(mlflow, "--mlflow")
    exp = collect(experiment)
    name = exp.meta["spec"]["name"]
    out = out or Path("results") / name
    out.mkdir(parents=True, exist_ok=True)

    exp.epochs.to_parquet(out / "epochs.parquet")
    exp.epochs.to_csv(out / "epochs.csv", index=False)
    exp.runs.to_parquet(out / "runs.parquet")
    exp.runs.to_csv(out / "runs.csv", index=False)
    counts = exp.runs["status"].value_counts()
    meta = exp.meta
    hardware = meta.get("hardware", {})
    lines = [
        f"# Sweep `{name}`",
        "",
        f"- command: `{meta.get('command') or 'se-sweep run ' + meta.get('sweep_file', '')}`",
        f"- started: {meta.get('started', '?')}; report written {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- hardware: {hardware.get('description', 'not recorded')}; trial devices: {', '.join(sorted(set(exp.runs['device'].dropna()))) or '?'}; precision: {', '.join(sorted(set(exp.runs['precision'].dropna()))) or 'not recorded'}",
        f"- wall time: {_wall_time(meta, exp)} from the start to the last reported epoch (a pause before a resume included)",
        f"- trials: {len(exp.runs)} — " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s, 0)),
        f"- report: `se-sweep report {meta.get('experiment', experiment)}`",
        *(f"- left out: {note}" for note in exp.notes),
        *_mlflow_gaps(exp, storage.normalize(experiment)),
        "",
    ]
    if exp.epochs.empty:
        # Every trial failed (or none has run yet): what went wrong is the report.
        lines += ["No trial has reported an epoch: there are no results to tabulate.", ""]
    else:
        lines += _results(exp, out)
    bad = exp.runs[exp.runs["status"].isin(["diverged", "errored"])]
    lines += ["## Diverged and errored trials", ""]
    if bad.empty:
        lines.append("None.")
    for r in bad.itertuples(index=False):
        cell = ", ".join(f"{a}={getattr(r, a)}" for a in exp.axes)
        if r.status == "diverged":
            lines.append(
                f"- `{r.trial_id}` ({cell}): diverged at epoch {int(r.diverged_epoch)}, step {int(r.diverged_step)}; "
                f"last finite loss {r.last_finite_loss:.4g}, gradient norm {r.grad_norm:.4g}"
            )
        else:
            lines.append(f"- `{r.trial_id}` ({cell}): errored: {r.error}")
    if notes is not None:
        lines += ["", "## Discussion", "", notes.read_text().strip()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    if mlflow:
        tracked = meta.get("tracking") or {}
        attach_report(mlflow, tracked.get("experiment") or name, meta.get("experiment", experiment), name, out)
    return out


def _results(exp, out: Path) -> list[str]:
    """The study's table, effects and plots (files in `out`), and their part of summary.md."""
    table = tables.study_table(exp.runs, exp.axes)
    (out / "table.md").write_text(tables.to_markdown(table) + "\n")
    (out / "table.tex").write_text(tables.to_latex(table))
    flat = table.copy()
    flat.columns = tables.flat_columns(table)
    flat.to_csv(out / "table.csv", index=False)
    eff = tables.effects(exp.runs, exp.axes)
    eff.to_csv(out / "effects.csv", index=False)
    plots.curves(exp.epochs, exp.runs, exp.axes, out)
    plots.heatmap(exp.runs, exp.axes, out)
    has_effects = bool(plots.effects_plot(eff, out))
    lines = [
        "## Results (min loss / max accuracy over epochs; mean ± std (n) over seeds)",
        "",
        tables.to_markdown(table),
        "",
        "Time is the mean training time per run (evaluation excluded).",
        "",
        "## Effects on best valid accuracy, paired by seed",
        "",
        tables.effects_markdown(eff),
        "",
        "## Plots",
        "",
        "![training curves](curves.png)",
        "",
        "![valid accuracy heatmap](heatmap.png)",
        "",
    ]
    if has_effects:
        lines += ["![effects](effects.png)", ""]
    return lines


def _mlflow_gaps(exp, experiment: str) -> list[str]:
    """The trial runs that did not reach MLflow whole, as the sweep recorded them."""
    gaps = read_gaps(experiment)
    if not gaps:
        return []
    missed = exp.runs[exp.runs["trial_id"].isin(gaps)]
    cells = ", ".join(f"`{r.trial_id}` ({', '.join(f'{a}={getattr(r, a)}' for a in exp.axes)})" for r in missed.itertuples())
    return [f"- MLflow: {len(gaps)} trial run(s) missed some results (tagged {INCOMPLETE_TAG}): {cells}"]


def _wall_time(meta: dict, exp) -> str:
    if "started" not in meta or "timestamp" not in exp.epochs:
        return "?"
    started = datetime.fromisoformat(meta["started"]).timestamp()
    return hms(exp.epochs["timestamp"].max() - started)
