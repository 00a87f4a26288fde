"""`se-sweep report`: write the tidy tables, the study's table, effects, plots and summary.md, for
one experiment or for a study made of many (experiments, or earlier reports)."""

from __future__ import annotations

import math
from typing import Any
from datetime import datetime, timezone
from pathlib import Path

from se_train import experiment as layout
from se_train import storage
from se_train.errors import UserError
from se_train.mlflow_runs import INCOMPLETE_TAG, attach_report, check_server
from se_train.report import markup, merge, plots, tables
from se_train.results import Results, load
from se_train.report.effects import markdown as effects_markdown
from se_train.report.html import write_html
from se_train.report.study import study_sections
from se_train.trial_status import STATUSES, elapsed, hms
from se_train.result import Key, Run, Outcome


def write_report(
    inputs: list[str], out: Path | None = None, notes: Path | None = None, mlflow: str | None = None, command: str = "", pdf: bool = False
) -> Path:
    """Read `inputs` (experiment folders or URIs, or earlier reports' folders) and write the report
    into `out` (default results/<sweep name>/, or results/study/ for many inputs). `notes`: the
    researcher's own discussion (markdown), kept in summary.md under "Discussion" so the numbers
    and their reading travel together and a rerun of the report keeps both. `mlflow`: a tracking
    URI whose parent run of this sweep gets the report as artifacts (one experiment only). `pdf`:
    each figure as a PDF too."""
    if notes is not None and not notes.is_file():
        raise UserError(f"{notes}: no such notes file")
    study = len(inputs) > 1
    if mlflow and study:
        raise UserError("--mlflow: a report goes to one sweep's parent run; give one experiment, or drop --mlflow")
    if mlflow:
        check_server(mlflow, "--mlflow")
    if out is not None:
        storage.check_folder(str(out), "--out")  # before the inputs are read: a wrong --out wastes no time
    exp = load(*inputs)  # what a notebook gets from se_train.load: the report and it never disagree
    name = "study" if study else exp.record.name
    if out is None:
        out = Path("results") / name
        storage.check_folder(str(out), "report folder")
    # Every file read before anything is written: a damaged one is refused with nothing half-made.
    location = storage.normalize(inputs[0])
    chosen, gaps = (None, {}) if study else (layout.read_chosen(location), layout.read_gaps(location))
    out.mkdir(parents=True, exist_ok=True)

    exp.epochs.to_parquet(out / layout.EPOCHS_TABLE)
    exp.epochs.to_csv(out / "epochs.csv", index=False)
    exp.runs.to_parquet(out / layout.RUNS_TABLE)
    exp.runs.to_csv(out / "runs.csv", index=False)
    (out / layout.SOURCES_FILE).write_text(layout.sources_json(exp.sweeps))  # makes `out` an input of a later report
    lines = _study_header(exp, inputs, command) if study else _sweep_header(exp, inputs[0], gaps)
    if exp.epochs.empty:
        # Every trial failed (or none has run yet): what went wrong is the report.
        lines += ["No trial has reported an epoch: there are no results to tabulate.", ""]
    else:
        lines += _results(exp, out, chosen, pdf)
        if chosen:
            lines += _search(chosen, out, pdf)
        if study:
            lines += study_sections(exp, out)
    lines += _failures(exp, study)
    if notes is not None:
        lines += ["", "## Discussion", "", notes.read_text().strip()]
    summary = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(summary)
    write_html(summary, out, exp.runs, exp.axes)
    if mlflow:
        tracked = exp.record.tracking
        attach_report(mlflow, (tracked and tracked.experiment) or name, exp.record.experiment, name, out)
    return out


