"""`se-sweep bench data | overhead | scale | pack | model | report | decide`: throughput, fixed-cost and
error-rate benchmarks (not tests), one module each. Each prints its figures with the command, the
machine and the repeat count, ready to paste into `results/bench/`."""

from __future__ import annotations

import os
import platform

import psutil
import torch

from se_train.errors import UserError


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch threads"


def refuse_beyond(needed: float, device: torch.device, what: str) -> None:
    """A UserError before anything is allocated when `needed` bytes exceed what `device` has free:
    a benchmark the machine cannot hold is one line, not an allocator's traceback or the OOM killer."""
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else psutil.virtual_memory().available
    if needed > free:
        raise UserError(f"{what} needs about {needed / 2**30:,.1f} GiB, and the {device.type} has {free / 2**30:,.1f} GiB free; "
                        "lower them")
