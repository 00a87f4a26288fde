"""How long a local Ray started as se-sweep starts it takes to run its first task and its first
one-CPU actor (a trial's kind), and whether each ran in a worker Ray started ahead (one per CPU).

    python benchmarks/first_worker.py

Ray gives a job only workers started with its runtime_env, so where the job environment was in
the runtime_env, those workers served nothing (results/bench/README.md has both figures).
"""

from __future__ import annotations

import os
import time

import psutil
import ray

from se_train.sweep import cluster


@ray.remote
def task_pid() -> int:
    return os.getpid()


@ray.remote(num_cpus=1)
class Actor:
    def pid(self) -> int:
        return os.getpid()


def main() -> None:
    cluster.connect(None, num_cpus=2)
    time.sleep(6)  # the workers Ray starts ahead are up
    ahead = {p.pid for p in psutil.process_iter() if p.name() == "ray::IDLE"}
    started = time.perf_counter()
    pid = ray.get(task_pid.remote())
    print(f"first task : {time.perf_counter() - started:5.2f} s, in a worker started ahead: {pid in ahead}")
    started = time.perf_counter()
    actor = Actor.remote()
    pid = ray.get(actor.pid.remote())
    print(f"first actor: {time.perf_counter() - started:5.2f} s, in a worker started ahead: {pid in ahead}")
    ray.shutdown()


if __name__ == "__main__":
    main()
