"""The baselines `se-sweep bench pack` measures trials against: a cell's seeds packed into one
batched model must train each seed exactly as it would train alone, else its speed says nothing."""

from __future__ import annotations

import torch
from torch import nn

from se_train.bench.loops import PackedSeeds, _model
from se_train.trial_config import TrialConfig
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import read_split
from se_train.data.prepare import prepare
from se_train.train.loop import make_optimizer


def test_packed_seeds_train_each_seed_as_it_trains_alone(tmp_path):
    folder = prepare("digits", tmp_path)
    manifest = load_manifest(folder)
    x, y = read_split(folder, "train", None)
    x = x.float() / 255
    # SGD, whose step is linear in the gradient, so float rounding stays rounding (Adam's first
    # steps are about lr times the gradient's sign, which rounding can flip where it is ~0).
    cell = {"model": "simple_cnn", "dataset": "digits", "activation": "selu", "se": True,
            "optimizer": "sgd", "momentum": 0.9, "lr": 0.05, "schedule": "cosine", "epochs": 1}
    cfgs = [TrialConfig(**cell, seed=seed) for seed in (0, 1, 2)]
    cpu = torch.device("cpu")
    packed = PackedSeeds(manifest, cfgs, cpu, steps_per_epoch=4)
    alone = [_model(manifest, cfg, cpu) for cfg in cfgs]
    optimizers = [make_optimizer(cfg, model, 4) for cfg, model in zip(cfgs, alone)]
    batches = torch.arange(3 * 4 * 16).view(4, 3, 16)  # 4 steps, each seed its own 16 images
    for step in batches:
        packed_losses = packed.step(x[step], y[step])
        for i, (model, (opt, schedule)) in enumerate(zip(alone, optimizers)):
            loss = nn.functional.cross_entropy(model(x[step[i]]), y[step[i]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            torch.testing.assert_close(packed_losses[i], loss.detach(), rtol=1e-4, atol=1e-5)
    for name, stacked in zip(packed.names, packed.params):
        for i, model in enumerate(alone):
            torch.testing.assert_close(stacked[i], model.get_parameter(name), rtol=1e-4, atol=1e-5)
    # The seeds did start apart, and the shared image batch gives each its own logits.
    assert not torch.equal(packed.params[0][0], packed.params[0][1])
    logits = packed(x[:5], same_images=True)
    assert logits.shape == (3, 5, manifest.num_classes)
    torch.testing.assert_close(logits[2], alone[2](x[:5]), rtol=1e-4, atol=1e-5)
