"""Your own model: a plugin file named by a sweep file registers it (`register_model`), the grid
uses it by name, and it trains, is decided on and reported like a built-in. The worked example
under examples/ is run here, so it cannot rot."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from se_train.cli import main
from se_train.errors import UserError
from se_train.sweep_file import load_sweep
from tests.helpers import HANG_TIMEOUT_S

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(tmp_path: Path, **changes) -> Path:
    """examples/ copied, its sweep's data and experiments in tmp_path, with `changes` to its file."""
    shutil.copy(EXAMPLES / "my_models.py", tmp_path / "my_models.py")
    raw = {**yaml.safe_load((EXAMPLES / "own_model.yaml").read_text()), "data_root": str(tmp_path / "data"),
           "storage": str(tmp_path / "experiments"), **changes}
    path = tmp_path / "own_model.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_plugin_models_name_and_what_it_supports_are_checked_before_ray(tmp_path):
    spec = load_sweep(_example(tmp_path))
    assert spec.plugins == [str(tmp_path / "my_models.py")]  # relative to the sweep file, recorded absolute
    grid = {"model": ["mlp"], "dataset": ["digits"], "activation": ["study_selu"], "se": [True]}
    with pytest.raises(UserError) as e:
        load_sweep(_example(tmp_path, grid=grid, compare=None))
    lines = str(e.value).splitlines()
    assert any(line.endswith("trial[0]: model 'mlp' supports activations relu, selu, gelu, not 'study_selu'") for line in lines), lines
    assert any(line.endswith("trial[0]: model 'mlp' has no SE blocks: its cells take se: false only") for line in lines), lines