def _sweep_header(exp: Results, location: str, gaps: dict[str, int]) -> list[str]:
    record = exp.record
    return [
        f"# Sweep `{record.name}`",
        "",
        f"- command: `{record.command or 'se-sweep run ' + record.sweep_file}`",
        f"- started: {_started(record)}; report written {_now()}",
        f"- hardware: {record.hardware.description if record.hardware else 'not recorded'}; {_devices_line(exp)}",
        f"- wall time: {_wall_time(record, exp)} from the start to the last reported epoch (a pause before a resume included)",
        f"- trials: {_counts(exp)}",
        f"- report: `se-sweep report {location}`",  # where this report read it: a copy's place, not the run's
        *(f"- left out: {note}" for note in exp.notes),
        *_mlflow_gaps(exp, gaps),
        "",
    ]


def _study_header(exp: Results, inputs: list[str], command: str) -> list[str]:
    lines = [
        f"# Study: {len(exp.sweeps)} experiments",
        "",
        f"- command: `{command or 'se-sweep report ' + ' '.join(inputs)}`",
        f"- report written {_now()}",
        f"- trials: {_counts(exp)}; {_devices_line(exp)}",
        "- experiments:",
    ]
    for record in exp.sweeps:
        runs = exp.runs[exp.runs[Run.EXPERIMENT] == record.experiment]
        lines.append(
            f"  - `{record.name}` ({len(runs)} trials): `{record.command or record.sweep_file}`, "
            f"started {_started(record)}, wall time {_wall_time(record, exp)}, "
            f"on {record.hardware.description if record.hardware else 'hardware not recorded'}"
        )
    lines += [f"- merge rules: {merge.RULES}", *(f"- counted once: {line}" for line in exp.repeats), *(f"- left out: {note}" for note in exp.notes), ""]
    return lines


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _counts(exp: Results) -> str:
    counts = exp.runs[Run.STATUS].value_counts()
    return f"{len(exp.runs)} — " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s, 0))


def _devices_line(exp: Results) -> str:
    devices = ", ".join(sorted(set(exp.runs[Key.DEVICE].dropna()))) or "?"
    precisions = ", ".join(sorted(set(exp.runs[Key.PRECISION].dropna()))) or "not recorded"
    return f"trial devices: {devices}; precision: {precisions}"


def _failures(exp: Results, study: bool) -> list[str]:
    bad = exp.runs[exp.runs[Run.STATUS].isin([Outcome.DIVERGED, Outcome.ERRORED])]
    lines = ["## Diverged and errored trials", ""]
    if bad.empty:
        lines.append("None.")
    for r in bad.to_dict("records"):
        cell = ", ".join(f"{a}={r[a]}" for a in exp.axes)
        where = f"`{r[Run.TRIAL_ID]}`" + (f" of `{r[Run.SWEEP]}`" if study else "")
        if r[Run.STATUS] == Outcome.DIVERGED:
            lines.append(
                f"- {where} ({cell}): diverged at epoch {_known(r[Run.DIVERGED_EPOCH], 'd')}, step {_known(r[Key.DIVERGED_STEP], 'd')}; "
                f"last finite loss {_known(r[Key.LAST_FINITE_LOSS], '.4g')}, gradient norm {_known(r[Key.GRAD_NORM], '.4g')}"
            )
        else:
            lines.append(f"- {where} ({cell}): errored: {r[Run.ERROR]}")
    return lines


