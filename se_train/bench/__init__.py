"""`se-sweep bench data | overhead | scale | pack | model | report | decide`: throughput, fixed-cost and
error-rate benchmarks (not tests), one module each. Each prints its figures with the command, the
machine and the repeat count, ready to paste into `results/bench/`."""

from __future__ import annotations

import os
import platform

import torch


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
