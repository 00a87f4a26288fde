"""`se-sweep report` on a real experiment folder (made by a real sweep with diverged trials):
numbers equal those recomputed from the raw per-trial files, every output is written, and bad
paths give clear errors."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from se_train.cli import main
from se_train.commands import TRIAL_ERRORED, _finished
from se_train.errors import UserError
from se_train.report import tables
from se_train.report.collect import Experiment, collect
from se_train.report.effects import effects
from se_train.report.summary import write_report
from se_train.trial_status import hms

OUTPUTS = [
    "summary.md", "table.md", "table.tex", "table.csv", "runs.parquet", "runs.csv", "epochs.parquet", "epochs.csv",
    "effects.csv", "curves.png", "curves.pdf", "heatmap.png", "heatmap.pdf", "effects.png", "effects.pdf",
]


@pytest.fixture(scope="module")
def report(diverging_experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    notes = out.parent / "notes.md"
    notes.write_text("Our reading: lr 1e6 is a divergence test, not a setting.\n")
    assert main(["report", str(diverging_experiment), "--out", str(out), "--notes", str(notes), "--pdf"]) == 0
    return out


def _raw_progress(experiment):
    """Each trial's result.json (Tune's log of every report), read directly: the independent source
    for the checks."""
    rows = {}
    for p in experiment.glob("*/result.json"):
        params = json.loads((p.parent / "params.json").read_text())
        rows[(params["activation"], params["lr"])] = pd.DataFrame([json.loads(line) for line in p.read_text().splitlines() if line.strip()])
    return rows


def test_every_output_is_written(report):
    for name in OUTPUTS:
        assert (report / name).stat().st_size > 0, name


def test_the_python_api_opens_the_experiment_as_the_report_wrote_it(diverging_experiment, report):
    import se_train

    opened = se_train.load(str(diverging_experiment))
    assert opened.record.name == "div" and opened.record.experiment == str(diverging_experiment)
    same = lambda frame: frame.reset_index(drop=True).astype(object).where(frame.reset_index(drop=True).notna(), None)  # noqa: E731 - Parquet gives back None for NaN
    for name, frame in (("runs.parquet", opened.runs), ("epochs.parquet", opened.epochs)):
        pd.testing.assert_frame_equal(same(frame), same(pd.read_parquet(report / name)), check_dtype=False)


def test_runs_table_matches_the_raw_progress_files(diverging_experiment, report):
    runs = pd.read_parquet(report / "runs.parquet")
    raw = _raw_progress(diverging_experiment)
    assert len(runs) == 4
    for r in runs.itertuples():
        progress = raw[(r.activation, r.lr)]
        if r.lr == 1e6:
            assert r.status == "diverged" and r.diverged_epoch == 1 and math.isnan(r.max_valid_acc)
        else:
            assert r.status == "completed" and r.epochs_done == 2
            assert r.max_valid_acc == pytest.approx(progress["valid_acc"].max())
            assert r.min_train_loss == pytest.approx(progress["train_loss"].min())
            assert r.best_epoch == int(progress.loc[progress["valid_acc"].idxmax(), "epoch"])
            # digits has a test split: the final model is scored on it once, in the last epoch
            assert r.test_acc == pytest.approx(progress["test_acc"].iloc[-1])
            assert progress["test_acc"].iloc[:-1].isna().all() and 0.1 < r.test_acc <= 1
            assert r.train_time_s == pytest.approx(progress["epoch_time_s"].sum())
    epochs = pd.read_parquet(report / "epochs.parquet")
    assert len(epochs) == sum(len(df) for df in raw.values())


def test_study_table_rows_keep_settings_apart(diverging_experiment, report):
    raw = _raw_progress(diverging_experiment)
    table = pd.read_csv(report / "table.csv")
    # lr is a grid axis: its runs are two rows, never averaged together as if they were seeds.
    rows = {(r.lr, r.activation): dict(zip(table.columns, r)) for r in table.itertuples(index=False)}
    assert sorted(rows) == [(1e-3, "relu"), (1e-3, "selu"), (1e6, "relu"), (1e6, "selu")]
    for act in ("relu", "selu"):
        progress = raw[(act, 1e-3)]
        assert rows[(1e-3, act)]["acc % valid"] == f"{progress['valid_acc'].max() * 100:.2f}"
        assert rows[(1e-3, act)]["acc % test"] == f"{progress['test_acc'].iloc[-1] * 100:.2f}"
        assert rows[(1e6, act)]["acc % valid"] == "diverged @ epoch 1"
    assert "nan" not in (report / "table.md").read_text().lower()
    assert all(r["device"] == "cpu fp32" for r in rows.values())  # auto, on a CPU
    assert all(line.count("|") - 1 <= 12 for line in (report / "table.md").read_text().splitlines())  # a page wide
    summary = (report / "summary.md").read_text()
    assert "diverged at epoch 1" in summary and "last finite loss" in summary
    assert "; precision: fp32" in summary
    assert "one seed: no interval" in summary  # a single run is not evidence


def test_summary_has_the_sweep_wall_time_and_the_notes(diverging_experiment, report):
    from datetime import datetime

    started = datetime.fromisoformat(json.loads((diverging_experiment / "sweep.json").read_text())["started"])
    last = max(df["timestamp"].max() for df in _raw_progress(diverging_experiment).values())
    summary = (report / "summary.md").read_text()
    assert f"- wall time: {hms(last - started.timestamp())} from the start" in summary
    assert summary.rstrip().endswith("## Discussion\n\nOur reading: lr 1e6 is a divergence test, not a setting.")


def test_a_cell_with_some_seeds_diverged_names_them():
    group = pd.DataFrame(
        {"status": ["completed", "diverged", "completed"], "diverged_epoch": [None, 3, None], "max_valid_acc": [0.9, math.nan, 0.92]}
    )
    assert tables.seeds_cell(group, "max_valid_acc", percent=True) == "91.00 ± 1.41 (2); 1/3 diverged @ epoch 3"


def _fixed_seeds(runs: pd.DataFrame, axes: list[str]) -> Experiment:
    """`runs` as one experiment of a sweep whose grid lists its seeds."""
    spec = {"name": "e", "grid": {"model": ["simple_cnn"], "dataset": ["d"], "activation": ["relu"], "se": [False]}}
    from se_train.experiment import SweepRecord

    record = SweepRecord.model_validate({"experiment": "e", "spec": spec, "sweep_file": "e.yaml"})
    return Experiment([record], axes, pd.DataFrame(), runs.assign(experiment="e"), [])


def test_a_fixed_seed_sweeps_effect_is_the_paired_t_interval():
    accs = {0: (0.90, 0.92), 1: (0.91, 0.935), 2: (0.89, 0.905)}  # seed: (relu, selu)
    runs = pd.DataFrame(
        [
            {"model": "m", "dataset": "d", "se": False, "seed": s, "activation": act, "status": "completed", "max_valid_acc": acc}
            for s, pair in accs.items()
            for act, acc in zip(("relu", "selu"), pair)
        ]
    )
    eff, methods, pairs = effects(_fixed_seeds(runs, ["model", "dataset", "activation", "se", "seed"]))
    (selu,) = eff[eff["effect"] == "SELU - ReLU"].itertuples()
    diffs = np.array([2.0, 2.5, 1.5])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert selu.n == 3 and selu.mean == pytest.approx(2.0)
    assert (selu.ci_low, selu.ci_high) == pytest.approx((2.0 - half, 2.0 + half))
    assert selu.verdict == "better" and selu.method == "fixed n, t-interval 95%" and not selu.adaptive
    assert len(methods) == 1 and "Student t interval at 95% per effect" in methods[0]
    # the pairs it rests on, exported: one row per seed, the difference in points
    assert list(pairs["seed"]) == [0, 1, 2] and list(pairs["difference"]) == pytest.approx(list(diffs))
    assert selu.sd == pytest.approx(diffs.std(ddof=1))


def test_runs_of_a_grid_without_an_axis_keep_their_rows(tmp_path):
    # paper.yaml sets image_size only on its CIFAR grid: the MNIST runs have it NaN.
    from se_train.report import plots

    runs = pd.DataFrame(
        [
            {"trial_id": f"{d}{s}{act}", "model": "m", "dataset": d, "se": False, "seed": s, "activation": act,
             "image_size": size, "status": "completed", "max_valid_acc": 0.9 + 0.01 * s + (act == "selu") * 0.02,
             "min_train_loss": 0.1, "min_valid_loss": 0.1, "max_train_acc": 0.9, "test_acc": 0.9,
             "train_time_s": 1.0, "device": "cpu", "precision": "fp32", "epochs_done": 1, "diverged_epoch": None}
            for d, size in (("mnist", None), ("cifar10", 128))
            for s in (0, 1)
            for act in ("relu", "selu")
        ]
    )
    epochs = runs[["trial_id", "model", "dataset", "se", "seed", "activation", "image_size"]].assign(
        epoch=1, diverged=False, train_loss=0.5, valid_loss=0.5, train_acc=0.9, valid_acc=0.9
    )
    axes = ["model", "dataset", "activation", "se", "seed", "image_size"]
    table = tables.study_table(runs, axes)
    assert sorted(set(table["dataset"])) == ["cifar10", "mnist"]
    eff, _, _ = effects(_fixed_seeds(runs, axes))
    assert sorted(eff.loc[eff["effect"] == "SELU - ReLU", "dataset"]) == ["cifar10", "mnist"]
    assert all(eff["n"] == 2)
    (png,), best_only = plots.curves(epochs, runs, axes, tmp_path)
    height = plt.imread(png).shape[0]  # one row of panels (2.6 in at 150 dpi) per dataset, not one
    assert height > 1.5 * 2.6 * 150 and not best_only
    assert not list(tmp_path.glob("*.pdf"))  # PDFs only with --pdf
    assert tables.row_title({"model": "m", "dataset": "mnist", "se": False, "image_size": math.nan}) == "m / mnist, image_size=default"


def test_hundreds_of_settings_draw_each_model_dataset_se_at_its_best_setting(tmp_path):
    from se_train.report import plots

    lrs = [10.0 ** -k for k in range(plots.MAX_CURVE_ROWS + 1)]  # one panel row per lr would be too many
    runs = pd.DataFrame([
        {"trial_id": f"{lr}{s}{act}", "model": "m", "dataset": "d", "se": False, "lr": lr, "seed": s, "activation": act,
         "status": "completed", "max_valid_acc": 0.9 - abs(lr - 1e-3)}
        for lr in lrs for s in (0, 1) for act in ("relu", "selu")
    ])
    epochs = runs[["trial_id", "model", "dataset", "se", "lr", "seed", "activation"]].assign(
        epoch=1, diverged=False, train_loss=0.5, valid_loss=0.5, train_acc=0.9, valid_acc=0.9)
    axes = ["model", "dataset", "activation", "se", "seed", "lr"]
    drawn = plots._best_settings(epochs, runs, tables.row_keys(axes))
    assert set(drawn["lr"]) == {1e-3} and len(drawn) == 4  # the best lr, both activations, both seeds
    (png,), best_only = plots.curves(epochs, runs, axes, tmp_path)
    assert best_only and plt.imread(png).shape[0] < 2 * 2.6 * 150  # one row of panels, not 13


def test_a_result_line_cut_by_a_kill_is_left_out_and_said(diverging_experiment, tmp_path):
    import shutil

    experiment = tmp_path / "div"
    shutil.copytree(diverging_experiment, experiment)
    result = next(p for p in sorted(experiment.glob("*/result.json")) if len(p.read_text().splitlines()) == 2)
    text = result.read_text()
    result.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # the second epoch's line, half written
    exp = collect(str(experiment))
    assert len(exp.epochs) == 4 + 2 - 1  # 2 trials x 2 epochs + 2 diverged trials x 1, less the cut line
    assert len(exp.notes) == 1 and f"{result.parent.name}/result.json: its last line is incomplete" in exp.notes[0]
    out = write_report([str(experiment)], tmp_path / "out", None)
    assert "- left out: " + exp.notes[0] in (out / "summary.md").read_text()


def test_a_sweep_whose_every_trial_errored_is_reported_with_its_errors(tmp_path, ray_cluster, monkeypatch, capsys):
    # A shard damaged after the checks before Ray (on shared storage, mid-sweep): the trials fail
    # reading it, and the report lists them instead of refusing.
    from se_train.data.manifest import load_manifest
    from se_train.data.prepare import prepare
    from se_train.sweep import checks
    from tests.helpers import run_with_hang_guard, sweep_file

    path = sweep_file(tmp_path, "broken", {"activation": ["relu", "selu"]}, resources={"max_failures": 0})
    shard = prepare("digits", tmp_path / "data") / "train" / "part-00000.parquet"
    shard.write_bytes(b"not parquet")
    manifests = {"digits": load_manifest(shard.parent.parent)}  # what the skipped checks would have read
    monkeypatch.setattr(checks, "ready_datasets", lambda *a: manifests)
    experiment = run_with_hang_guard(path)
    out = write_report([str(experiment)], tmp_path / "out")
    summary = (out / "summary.md").read_text()
    assert "- trials: 2 — 2 errored" in summary and "No trial has reported an epoch" in summary
    errors = [l for l in summary.splitlines() if "): errored: " in l]
    assert len(errors) == 2 and all(f"{shard}: 11 bytes, manifest says" in l for l in errors)
    assert pd.read_csv(out / "runs.csv")["status"].tolist() == ["errored", "errored"]
    # What `run` and `resume` end with: a scheduler (a RayJob, `ray job submit`) reads the status.
    capsys.readouterr()
    assert _finished(str(experiment)) == TRIAL_ERRORED == 1
    err = capsys.readouterr().err
    assert err.startswith("se-sweep: 2 trial(s) ended in error: ") and err.count("\n") == 1
    assert "simple_cnn digits relu s0" in err and "simple_cnn digits selu s0" in err and f"se-sweep resume {experiment}" in err


def test_a_sweep_with_diverged_trials_exits_zero(diverging_experiment, capsys):
    # Divergence is a result of the sweep, not a failure of it.
    assert _finished(str(diverging_experiment)) == 0
    assert capsys.readouterr().out.endswith(f"next: se-sweep report {diverging_experiment}\n")


def test_missing_notes_file_is_named(diverging_experiment, tmp_path):
    with pytest.raises(UserError, match="nope.md: no such notes file"):
        write_report([str(diverging_experiment)], tmp_path / "out", tmp_path / "nope.md")


def test_not_an_experiment_and_empty_experiment_are_clear_errors(tmp_path, capsys):
    with pytest.raises(UserError, match="not an se-sweep experiment"):
        collect(str(tmp_path))
    assert main(["report", str(tmp_path)]) == 2
    assert "neither an se-sweep experiment (no sweep.json) nor a report's folder (no runs.parquet)" in capsys.readouterr().err
    (tmp_path / "sweep.json").write_text(json.dumps({"spec": {"name": "e", "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}}, "sweep_file": "e.yaml"}))
    with pytest.raises(UserError, match="has no trials yet"):
        write_report([str(tmp_path)], tmp_path / "out")
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert "nothing-here: no such folder" in capsys.readouterr().err


def test_the_report_imports_no_ray():
    # `se-sweep report` runs where the cluster is gone; importing Ray Tune/Train cost it 7 s.
    import subprocess
    import sys

    code = "import sys, se_train.report.summary, se_train.report.status, se_train.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imported(node) -> list[str]:
    """The modules an import statement names: `from x import y` and `import x, z` alike."""
    import ast

    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names] if isinstance(node, ast.Import) else []


def test_sweep_and_report_do_not_import_each_other():
    # One way down: what both need (a trial's outcome, its line in the view) is in trial_status.
    import ast
    from pathlib import Path

    import se_train

    root = Path(se_train.__file__).parent
    crossing = [
        f"{f.relative_to(root)} imports {module}"
        for pkg, other in (("report", "se_train.sweep"), ("sweep", "se_train.report"))
        for f in sorted((root / pkg).glob("*.py"))
        for node in ast.walk(ast.parse(f.read_text()))
        for module in _imported(node)
        if module.startswith(other)
    ]
    assert crossing == []


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_status_lists_every_trial_from_the_folder(diverging_experiment, capsys, as_uri):
    path = f"file://{diverging_experiment}" if as_uri else str(diverging_experiment)
    assert main(["status", path]) == 0
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.startswith("simple_cnn digits")]
    assert len(lines) == 4
    assert sum(l.endswith("diverged @ 1") for l in lines) == 2 and sum(re.search(r" 2/2 .* done$", l) is not None for l in lines) == 2
    assert "4 trials: " in out and "resume would rerun nothing" in out


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base; CI installs it)")
def test_table_tex_compiles_with_pdflatex(tmp_path):
    # The committed MNIST report's table: simple_cnn, study_selu, acc %, ± and – in its cells.
    out = write_report([str(Path(__file__).parent.parent / "results" / "mnist")], tmp_path / "report")
    table = (out / "table.tex").read_text()
    assert r"simple\_cnn" in table and r"acc \% valid" in table
    # booktabs where TeX has it (a paper's setup), plain rules with texlive-latex-base alone.
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage[utf8]{inputenc}\n"
        "\\IfFileExists{booktabs.sty}{\\usepackage{booktabs}}{\\let\\toprule\\hline\\let\\midrule\\hline\\let\\bottomrule\\hline}\n"
        "\\begin{document}\\tiny\n\\input{" + str(out / "table.tex") + "}\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000


def test_heatmap_numbers_are_dark_on_light_cells_and_light_on_dark_ones():
    from matplotlib import colormaps

    from se_train.report import plots

    viridis = colormaps["viridis"]
    assert plots.text_color(viridis(1.0)) == "black"  # yellow: the study's best cells
    assert plots.text_color(viridis(0.0)) == "white"  # dark purple
    assert plots.text_color((1, 1, 1, 1)) == "black"  # a blank cell's "diverged"


def test_each_effect_says_in_how_many_seeds_the_treated_run_was_ahead():
    from se_train.decide import paired, probability_of_improvement as _p_improvement
    from se_train.rule import Rule

    # treated 3, 1, 5 against control 2, 2, 0: ahead in seeds 0 and 2; of the 9 pairs of runs,
    # treated wins 3>2, 3>2, 3>0, 1>0, 5>2, 5>2, 5>0 = 7 (rliable's probability of improvement)
    assert _p_improvement([(3, 2), (1, 2), (5, 0)]) == pytest.approx(7 / 9)
    assert _p_improvement([(1, 1)]) == 0.5 and math.isnan(_p_improvement([]))
    # the seeds a grid lists, whatever their numbers; a pair with a diverged run left out
    assert paired({5: 3.0, 6: 1.0, 7: None}, {5: 2.0, 6: 2.0, 7: 1.0}, Rule.fixed_n()) == [(3.0, 2.0), (1.0, 2.0)]


def test_a_trials_name_adds_the_axes_that_tell_it_apart():
    from se_train.sweep_file import parse_sweep
    from se_train.cell import name as cell_name
    from se_train.trial_status import named_fields

    cell = {"dataset": ["digits"], "activation": ["relu"], "se": [False]}
    # epochs differ by model only (as in sweeps/smoke.yaml): the model tells those trials apart
    grids = [{"model": ["simple_cnn"], "epochs": [3], "lr": [1e-3, 3e-4], "inputs": ["standard", "raw"], **cell},
             {"model": ["resnet50"], "epochs": [1], "lr": [1e-3], "inputs": ["standard"], **cell}]
    spec = parse_sweep({"name": "n", "grid": grids}, "n.yaml")
    assert named_fields(spec) == ("lr", "inputs")
    assert named_fields(spec, searched=("weight_decay",)) == ("lr", "inputs", "weight_decay")
    assert cell_name(spec.cells()[1], named_fields(spec)) == "simple_cnn digits relu s0 lr=0.001 inputs=raw"



def test_a_study_decides_each_effect_by_the_rule_of_the_sweep_that_asked_it_in_every_order():
    # Three sweeps sharing one cell (simple_cnn, relu, no SE, lr 1e-3), as researchers share a
    # baseline: A asks SE on/off under anytime, B asks lr 1e-3 against 1e-4 under sign-flip, C
    # lists its seeds for the same SE question. Every order of the three gives one effects table.
    import itertools
    from datetime import datetime, timezone

    from se_train.experiment import SweepRecord

    def record(name: str, grid: dict, day: int, **extra) -> SweepRecord:
        spec = {"name": name, "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], **grid}, **extra}
        return SweepRecord.model_validate({"experiment": name, "spec": spec, "sweep_file": f"{name}.yaml",
                                           "started": datetime(2026, 12, day, tzinfo=timezone.utc), "datasets": {"digits": {"valid": 300}}})

    a = record("a", {"se": [False, True], "lr": [1e-3]}, 1, seeds={"start": 3, "max": 12, "margin": 0.5, "method": "anytime"})
    b = record("b", {"se": [False], "lr": [1e-3, 1e-4]}, 2, seeds={"start": 3, "max": 12, "margin": 0.5, "method": "sign-flip"},
               compare=[{"axis": "lr", "treated": 1e-4, "control": 1e-3}])
    c = record("c", {"se": [False, True], "lr": [1e-3], "seed": [0, 1, 2, 3, 4]}, 3)
    rng = np.random.default_rng(4)
    runs = pd.DataFrame([
        {"experiment": e, "model": "simple_cnn", "dataset": "digits", "activation": "relu", "se": se, "lr": lr, "seed": s,
         "status": "completed", "max_valid_acc": round(0.9 + (lr == 1e-3) * 0.05 + se * 0.004 + rng.normal(0, 0.005), 3)}
        for e, cells, seeds in (("a", [(False, 1e-3), (True, 1e-3)], 12), ("b", [(False, 1e-3), (False, 1e-4)], 12),
                                ("c", [(False, 1e-3), (True, 1e-3)], 5))
        for se, lr in cells for s in range(seeds)])
    axes = ["model", "dataset", "activation", "se", "lr", "seed"]
    tables = []
    for order in itertools.permutations([a, b, c]):
        names = [r.experiment for r in order]
        rows = pd.concat([runs[runs["experiment"] == n] for n in names], ignore_index=True)
        eff, _, pairs = effects(Experiment(list(order), axes, pd.DataFrame(), rows, []))
        tables.append((eff.drop(columns="looks").sort_values(["effect", "cell"]).reset_index(drop=True), pairs))
    for eff, pairs in tables[1:]:
        pd.testing.assert_frame_equal(eff, tables[0][0])
        pd.testing.assert_frame_equal(pairs, tables[0][1])
    eff = tables[0][0]
    lr = eff[eff["effect"].str.startswith("lr")].iloc[0]
    assert lr["method"].startswith("sign-flip") and lr["decided_by"] == "b"  # B's own question, B's own rule
    se = eff[eff["effect"] == "SE - no SE"].iloc[0]
    # A and C both asked it; A's adaptive rule chose its seeds, so A decides, and the report says why
    assert se["method"].startswith("anytime") and se["decided_by"].startswith("a; also asked by c")
    assert eff["step"].eq(100 / 300).all()  # from the records' 300 valid images


def test_a_comparison_of_models_names_both_in_the_model_column_and_listed_seeds_end_inconclusive():
    from se_train.experiment import SweepRecord

    grid = {"model": ["simple_cnn", "resnet50"], "dataset": ["d"], "activation": ["relu"], "se": [False], "seed": [0, 1, 2]}
    spec = {"name": "e", "grid": grid, "compare": [{"axis": "model", "treated": "resnet50", "control": "simple_cnn"}]}
    record = SweepRecord.model_validate({"experiment": "e", "spec": spec, "sweep_file": "e.yaml"})
    runs = pd.DataFrame([{"model": m, "dataset": "d", "activation": "relu", "se": False, "seed": s, "status": "completed",
                          "max_valid_acc": acc} for m, accs in (("simple_cnn", (0.90, 0.91, 0.92)), ("resnet50", (0.91, 0.90, 0.925)))
                         for s, acc in enumerate(accs)]).assign(experiment="e")
    eff, methods, pairs = effects(Experiment([record], ["model", "dataset", "activation", "se", "seed"], pd.DataFrame(), runs, []))
    (row,) = eff.itertuples()
    assert (row.model, row.dataset, row.verdict) == ("resnet50 vs simple_cnn", "d", "inconclusive")  # no max: not "unresolved at max"
    assert set(pairs["model"]) == {"resnet50 vs simple_cnn"} and "inconclusive otherwise" in methods[0]
