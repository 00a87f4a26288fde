"""The machine's CPU for Ray Data reads of a prepared dataset's splits, made as a trial makes them:
in a task of a local Ray started with the sweep's job environment, each split read whole.

    python benchmarks/parquet_reads.py /tmp/benchdata/digits --rounds 3
    RAY_DATA_PARQUET_FOOTER_NUM_ACTORS=32 python benchmarks/parquet_reads.py /tmp/benchdata/digits --rounds 3

(the second: Ray Data's own default, which the job environment otherwise replaces). Prints the
reads, their wall time, the machine's busy CPU time over them (every process, Ray's included) and
the footer-reader actors Ray Data started for them.
"""

from __future__ import annotations

import argparse
import time

import ray
from ray.util.state import list_actors

from se_train.data.pipeline import open_split
from se_train.sweep.cluster import local_environment

from cpu_by_test import busy_s  # this folder's: the machine's busy time, from /proc/stat


@ray.remote(num_cpus=1)
def read(folder: str, splits: list[str], rounds: int) -> int:
    return sum(len(batch["label"]) for _ in range(rounds) for split in splits for batch in open_split(folder, split).iter_batches())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a prepared dataset's folder, e.g. data/digits")
    parser.add_argument("--splits", nargs="+", default=["train", "valid", "test"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with local_environment():
        ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    ray.get(read.remote(args.folder, args.splits[:1], 1))  # a warm worker: its start is not the reads'
    time.sleep(3)
    before, started = busy_s(), time.perf_counter()
    rows = ray.get(read.remote(args.folder, args.splits, args.rounds))
    wall = time.perf_counter() - started
    time.sleep(3)  # the readers' ends, which the reads started
    cpu = busy_s() - before
    actors = len(list_actors(filters=[("class_name", "=", "FooterReader")], limit=10_000, raise_on_missing_output=False))
    print(f"{args.rounds * len(args.splits)} reads ({rows} rows): {wall:.1f} s, machine {cpu:.1f} CPU-s, "
          f"{actors} FooterReader actors (the warm-up's included)")
    ray.shutdown()


if __name__ == "__main__":
    main()
