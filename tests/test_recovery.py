"""Recovery on a real local Ray: a killed worker (one-worker or DDP) continues from its checkpoint,
a killed driver resumes without rerunning what finished and to every epoch exactly once (a state
naming a deleted checkpoint, a checkpoint ahead of its record, on this machine or a copy), Ctrl-C
exits with the resume hint, Tune's uploads stay whole when killed, and `resume` refuses before Ray
what `run` would refuse."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from se_train import tune_files
from se_train.cli import main
from se_train.sweep_file import parse_sweep
from se_train.report.collect import collect
from se_train.sweep import runner
from tests.helpers import HANG_TIMEOUT_S, run_with_hang_guard, running_children, se_sweep_here, sweep_file, trial_progress, wait_for


@pytest.mark.slow
def test_killed_ddp_worker_resumes_from_its_checkpoint(tmp_path, ray_cluster):
    # Killed as epoch 1's checkpoint appears, 3 epochs (2 s or more) before the trial ends: the
    # kill lands mid-trial (a ResNet-50's 3 slow epochs would cost 60 s more).
    path = sweep_file(tmp_path, "ddpft", {}, train={"epochs": 4},
                      resources={"workers_per_trial": 2, "cpus_per_worker": 0.5, "max_failures": 1})
    experiment = tmp_path / "experiments" / "ddpft"
    killed: list[int] = []

    raylet = _raylet(ray_cluster)

    def kill_a_worker_after_the_first_checkpoint():
        wait_for(lambda: list(experiment.glob("train_runs/*/checkpoint_*")), "epoch 1's checkpoint")
        for proc in running_children(raylet, "RayTrainWorker")[:1]:  # one of the two
            proc.kill()
            killed.append(proc.pid)

    killer = threading.Thread(target=kill_a_worker_after_the_first_checkpoint, daemon=True)
    killer.start()
    run_with_hang_guard(path)
    killer.join(5)
    assert killed, "no Train worker was killed: the test did not exercise recovery"
    (df,) = trial_progress(experiment).values()
    assert df["epoch"].tolist() == list(range(1, 5)) and df["workers"].eq(2).all()


def test_killed_worker_recovers_from_checkpoint_reporting_each_epoch_once(tmp_path, ray_cluster):
    # A one-worker trial trains in its Tune trial's process: killing that process is killing the worker.
    # Killed after its first epoch, 14 short ones (2 s or more) before its end: the kill lands
    # mid-trial (a ResNet-50's 3 slow epochs would cost 30 s more).
    path = sweep_file(tmp_path, "ft", {}, train={"epochs": 15}, resources={"max_failures": 2})
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
    assert df["epoch"].tolist() == list(range(1, 16))
    assert df["pid"].nunique() == 2, "the trial did not continue in a new process"  # the kill landed mid-trial


def _raylet(ray_cluster) -> psutil.Process:
    """This test process's Ray's raylet, whose children are its workers: another Ray on the machine is not ours."""
    flag = f"--raylet_socket_name={ray_cluster.address_info['raylet_socket_name']}"
    (raylet,) = [p for p in psutil.process_iter(["cmdline"]) if flag in (p.info["cmdline"] or [])]
    return raylet


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "se_train.cli", *args]


def test_killed_driver_resumes_without_rerunning_finished_trials(tmp_path, ray_cluster):
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "res", {"activation": ["relu", "selu"], "se": [False, True]}, resources={"max_concurrent_trials": 1})
    experiment = tmp_path / "experiments" / "res"
    # Tune uploads a trial's log with its state, every 10 s or more: each second here, so the kill
    # comes as the first trial's end shows, with two or more left (seen in the suite: one left).
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True, env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = wait_for(lambda: experiment.exists() and {k: df for k, df in trial_progress(experiment).items() if len(df) == 2},
                        "a finished trial")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    code, out, err = se_sweep_here("status", str(experiment))
    assert code == 0 and re.search(r"resume would rerun [1-4]: ", out), out + err
    before = {k: (experiment / k / "progress.csv").read_text() for k in finished}

    # The sweep file says one trial at a time; the resume asks for two, which this Ray fits once
    # Ray has ended the killed run's trial process, a moment after the kill (under load, seconds:
    # until then the resume runs one trial at a time, in one process).
    import ray

    wait_for(lambda: ray.available_resources().get("CPU", 0) >= 2, "this Ray's 2 CPUs free (the killed run's trial process ended)", timeout_s=60)
    # Tune's timestamps are whole seconds: a float start keeps the finished trial's last row,
    # reported in the second the resume starts, out of the resumed rows.
    resumed = time.time()
    code, out, err = se_sweep_here("resume", str(experiment), "--address", address, "--max-concurrent", "2")
    assert code == 0, err[-3000:]
    assert f"se-sweep report {experiment}" in out
    progress = trial_progress(experiment)
    assert len(progress) == 4
    assert all(df["epoch"].tolist() == [1, 2] for df in progress.values())
    assert {k: (experiment / k / "progress.csv").read_text() for k in finished} == before  # not rerun
    # Reused trial processes: one at a time would have run every resumed epoch in one process.
    rows = {k: df.loc[df["timestamp"] >= resumed] for k, df in progress.items()}
    assert sum(not df.empty for df in rows.values()) >= 2, "fewer than two trials were left to resume"
    assert len({int(pid) for df in rows.values() for pid in df["pid"]}) == 2


def test_a_driver_killed_while_tune_copies_its_state_leaves_the_last_state_whole(tmp_path, monkeypatch):
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


def test_a_log_uploaded_an_epoch_ahead_of_the_other_is_cut_to_the_epochs_both_hold(tmp_path):
    # Tune appends each epoch to result.json and progress.csv, then uploads them one after the
    # other: a driver killed in between leaves progress.csv an epoch ahead (seen once in the suite,
    # a duplicate epoch after resume). The checkpoint holds epochs 1-3; both logs keep epoch 1.
    from se_train.sweep import tune_state

    trial, checkpoint = tmp_path / "trial", tmp_path / "trial" / "checkpoint_000002"
    checkpoint.mkdir(parents=True)
    records = [{"epoch": e, "valid_acc": 0.5} for e in (1, 2, 3)]
    (checkpoint / "records.json").write_text(json.dumps(records))
    (trial / "result.json").write_text(json.dumps(records[0]) + "\n")
    (trial / "progress.csv").write_text("epoch,valid_acc\n1,0.5\n2,0.5\n")
    said = tune_state._records_again(str(trial), "trial", str(checkpoint), True, [])
    assert said == ["trial: epoch(s) 2, 3 reported again from checkpoint_000002"]
    assert (trial / "result.json").read_text() == json.dumps(records[0]) + "\n"
    assert (trial / "progress.csv").read_text().splitlines() == ["epoch,valid_acc", "1,0.5"]
    assert json.loads((checkpoint / "unrecorded").read_text()) == [2, 3]


def _restorable(folder: Path, finished: bool = False, **blocks) -> Path:
    """A sweep's folder as `run` and Tune write it (sweep.json, Tune's state, each trial's log),
    with the sweep file's other `blocks`; its one trial finished, or left running by a killed
    driver (what `resume` must check, and refuse before Ray, before it continues)."""
    import numpy as np

    from se_train import experiment as layout
    from se_train.bench.report import fake_experiment
    from se_train.result import TuneStatus

    fake_experiment(folder, {"model": ["simple_cnn"], "activation": ["relu"], "se": [False]}, 1, np.random.default_rng(0), **blocks)
    if not finished:
        (state,) = folder.glob(f"{layout.STATE_PREFIX}*")
        state.write_text(state.read_text().replace(TuneStatus.TERMINATED.value, TuneStatus.RUNNING.value))
    (folder / "tuner.pkl").write_bytes(b"")  # Tune's mark of a restorable sweep; never read: refused before
    return folder


def test_resume_refuses_a_new_mlflow_server_in_one_line(tmp_path, capsys, monkeypatch):
    experiment = _restorable(tmp_path / "experiments" / "untracked")
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(experiment), "--mlflow", "http://127.0.0.1:5000"]) == 2
    assert capsys.readouterr().err == (
        "se-sweep: error: --mlflow http://127.0.0.1:5000: this sweep was started without MLflow, and a resumed sweep "
        "keeps the tracking it started with; drop --mlflow\n")


def test_resuming_a_finished_grid_starts_no_ray_and_says_nothing_is_left(tmp_path, capsys, monkeypatch):
    experiment = _restorable(tmp_path / "experiments" / "done", finished=True)
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(experiment)]) == 0
    out = capsys.readouterr().out
    assert f"resume: every trial of {experiment} has finished; nothing to rerun" in out and f"next: se-sweep report {experiment}" in out


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


@pytest.mark.parametrize("blocks, flags, message", [
    ({"resources": {"cpus_per_worker": 3}}, ["--num-cpus", "2"], "resources: a trial asks for 3 CPU (1 worker(s) x 3 cpus_per_worker), but a local Ray here has 2"),
    ({"tracking": {"wandb": "se-sweep-tests"}}, [], "tracking.wandb: no W&B credentials here: run `wandb login`"),
])
def test_resume_makes_the_checks_run_makes_before_ray(tmp_path, capsys, monkeypatch, blocks, flags, message):
    # The same preflight again: what changed since the sweep started (the machine: a local Ray of
    # 2 CPUs for a trial asking 3; W&B's credentials gone) is refused in run's words, before Ray.
    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # where `wandb login` would have stored a key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    folder = _restorable(tmp_path / "experiments" / "again", **blocks)
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["resume", str(folder), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_state_naming_a_deleted_checkpoint_resumes_from_the_newest_left(tmp_path, ray_cluster):
    # What a driver killed between Tune's deleting a trial's old checkpoint and uploading the state
    # that names the new one leaves (seen on a cluster without a shared disk): a state naming a
    # checkpoint that is gone. Made here by hand after a kill: trial A keeps only a checkpoint newer
    # than any the state can name, trial B keeps none. Both must finish, each epoch counted once.
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "gone", {"activation": ["relu", "selu"]}, train={"epochs": 12}, resources={"max_concurrent_trials": 2})
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
    code, out, err = se_sweep_here("resume", str(experiment), "--address", address)
    assert code == 0, err[-3000:]
    assert re.search(rf"resume: {a.name}: Tune's state names checkpoint_\d+, which is gone from storage; continues from {later.name}, the newest there", out), out
    assert re.search(rf"resume: {b.name}: Tune's state names checkpoint_\d+, which is gone from storage, and no checkpoint is left; starts again", out), out
    exp = collect(str(experiment))
    assert (exp.runs["status"] == "completed").all() and len(exp.runs) == 2
    epochs = {t: group["epoch"].tolist() for t, group in exp.epochs.groupby("trial_id")}
    assert all(e == list(range(1, 13)) for e in epochs.values()), epochs


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
    code, out, _ = se_sweep_here("status", str(experiment))
    # 4 cells, one at a time: the first interrupted, the other 3 never created by Tune.
    assert code == 0 and re.search(r"4 trials: 1 unfinished, 3 to come;", out), out
    assert "resume would rerun 1: simple_cnn digits relu s0, and start the 3 to come" in out, out


@pytest.mark.parametrize("workers", [1, 2])
def test_a_driver_killed_between_a_checkpoint_and_its_record_resumes_to_every_epoch_once(tmp_path, ray_cluster, workers):
    # What a driver killed after a mid-trial checkpoint reached storage, before the records of the
    # epochs up to it were uploaded, leaves: a checkpoint ahead of result.json and progress.csv.
    # Made here by hand after a kill: the trial's last two recorded epochs are cut from both. A
    # multi-worker trial continues from its Ray Train run's own checkpoint (train_runs/). Resumed
    # on the same machine, Tune finds the killed driver's staged logs; resumed on another (a copy
    # of the folder, made before the first resume), none. Tune's driver stages the logs whatever
    # the trial's workers: the multi-worker trial resumes on another machine alone (a Train run
    # less, ~25 s), where its own checkpoint is all it has.
    address = ray_cluster.address_info["address"]
    resources = {"max_concurrent_trials": 1} | ({"workers_per_trial": 2, "cpus_per_worker": 0.5} if workers == 2 else {})
    epochs = 12
    path = sweep_file(tmp_path, "cut", {}, train={"epochs": epochs}, resources=resources)
    experiment = tmp_path / "experiments" / "cut"
    # Tune uploads a trial's logs with its state, every 10 s or more, and a multi-worker trial's
    # 12 epochs take 6-10 s: each second here, so the kill lands mid-trial.
    proc = subprocess.Popen(_cli("run", str(path), "--address", address), start_new_session=True, env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: experiment.exists() and any(len(df) >= 4 for df in trial_progress(experiment).values()), "a trial's fourth epoch")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pids = {int(df["pid"].iloc[-1]) for df in trial_progress(experiment).values()}
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), "the trial processes to end")
    # A Ray Train run's controller and workers end after the trial's process: until then they may still checkpoint.
    wait_for(lambda: not running_children(_raylet(ray_cluster), "TrainController", "RayTrainWorker"),
             "the Ray Train run to end")
    (trial,) = [p.name for p in experiment.glob("simple_cnn-*") if p.is_dir()]
    assert not tune_files.read_state(str(experiment))[0].finished, "the trial ended before the kill"
    for log in ("result.json", "progress.csv"):
        lines = (experiment / trial / log).read_text().splitlines(keepends=True)
        (experiment / trial / log).write_text("".join(lines[:-2]))
    elsewhere = tmp_path / "another-machine" / "cut"
    shutil.copytree(experiment, elsewhere)
    places = [(experiment, "same"), (elsewhere, "another")] if workers == 1 else [(elsewhere, "another")]
    for folder, machine in places:
        if machine == "another":
            for staged in Path(ray_cluster.address_info["session_dir"], "artifacts").glob("*/cut"):
                shutil.rmtree(staged)
            code, out, err = se_sweep_here("resume", str(folder), "--address", address)
        else:
            # As a user's shell runs it, in a pipe: no colour code, Ray's worker-line prefixes included.
            done = subprocess.run(_cli("resume", str(folder), "--address", address), capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
            code, out, err = done.returncode, done.stdout, done.stderr
            assert "\x1b[" not in out + err
        assert code == 0, machine + out[-3000:] + err[-3000:]
        recorded = [json.loads(line)["epoch"] for line in (folder / trial / "result.json").read_text().splitlines()]
        assert recorded == list(range(1, epochs + 1)), (machine, recorded, out)
        assert trial_progress(folder)[trial]["epoch"].tolist() == list(range(1, epochs + 1)), machine
