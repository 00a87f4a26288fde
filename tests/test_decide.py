"""The decision code of adaptive seeds (`se_train/decide.py`) against values computed by hand, and
the `seeds:` block's bad input refused in one line that names the field (no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from se_train.cli import main
from se_train.sweep_file import parse_sweep
from se_train.decide import RHO, Progress, Rule, effects_of, half_width, history, look, value_of
from se_train.errors import UserError


def mixture(diffs: list[float], m: float, rho: float = RHO) -> float:
    """M_n(m) straight from its definition: sqrt(ρ/(n+ρ)) (1 − S²/((n+ρ)V))^(−n/2)."""
    d = np.asarray(diffs) - m
    n, s, v = len(d), d.sum(), (d**2).sum()
    return math.sqrt(rho / (n + rho)) * (1 - s**2 / ((n + rho) * v)) ** (-n / 2)


def test_half_width_by_hand():
    # n = 3, sd 1, α = 0.05, ρ = 0.1: q = (sqrt(3.1 / 0.1) / 0.05)^(−2/3) = 111.355^(−2/3) = 0.043203;
    # a = 3.1 (1 − q) = 2.96607; half = sqrt(a · 2 / (9 − 3a)) = sqrt(5.93214 / 0.10179) = 7.634
    assert half_width(3, 1.0, 0.05) == pytest.approx(7.634, abs=2e-3)
    assert half_width(6, 2.0, 0.05) == pytest.approx(2 * half_width(6, 1.0, 0.05))  # scales with the spread
    assert half_width(2, 1.0, 0.05) == math.inf  # two seeds rule nothing out at 95%
    assert half_width(1, 1.0, 0.05) == math.inf
    assert half_width(10, 1.0, 0.0125) > half_width(10, 1.0, 0.05)  # a smaller share of α: wider


@pytest.mark.parametrize("diffs", [[1.0, 2.0, 3.0, 2.5], [0.3, -0.1, 0.2, 0.4, 0.0, 0.1, 0.25], [5.0, 7.0, 6.5, 4.0, 6.0]])
def test_interval_ends_are_where_the_mixture_reaches_one_over_alpha(diffs):
    alpha = 0.05
    got = look(diffs, len(diffs), Rule(2, 20, 0.1, alpha))
    assert got.mean == pytest.approx(np.mean(diffs))
    assert mixture(diffs, got.low) == pytest.approx(1 / alpha, rel=1e-6)
    assert mixture(diffs, got.high) == pytest.approx(1 / alpha, rel=1e-6)
    assert mixture(diffs, got.mean) < 1 / alpha  # inside: not rejected


def test_verdicts_by_hand():
    rule = Rule(start=3, max=6, margin=1.0, alpha=0.05)
    # mean 10, sd 1, n 4: half = 3.27 (half_width(4, 1, 0.05)): [6.73, 13.27] excludes 0
    assert look([9.0, 10.0, 11.0, 10.0], 4, rule).verdict == "better"
    assert look([-9.0, -10.0, -11.0, -10.0], 4, rule).verdict == "worse"
    # mean 0, sd 0.1, n 4: half 0.33 inside ±1
    assert look([0.1, -0.1, 0.0, 0.0], 4, rule).verdict == "equivalent"
    assert look([1.0, -1.0, 0.5, -0.5], 4, rule).verdict == "open"
    assert look([1.0, -1.0, 0.5, -0.5, 0.2, 0.1], 6, rule).verdict == "unresolved at max"
    assert look([], 3, rule).verdict == "open"  # no usable pair


def test_history_looks_from_start_and_stops_at_the_first_verdict():
    rule = Rule(start=3, max=6, margin=0.01, alpha=0.05)
    control = dict.fromkeys(range(6), 0.0)
    big = {0: 10.0, 1: 11.0, 2: 9.0, 3: 10.0, 4: 10.5, 5: 9.5}
    looks = history(big, control, rule)
    # at 3 seeds: half 7.63 · sd 1 → [2.37, 17.6]: better at once, no later look
    assert [(lk.seeds, lk.verdict) for lk in looks] == [(3, "better")]
    noise = {0: 1.0, 1: -1.0, 2: 0.5, 3: -0.5, 4: 0.2}  # seed 5 not finished
    assert [lk.seeds for lk in history(noise, control, rule)] == [3, 4, 5]
    assert history(noise, control, rule)[-1].verdict == "open"
    noise[5] = -0.2
    assert history(noise, control, rule)[-1].verdict == "unresolved at max"
    # a diverged run (None) leaves its pair out; the look still counts the seed
    broken = {**big, 1: None}
    assert [(lk.seeds, lk.n) for lk in history(broken, control, rule)][:2] == [(3, 2), (4, 3)]


def test_effects_pair_cells_that_differ_only_in_the_effect_axis():
    axes = ["model", "dataset", "activation", "se", "lr", "seed"]
    cells = [{"model": "m", "dataset": "d", "activation": a, "se": se, "lr": 0.1} for a in ("relu", "selu") for se in (False, True)]
    cells.append({"model": "m", "dataset": "d", "activation": "relu", "se": False, "lr": 0.2})  # pairs with nothing
    found = effects_of(cells, axes)
    assert sorted((e.name, str(e.where)) for e in found) == sorted([
        ("SE - no SE", str({"model": "m", "dataset": "d", "activation": "relu", "lr": 0.1})),
        ("SE - no SE", str({"model": "m", "dataset": "d", "activation": "selu", "lr": 0.1})),
        ("SELU - ReLU", str({"model": "m", "dataset": "d", "se": False, "lr": 0.1})),
        ("SELU - ReLU", str({"model": "m", "dataset": "d", "se": True, "lr": 0.1})),
    ])
    assert Rule.of(type("S", (), {"start": 3, "max": 9, "margin": 0.3, "confidence": 0.95})(), len(found)).alpha == pytest.approx(0.0125)


def test_a_run_value_is_its_best_valid_accuracy_or_its_test_accuracy_in_points():
    results = [{"valid_acc": 0.5, "test_acc": math.nan}, {"valid_acc": 0.9, "test_acc": math.nan}, {"valid_acc": 0.8, "test_acc": 0.85}]
    assert value_of(results, False, "valid_acc") == pytest.approx(90.0)
    assert value_of(results, False, "test_acc") == pytest.approx(85.0)
    assert value_of(results, True, "valid_acc") is None
    assert value_of([*results, {"valid_acc": math.nan, "diverged": True}], False, "valid_acc") is None


def test_progress_names_the_open_effects():
    axes = ["model", "dataset", "activation", "se", "seed"]
    runs = [{"model": "m", "dataset": "d", "activation": a, "se": False, "seed": s} for a in ("relu", "selu") for s in (0, 1)]
    seeds = type("Seeds", (), {"start": 3, "max": 5, "margin": 0.1, "confidence": 0.95})()
    state = Progress.of(runs, axes, seeds)  # two cells over two seeds each: one effect, at α 0.05
    assert len(state.effects) == 1 and state.rule.alpha == pytest.approx(0.05)
    for run in runs:
        state.record(run, 1.0 if run["activation"] == "selu" else 0.0)
    assert state.lines() == ["seeds finished per cell: m d relu 2, m d selu 2", "effects: 1; open: SELU - ReLU, model=m, dataset=d, se=False"]


BASE = {"name": "s", "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu", "selu"], "se": [False]},
        "seeds": {"start": 3, "max": 10, "margin": 0.3}}


@pytest.mark.parametrize("change, message", [
    ({"seeds": {"start": 5, "max": 4, "margin": 0.3}}, "s.yaml: seeds.max: 4 is below start (5)"),
    ({"seeds": {"start": 1, "max": 4, "margin": 0.3}}, "s.yaml: seeds.start: Input should be greater than or equal to 2"),
    ({"seeds": {"start": 3, "max": 4, "margin": 0}}, "s.yaml: seeds.margin: Input should be greater than 0"),
    ({"seeds": {"start": 3, "max": 4, "margin": -1}}, "s.yaml: seeds.margin: Input should be greater than 0"),
    ({"seeds": {"start": 3, "max": 4, "margin": 0.3, "confidence": 1}}, "s.yaml: seeds.confidence: Input should be less than 1"),
    ({"seeds": {"start": 3, "max": 4, "margin": 0.3, "confidence": 0}}, "s.yaml: seeds.confidence: Input should be greater than 0"),
    ({"seeds": {"start": 3, "max": 4, "margin": 0.3, "metric": "loss"}}, "s.yaml: seeds.metric: Input should be 'valid_acc' or 'test_acc'"),
    ({"seeds": {"start": 3, "max": 4}}, "s.yaml: seeds.margin: required field is missing"),
    ({"seeds": {"start": 3, "max": 4, "margin": 0.3, "stop": 1}}, "s.yaml: seeds.stop: unknown field"),
    ({"grid": {**BASE["grid"], "seed": [0, 1]}}, "s.yaml: grid.seed: the seeds: block chooses the seeds; drop grid.seed or seeds:"),
    ({"train": {"seed": 1}}, "s.yaml: train.seed: the seeds: block chooses the seeds"),
    ({"stopping": {"asha": {}}}, "s.yaml: stopping.asha: a trial stopped early has no final valid_acc to pair"),
    ({"search": {"lr": {"loguniform": [1e-4, 1e-2]}, "samples": 2, "epochs": 1, "seeds": [4]}},
     "s.yaml: search.seeds: [4] also seed the comparison"),
])
def test_a_bad_seeds_block_is_one_line_naming_the_field(change, message, tmp_path, capsys):
    raw = {**BASE, **change}
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        parse_sweep(raw, "s.yaml")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--dry-run"]) == 2  # before any work: the dry run refuses it too
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_good_seeds_block_expands_cells_without_seeds_and_says_its_trial_range(tmp_path, capsys):
    spec = parse_sweep(BASE, "s.yaml")
    assert all("seed" not in c for c in spec.cells()) and len(spec.cells()) == 2 and spec.seeds.confidence == 0.95 and spec.seeds.metric == "valid_acc"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "data_root": str(tmp_path / "data")}))
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep s: 2 cells" in out and "seeds 0..2, then adds seeds while one of its 1 effect(s) is open, up to 10 (6 to 20 trials)" in out


def test_the_live_views_total_counts_the_trials_still_to_come():
    from se_train.trial_status import TrialLine, render

    lines = [TrialLine("a s0", 2, 2, 0.9, 0.1, 100.0, "done"), TrialLine("a s1", 1, 2, 0.8, 0.2, 100.0, "running")]
    block = render(lines, 30.0, to_come=3, notes=["effects: 1; open: x"])
    # 3 of 4 epochs done in 30 s; 3 more trials of 2 epochs to come: 7 epochs left at 10 s each
    assert "5 trials: 1 done, 1 running, 3 to come; elapsed 00:00:30, ETA 00:01:10" in block
    assert block.rstrip().endswith("effects: 1; open: x")
