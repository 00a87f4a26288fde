"""Where a command's CPU goes, by kind of process: every process on the machine (Ray's daemons and
workers, subprocesses, the command itself), its CPU time read every 0.3 s while the command runs.

    python benchmarks/cpu_by_process.py pytest -n 2 --dist loadfile

Prints the total and the 25 largest kinds (CPU-s, processes). A Ray worker is named by the title
Ray gives it (`ray::ImplicitFunc`: a Tune trial; `ray::RayTrainWorker`: a DDP worker). Sampled: a
process that lives under 0.3 s is missed, and one's last 0.3 s may be. What measured the suite's
CPU in results/bench/README.md.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time

import psutil

KINDS = [("raylet", "raylet"), ("gcs_server", "gcs"), ("dashboard/agent", "dashboard agent"), ("dashboard.py", "dashboard"),
         ("runtime_env/agent", "runtime_env agent"), ("log_monitor", "log_monitor"), ("monitor.py", "autoscaler monitor"),
         ("se_train.cli", "se-sweep"), ("pytest", "pytest"), ("chromium", "chromium"), ("mlflow", "mlflow"), ("moto", "moto")]


def kind(process: psutil.Process) -> str:
    if process.name().startswith("ray::"):
        return process.name()  # Ray retitles a worker as it takes an actor or task
    command = " ".join(process.cmdline())
    return next((name for part, name in KINDS if part in command), process.name())


def main(command: list[str]) -> None:
    started = time.time()
    seen: dict[tuple[int, float], tuple[str, float]] = {}
    before: dict[tuple[int, float], float] = {}
    run = subprocess.Popen(command)
    while run.poll() is None:
        for process in psutil.process_iter():
            try:
                times, key = process.cpu_times(), (process.pid, process.create_time())
                cpu = times.user + times.system
                before.setdefault(key, cpu if key[1] < started else 0.0)  # count only what the run spent
                seen[key] = (kind(process), cpu)
            except psutil.Error:
                continue
        time.sleep(0.3)
    total, count = collections.Counter(), collections.Counter()
    for key, (name, cpu) in seen.items():
        total[name] += cpu - before[key]
        count[name] += 1
    print(f"exit {run.returncode}; {time.time() - started:.1f} s; CPU {sum(total.values()):.1f} s")
    for name, cpu in total.most_common(25):
        if cpu >= 0.1:
            print(f"{cpu:8.1f}  {count[name]:4d}  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
