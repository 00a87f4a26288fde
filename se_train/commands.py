"""What each `se-sweep` command does, once `cli` has parsed its flags: each imports what it needs
when it runs, so a mistake in a sweep file is answered before torch and Ray are imported."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from se_train.errors import UserError, first_line

TRIAL_ERRORED = 1  # `run` / `resume`: the sweep ran, and at least one trial ended in error


def _command_line(fallback: str) -> str:
    """The command as the user typed it, for the record; `fallback` when not run as `se-sweep`."""
    return " ".join(["se-sweep", *sys.argv[1:]]) if sys.argv[0].endswith("se-sweep") else fallback


def models(args: argparse.Namespace) -> None:
    from se_train import plugins
    from se_train.models.catalog import list_models, type_name
    from se_train.trial_config import own_options
    from se_train.models.registry import build_model, count_parameters

    plugins.load(plugins.resolve(args.plugins, Path.cwd()), "--plugins")
    own = own_options()  # a model's own options, with their types (the others are trial fields)
    rows = []
    for model in list_models():
        for se in (False, True) if model.se else (False,):
            # The activation changes no parameter count, so one column serves every activation.
            shape = (args.in_channels, args.image_size, args.image_size)
            options = ", ".join(f"{o}: {type_name(own[o])}" if o in own else o for o in model.options) or "-"
            try:
                count = f"{count_parameters(build_model(model.name, num_classes=args.num_classes, input_shape=shape, activation=model.supported()[0], se=se)):,}"
            except Exception as e:  # noqa: BLE001 - a plugin's model may not build for this shape: its row says why, last
                count, options = "fails", f"{options}  (fails to build: {type(e).__name__}: {first_line(e)})"
            rows.append((f"{model.name:<14} {str(se):<5} {count:>12}", ", ".join(model.supported()), options))
    width = max([22, *(len(activations) for _, activations, _ in rows)])  # a plugin's activations widen the column
    print(f"{'model':<14} {'se':<5} {'parameters':>12}  {'activations':<{width}}  options",
          *(f"{head}  {activations:<{width}}  {options}" for head, activations, options in rows), sep="\n")


def prepare(args: argparse.Namespace) -> None:
    from se_train import storage
    from se_train.data.prepare import prepare

    from se_train.data.sources import IMAGE_FOLDER

    if (args.name == IMAGE_FOLDER) != (args.as_name is not None):
        raise UserError(f"--name: give it with `prepare {IMAGE_FOLDER}` (your dataset's name), and only then")
    name = args.as_name or args.name
    folder = prepare(
        name,
        args.data_root,
        source=args.source,
        download=args.download,
        image_folder=args.name == IMAGE_FOLDER,
        seed=args.seed,
        valid_size=args.valid_size,
        test_size=args.test_size,
        shard_bytes=int(args.shard_mb * 2**20),
        resize=args.resize,
        skip_bad=args.skip_bad,
        workers=args.workers,
    )
    uri = storage.is_uri(args.data_root)
    print(f"prepared {name} in {storage.join(args.data_root, name) if uri else folder}" + (f" (local copy: {folder})" if uri and folder.exists() else ""))


def datasets(args: argparse.Namespace) -> None:
    """Every prepared dataset under --data-root (found by its manifest, whatever its name), with
    what a sweep file needs to know of it."""
    from se_train import storage
    from se_train.data import remote
    from se_train.data.manifest import load_manifest

    root = storage.normalize(args.data_root)
    storage.check_folder(root, "--data-root")
    names = [n for n in sorted(storage.list_names(root)) if not n.startswith(".") and remote.is_prepared(root, n)]
    rows = [f"{'dataset':<16} {'classes':>7} {'images':<30} {'splits (rows)'}"]
    for name in names:
        m = load_manifest(remote.location(root, name))
        shape = "x".join(map(str, m.image_shape)) if m.image_shape else f"{m.channels} channel(s), sized by image_size"
        shape += f" ({'PNG/JPEG as given' if m.encoding == 'image' else m.encoding})" if m.encoding != "raw" else ""
        rows.append(f"{name:<16} {m.num_classes:>7} {shape:<30} " + ", ".join(f"{s} {i.rows:,}" for s, i in m.splits.items()))
    if not names:
        print(f"no prepared dataset in {root} (`se-sweep prepare` makes one)")
        return
    print(*rows, sep="\n")


def run(args: argparse.Namespace) -> int:
    from se_train.sweep_file import load_sweep

    if args.spread is not None and not args.dry_run:
        raise UserError("--spread: acts only with --dry-run (it sizes the power preview); add --dry-run or remove it")
    spec = load_sweep(args.sweep)  # before torch and Ray are imported: a mistake costs a second, not six
    from se_train.sweep import ray_log

    ray_log.plain_when_piped()
    from se_train.sweep.checks import preflight
    from se_train.sweep.plan import Plan

    if args.dry_run:  # refuses what `run` would refuse, short of preparing data and starting Ray
        checked = preflight(spec, str(args.sweep), storage_uri=args.storage, address=args.address, num_cpus=args.num_cpus,
                            mlflow=args.mlflow, prepare_missing=False)
        spread = args.spread
        if isinstance(spread, str):
            from se_train.report.effects import spread_of

            spread, said = spread_of(spread)
            print(f"spread: {spread:.3g} points, {said}")
        print(Plan(spec, checked.experiment).describe(spread))
        return 0
    from se_train.sweep.runner import run_sweep

    command = _command_line(f"se-sweep run {args.sweep}")
    experiment = run_sweep(
        spec, str(args.sweep), storage_uri=args.storage, address=args.address, num_cpus=args.num_cpus,
        concurrency=args.max_concurrent, command=command, mlflow=args.mlflow, verbose=args.verbose,
    )
    return _finished(experiment)


def resume(args: argparse.Namespace) -> int:
    from se_train import experiment as layout
    from se_train import storage

    layout.read_sweep(storage.normalize(args.path))  # before torch and Ray are imported: a wrong path costs a second
    from se_train.sweep import ray_log

    ray_log.plain_when_piped()
    from se_train.sweep.runner import resume_sweep

    experiment = resume_sweep(
        args.path, address=args.address, num_cpus=args.num_cpus, concurrency=args.max_concurrent, mlflow=args.mlflow, verbose=args.verbose,
    )
    return _finished(experiment)


def _finished(experiment: str) -> int:
    """The report hint, then the exit status a scheduler reads (a KubeRay RayJob, `ray job
    submit`): TRIAL_ERRORED when any trial ended in error, after a line that counts them."""
    from se_train.report.status import errored

    print(f"experiment: {experiment}\nnext: se-sweep report {experiment}")
    lost = errored(experiment)
    if lost:
        print(f"se-sweep: {len(lost)} trial(s) ended in error: {', '.join(lost)}; "
              f"`se-sweep status {experiment}` says why, `se-sweep resume {experiment}` retries them", file=sys.stderr)
        return TRIAL_ERRORED
    return 0


def report(args: argparse.Namespace) -> None:
    from se_train.report.summary import write_report

    command = _command_line("se-sweep report " + " ".join(args.inputs))
    out = write_report(args.inputs, args.out, args.notes, args.mlflow, command=command, pdf=args.pdf)
    print(f"report: {out / 'summary.md'}, {out / 'report.html'}")
    if args.open:
        import webbrowser

        webbrowser.open((out / "report.html").resolve().as_uri())


def status(args: argparse.Namespace) -> None:
    from se_train.report.status import status

    print(status(args.path), end="")


# Each bench flag and the benchmarks it acts for: given to another, it is refused, not ignored.
BENCH_FLAGS = {
    "data_root": ("data", "overhead", "scale", "pack"), "image_size": ("model",), "batch_size": ("model",),
    "trials": ("overhead", "scale", "pack", "report"), "concurrent": ("overhead", "scale"), "gpu": ("overhead", "scale", "pack"),
    "dataset": ("pack",), "rounds": ("model",), "compile": ("model",), "profile": ("model",), "sweeps": ("decide",), "real": ("decide",),
}


def schema(args: argparse.Namespace) -> None:
    from se_train.config import sweep_schema

    print(json.dumps(sweep_schema(), indent=2))


def bench(args: argparse.Namespace) -> None:
    from se_train.bench import data, model, overhead, pack, report
    from se_train.bench.decide import bench_decide

    for dest, acts_for in BENCH_FLAGS.items():
        if getattr(args, dest) not in (None, False) and args.what not in acts_for:
            flag = "--" + dest.replace("_", "-")
            raise UserError(f"{flag}: acts only for bench {' and '.join(acts_for)}, not bench {args.what}; remove it")
    data_root = args.data_root or Path("data")
    run = {
        "data": lambda: data.bench_data(data_root),
        "overhead": lambda: overhead.bench_overhead(data_root, args.trials or 8, args.concurrent or 1, args.gpu),
        # Many short trials, as a search or adaptive seeds make them: 1 epoch each, 2 at a time.
        "scale": lambda: overhead.bench_overhead(data_root, args.trials or 300, args.concurrent or 2, args.gpu, epochs=1),
        "pack": lambda: pack.bench_pack(data_root, args.dataset or "fashion_mnist", args.trials or 8, gpu=args.gpu),
        "report": lambda: report.bench_report(trials=args.trials or 2000),
        "decide": lambda: bench_decide(args.real or Path("results/study"), args.sweeps or 10_000),
        "model": lambda: model.bench_model(
            args.image_size or 224, args.batch_size or 64, rounds=args.rounds or 3, compile=args.compile, profile=args.profile
        ),
    }[args.what]
    print(f"$ {_command_line(f'se-sweep bench {args.what}')}\n" + run())
