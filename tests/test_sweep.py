"""The sweep on a real local Ray: grids complete in reused trial processes, divergence is stopped
and recorded, DDP workers take the same steps, a streamed split trains as a held one, and bad sweep
files fail early, before Ray (recovery from kills: test_recovery.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from se_train.cli import main
from se_train.sweep_file import load_sweep, parse_sweep
from se_train.report.collect import collect
from se_train.sweep import cluster, runner
from tests.helpers import run_with_hang_guard, sweep_file, tensorboard_scalars, trial_progress


@pytest.fixture(scope="module")
def reused_pair(ray_cluster, tmp_path_factory) -> tuple[Path, str]:
    """Two cells (no SE, SE), one trial at a time, 2 epochs, and what the sweep printed: shared by
    the reused-process test and the first-or-after test, which would each run it."""
    path = sweep_file(tmp_path_factory.mktemp("pair"), "pair", {"se": [False, True]}, resources={"max_concurrent_trials": 1})
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the live view prints from the sweep's thread
        experiment = run_with_hang_guard(path)
    return experiment, printed.getvalue()


def test_one_worker_trials_train_in_one_reused_process(reused_pair):
    # One trial at a time: the second runs in the first one's process (torch imported, no new
    # worker group), and neither starts a Ray Train run.
    experiment, out = reused_pair
    # The compact live view: one line per trial, counts; plain text, and no Tune table.
    assert re.search(r"^simple_cnn digits relu SE s0 +2/2 +\d+\.\d% +\d\.\d{3} +[\d,]+  done$", out, re.M)
    assert "2 trials: 2 done" in out and "\x1b" not in out and "Trial name" not in out
    progress = trial_progress(experiment)
    assert len(progress) == 2
    for df in progress.values():
        assert df["epoch"].tolist() == [1, 2]
        assert not df["diverged"].any() and df["valid_acc"].between(0, 1).all()
        assert df["train_loss"].gt(0).all() and df["train_acc"].between(0, 1).all() and df["valid_loss"].gt(0).all()
        assert df["lr"].eq(1e-3).all() and df["epoch_time_s"].gt(0).all() and df["train_images_per_s"].gt(0).all()
        assert df["device"].eq("cpu").all() and df["train_images"].eq(1197).all()
        # Every report has the same keys, so progress.csv holds the last epoch's test accuracy too.
        assert df["test_acc"].isna().tolist() == [True, False] and 0 < df["test_acc"].iloc[-1] <= 1
    assert len({int(df["pid"].iloc[0]) for df in progress.values()}) == 1, "the trial actor was not reused"
    assert not (experiment / "train_runs").exists()
    assert json.loads((experiment / "sweep.json").read_text())["spec"]["name"] == "pair"
    finals = list(experiment.glob("*/checkpoint_*/state.pt"))
    assert len(finals) == 2  # the last kept per trial: a finished trial's weights, no optimizer state
    assert all(set(torch.load(p, weights_only=True)) == {"model", "epoch"} for p in finals)
    for trial, df in progress.items():  # TensorBoard: `tensorboard --logdir <experiment>` shows each epoch
        (events,) = (experiment / trial).glob("events.out.tfevents.*")
        scalars = tensorboard_scalars(events)
        assert [step for step, _ in scalars["ray/tune/valid_acc"]] == [1, 2]
        assert [v for _, v in scalars["ray/tune/valid_acc"]] == pytest.approx(df["valid_acc"].tolist())


def test_diverging_trials_are_stopped_and_the_next_trials_complete(diverging_experiment):
    # One trial at a time, the diverging ones first: if stopping a trial leaked its placement
    # group, the next would hang forever (the fixture's guard fails instead).
    experiment = diverging_experiment
    progress = trial_progress(experiment)
    assert len(progress) == 4
    for name, df in progress.items():
        lr = json.loads((experiment / name / "params.json").read_text())["lr"]
        if lr == 1e6:
            assert df["diverged"].tolist() == [True] and df["epoch"].tolist() == [1]
            # The first step (lr 1e6) is taken from a finite loss; a later one goes bad.
            assert df["diverged_step"].iloc[0] >= 1 and 0 < df["last_finite_loss"].iloc[0] < 1e3
        else:
            assert df["epoch"].tolist() == [1, 2] and not df["diverged"].any()


def test_two_ddp_workers_with_uneven_shards_take_the_same_steps(tmp_path, ray_cluster):
    # Digits' 1,197 train images over 2 workers: 599 and 598 rows, 14 and 13 steps of 46 without
    # the even split, and the worker with a step more waits on the other forever. Half a CPU
    # each, so Ray Data keeps a CPU on this 2-CPU Ray.
    path = sweep_file(tmp_path, "uneven", {}, train={"epochs": 2, "batch_size": 46},
                      resources={"workers_per_trial": 2, "cpus_per_worker": 0.5})
    before = _actors(ray_cluster, "DatasetManager"), _actors(ray_cluster, "PreemptionWatcher")
    experiment = run_with_hang_guard(path)
    # Every split held in memory: the Train run streams nothing, so it starts no Ray Data actor
    # (a process of its own, `ray_private.torch_trainer`); nor, on a local Ray, a preemption watcher.
    assert (_actors(ray_cluster, "DatasetManager"), _actors(ray_cluster, "PreemptionWatcher")) == before
    (df,) = trial_progress(experiment).values()
    assert df["epoch"].tolist() == [1, 2] and not df["diverged"].any() and df["valid_acc"].between(0, 1).all()
    assert df["workers"].tolist() == [2, 2] and df["train_images"].tolist() == [1196, 1196]  # 598 each; the one row over is left out
    (run,) = collect(str(experiment)).runs.itertuples()
    assert run.status == "completed" and 0 < run.test_acc <= 1
    assert run.train_rows == 1197 and run.batch_size == 46  # what a study report pools runs by


def test_a_streamed_split_trains_as_the_same_split_held_in_memory(tmp_path, ray_cluster):
    # One batch per epoch (batch 2048 > 1,197 rows): no shuffle order to differ, so the streamed
    # and the held run see the same batches and may differ only by float summation order.
    finals, reads, footer_readers = {}, {}, {}
    for name, in_memory_mb in (("held", 2048), ("streamed", 0.001)):
        path = sweep_file(tmp_path, name, {}, train={"epochs": 2, "batch_size": 2048}, resources={"in_memory_mb": in_memory_mb})
        before = _parquet_read_tasks(ray_cluster), _actors(ray_cluster, "FooterReader")
        (df,) = trial_progress(run_with_hang_guard(path)).values()
        finals[name] = df.iloc[-1]
        reads[name], footer_readers[name] = _parquet_read_tasks(ray_cluster) - before[0], _actors(ray_cluster, "FooterReader") - before[1]
    assert reads["held"] == 0 and reads["streamed"] > 0, reads  # Ray Data read only the streamed run's splits
    # One footer reader a read (the job environment), not Ray Data's pool of 32: 5 here, 160 without.
    assert footer_readers["held"] == 0 and 0 < footer_readers["streamed"] < 32, footer_readers
    for metric in ("train_loss", "valid_loss", "valid_acc", "test_loss", "test_acc"):
        assert finals["streamed"][metric] == pytest.approx(finals["held"][metric], rel=1e-4, abs=1e-6), metric


def _actors(cluster, class_name: str) -> int:
    """Actors of `class_name` so far on the session's Ray (alive or ended), from Ray's State API."""
    from ray.util.state import list_actors

    return len(list_actors(address=cluster.address_info["gcs_address"], filters=[("class_name", "=", class_name)],
                           limit=10_000, raise_on_missing_output=False))


def _parquet_read_tasks(cluster) -> int:
    """Ray Data's Parquet read tasks so far on the session's Ray, from Ray's State API: asked of
    that cluster by its address, never of whichever Ray the machine runs too."""
    from ray.util.state import list_tasks

    tasks = list_tasks(address=cluster.address_info["gcs_address"], limit=10_000, raise_on_missing_output=False)
    return len([t for t in tasks if t.name.startswith("ReadFiles")])


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_cell_gives_the_same_numbers_first_or_after_another_in_a_reused_process(tmp_path, ray_cluster, compiled, request):
    if compiled and not torch._dynamo.is_dynamo_supported():
        pytest.skip(f"torch.compile is not supported here (torch {torch.__version__})")
    # Cell X alone, then cell Y followed by cell X in one reused trial process (one at a time).
    # Eager, that is the shared pair (Y without SE). Compiled, Y differs in its learning rate: the
    # same graphs, compiled cold once for the three trials (Inductor's cache on disk): 57 s from an
    # empty cache here, against 66 s with Y the model without SE.
    train = {"epochs": 2, "compile": compiled}
    alone_experiment = run_with_hang_guard(sweep_file(tmp_path, "alone", {"se": [True]}, train=train))
    alone = trial_progress(alone_experiment)
    if compiled:
        after = trial_progress(run_with_hang_guard(sweep_file(tmp_path, "after", {"se": [True], "lr": [3e-3, 1e-3]}, train=train,
                                                              resources={"max_concurrent_trials": 1})))
    else:
        after = trial_progress(request.getfixturevalue("reused_pair")[0])
    (x_alone,) = alone.values()
    x_after = after[max(after, key=lambda folder: folder.rsplit("_", 1)[1])]  # Tune's trial ids count up in grid order: X is second
    assert x_after["lr"].eq(1e-3).all() and (x_after["params"] == x_alone["params"]).all()
    assert len({int(df["pid"].iloc[0]) for df in after.values()}) == 1, "the trial process was not reused"
    for metric in ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "grad_norm"):
        assert np.array_equal(x_after[metric], x_alone[metric], equal_nan=True), metric  # digit for digit
    # It trains, and its checkpoint loads into an eager model as into a compiled one.
    assert x_alone["epoch"].tolist() == [1, 2] and not x_alone["diverged"].any() and x_alone["valid_acc"].iloc[-1] > 0.5
    (state,) = alone_experiment.glob("*/checkpoint_*/state.pt")
    assert all(not k.startswith("_orig_mod") for k in torch.load(state, weights_only=True)["model"])


def test_checking_a_sweep_file_imports_neither_torch_nor_ray(tmp_path):
    # Importing torch and Ray takes ~5 s; a typo must not wait for them, nor a dry run.
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngird: {}\n")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"name": "g", "data_root": str(tmp_path / "data"), "storage": str(tmp_path / "exp"),
                                    "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False, True]},
                                    "seeds": {"margin": 1.0}}))
    commands = [["run", str(bad)], ["run", str(tmp_path / "missing.yaml"), "--dry-run"], ["resume", str(tmp_path)],
                ["status", str(tmp_path)], ["report", str(tmp_path)], ["run", str(good), "--dry-run"]]
    check = ("import sys; from se_train.cli import main; "
             f"codes = [main(c) for c in {commands!r}]; "
             "print(codes, sorted(m for m in ('torch', 'ray', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[2, 2, 2, 2, 2, 0] []", done.stdout + done.stderr
    assert "bad.yaml: grid: required field is missing" in done.stderr and "missing.yaml: no such sweep file" in done.stderr
    assert "sweep g: 2 cells" in done.stdout


def test_version_is_the_installed_distributions(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out == f"se-sweep {version('se-sweep')}\n"


def test_dry_run_prints_every_trial(tmp_path, capsys):
    path = sweep_file(tmp_path, "dry", {"activation": ["relu", "selu"], "se": [False, True], "seed": [0, 1, 2]})
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "12 trials" in out and len([l for l in out.splitlines() if l.strip()[:2].strip().isdigit()]) == 12


def test_dry_run_refuses_what_run_refuses(tmp_path, capsys, monkeypatch):
    path = sweep_file(tmp_path, "drybad", {"dataset": ["digitz"]})
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "grid.dataset[0]: 'digitz' is not prepared" in err
    assert "(run `se-sweep prepare imagefolder --source DIR --name digitz --data-root " in err  # no built-in of that name
    assert not (tmp_path / "data").exists()  # nothing prepared by a dry run


@pytest.mark.parametrize("flags, resources, message", [
    (["--num-cpus", "2"], {"cpus_per_worker": 3}, "resources: a trial asks for 3 CPU (1 worker(s) x 3 cpus_per_worker), but a local Ray here has 2"),
    (["--mlflow", "http://127.0.0.1:9"], {}, "MLflow tracking URI http://127.0.0.1:9 does not answer"),
])
def test_run_and_dry_run_make_the_same_checks_before_ray(tmp_path, capsys, monkeypatch, flags, resources, message):
    # One preflight: what `run` refuses before Ray (a trial bigger than the local Ray, a tracking
    # server that does not answer), `--dry-run` refuses in the same words.
    path = sweep_file(tmp_path, "same", {}, resources=resources)
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    said = []
    for dry in ([], ["--dry-run"]):
        assert main(["run", str(path), *flags, *dry]) == 2
        said.append(capsys.readouterr().err)
    assert said[0] == said[1] and said[0].count("\n") == 1 and message in said[0], said


def test_shipped_sweeps_validate():
    for path in sorted(Path("sweeps").glob("*.yaml")):
        spec = load_sweep(path)  # the loader `run` uses: a key given twice is refused
        assert spec.trials()
    smoke = parse_sweep(yaml.safe_load(Path("sweeps/smoke.yaml").read_text()), "smoke")
    # the default job decides: a seeds: block over 4 cells of digits
    assert len(smoke.trials()) == 4 and {t.dataset for t in smoke.trials()} == {"digits"} and smoke.seeds is not None


def test_an_option_of_one_model_is_an_axis_of_its_own_grid_only():
    cell = {"dataset": ["digits"], "activation": ["relu"], "se": [False]}
    raw = {"name": "u", "grid": [{"model": ["simple_cnn"], **cell}, {"model": ["resnet50"], "stem": ["cifar"], **cell}]}
    options = [t.option_fields() for t in parse_sweep(raw, "u.yaml").trials()]
    assert options == [{"se_reduction": None}, {"se_reduction": None, "stem": "cifar", "head": None, "zero_init_last_bn": None}]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r["grid"].update(activation=["relu", "selux"]), r"grid\.activation\[1\]: 'selux' is not one of relu, selu"),
        (lambda r: r["grid"].update(model=["resnet18"]), r"grid\.model\[0\]: 'resnet18' is not one of simple_cnn, resnet50"),
        (lambda r: r.update(colour="blue"), r": colour: unknown field"),
        (lambda r: r["train"].update(epochs="many"), r"train\.epochs: Input should be a valid integer"),
        (lambda r: r["train"].update(lr=[1e-3]), r"train\.lr: Input should be a valid number"),
        (lambda r: r["resources"].update(gpus_per_worker=-1), r"resources\.gpus_per_worker: Input should be greater"),
        (lambda r: r["grid"].update(colour=["red"]), r"grid\.colour: unknown axis"),
        (lambda r: r["grid"].pop("se"), r"grid\.se: required axis is missing"),
        (lambda r: r["grid"].update(dataset=["digits", "mnist"]), r"grid\.dataset\[1\]: 'mnist' is not prepared in .*se-sweep prepare mnist"),
        (lambda r: r["grid"].update(se_reduction=[0]), r"grid\.se_reduction\[0\]: Input should be greater than or equal to 1"),
        (lambda r: r["grid"].update(seed=[-1]), r"grid\.seed\[0\]: Input should be greater than or equal to 0"),
        (lambda r: r["grid"].update(image_size=[0]), r"grid\.image_size\[0\]: Input should be greater than or equal to 8"),
        (lambda r: r["grid"].update(image_size=[100000]), r"grid\.image_size\[0\]: Input should be less than or equal to 2048"),
        (lambda r: r["train"].update(epochs=1.0e12), r"train\.epochs: Input should be a valid integer"),
        (lambda r: r["grid"].update(seed=0), r"grid\.seed: give a list, e\.g\. \[0\]"),
        (lambda r: r.update(name=".."), r"name: '\.\.' is not a plain name"),
        (lambda r: r["grid"].update(dataset=["../outside/digits"]), r"grid\.dataset\[0\]: '\.\./outside/digits' is not a plain name"),
        (lambda r: r["grid"].update(seed=list(range(20_000))), r"grid\.seed: 20,000 cells in all, more than 10,000; this axis has 20,000 values"),
        (lambda r: r["grid"].update(stem=["cifar"]), r"trial\[0\]: model 'simple_cnn' takes no option 'stem' \(it takes se_reduction\)"),
    ],
    ids=["activation", "model", "unknown-key", "type", "list-for-scalar", "range", "axis", "missing-axis", "unprepared",
         "se-reduction-0", "negative-seed", "image-size-0", "image-size-huge", "float-epochs", "scalar-seed", "dotdot-name",
         "dataset-path", "huge-grid", "option-of-another-model"],
)
def test_bad_sweep_file_is_one_line_exit_2_before_ray_starts(tmp_path, capsys, monkeypatch, edit, message):
    import re

    path = sweep_file(tmp_path, "bad", {})
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started for a bad sweep file"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert re.search(message, err), err


def test_num_cpus_with_a_cluster_address_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch):
    path = sweep_file(tmp_path, "cpus", {})
    monkeypatch.setattr(cluster.ray, "init", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["run", str(path), "--address", "auto", "--num-cpus", "3"]) == 2
    assert "--num-cpus sizes a local Ray" in capsys.readouterr().err


def test_a_local_rays_processes_inherit_the_job_environment_and_its_job_has_none(monkeypatch):
    # Ray gives a job only workers started with its runtime_env: with the job environment there,
    # the worker per CPU a local Ray starts ahead would never serve a trial. Ray Train's preemption
    # watcher is off on one machine (nothing drains a node; it was a process more per DDP trial,
    # whose start logged an error line); a cluster's trials keep it.
    started = {}
    monkeypatch.setattr(cluster.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster.ray, "init", lambda **kwargs: started.update(kwargs, environ=dict(os.environ)))
    monkeypatch.setenv("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "5")  # the driver's own, kept, and restored after
    monkeypatch.setattr(cluster, "JOB_ENVIRONMENT", {"RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "5", "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "1"})
    monkeypatch.delenv("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", raising=False)
    cluster.connect(None, num_cpus=2)
    assert started["runtime_env"] is None
    assert {name: started["environ"][name] for name in ("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S",
                                                         "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS")} == {
        "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "5", "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "1"}
    assert "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS" not in os.environ and os.environ["RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"] == "5"
    assert "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER" not in cluster.JOB_ENVIRONMENT


def test_gpu_trials_on_a_local_ray_without_gpu_fail_at_once(tmp_path, capsys, ray_cluster):
    # The session's Ray has no GPU: the trials would wait forever for one.
    path = sweep_file(tmp_path, "gpu", {}, resources={"gpus_per_worker": 0.5})
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resources.gpus_per_worker: 0.5 GPU asked, but this Ray has no GPU" in err
    assert not (tmp_path / "experiments" / "gpu" / "sweep.json").exists()


def _refused(path, capsys, monkeypatch) -> str:
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started for a bad sweep"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_duplicate_key_names_the_key_and_both_lines(tmp_path, capsys, monkeypatch):
    path = tmp_path / "dup.yaml"
    path.write_text("name: dup\ngrid:\n  model: [simple_cnn]\n  activation: [relu]\n  activation: [selu]\n")
    assert "key 'activation' given twice, on lines 4 and 5" in _refused(path, capsys, monkeypatch)


def test_folder_or_binary_sweep_path_is_one_line(tmp_path, capsys, monkeypatch):
    assert f"{tmp_path}: is a folder" in _refused(tmp_path, capsys, monkeypatch)
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert f"{path}: not UTF-8 text" in _refused(path, capsys, monkeypatch)


def test_missing_test_shard_is_named_before_ray_starts(tmp_path, capsys, monkeypatch):
    from se_train.data.prepare import prepare

    path = sweep_file(tmp_path, "notest", {})
    shard = prepare("digits", tmp_path / "data") / "test" / "part-00000.parquet"
    shard.unlink()
    assert f"{shard}: shard listed in the manifest is missing" in _refused(path, capsys, monkeypatch)


def test_rays_own_log_lines_go_to_the_experiments_log_not_the_terminal(tmp_path, capfd, request):
    import logging

    from se_train.sweep import ray_log

    import ray  # noqa: F401 - Ray puts its terminal handlers on its loggers as it is imported

    saved = {name: list(logging.getLogger(name).handlers) for name in ray_log.LOGGERS}
    request.addfinalizer(lambda: [setattr(logging.getLogger(n), "handlers", h) for n, h in saved.items()])  # the session's Ray logs as before
    for _ in range(2):  # a second sweep in one process moves the log; the first file is left alone
        path = ray_log.where(str(tmp_path / "exp"), "exp")
        ray_log.to_file(path)
    logging.getLogger("ray._private.authentication").warning("Token authentication is enabled for this Ray cluster")
    logging.getLogger("ray.data").info("a dataset line")
    out, err = capfd.readouterr()
    assert "Token authentication" not in err and "dataset line" not in err, err
    assert out == f"Ray's own log: {path} (--verbose shows it here)\n" * 2
    logged = path.read_text()
    assert logged.count("Token authentication is enabled") == 1 and "a dataset line" in logged
    assert ray_log.where("s3://bucket/exp", "exp").parent == Path(tempfile.gettempdir())


def test_the_committed_json_schema_is_the_models_and_every_shipped_sweep_file_passes_it(capsys):
    import json

    import jsonschema

    from se_train.cli import main

    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(Path("sweep.schema.json").read_text()), "sweep.schema.json is stale: se-sweep schema > sweep.schema.json"
    validator = jsonschema.Draft202012Validator(printed)
    for path in [*sorted(Path("sweeps").glob("*.yaml")), *sorted(Path("examples").glob("*.yaml"))]:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../sweep.schema.json\n"), path  # an editor finds it
        validator.validate(yaml.safe_load(text))
    # and it refuses what the models refuse: a misspelled block, a seeds.method that does not exist
    assert not validator.is_valid({"name": "s", "gird": {}})
    assert not validator.is_valid({"name": "s", "grid": {"model": ["m"], "dataset": ["d"], "activation": ["relu"], "se": [False]},
                                   "seeds": {"margin": 1, "method": "bayes"}})


def test_the_readme_is_short_and_every_local_link_of_it_and_the_docs_resolves():
    import re

    readme = Path("README.md").read_text()
    assert len(readme.splitlines()) <= 150  # a newcomer reads it in five minutes; the rest is the docs site
    for page in [Path("README.md"), *sorted(Path("docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page}: a link to {target}, which is not there"
    # the reference page is generated from the models: every field of every block is on it
    from se_train.reference import BLOCKS, sweep_file_reference

    reference = sweep_file_reference()
    assert all(f"| `{name}` |" in reference for _, model in BLOCKS for name in model.model_fields)


def test_the_help_says_what_se_sweep_does_and_the_first_commands(capsys):
    from se_train.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "decide each effect" in out and "se-sweep run sweeps/smoke.yaml --dry-run" in out
    assert "map user errors" not in out  # the module's docstring is for developers


