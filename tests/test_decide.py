"""The effect engine (`se_train/decide.py`) against values computed by hand and by independent
references (root-finding on the mixture martingale, a separate simulation of the repeated
t-intervals, scipy's t interval), and the `seeds:` and `compare:` blocks' bad input refused in one
line that names the field (no Ray)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import yaml

from se_train.cli import main
from se_train.sweep_file import parse_sweep
from scipy import optimize, stats

from se_train.decide import history, look, simulate
from se_train.method_text import preview
from se_train.progress import Comparison, Progress, effects_of, value_of
from se_train.rule import Rule, half_width
from se_train.result import Method
from se_train.errors import UserError
from se_train import sign_flip


def anytime(start: int, max: int, margin: float, alpha: float, rho: float = 0.1) -> Rule:
    return Rule(Method.ANYTIME, start, max, margin, alpha, rho=rho)


def mixture(diffs: list[float], m: float, rho: float = 0.1) -> float:
    """M_n(m) straight from its definition: sqrt(ρ/(n+ρ)) (1 − S²/((n+ρ)V))^(−n/2)."""
    d = np.asarray(diffs) - m
    n, s, v = len(d), d.sum(), (d**2).sum()
    return math.sqrt(rho / (n + rho)) * (1 - s**2 / ((n + rho) * v)) ** (-n / 2)


def test_half_width_by_hand():
    # n = 3, sd 1, α = 0.05, ρ = 0.1: q = (sqrt(3.1 / 0.1) / 0.05)^(−2/3) = 111.355^(−2/3) = 0.043203;
    # a = 3.1 (1 − q) = 2.96607; half = sqrt(a · 2 / (9 − 3a)) = sqrt(5.93214 / 0.10179) = 7.634
    assert half_width(3, 1.0, 0.05, 0.1) == pytest.approx(7.634, abs=2e-3)
    assert half_width(6, 2.0, 0.05) == pytest.approx(2 * half_width(6, 1.0, 0.05))  # scales with the spread
    assert half_width(2, 1.0, 0.05) == math.inf  # two seeds rule nothing out at 95%
    assert half_width(1, 1.0, 0.05) == math.inf
    assert half_width(10, 1.0, 0.0125) > half_width(10, 1.0, 0.05)  # a smaller share of α: wider


@pytest.mark.parametrize("rho", [0.1, 0.3, 1.0])
@pytest.mark.parametrize("diffs", [[1.0, 2.0, 3.0, 2.5], [0.3, -0.1, 0.2, 0.4, 0.0, 0.1, 0.25], [5.0, 7.0, 6.5, 4.0, 6.0, 5.5]])
def test_anytime_interval_ends_are_the_roots_of_the_mixture_martingale(diffs, rho):
    # The reference: the two roots of M_n(m) = 1/α, found by bracketing on either side of the mean.
    alpha = 0.05
    got = look(diffs, len(diffs), anytime(2, 20, 0.1, alpha, rho))
    assert got.mean == pytest.approx(np.mean(diffs))
    if math.isinf(got.high):  # too few seeds: M_n stays below 1/α everywhere
        assert max(mixture(diffs, got.mean + k, rho) for k in (1e2, 1e4, 1e6)) < 1 / alpha
        return
    root = lambda m: mixture(diffs, m, rho) - 1 / alpha  # noqa: E731
    far = 1e3 * (np.std(diffs) + 1)
    assert got.low == pytest.approx(optimize.brentq(root, got.mean - far, got.mean), rel=1e-9, abs=1e-12)
    assert got.high == pytest.approx(optimize.brentq(root, got.mean, got.mean + far), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("start, last, alpha", [(3, 20, 0.05), (3, 20, 0.0125), (4, 6, 0.025)])
def test_fixed_horizon_intervals_cover_the_true_mean_at_every_look_together(start, last, alpha):
    # An independent simulation: other seed, other σ and mean, scipy.stats' t instead of the
    # boundary's own arithmetic. The share of sweeps in which some look's interval misses the
    # true mean is α (Monte Carlo: 60,000 paths, 4.5 standard errors of tolerance).
    rule = Rule(Method.FIXED_HORIZON, start, last, 0.0, alpha)
    rng = np.random.default_rng(7)
    mu, sigma, paths = 3.0, 2.5, 60_000
    x = mu + sigma * rng.standard_normal((paths, last))
    missed = np.zeros(paths, dtype=bool)
    for n in range(start, last + 1):
        d = x[:, :n]
        half = rule.factor(n) * d.std(axis=1, ddof=1)
        missed |= np.abs(d.mean(axis=1) - mu) > half
    se = math.sqrt(alpha * (1 - alpha) / paths)
    assert abs(missed.mean() - alpha) < 4.5 * se, (missed.mean(), alpha)
    # At the last look the boundary is wider than one t-interval at α (the price of looking early),
    # narrower than a Bonferroni over every look.
    one = stats.t.ppf(1 - alpha / 2, last - 1) / math.sqrt(last)
    bonferroni = stats.t.ppf(1 - alpha / 2 / (last - start + 1), last - 1) / math.sqrt(last)
    assert one < rule.factor(last) < bonferroni


def test_a_fixed_n_effect_is_scipys_t_interval_over_the_seeds_both_cells_ran():
    treated = {0: 91.0, 1: 92.5, 2: 90.0, 5: 93.0}
    control = {0: 90.0, 1: 90.5, 2: 90.5, 5: 91.0, 7: 88.0}  # seed 7 has no pair
    (got,) = history(treated, control, Rule.fixed_n())
    d = np.array([1.0, 2.0, -0.5, 2.0])
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (got.seeds, got.n) == (4, 4) and got.mean == pytest.approx(d.mean())
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    assert got.verdict == "inconclusive"  # [−0.6, +2.9] holds 0, and a grid that listed its seeds has no more to come
    (one,) = history({0: 91.0}, {0: 90.0}, Rule.fixed_n())
    assert math.isinf(one.high) and one.verdict == "inconclusive"


def test_the_sign_flip_interval_is_the_order_statistics_of_the_subset_means_by_brute_force():
    # Hartigan's bound from its definition: every nonempty subset's mean, sorted; j = ⌊level·2^n/2⌋.
    rng = np.random.default_rng(5)
    for n, level in [(6, 0.1), (9, 0.02), (12, 0.003)]:
        d = rng.standard_normal(n) + 0.3
        means = sorted(np.mean([x for i, x in enumerate(d) if mask >> i & 1]) for mask in range(1, 2**n))
        j = math.floor(level * 2**n / 2)
        assert sign_flip.interval(d, level) == (pytest.approx(means[j - 1]), pytest.approx(means[-j]))
    assert sign_flip.interval(np.ones(5), 0.01) == (-math.inf, math.inf)  # 5 signs cannot reach 1%: 2/32 > 0.01


def test_sign_flip_intervals_cover_the_true_mean_of_short_tailed_and_tied_differences():
    # An independent check of the per-look bound on the data that broke the t boundary: uniform
    # differences and differences on a coarse grid (mostly ties). Each look's interval misses the
    # true mean at most at its level (4.5 standard errors of Monte Carlo tolerance).
    rng = np.random.default_rng(8)
    n, level, paths = 10, 0.05, 4000
    for draw in (lambda: rng.uniform(-1, 1, n) + 2.0, lambda: rng.integers(-1, 2, n) * 0.2 + 2.0):
        missed = 0
        for _ in range(paths):
            low, high = sign_flip.interval(draw(), level)
            missed += not low <= 2.0 <= high
        assert missed / paths < level + 4.5 * math.sqrt(level * (1 - level) / paths)


@pytest.mark.parametrize("method", [Method.SIGN_FLIP, Method.FIXED_HORIZON, Method.ANYTIME, Method.FIXED_N])
def test_three_equal_differences_do_not_decide_at_three_seeds(method):
    # Accuracy on 1,000 images moves in steps of 0.1 points: +0.1 three times is a tie, not an sd of 0.
    rule = (Rule.fixed_n() if method == Method.FIXED_N else Rule(method, 3, 20, 0.5, 0.0125)).at_step(0.1)
    for value in (0.1, 0.0, -0.1):
        got = look([value] * 3, 3, rule, final=False)
        assert got.verdict == "open" and got.high - got.low > 0, (value, got)


def test_sign_flip_takes_no_look_that_cannot_decide_and_a_dry_run_says_from_which_seed():
    rule = Rule(Method.SIGN_FLIP, 3, 20, 0.3, 0.0125)
    first = rule.looks_from
    assert sign_flip.extremes(first, rule.level(first)) >= 1  # its first look can decide
    assert all(rule.level(n) == 0 for n in range(3, first))  # no earlier one is taken
    looks = history(dict.fromkeys(range(20), 5.0), dict.fromkeys(range(20), 0.0), rule)
    assert [(lk.seeds, lk.verdict) for lk in looks] == [(first, "better")]  # 5 points each seed: decided at once there
    assert f"a verdict is possible from {first} seeds" in preview(rule, 4)[0]


@pytest.mark.parametrize("rule", [anytime(3, 12, 0.3, 0.0125, 0.3), Rule(Method.FIXED_HORIZON, 3, 12, 0.3, 0.0125), Rule(Method.FIXED_HORIZON, 4, 6, 0.5, 0.05),
                                  Rule(Method.SIGN_FLIP, 3, 14, 0.3, 0.05), Rule(Method.SIGN_FLIP, 3, 14, 0.3, 0.05, step=0.2)])
def test_the_vectorised_simulation_decides_as_the_searchers_history(rule):
    rng = np.random.default_rng(3)
    diffs = rng.standard_normal((300, rule.max)) + rng.choice([0.0, 0.5, 1.5], (300, 1))
    verdicts, seeds = simulate(diffs, rule)
    for row, v, k in zip(diffs, verdicts, seeds):
        last = history(dict(enumerate(row)), dict.fromkeys(range(rule.max), 0.0), rule)[-1]
        assert (last.verdict, last.seeds) == (v, k)


def test_verdicts_by_hand():
    rule = anytime(start=3, max=6, margin=1.0, alpha=0.05)
    # mean 10, sd 1, n 4: half = 3.27 (half_width(4, 1, 0.05, 0.1)): [6.73, 13.27] excludes 0
    assert look([9.0, 10.0, 11.0, 10.0], 4, rule).verdict == "better"
    assert look([-9.0, -10.0, -11.0, -10.0], 4, rule).verdict == "worse"
    # mean 0, sd 0.1, n 4: half 0.33 inside ±1
    assert look([0.1, -0.1, 0.0, 0.0], 4, rule).verdict == "equivalent"
    assert look([1.0, -1.0, 0.5, -0.5], 4, rule).verdict == "open"
    assert look([1.0, -1.0, 0.5, -0.5, 0.2, 0.1], 6, rule).verdict == "unresolved at max"
    assert look([], 3, rule).verdict == "open"  # no usable pair


def test_history_looks_from_start_and_stops_at_the_first_verdict():
    rule = anytime(start=3, max=6, margin=0.01, alpha=0.05)
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
    seeds = type("S", (), {"start": 3, "max": 9, "margin": 0.3, "confidence": 0.95, "metric": "valid_acc", "method": Method.FIXED_HORIZON, "rho": None})()
    assert Rule.of(seeds, len(found)).alpha == pytest.approx(0.0125)
    models = effects_of(cells + [{**cells[0], "model": "n"}], axes, [Comparison("model", "n", "m")])
    assert [(e.name, e.where) for e in models] == [("model: n - m", {"dataset": "d", "activation": "relu", "se": False, "lr": 0.1})]


def test_a_run_value_is_its_best_valid_accuracy_or_its_test_accuracy_in_points():
    results = [{"valid_acc": 0.5, "test_acc": math.nan}, {"valid_acc": 0.9, "test_acc": math.nan}, {"valid_acc": 0.8, "test_acc": 0.85}]
    assert value_of(results, False, "valid_acc") == pytest.approx(90.0)
    assert value_of(results, False, "test_acc") == pytest.approx(85.0)
    assert value_of(results, True, "valid_acc") is None
    assert value_of([*results, {"valid_acc": math.nan, "diverged": True}], False, "valid_acc") is None


def test_progress_names_the_open_effects():
    axes = ["model", "dataset", "activation", "se", "seed"]
    runs = [{"model": "m", "dataset": "d", "activation": a, "se": False, "seed": s} for a in ("relu", "selu") for s in (0, 1)]
    seeds = type("Seeds", (), {"start": 3, "max": 5, "margin": 0.1, "confidence": 0.95, "metric": "valid_acc", "method": Method.ANYTIME, "rho": None})()
    state = Progress.of(runs, axes, seeds)  # two cells over two seeds each: one effect, at α 0.05
    assert len(state.effects) == 1 and state.rule.alpha == pytest.approx(0.05)
    for run in runs:
        state.record(run, [{"valid_acc": 0.01 if run["activation"] == "selu" else 0.0, "valid_images": 400.0}], False)
    assert state.steps == {key: 0.25 for key in state.cells}  # 100/400 points
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
    # sign-flip at 95%, seeds 3-10: no verdict is possible before 8 seeds, so every cell runs 0..7 first
    assert "sweep s: 2 cells" in out and "seeds 0..7, then adds seeds while one of its 1 effect(s) is open, up to 10 (16 to 20 trials)" in out


def test_the_live_views_total_counts_the_trials_still_to_come():
    from se_train.trial_status import TrialLine, render

    lines = [TrialLine("a s0", 2, 2, 0.9, 0.1, 100.0, "done"), TrialLine("a s1", 1, 2, 0.8, 0.2, 100.0, "running")]
    block = render(lines, 30.0, to_come=3, notes=["effects: 1; open: x"])
    # 3 of 4 epochs done in 30 s; 3 more trials of 2 epochs to come: 7 epochs left at 10 s each
    assert "5 trials: 1 done, 1 running, 3 to come; elapsed 00:00:30, ETA 00:01:10" in block
    assert block.rstrip().endswith("effects: 1; open: x")


def test_the_live_view_lists_the_running_trials_and_only_the_last_finished_ones():
    from se_train.trial_status import TrialLine, render

    done = [TrialLine(f"a s{i}", 1, 1, 0.9, 0.1, 100.0, "done") for i in range(300)]
    running = TrialLine("b s0", 0, 1, float("nan"), float("nan"), float("nan"), "running")
    block = render([*done[:150], running, *done[150:]], 30.0, finished_shown=5).splitlines()
    assert block[1] == "(295 earlier finished trials not listed: `se-sweep status` lists every trial)"
    assert [line.split()[1] for line in block[2:-1]] == ["s0", "s295", "s296", "s297", "s298", "s299"]  # b s0 still runs
    assert block[-1].startswith("301 trials: 300 done, 1 running")


def test_the_live_views_columns_stay_aligned_with_long_trial_names():
    from se_train.trial_status import TrialLine, render

    long = "resnet50 fashion_mnist selu SE s1 lr=0.000316 weight_decay=0.0001 width=64"
    block = render([TrialLine("a s0", 1, 2, 0.9, 0.1, 100.0, "running"), TrialLine(long, 2, 2, 0.95, 0.05, 90.0, "done")], 30.0).splitlines()
    assert len({line.index("/") for line in block[1:3]}) == 1 and block[2].startswith(long + " ")  # epoch column: one place
    assert block[0].index("state") == block[1].index("running") == block[2].index("done")


TWO_MODELS = {**BASE, "grid": {**BASE["grid"], "model": ["simple_cnn", "resnet50"]}}


@pytest.mark.parametrize("raw, message", [
    ({**BASE, "compare": [{"axis": "lr", "treated": 0.1, "control": 0.2}]},
     "s.yaml: compare[0].axis: 'lr' is not a grid axis (one of model, dataset, activation, se)"),
    ({**BASE, "compare": [{"axis": "activation", "treated": "selux", "control": "relu"}]},
     "s.yaml: compare[0].treated: 'selux' is not a value of grid.activation ('relu', 'selu')"),
    ({**BASE, "compare": [{"axis": "activation", "treated": "selu", "control": "relu"}, {"axis": "se", "treated": 0, "control": False}]},
     "s.yaml: compare[1].treated: 0 is not a value of grid.se (False)"),  # a 0 is not false: no coercion
    ({**TWO_MODELS, "compare": [{"axis": "model", "treated": "resnet50", "control": "resnet50"}]},
     "s.yaml: compare[0]: treated and control are both 'resnet50'; compare two values"),
    ({**BASE, "grid": [{**BASE["grid"], "activation": ["relu"]}, {**BASE["grid"], "activation": ["selu"], "model": ["resnet50"]}],
      "compare": [{"axis": "model", "treated": "resnet50", "control": "simple_cnn"}]},
     "s.yaml: compare[0]: pairs no cells: no cell at model='resnet50' has a twin at model='simple_cnn' with every other axis the same"),
    ({**BASE, "compare": [{"axis": "activation", "treated": "selu"}]}, "s.yaml: compare[0].control: required field is missing"),
    ({**BASE, "seeds": {**BASE["seeds"], "method": "bayes"}}, "s.yaml: seeds.method: Input should be 'sign-flip', 'fixed-horizon' or 'anytime'"),
])
def test_a_bad_comparison_is_one_line_naming_it_before_ray(raw, message, tmp_path, capsys):
    with pytest.raises(UserError) as caught:
        parse_sweep(raw, "s.yaml")
    assert str(caught.value) == message
    path = tmp_path / "s.yaml"
    path.write_text(yaml.dump(raw, sort_keys=False))
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.removeprefix("s.yaml") in err


def test_a_dry_run_lists_the_named_comparisons_and_previews_their_power(tmp_path, capsys):
    raw = {**TWO_MODELS, "data_root": str(tmp_path / "data"), "compare": [{"axis": "model", "treated": "resnet50", "control": "simple_cnn"}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.dump(raw, sort_keys=False))
    assert main(["run", str(path), "--dry-run", "--spread", "0.5"]) == 0
    out = capsys.readouterr().out
    # two effects (one per activation), sign-flip at 97.5% each, seeds 3..10
    assert "model: resnet50 - simple_cnn, dataset=digits, activation=relu, se=False" in out
    rule = Rule(Method.SIGN_FLIP, 3, 10, 0.3, 0.025)
    assert f"power (sign-flip, 2 effect(s), 0.975 each): a verdict is possible from {rule.looks_from} seeds" in out
    # the table in points at a spread of 0.5: an effect of 1 point is 2σ; its chance by 10 seeds, checked on fresh draws
    chance = float(re.search(r"^  1 \| (?:\d+|> 10) \| (\d+)%$", out, re.M).group(1)) / 100
    verdicts, _ = simulate(2.0 + np.random.default_rng(11).standard_normal((20_000, 10)), rule.at_step(0.0))
    assert (verdicts == "better").mean() == pytest.approx(chance, abs=0.03)
    assert "warning: margin 0.3 points is too narrow for 10 seeds at a spread of 0.5 points" in out
    assert preview(Rule(Method.SIGN_FLIP, 3, 5, 0.3, 0.0125), 4)[0] == "power (sign-flip, 4 effect(s), 0.9875 each): no look up to 5 seeds can decide anything"
    thirty = Rule(Method.SIGN_FLIP, 3, 30, 0.3, 0.0125)
    long = preview(thirty, 4)  # past 20 seeds the subsets are drawn, not simulated here
    assert long[0].endswith(f"a verdict is possible from {thirty.looks_from} seeds") and "up to 20 seeds" in long[-1]


def test_one_clock_for_the_live_view_status_and_the_report(capsys):
    import time
    from datetime import datetime, timezone

    from se_train.sweep.live_view import CompactReporter
    from se_train.trial_status import durations, elapsed, hms

    started = datetime.fromtimestamp(time.time() - 72.2, tz=timezone.utc)  # sweep.json's start, before Ray and the reporter
    CompactReporter(started=started).report([], done=True)
    assert "elapsed 00:01:12" in capsys.readouterr().out  # from the sweep's start, not the reporter's
    assert hms(elapsed(started, started.timestamp() + 72)) == "00:01:12"  # what status and the report count
    assert hms(0.84) == "00:00:00.84" and hms(9.994) == "00:00:09.99" and hms(10) == "00:00:10"
    # a column is one format: to the hundredth throughout where its shortest is under 10 s
    assert durations([0.74, 16.2, 3599.999, float("nan")]) == ["00:00:00.74", "00:00:16.20", "01:00:00.00", "–"]
    assert durations([16.2, 4000]) == ["00:00:16", "01:06:40"]
