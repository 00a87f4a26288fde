"""The Tune trial: one grid cell. A one-worker trial trains right here, in the trial's own
(reused) process; an N-worker trial builds and fits a Ray Train V2 `TorchTrainer` (DDP;
`ray_private.torch_trainer`).
Both run the same loop (`train.loop.fit`), which reports every epoch to Tune.
"""

from __future__ import annotations

import os
from typing import Any

import ray.train
import ray.tune
from ray.tune.integration.ray_train import TuneReportCallback

from se_train.blocks import Resources

from se_train.trial_config import TrialConfig
from se_train.data import remote
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import open_split
from se_train import plugins as user_code
from se_train.sweep import ray_private
from se_train.train.loop import fit
from se_train.train.session import in_train_worker, in_tune_trial

HEALTH_CHECK_INTERVAL_S = "0.5"  # measured: 4 empty trials took 60 s at Ray's 2 s, 43 s at 0.25 s


def run_trial(config: dict[str, Any], *, resources: Resources, data_root: str, train_storage: str, plugins: list[str] = ()) -> None:
    """Fit one grid cell, from its last checkpoint when Tune restores it (a failure or `resume`).
    `plugins`: the modules of the sweep's own code (`plugins.in_trial`, shipped by the job's
    runtime_env), imported first: its models are built by name."""
    user_code.load(list(plugins))
    cfg = TrialConfig(**config)
    res = resources
    where = remote.location(data_root, cfg.dataset)
    splits = load_manifest(where).trial_splits(cfg.image_size, cfg.test_split, res.in_memory_mb)
    held = [split for split, in_memory in splits.items() if in_memory]
    # Only splits too big to hold go through Ray Data; each worker reads its rows of the others.
    stream = lambda split: open_split(where, split, cfg.image_size)  # noqa: E731
    if res.workers_per_trial == 1:
        ray_private.quiet_checkpoint_log()
        dataset_dir = remote.fetch(data_root, cfg.dataset, held)
        with in_tune_trial(lambda split: stream(split).iterator(), cfg.compile) as session:
            fit(cfg, dataset_dir, res, session)
        return
    # Ray Train's controller polls its workers every 2 s by default, which adds seconds to every
    # trial's start and end; Train passes this on from the trial to its controller and workers.
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", HEALTH_CHECK_INTERVAL_S)
    streamed = {split: stream(split) for split in splits if split not in held}
    worker_resources = {"CPU": res.cpus_per_worker}
    if res.gpus_per_worker:
        worker_resources["GPU"] = res.gpus_per_worker
    trainer = ray_private.torch_trainer(
        _train_worker,
        train_loop_config={"trial": cfg.model_dump(), "data_root": data_root, "held": held, "resources": resources, "plugins": list(plugins)},
        scaling_config=ray.train.ScalingConfig(
            num_workers=res.workers_per_trial,
            use_gpu=res.gpus_per_worker > 0,
            resources_per_worker=worker_resources,
            placement_strategy=res.placement_strategy,
        ),
        datasets=streamed or None,
        dataset_config=ExactEvaluation(["train"]),
        run_config=ray.train.RunConfig(
            # Named after the Tune trial, so a restored trial finds its own checkpoints.
            name=ray.tune.get_context().get_trial_id(),
            storage_path=train_storage,
            failure_config=ray.train.FailureConfig(max_failures=res.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
            # Ray Train's own INFO lines (each worker group started, each checkpoint made) reach
            # the sweep's terminal from every trial: the live view shows that progress.
            logging_config=ray.train.LoggingConfig(log_level="WARNING"),
        ),
    )
    trainer.fit()


def _train_worker(config: dict[str, Any]) -> None:
    ray_private.quiet_report_log()
    user_code.load(config["plugins"])
    cfg = TrialConfig(**config["trial"])  # a worker may be on another machine: it reads its own copy
    fit(cfg, remote.fetch(config["data_root"], cfg.dataset, config["held"]), config["resources"], in_train_worker())


class ExactEvaluation(ray.train.DataConfig):
    """Ray Train splits a streamed split among the workers with `equal=True`: each gets as many
    rows, up to world-1 rows dropped, so DDP workers take the same steps. Right for train (made
    `datasets_to_split`); valid and test must count every image once, and evaluation runs no
    collective before its final sum, so they are split with `equal=False`."""

    def __init__(self, split: list[str]) -> None:
        super().__init__(datasets_to_split=split)
        self.split = split

    def configure(self, datasets, world_size, worker_handles, worker_node_ids, **kwargs):
        shards = super().configure(datasets, world_size, worker_handles, worker_node_ids, **kwargs)
        for name, ds in datasets.items():
            if name not in self.split:
                for rank, shard in enumerate(ds.streaming_split(world_size, equal=False)):
                    shards[rank][name] = shard
        return shards