@pytest.mark.parametrize("plugin, message", [
    ("missing.py", "plugins[0]: {dir}/missing.py: no such file"),
    ("broken.py", "plugins[0]: {dir}/broken.py: cannot be imported (ModuleNotFoundError: No module named 'no_such_package')"),
    ("no_such_module_anywhere", "plugins[0]: no_such_module_anywhere: cannot be imported (ModuleNotFoundError"),
    ("twice.py", "cannot be imported (UserError: model 'simple_cnn' is registered twice: by se_train.models.simple_cnn:SimpleCNN and by"),
    (["my_models.py", "sub/my_models.py"], "plugins[1]: {dir}/sub/my_models.py: has the file name of plugin {dir}/my_models.py; "
                                           "a trial imports each by its file name: rename one"),
    ("json.py", "plugins[0]: {dir}/json.py: its name 'json' is also the module "),
    ("uses_helper.py", "plugins[0]: {dir}/uses_helper.py: cannot be imported (ModuleNotFoundError: No module named 'helper'); "
                       "helper.py beside it is a plugin too: list it under plugins before this one, so trials get it"),
])
def test_a_plugin_that_cannot_be_used_is_one_line_before_ray(tmp_path, capsys, plugin, message):
    (tmp_path / "broken.py").write_text("import no_such_package\n")
    (tmp_path / "twice.py").write_text(textwrap.dedent("""
        from se_train.models import register_model

        @register_model(name="simple_cnn")
        def mine(*, num_classes, input_shape, act_layer, se):
            raise AssertionError("never built")
    """))
    (tmp_path / "sub").mkdir()
    for name in ("sub/my_models.py", "json.py", "helper.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "uses_helper.py").write_text("import helper\n")
    path = _example(tmp_path, plugins=plugin if isinstance(plugin, list) else [plugin])
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(dir=tmp_path) in err, err


@pytest.mark.parametrize("prepared", [True, False])
def test_a_plugin_model_that_fails_to_build_is_one_line_at_dry_run(tmp_path, capsys, prepared):
    from se_train.data.prepare import prepare

    if prepared:
        prepare("digits", tmp_path / "data")
    (tmp_path / "fussy.py").write_text(textwrap.dedent("""
        from se_train.models import register_model

        @register_model(name="fussy", se=False)
        def fussy(*, num_classes, input_shape, act_layer, se):
            raise ValueError(f"needs 3 channels, got {input_shape[0]}")
    """))
    grid = {"model": ["fussy"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}
    path = _example(tmp_path, plugins=["fussy.py"], grid=grid, compare=None)
    assert main(["run", str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"se-sweep: error: {path}: trial[0]: model 'fussy' fails to build for digits "
                                       "(ValueError: needs 3 channels, got 1)\n")
    assert (tmp_path / "data").exists() == prepared  # a dry run reads digits to know its shape, and writes nothing


OPTIONS = textwrap.dedent("""
    from typing import Literal

    from torch import nn

    from se_train.models import register_model


    @register_model(name="attention_cnn", activations=("relu",), se=False)
    def attention_cnn(*, num_classes, input_shape, act_layer, se, width: int, attention: Literal["cbam", "none"] = "cbam",
                      kernel_size: int = 7, image_size: int | None = None):
        return nn.Linear(1, num_classes)
""")


def _options_sweep(tmp_path: Path, grid: dict, train: dict | None = None) -> Path:
    (tmp_path / "attention.py").write_text(OPTIONS)
    cell = {"model": ["attention_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}
    path = tmp_path / "options.yaml"
    path.write_text(yaml.safe_dump({"name": "options", "plugins": ["attention.py"], "grid": {**cell, **grid}, "train": train or {}}, sort_keys=False))
    return path


def test_a_models_own_options_are_grid_axes_and_settings_of_their_declared_types(tmp_path):
    spec = load_sweep(_options_sweep(tmp_path, {"width": [32, 64], "attention": ["cbam", "none"]}, {"kernel_size": 3}))
    options = [t.option_fields() for t in spec.trials()]
    assert options[:2] == [{"width": 32, "attention": "cbam", "kernel_size": 3, "image_size": None},
                           {"width": 32, "attention": "none", "kernel_size": 3, "image_size": None}]
    assert [cell["width"] for cell in spec.cells()] == [32, 32, 64, 64]
    assert spec.model_dump()["grid"]["width"] == [32, 64]  # written to sweep.json as given


@pytest.mark.parametrize("grid, train, message", [
    ({"width": ["32"]}, {}, "grid.width[0]: Input should be a valid integer ('32' is text: write it without quotes)"),
    ({"width": [32.0]}, {}, "grid.width[0]: Input should be a valid integer, not 32.0"),
    ({"width": [32], "attention": ["sse"]}, {}, "grid.attention[0]: Input should be 'cbam' or 'none'"),
    ({"width": [32]}, {"kernel_size": True}, "train.kernel_size: Input should be a valid integer, not True"),
    ({"width": [32], "widht": [3]}, {}, "grid.widht: unknown axis (one of model, "),
    ({}, {}, "trial[0]: model 'attention_cnn' needs option 'width': set it in train or as a grid axis"),
    ({"width": [32], "model": ["simple_cnn"]}, {}, "trial[0]: model 'simple_cnn' takes no option 'width'"),
])
def test_a_models_own_option_is_checked_strictly_before_ray(tmp_path, grid, train, message):
    with pytest.raises(UserError) as e:
        load_sweep(_options_sweep(tmp_path, grid, train))
    assert message in str(e.value), str(e.value)


@pytest.mark.parametrize("signature, message", [
    ("width=64", "model 'bad': option 'width' has no type; annotate it, e.g. width: int = 64"),
    ("width: float = 1.0", "model 'bad': option 'width' is float here but int in model 'attention_cnn'; one option name has one type"),
])
def test_a_model_option_that_cannot_be_typed_is_refused_as_it_registers(tmp_path, signature, message):
    (tmp_path / "attention.py").write_text(OPTIONS)
    (tmp_path / "bad.py").write_text(textwrap.dedent(f"""
        from se_train.models import register_model

        @register_model(name="bad")
        def bad(*, num_classes, input_shape, act_layer, se, {signature}):
            raise AssertionError("never built")
    """))
    path = _example(tmp_path, plugins=["attention.py", "bad.py"])
    with pytest.raises(UserError, match=re.escape(message)):
        load_sweep(path)


def test_a_study_report_keeps_runs_of_a_models_own_option_apart(tmp_path):
    import numpy as np

    from se_train import plugins
    from se_train.bench.report import fake_experiment
    from se_train.report.summary import write_report

    plugins.load([str(EXAMPLES / "my_models.py")])
    cell = {"model": ["mlp"], "activation": ["relu", "selu"], "se": [False]}
    for name, seeds, hidden in (("a", [0, 1], 64), ("b", [0, 1], 128), ("c", [1], 64)):  # c: a's seed 1 again
        fake_experiment(tmp_path / name, {**cell, "seed": seeds, "hidden": [hidden]}, 4, np.random.default_rng(len(name)))
    out = write_report([str(tmp_path / n) for n in "abc"], tmp_path / "study")
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["hidden"]) == [64] * 4 + [128] * 4  # b's seeds are other runs than a's; c's is a's again
    table = pd.read_csv(out / "table.csv")
    assert sorted(table["hidden"]) == [64, 64, 128, 128] and table["acc % valid"].str.endswith("(2)").all()
    assert f"`{tmp_path / 'c'}`: 2 run(s) also in `{tmp_path / 'a'}`" in (out / "summary.md").read_text()


def test_status_and_report_read_an_experiment_whose_plugin_is_not_here_and_resume_names_it(tmp_path, capsys):
    from se_train.report.status import status
    from se_train.report.summary import write_report

    plugin, experiment = tmp_path / "elsewhere_models.py", tmp_path / "experiments" / "elsewhere"
    plugin.write_text(textwrap.dedent("""
        from se_train.models import register_model

        @register_model(name="elsewhere_mlp", activations=("relu",), se=False)
        def elsewhere_mlp(*, num_classes, input_shape, act_layer, se, depth: int = 2):
            raise AssertionError("reading results builds no model")
    """))
    # Made where the plugin is (another process: this one never imports it), then read where it is not.
    made = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import json, pathlib, numpy as np
        from se_train import plugins
        from se_train.bench.report import fake_experiment
        plugins.load([{str(plugin)!r}])
        grid = {{"model": ["elsewhere_mlp"], "activation": ["relu"], "se": [False], "depth": [2, 3]}}
        fake_experiment(pathlib.Path({str(experiment)!r}), grid, 3, np.random.default_rng(0))
        sweep = pathlib.Path({str(experiment / "sweep.json")!r})
        record = json.loads(sweep.read_text())
        record["spec"]["plugins"] = [{str(plugin)!r}]
        sweep.write_text(json.dumps(record))
    """)], capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert made.returncode == 0, made.stderr[-3000:]
    plugin.unlink()
    view = status(str(experiment))
    assert "2 trials: 2 done" in view and "depth=3" in view, view
    table = pd.read_csv(write_report([str(experiment)], tmp_path / "report") / "table.csv")
    assert list(table["model"]) == ["elsewhere_mlp"] * 2 and sorted(table["depth"]) == [2, 3]
    # the trials to come would need it: resume names it, before Ray
    assert main(["resume", str(experiment)]) == 2
    assert capsys.readouterr().err == f"se-sweep: error: {experiment}/sweep.json: spec.plugins[0]: {plugin}: no such file\n"


def test_a_trial_gets_each_plugin_file_and_each_uninstalled_package_by_the_runtime_env(tmp_path, monkeypatch):
    from se_train import plugins

    (tmp_path / "mypackage").mkdir()
    (tmp_path / "mypackage" / "__init__.py").write_text("")
    (tmp_path / "mypackage" / "layers.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    entries = [str(EXAMPLES / "my_models.py"), "mypackage.layers", "yaml"]  # yaml: installed, as on the cluster's image
    assert plugins.py_modules(entries) == [str(EXAMPLES / "my_models.py"), str(tmp_path / "mypackage")]
    assert plugins.in_trial(entries) == ["my_models", "mypackage.layers", "yaml"]


def test_a_namespace_package_ships_its_folder_and_one_spread_over_two_folders_is_refused(tmp_path, monkeypatch):
    from se_train import plugins
    from se_train.errors import UserError

    for root in ("a", "b"):
        (tmp_path / root / "nspkg").mkdir(parents=True)  # no __init__.py: a namespace package
        (tmp_path / root / "nspkg" / f"layers_{root}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    assert plugins.py_modules(["nspkg.layers_a"]) == [str(tmp_path / "a" / "nspkg")]
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    with pytest.raises(UserError, match=r"plugins: nspkg.layers_a: the namespace package 'nspkg' spans 2 folders .*an __init__.py"):
        plugins.py_modules(["nspkg.layers_a"])


def test_a_plugin_imports_a_plugin_listed_before_it_by_its_file_name(tmp_path):
    from se_train import plugins

    (tmp_path / "layers_of_mine.py").write_text("WIDTH = 48\n")
    (tmp_path / "model_of_mine.py").write_text("import layers_of_mine\n\nassert layers_of_mine.WIDTH == 48\n")
    entries = [str(tmp_path / "layers_of_mine.py"), str(tmp_path / "model_of_mine.py")]
    plugins.load(entries)  # on the driver; a trial imports the same names from py_modules
    assert plugins.in_trial(entries) == ["layers_of_mine", "model_of_mine"] and plugins.py_modules(entries) == entries


def test_models_lists_a_plugins_models_with_their_options(tmp_path, capsys):
    (tmp_path / "deep_only.py").write_text(textwrap.dedent("""
        from se_train.models import register_model

        @register_model(name="deep_only", activations=("relu",), se=False)
        def deep_only(*, num_classes: int, input_shape, act_layer, se: bool, depth: int = 2):
            raise ValueError(f"depth {depth} needs 64 pixels")
    """))
    assert main(["models", "--plugins", str(EXAMPLES / "my_models.py"), str(tmp_path / "deep_only.py")]) == 0
    lines = capsys.readouterr().out.splitlines()
    cells = {tuple(parts[:2]): parts[2:] for parts in (re.split(r" {2,}", line.strip()) for line in lines[1:])}
    assert cells["mlp", "False"] == ["118,282", "relu, selu, gelu", "hidden: int"] and ("resnet50", "True") in cells
    assert cells["simple_cnn", "False"][1] == "relu, selu, study_selu, gelu"  # a built-in model takes a plugin's activation
    assert {line.find("relu") for line in lines[1:]} == {lines[0].find("activations")}, lines  # one column, however long the lists
    # a model that does not build for the shape asked keeps the columns, and says why last
    assert cells["deep_only", "False"] == ["fails", "relu", "depth: int", "(fails to build: ValueError: depth 2 needs 64 pixels)"]


@pytest.mark.ray
def test_the_worked_example_runs_and_reports_a_plugin_model(tmp_path):
    from se_train.report.status import status
    from se_train.report.summary import write_report

    # As a user runs it: se-sweep starts its own Ray, whose job ships the plugin to every trial
    # (a Ray this process started would not), from a folder that does not hold the plugin.
    (tmp_path / "elsewhere").mkdir()
    done = subprocess.run([sys.executable, "-m", "se_train.cli", "run", str(_example(tmp_path)), "--num-cpus", "2"],
                          cwd=tmp_path / "elsewhere", capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    experiment = tmp_path / "experiments" / "own_model"
    assert "8 trials: 8 done" in status(str(experiment))  # mlp and simple_cnn, selu and the plugin's gelu, 2 seeds
    out = write_report([str(experiment)], tmp_path / "report")
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["model"]) == {"mlp", "simple_cnn"} and (runs["status"] == "completed").all()
    mlp = runs[runs["model"] == "mlp"]
    assert (mlp["params"] == 26_122).all() and (mlp["max_valid_acc"] > 0.7).all()  # 8x8 digits: 64 inputs; it trains on real digits
    effects = pd.read_csv(out / "effects.csv")
    # as compare: asked: each model comparison per activation, the plugin's activation against SELU per model
    assert sorted(effects["effect"]) == ["activation: gelu - selu"] * 2 + ["model: mlp - simple_cnn"] * 2, effects["effect"]


def test_a_sweep_with_plugins_refuses_a_ray_this_process_started_without_them(tmp_path, ray_cluster):
    from tests.helpers import run_with_hang_guard

    # The session's Ray was started by ray.init here: its job cannot ship the plugin to trials.
    with pytest.raises(UserError, match=r"this process started Ray itself \(ray.init\), without the sweep's plugins"):
        run_with_hang_guard(_example(tmp_path))
    assert not (tmp_path / "experiments" / "own_model" / "sweep.json").exists()
