"""The sweep on a real local Ray: grids complete, divergence is stopped and recorded, a killed
worker recovers from its checkpoint, a killed driver resumes, and bad sweep files fail early."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml

from se_train import tune_files
from se_train.cli import main
from se_train.sweep_file import load_sweep, parse_sweep
from se_train.report.collect import collect
from se_train.sweep import cluster, runner
from tests.helpers import HANG_TIMEOUT_S, run_with_hang_guard, sweep_file, tensorboard_scalars, trial_progress, wait_for

def test_one_worker_trials_train_in_one_reused_process(tmp_path, ray_cluster, capsys):
    # One trial at a time: the second runs in the first one's process (torch imported, no new
    # worker group), and neither starts a Ray Train run.
    path = sweep_file(tmp_path, "two", {"activation": ["relu", "selu"]}, resources={"max_concurrent_trials": 1})
    experiment = run_with_hang_guard(path)
    out = capsys.readouterr().out
    # The compact live view: one line per trial, counts; plain text, and no Tune table.
    assert re.search(r"^simple_cnn digits selu s0 +2/2 +\d+\.\d% +\d\.\d{3} +[\d,]+  done$", out, re.M)
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
    assert json.loads((experiment / "sweep.json").read_text())["spec"]["name"] == "two"
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
    experiment = run_with_hang_guard(path)
    (df,) = trial_progress(experiment).values()
    assert df["epoch"].tolist() == [1, 2] and not df["diverged"].any() and df["valid_acc"].between(0, 1).all()
    assert df["workers"].tolist() == [2, 2] and df["train_images"].tolist() == [1196, 1196]  # 598 each; the one row over is left out
    (run,) = collect(str(experiment)).runs.itertuples()
    assert run.status == "completed" and 0 < run.test_acc <= 1
    assert run.train_rows == 1197 and run.batch_size == 46  # what a study report pools runs by


@pytest.mark.slow
def test_killed_ddp_worker_resumes_from_its_checkpoint(tmp_path, ray_cluster):
    import psutil

    # Enough short epochs that the kill lands mid-trial (a ResNet-50's 3 slow ones cost 60 s more).
    path = sweep_file(tmp_path, "ddpft", {}, train={"epochs": 8},
                      resources={"workers_per_trial": 2, "cpus_per_worker": 0.5, "max_failures": 1})
    experiment = tmp_path / "experiments" / "ddpft"
    killed: list[int] = []

    # Only this test's Ray's workers (its raylet's children): another Ray on the machine is not ours.
    raylet_flag = f"--raylet_socket_name={ray_cluster.address_info['raylet_socket_name']}"
    (raylet,) = [p for p in psutil.process_iter(["cmdline"]) if raylet_flag in (p.info["cmdline"] or [])]

    def kill_a_worker_after_the_first_checkpoint():
        wait_for(lambda: list(experiment.glob("train_runs/*/checkpoint_*")), "epoch 1's checkpoint")
        for proc in raylet.children():
            if "RayTrainWorker" in proc.name():
                proc.kill()
                killed.append(proc.pid)
                break

    killer = threading.Thread(target=kill_a_worker_after_the_first_checkpoint, daemon=True)
    killer.start()
    run_with_hang_guard(path)
    killer.join(5)
    assert killed, "no Train worker was killed: the test did not exercise recovery"
    (df,) = trial_progress(experiment).values()
    assert df["epoch"].tolist() == list(range(1, 9)) and df["workers"].eq(2).all()


def test_a_streamed_split_trains_as_the_same_split_held_in_memory(tmp_path, ray_cluster):
    # One batch per epoch (batch 2048 > 1,197 rows): no shuffle order to differ, so the streamed
    # and the held run see the same batches and may differ only by float summation order.
    finals, reads = {}, {}
    for name, in_memory_mb in (("held", 2048), ("streamed", 0.001)):
        path = sweep_file(tmp_path, name, {}, train={"epochs": 2, "batch_size": 2048}, resources={"in_memory_mb": in_memory_mb})
        before = _parquet_read_tasks(ray_cluster)
        (df,) = trial_progress(run_with_hang_guard(path)).values()
        finals[name], reads[name] = df.iloc[-1], _parquet_read_tasks(ray_cluster) - before
    assert reads["held"] == 0 and reads["streamed"] > 0, reads  # Ray Data read only the streamed run's splits
    for metric in ("train_loss", "valid_loss", "valid_acc", "test_loss", "test_acc"):
        assert finals["streamed"][metric] == pytest.approx(finals["held"][metric], rel=1e-4, abs=1e-6), metric


def _parquet_read_tasks(cluster) -> int:
    """Ray Data's Parquet read tasks so far on the session's Ray, from Ray's State API: asked of
    that cluster by its address, never of whichever Ray the machine runs too."""
    from ray.util.state import list_tasks

    tasks = list_tasks(address=cluster.address_info["gcs_address"], limit=10_000, raise_on_missing_output=False)
    return len([t for t in tasks if t.name.startswith("ReadFiles")])


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_cell_gives_the_same_numbers_first_or_after_another_in_a_reused_process(tmp_path, ray_cluster, compiled):
    if compiled and not torch._dynamo.is_dynamo_supported():
        pytest.skip(f"torch.compile is not supported here (torch {torch.__version__})")
    # Cell X alone, then cell Y followed by cell X in one reused trial process (one at a time).
    train = {"epochs": 2, "compile": compiled}
    alone_experiment = run_with_hang_guard(sweep_file(tmp_path, "alone", {"se": [True]}, train=train))
    alone = trial_progress(alone_experiment)
    after = trial_progress(run_with_hang_guard(sweep_file(tmp_path, "after", {"se": [False, True]}, train=train,
                                                          resources={"max_concurrent_trials": 1})))
    (x_alone,) = alone.values()
    x_after = next(df for name, df in after.items() if "-SE-" in name)  # folders are named as the live view names cells
    assert len({int(df["pid"].iloc[0]) for df in after.values()}) == 1, "the trial process was not reused"
    for metric in ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "grad_norm"):
        assert np.array_equal(x_after[metric], x_alone[metric], equal_nan=True), metric  # digit for digit
    # It trains, and its checkpoint loads into an eager model as into a compiled one.
    assert x_alone["epoch"].tolist() == [1, 2] and not x_alone["diverged"].any() and x_alone["valid_acc"].iloc[-1] > 0.5
    (state,) = alone_experiment.glob("*/checkpoint_*/state.pt")
    assert all(not k.startswith("_orig_mod") for k in torch.load(state, weights_only=True)["model"])


def test_killed_worker_recovers_from_checkpoint_reporting_each_epoch_once(tmp_path, ray_cluster):
    # A one-worker trial trains in its Tune trial's process: killing that process is killing the worker.
    # Enough short epochs that the kill lands mid-trial (a ResNet-50's 3 slow ones cost 30 s more).
    path = sweep_file(tmp_path, "ft", {}, train={"epochs": 30}, resources={"max_failures": 2})
    killed: list[int] = []

    def kill_after_first_epoch():
        experiment = tmp_path / "experiments" / "ft"
        (df, *_) = wait_for(lambda: experiment.exists() and list(trial_progress(experiment).values()), "the first epoch")
        os.kill(int(df["pid"].iloc[0]), signal.SIGKILL)  # Tune records the trial's pid
        killed.append(int(df["pid"].iloc[0]))

    killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
    killer.start()
    experiment = run_with_hang_guard(path)
    killer.join(5)
    assert killed, "the worker was never killed: the test did not exercise recovery"
    (df,) = trial_progress(experiment).values()
    assert df["epoch"].tolist() == list(range(1, 31))
    assert df["pid"].nunique() == 2, "the trial did not continue in a new process"  # the kill landed mid-trial


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "se_train.cli", *args]


def test_killed_driver_resumes_without_rerunning_finished_trials(tmp_path, ray_cluster):
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "res", {"activation": ["relu", "selu"], "se": [False, True]}, resources={"max_concurrent_trials": 1})
    experiment = tmp_path / "experiments" / "res"
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = wait_for(lambda: experiment.exists() and {k: df for k, df in trial_progress(experiment).items() if len(df) == 2},
                        "a finished trial")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    status = subprocess.run(_cli("status", str(experiment)), capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and re.search(r"resume would rerun [1-4]: ", status.stdout), status.stdout + status.stderr
    before = {k: (experiment / k / "progress.csv").read_text() for k in finished}

    # The sweep file says one trial at a time; the resume asks for two, which this Ray fits.
    # Tune's timestamps are whole seconds: a float start keeps the finished trial's last row,
    # reported in the second the resume starts, out of the resumed rows.
    resumed = time.time()
    done = subprocess.run(_cli("resume", str(experiment), "--address", address, "--max-concurrent", "2"),
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"se-sweep report {experiment}" in done.stdout
    progress = trial_progress(experiment)
    assert len(progress) == 4
    assert all(df["epoch"].tolist() == [1, 2] for df in progress.values())
    assert {k: (experiment / k / "progress.csv").read_text() for k in finished} == before  # not rerun
    # Reused trial processes: one at a time would have run every resumed epoch in one process.
    pids = {int(pid) for df in progress.values() for pid in df.loc[df["timestamp"] >= resumed, "pid"]}
    assert len(pids) == 2


def test_a_driver_killed_while_tune_copies_its_state_leaves_the_last_state_whole(tmp_path, monkeypatch):
    import shutil

    import pyarrow.fs
    from ray.train._internal import storage as train_storage

    from se_train.sweep import ray_private

    ray_private.atomic_local_uploads()  # as the driver does before Tune starts
    staging, experiment = tmp_path / "staging", tmp_path / "experiment"
    (staging / "trial_0").mkdir(parents=True)
    (staging / "experiment_state-x.json").write_text('{"trial_data": ["new"]}')
    (staging / "trial_0" / "result.json").write_text("{}\n")
    experiment.mkdir()
    (experiment / "experiment_state-x.json").write_text('{"trial_data": ["old"]}')

    def killed(src, dst):  # the copy dies halfway, as under a SIGKILL
        Path(dst).write_text('{"tri')
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", killed)
        with pytest.raises(SystemExit):
            train_storage._upload_to_fs_path(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))
    assert (experiment / "experiment_state-x.json").read_text() == '{"trial_data": ["old"]}'  # Tune's last state, whole
    train_storage._upload_to_fs_path(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))
    assert (experiment / "experiment_state-x.json").read_text() == '{"trial_data": ["new"]}'
    assert (experiment / "trial_0" / "result.json").read_text() == "{}\n"


def test_tunes_uploads_copy_a_trials_log_again_only_when_it_changed_and_the_state_always(tmp_path):
    # Tune uploads the whole staging folder at every snapshot: recopying every finished trial's
    # logs made 300 short trials' uploads quadratic (results/bench/README.md, issue 49).
    import pyarrow.fs
    from ray.train._internal import storage as train_storage

    from se_train.sweep import ray_private

    ray_private.atomic_local_uploads()
    staging, experiment = tmp_path / "staging", tmp_path / "experiment"
    (staging / "trial_0").mkdir(parents=True)
    (staging / "experiment_state-x.json").write_text('{"trial_data": ["RUNNING"]}')
    (staging / "trial_0" / "result.json").write_text('{"epoch": 1}\n')
    upload = lambda: train_storage._upload_to_fs_path(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))  # noqa: E731
    upload()
    # Marks in storage show what the next upload copies: an unchanged log is left, the state is not.
    (experiment / "trial_0" / "result.json").write_text("left\n")
    (experiment / "experiment_state-x.json").write_text("left")
    upload()
    assert (experiment / "trial_0" / "result.json").read_text() == "left\n"
    assert (experiment / "experiment_state-x.json").read_text() == '{"trial_data": ["RUNNING"]}'
    with (staging / "trial_0" / "result.json").open("a") as log:
        log.write('{"epoch": 2}\n')
    upload()
    assert (experiment / "trial_0" / "result.json").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'


def test_resume_refuses_a_new_mlflow_server_in_one_line(diverging_experiment, capsys, monkeypatch):
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(diverging_experiment), "--mlflow", "http://127.0.0.1:5000"]) == 2
    assert capsys.readouterr().err == (
        "se-sweep: error: --mlflow http://127.0.0.1:5000: this sweep was started without MLflow, and a resumed sweep "
        "keeps the tracking it started with; drop --mlflow\n")


def test_a_sweep_stopped_before_tune_saved_state_is_started_anew(tmp_path, capsys, monkeypatch):
    # Killed between writing sweep.json and Tune's first snapshot: nothing to resume, nothing lost.
    from se_train import experiment as layout

    path = sweep_file(tmp_path, "unsaved", {})
    spec = parse_sweep(yaml.safe_load(path.read_text()), str(path))
    experiment = tmp_path / "experiments" / "unsaved"
    experiment.mkdir(parents=True)
    layout.write_sweep(layout.SweepRecord(spec=spec, sweep_file=str(path), experiment=str(experiment), data_root="data"))
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(experiment)]) == 2
    assert capsys.readouterr().err == (
        f"se-sweep: error: {experiment}: Tune saved no state there (the sweep stopped before its first trial started), so "
        f"there is nothing to resume; `se-sweep run {path} --storage {experiment.parent}` starts it anew\n")

    class Started(Exception):
        pass

    monkeypatch.setattr(runner, "connect", lambda *a, **k: (_ for _ in ()).throw(Started()))
    with pytest.raises(Started):  # run goes on to start the sweep instead of sending the user back to resume
        main(["run", str(path), "--storage", str(experiment.parent)])
    assert "Tune saved no state there: starting it anew" in capsys.readouterr().out


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


@pytest.mark.parametrize("blocks, flags, message", [
    ({"resources": {"cpus_per_worker": 3}}, ["--num-cpus", "2"], "resources: a trial asks for 3 CPU (1 worker(s) x 3 cpus_per_worker), but a local Ray here has 2"),
    ({"tracking": {"wandb": "se-sweep-tests"}}, [], "tracking.wandb: no W&B credentials here: run `wandb login`"),
])
def test_resume_makes_the_checks_run_makes_before_ray(tmp_path, capsys, monkeypatch, blocks, flags, message):
    # The same preflight again: what changed since the sweep started (the machine: a local Ray of
    # 2 CPUs for a trial asking 3; W&B's credentials gone) is refused in run's words, before Ray.
    import numpy as np

    from se_train.bench.report import fake_experiment

    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # where `wandb login` would have stored a key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    folder = tmp_path / "experiments" / "again"
    fake_experiment(folder, {"model": ["simple_cnn"], "activation": ["relu"], "se": [False]}, 1, np.random.default_rng(0), **blocks)
    (folder / "tuner.pkl").write_bytes(b"")  # Tune's mark of a restorable sweep; never read: refused before
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(folder), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


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


def test_a_state_naming_a_deleted_checkpoint_resumes_from_the_newest_left(tmp_path, ray_cluster):
    # What a driver killed between Tune's deleting a trial's old checkpoint and uploading the state
    # that names the new one leaves (seen on a cluster without a shared disk): a state naming a
    # checkpoint that is gone. Made here by hand after a kill: trial A keeps only a checkpoint newer
    # than any the state can name, trial B keeps none. Both must finish, each epoch counted once.
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "gone", {"activation": ["relu", "selu"]}, train={"epochs": 30}, resources={"max_concurrent_trials": 2})
    experiment = tmp_path / "experiments" / "gone"
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = lambda trial: sorted(trial.glob("checkpoint_*"))  # noqa: E731
    started = lambda: [p for p in experiment.glob("simple_cnn-*") if p.is_dir()] if experiment.exists() else []  # noqa: E731
    wait_for(lambda: len(started()) == 2 and all(len(trial_progress(experiment).get(p.name, ())) >= 3 and checkpoints(p) for p in started()),
             "two trials past their third epoch")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Ray ends a dead driver's trial processes a moment later: until then they still checkpoint.
    pids = {int(df["pid"].iloc[-1]) for df in trial_progress(experiment).values()}
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), "the trial processes to end")
    a, b = sorted(started())
    newest = checkpoints(a)[-1]
    later = newest.with_name(f"checkpoint_{int(newest.name.split('_')[1]) + 1:06d}")
    newest.rename(later)
    for old in checkpoints(a)[:-1] + checkpoints(b):
        shutil.rmtree(old)
    done = subprocess.run(_cli("resume", str(experiment), "--address", address), capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(rf"resume: {a.name}: Tune's state names checkpoint_\d+, which is gone from storage; continues from {later.name}, the newest there", done.stdout), done.stdout
    assert re.search(rf"resume: {b.name}: Tune's state names checkpoint_\d+, which is gone from storage, and no checkpoint is left; starts again", done.stdout), done.stdout
    exp = collect(str(experiment))
    assert (exp.runs["status"] == "completed").all() and len(exp.runs) == 2
    epochs = {t: group["epoch"].tolist() for t, group in exp.epochs.groupby("trial_id")}
    assert all(e == list(range(1, 31)) for e in epochs.values()), epochs


def test_ctrl_c_exits_130_with_the_resume_hint_and_status_counts_the_trials_to_come(tmp_path, ray_cluster):
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "ctrlc", {"activation": ["relu", "selu"], "se": [False, True]}, train={"epochs": 20},
                      resources={"max_concurrent_trials": 1})
    experiment = tmp_path / "experiments" / "ctrlc"
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: experiment.exists() and any(len(df) >= 2 for df in trial_progress(experiment).values()), "a trial's second epoch")
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole foreground process group
    out, err = proc.communicate(timeout=HANG_TIMEOUT_S)
    assert proc.returncode == 130, out[-2000:] + err[-3000:]
    assert err.rstrip().endswith(f"next: se-sweep resume {experiment}") and "Tuner.restore(" not in out + err
    assert "\x1b[" not in out + err  # no colour code in a pipe: Ray's worker-line prefixes included
    assert "next: se-sweep report" not in out
    status = subprocess.run(_cli("status", str(experiment)), capture_output=True, text=True, timeout=120)
    # 4 cells, one at a time: the first interrupted, the other 3 never created by Tune.
    assert re.search(r"4 trials: 1 unfinished, 3 to come;", status.stdout), status.stdout
    assert "resume would rerun 1: simple_cnn digits relu s0, and start the 3 to come" in status.stdout, status.stdout


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


@pytest.mark.parametrize("workers", [1, 2])
def test_a_driver_killed_between_a_checkpoint_and_its_record_resumes_to_every_epoch_once(tmp_path, ray_cluster, workers):
    # What a driver killed after a mid-trial checkpoint reached storage, before the records of the
    # epochs up to it were uploaded, leaves: a checkpoint ahead of result.json and progress.csv.
    # Made here by hand after a kill: the trial's last two recorded epochs are cut from both. A
    # multi-worker trial continues from its Ray Train run's own checkpoint (train_runs/). Resumed
    # on the same machine, Tune finds the killed driver's staged logs; resumed on another (a copy
    # of the folder, made before the first resume), none.
    address = ray_cluster.address_info["address"]
    resources = {"max_concurrent_trials": 1} | ({"workers_per_trial": 2, "cpus_per_worker": 0.5} if workers == 2 else {})
    path = sweep_file(tmp_path, "cut", {}, train={"epochs": 20}, resources=resources)
    experiment = tmp_path / "experiments" / "cut"
    # Tune uploads a trial's logs with its state, every 10 s or more, and a multi-worker trial's
    # 20 epochs take 10 s: each second here, so the kill lands mid-trial.
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True, env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: experiment.exists() and any(len(df) >= 4 for df in trial_progress(experiment).values()), "a trial's fourth epoch")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pids = {int(df["pid"].iloc[-1]) for df in trial_progress(experiment).values()}
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), "the trial processes to end")
    time.sleep(3)  # a Ray Train run's workers and controller end after the trial's process
    (trial,) = [p.name for p in experiment.glob("simple_cnn-*") if p.is_dir()]
    assert not tune_files.read_state(str(experiment))[0].finished, "the trial ended before the kill"
    for log in ("result.json", "progress.csv"):
        lines = (experiment / trial / log).read_text().splitlines(keepends=True)
        (experiment / trial / log).write_text("".join(lines[:-2]))
    elsewhere = tmp_path / "another-machine" / "cut"
    shutil.copytree(experiment, elsewhere)
    for folder, machine in ((experiment, "same"), (elsewhere, "another")):
        if machine == "another":
            for staged in Path(ray_cluster.address_info["session_dir"], "artifacts").glob("*/cut"):
                shutil.rmtree(staged)
        done = subprocess.run(_cli("resume", str(folder), "--address", address), capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
        assert done.returncode == 0, machine + done.stdout[-3000:] + done.stderr[-3000:]
        recorded = [json.loads(line)["epoch"] for line in (folder / trial / "result.json").read_text().splitlines()]
        assert recorded == list(range(1, 21)), (machine, recorded, done.stdout)
        assert "\x1b[" not in done.stdout + done.stderr  # no colour code in a pipe: Ray's worker-line prefixes included
        assert trial_progress(folder)[trial]["epoch"].tolist() == list(range(1, 21)), machine
