"""The machine's CPU spent during each test, for a serial pytest run: a pytest plugin.

    PYTHONPATH=benchmarks pytest -p cpu_by_test -m ray

Each test's figure is the machine's busy time (/proc/stat, every core, every process) from its
setup to its end: its Ray workers, Ray Train's processes, the drivers it starts, and the first
test to use a shared fixture pays for building it. Serial only (no `-n`): two tests at once would
each be charged the other's CPU. The table follows pytest's summary, most CPU first. What
measured the suite's CPU by test in results/bench/README.md (`cpu_by_process.py`: by kind of
process).
"""

from __future__ import annotations

import os
import time

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_started: dict[str, tuple[float, float]] = {}
_rows: list[tuple[float, float, str]] = []


def busy_s() -> float:
    """Seconds of CPU the machine has spent, on every core, other than idle and waiting for I/O."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS_PER_S


def pytest_runtest_logstart(nodeid, location):
    _started[nodeid] = (busy_s(), time.time())


def pytest_runtest_logfinish(nodeid, location):
    busy, wall = _started.pop(nodeid)
    _rows.append((busy_s() - busy, time.time() - wall, nodeid))


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section(f"CPU by test: {sum(cpu for cpu, _, _ in _rows):,.1f} CPU-s in all")
    for cpu, wall, test in sorted(_rows, reverse=True):
        terminalreporter.write_line(f"{cpu:8.1f} CPU-s {wall:7.1f} s  {test}")