def _known(value: Any, spec: str) -> str:
    """A recorded number, or "not recorded" (a run from before the key existed)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not recorded"
    return format(int(value) if spec == "d" else value, spec)


def _search(chosen: layout.Chosen, out: Path, pdf: bool) -> list[str]:
    """How each cell's setting was chosen: the protocol, every try, the plot."""
    (out / layout.CHOSEN_FILE).write_text(chosen.model_dump_json(indent=2) + "\n")  # the report's folder is an input too
    plots.search_plot(chosen, out, pdf)
    fields = chosen.fields
    lines = ["## The search: each cell at its own best", "", chosen.protocol, "",
             "| cell | " + " | ".join(f"chosen {f}" for f in fields) + " | valid acc % of each try (" + ", ".join(fields) + ") |",
             "|---|" + "---|" * (len(fields) + 1)]
    for choice in chosen.cells:
        name = ", ".join(f"{k}={v}" for k, v in choice.cell.items())
        picked = [f"{choice.chosen[f]:.3g}" if choice.chosen else "none: every try failed" for f in fields]
        tries = "; ".join(
            f"{'/'.join(f'{t.value(f):.3g}' for f in fields)}: " + (f"{t.valid_acc * 100:.2f}" if t.valid_acc is not None else "–")
            + ("" if t.eligible else f" ({', '.join(t.statuses)})")
            for t in choice.tries
        )
        lines.append(f"| {markup.text(name)} | " + " | ".join(picked) + f" | {markup.text(tries)} |")
    return [*lines, "", "![valid accuracy against the searched value](search.png)", ""]


def _results(exp: Results, out: Path, chosen: layout.Chosen | None, pdf: bool) -> list[str]:
    """The study's table, effects and plots (files in `out`), and their part of summary.md."""
    table = tables.study_table(exp.runs, exp.axes, chosen.fields if chosen else ())
    (out / "table.md").write_text(tables.to_markdown(table) + "\n")
    (out / "table.tex").write_text(tables.to_latex(table))
    table.to_csv(out / "table.csv", index=False)
    eff, methods, pairs = exp.effects, exp.methods, exp.pairs
    eff.drop(columns=["looks"]).to_csv(out / "effects.csv", index=False)
    pairs.to_parquet(out / layout.PAIRS_TABLE)  # the per-seed differences every verdict rests on
    pairs.to_csv(out / "pairs.csv", index=False)
    narrowing = plots.seeds_plot(eff[eff["adaptive"]], out, pdf)
    _, best_only = plots.curves(exp.epochs, exp.runs, exp.axes, out, pdf)
    plots.heatmap(exp.runs, exp.axes, out, pdf)
    has_effects = bool(plots.effects_plot(eff, out, pdf))
    return [
        "## Results (min loss / max accuracy over epochs; mean ± std (n) over seeds)",
        "",
        tables.to_markdown(table),
        "",
        "Time is the mean training time per run (evaluation excluded).",
        "",
        "## Effects, paired by seed",
        "",
        effects_markdown(eff),
        "",
        *(line for text in methods for line in (text, "")),
        *(["![each adaptive effect's interval against the seeds](seeds.png)", ""] if narrowing else []),
        "## Plots",
        "",
        *(["Training curves of each model / dataset / SE at its best setting (best mean valid accuracy); every setting is in "
           "the table and the heatmap.", ""] if best_only else []),
        "![training curves](curves.png)",
        "",
        "![valid accuracy heatmap](heatmap.png)",
        "",
        *(["![effects](effects.png)", ""] if has_effects else []),
    ]


def _mlflow_gaps(exp: Results, gaps: dict[str, int]) -> list[str]:
    """The trial runs that did not reach MLflow whole, as the sweep recorded them."""
    if not gaps:
        return []
    missed = exp.runs[exp.runs[Run.TRIAL_ID].isin(gaps)]
    cells = ", ".join(f"`{r.trial_id}` ({', '.join(f'{a}={getattr(r, a)}' for a in exp.axes)})" for r in missed.itertuples())
    return [f"- MLflow: {len(gaps)} trial run(s) missed some results (tagged {INCOMPLETE_TAG}): {cells}"]


def _started(record: layout.SweepRecord) -> str:
    return record.started.isoformat() if record.started else "?"


def _wall_time(record: layout.SweepRecord, exp: Results) -> str:
    """From the sweep's start to its last reported epoch, of the experiment `record` describes."""
    own = exp.epochs.loc[exp.epochs[Run.EXPERIMENT] == record.experiment, "timestamp"] if "timestamp" in exp.epochs else []
    took = elapsed(record.started, own.max() if len(own) else None)
    return "?" if took is None else hms(took)
