"""The training loop without Ray: a `Session` that records what the loop reports, as Tune would
receive it. What the loop decides (divergence, what it reports) is the loop's own, on real data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from se_train.blocks import Resources

from se_train.trial_config import TrialConfig
from se_train.data.prepare import prepare
from se_train.train.loop import fit
from se_train.train.session import Session


def _recording_session(reports: list[dict]) -> Session:
    api = SimpleNamespace(
        report=lambda metrics, checkpoint=None: reports.append(metrics),
        get_checkpoint=lambda: None,
        Checkpoint=SimpleNamespace(from_directory=lambda folder: folder),
    )
    device = torch.device("cpu")
    return Session(api, 0, 1, device, lambda model: model.to(device), stream=None)


def _classifier_grad_made_nan_at(call: int):
    """A global backward hook: the classifier's input gradient is NaN on its `call`-th backward."""
    calls = [0]

    def hook(module, grad_input, grad_output):
        if isinstance(module, nn.Linear) and module.out_features == 10:
            calls[0] += 1
            if calls[0] == call:
                return tuple(None if g is None else torch.full_like(g, math.nan) for g in grad_input)
        return None

    return torch.nn.modules.module.register_module_full_backward_hook(hook)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("bad_step", [1, 24], ids=["first-step", "last-step"])
def test_a_nan_gradient_is_a_divergence_even_on_the_last_step(tmp_path, bad_step):
    # digits: 1,197 train images, batch 50: 24 steps in the one epoch. The loss of the bad step
    # is finite; only its gradient is not, and on the last step no later loss would show it.
    folder = prepare("digits", tmp_path)
    cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=1, lr=1e-3, schedule="constant")
    reports: list[dict] = []
    handle = _classifier_grad_made_nan_at(bad_step)
    try:
        fit(cfg, folder, Resources(), _recording_session(reports))
    finally:
        handle.remove()
    (last,) = reports
    assert last["diverged"] is True and last["diverged_step"] == bad_step - 1  # steps taken before it
    assert math.isnan(last["grad_norm"]) and math.isfinite(last["train_loss"])
    assert math.isnan(last["last_finite_loss"]) if bad_step == 1 else math.isfinite(last["last_finite_loss"])
    assert math.isnan(last["valid_acc"]) and math.isnan(last["test_acc"])  # the bad update is never applied nor evaluated


def test_a_non_finite_valid_loss_is_a_divergence(tmp_path):
    folder = prepare("digits", tmp_path)
    cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=2, lr=1e-3, schedule="constant")

    def nan_when_evaluating(module, inputs, output):
        if isinstance(module, nn.Linear) and module.out_features == 10 and not module.training:
            return output * math.nan
        return None

    reports: list[dict] = []
    handle = torch.nn.modules.module.register_module_forward_hook(nan_when_evaluating)
    try:
        fit(cfg, folder, Resources(), _recording_session(reports))
    finally:
        handle.remove()
    (last,) = reports  # the first epoch's: the trial stops there
    assert last["diverged"] is True and last["epoch"] == 1 and last["diverged_step"] == 24
    assert math.isnan(last["valid_loss"]) and math.isfinite(last["train_loss"]) and math.isfinite(last["grad_norm"])


@pytest.mark.parametrize("precision, recorded", [("auto", "fp32"), ("bf16", "bf16"), ("fp16", "fp16")])
def test_precision_is_applied_and_recorded(tmp_path, precision, recorded):
    folder = prepare("digits", tmp_path)
    cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=2, lr=1e-3,
                      schedule="constant", precision=precision)
    seen: list[torch.dtype] = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype) if isinstance(module, nn.Conv2d) else None)
    reports: list[dict] = []
    try:
        fit(cfg, folder, Resources(), _recording_session(reports))
    finally:
        handle.remove()
    assert [r["precision"] for r in reports] == [recorded, recorded]  # auto on a CPU: fp32
    assert set(seen) == {{"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[recorded]}
    assert not reports[-1]["diverged"] and reports[-1]["valid_acc"] > 0.5


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_an_overflowed_fp16_step_is_skipped_not_a_divergence(tmp_path):
    # The same non-finite gradient on step 5: fp16's gradient scaler skips that step (as it does
    # for an overflow) and training goes on; in bf16, with no scaler, it is a divergence.
    folder = prepare("digits", tmp_path)
    outcomes = {}
    for precision in ("fp16", "bf16"):
        cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=1, lr=1e-3,
                          schedule="constant", precision=precision)
        reports: list[dict] = []
        handle = _classifier_grad_made_nan_at(5)
        try:
            fit(cfg, folder, Resources(), _recording_session(reports))
        finally:
            handle.remove()
        outcomes[precision] = reports[-1]
    assert outcomes["fp16"]["diverged"] is False and outcomes["fp16"]["train_images"] == 1197
    assert outcomes["bf16"]["diverged"] is True and outcomes["bf16"]["diverged_step"] == 4


@pytest.mark.parametrize("keep", [False, True])
def test_the_final_checkpoint_keeps_the_weights_and_only_on_request_the_optimizer(tmp_path, keep):
    from contextlib import nullcontext

    from se_train.train.checkpoint import CHECKPOINT_FILE, RECORDS_FILE, UNRECORDED_FILE

    folder = prepare("digits", tmp_path / "data")
    cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=2, lr=1e-3, schedule="constant",
                      keep_optimizer_state=keep)
    saved: list[dict] = []
    kept = tmp_path / "last"

    def report(metrics, checkpoint=None):
        state = torch.load(Path(checkpoint) / CHECKPOINT_FILE, weights_only=True)
        saved.append(state | {"records": json.loads((Path(checkpoint) / RECORDS_FILE).read_text())})
        shutil.copytree(checkpoint, kept, dirs_exist_ok=True)

    api = SimpleNamespace(report=report, get_checkpoint=lambda: None, Checkpoint=SimpleNamespace(from_directory=lambda f: f))
    fit(cfg, folder, Resources(), Session(api, 0, 1, torch.device("cpu"), lambda m: m, stream=None))
    full = {"model", "epoch", "records", "optimizer", "scheduler", "scaler", "torch_rng", "augment_rng"}
    assert [set(s) for s in saved] == [full, full if keep else {"model", "epoch", "records"}]
    assert [[r["epoch"] for r in s["records"]] for s in saved] == [[1], [1, 2]]  # every report up to the checkpoint's

    # A trial restored from its final checkpoint (its process died after the last report) has
    # finished: it trains no more and reports nothing.
    reports: list[dict] = []
    api = SimpleNamespace(report=lambda m, checkpoint=None: reports.append(m), get_checkpoint=lambda: SimpleNamespace(as_directory=lambda: nullcontext(kept)),
                          Checkpoint=SimpleNamespace(from_directory=lambda f: f))
    fit(cfg, folder, Resources(), Session(api, 0, 1, torch.device("cpu"), lambda m: m, stream=None))
    assert reports == []
    # Unless `resume` found that the trial's log lacks epochs (the driver died before Tune recorded
    # them): those records are reported again, as they were, and still nothing trains.
    (kept / UNRECORDED_FILE).write_text("[1, 2]")
    fit(cfg, folder, Resources(), Session(api, 0, 1, torch.device("cpu"), lambda m: m, stream=None))
    assert [r["epoch"] for r in reports] == [1, 2]
    assert json.dumps(reports, sort_keys=True) == json.dumps(saved[-1]["records"], sort_keys=True)  # NaN as NaN
