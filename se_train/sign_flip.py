"""The sign-flip (Fisher's one-sample randomisation) interval for the mean of paired differences,
exact for any distribution symmetric about its mean: no normality, no variance estimate.

If d_1..d_n are independent and symmetric about μ, the signs of d_i − μ are fair coins whatever
their sizes, so among the 2^n − 1 means of the nonempty subsets of the d, μ falls below the j-th
smallest with probability at most j / 2^n (Hartigan, JASA 1969; ties only make it smaller).
[j-th smallest, j-th largest] therefore holds μ with probability ≥ 1 − 2j / 2^n: the interval
that inverts the sign-flip test. It never needs a standard deviation, so three equal differences
are three coin flips, not a zero-width interval. Beyond `EXACT_UP_TO` differences the subsets are
drawn at random from a fixed seed instead of enumerated: the same bound holds with 2^n replaced by
the number drawn plus one (a Monte Carlo test that counts the observed statistic is exact too).

Ray-free and numpy-only, below the engine (`decide.py`), which shapes the per-look levels.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

EXACT_UP_TO = 20  # 2^20 subset means: ~0.1 s a look; beyond, DRAWN random subsets
DRAWN = 2**18 - 1
CHUNK = 2**14
DECIMALS = 9  # subset means are rounded here, so that exact ties (accuracy moves on a grid) stay ties in floating point


def _subset_means(diffs: np.ndarray) -> np.ndarray:
    """The means the interval ranges over: of every nonempty subset up to EXACT_UP_TO differences,
    else of DRAWN subsets drawn from a fixed seed (the same every time), in chunks."""
    n = len(diffs)
    if n <= EXACT_UP_TO:
        # every subset is one of the first half's joined with one of the second's: an outer sum
        half = n // 2
        sums = (_subsets(half) @ diffs[:half])[:, None] + (_subsets(n - half) @ diffs[half:])[None, :]
        sizes = _subsets(half).sum(axis=1)[:, None] + _subsets(n - half).sum(axis=1)[None, :]
        sums, sizes = sums.ravel(), sizes.ravel()
        return np.round(sums[1:] / sizes[1:], DECIMALS)  # [0] is the empty subset
    rng = np.random.default_rng(19690601)
    means = []
    for size in np.diff(np.r_[0:DRAWN:CHUNK, DRAWN]):
        masks = rng.random((size, n)) < 0.5
        masks[~masks.any(axis=1), 0] = True  # an empty draw has no mean; any nonempty subset keeps the draws exchangeable
        means.append((masks @ diffs) / masks.sum(axis=1))
    return np.round(np.concatenate(means), DECIMALS)


@lru_cache(maxsize=32)
def _subsets(n: int) -> np.ndarray:
    """Every subset of n items as a row of 0/1 weights (2^n × n), the empty one first."""
    bits = np.arange(2**n, dtype=np.int64)
    return ((bits[:, None] >> np.arange(n)) & 1).astype(np.float64)


def outcomes(n: int) -> int:
    """How many equally likely sign patterns the bound counts: 2^n, or the draws plus the observed."""
    return 2**n if n <= EXACT_UP_TO else DRAWN + 1


def extremes(n: int, level: float) -> int:
    """j: how many subset means may lie beyond each end of an interval at two-sided error `level`
    (1 − 2j/outcomes ≥ 1 − level); 0 where n differences cannot reach that level at all."""
    return int(math.floor(level * outcomes(n) / 2 + 1e-9))


def interval(diffs: np.ndarray, level: float) -> tuple[float, float]:
    """[j-th smallest, j-th largest] subset mean of `diffs` at two-sided error `level`; unbounded
    where j is 0 (too few differences for that level). Remembered: the searcher, the live view and
    `status` look again at the same first seeds after every trial."""
    return _interval(tuple(float(x) for x in diffs), level)


@lru_cache(maxsize=4096)
def _interval(diffs: tuple[float, ...], level: float) -> tuple[float, float]:
    n = len(diffs)
    j = extremes(n, level)
    if j == 0:
        return -math.inf, math.inf
    means = _subset_means(np.asarray(diffs, dtype=float))
    low = np.partition(means, j - 1)[j - 1]
    high = np.partition(means, len(means) - j)[len(means) - j]
    return float(low), float(high)


def _subset_sums(x: np.ndarray) -> np.ndarray:
    """Every subset sum (the empty one included) of each row of x, as integers in units of
    10^−DECIMALS, so that ties are exact: (paths, 2^columns)."""
    return np.rint((x @ _subsets(x.shape[1]).T) * 10**DECIMALS).astype(np.int64)


def count_at_most(x: np.ndarray) -> np.ndarray:
    """For each row of x (paths × n, n ≤ EXACT_UP_TO), how many of its 2^n subsets, the empty one
    included, have a sum ≤ 0: the j-th smallest subset mean of d is above m exactly when this
    count for x = d − m is at most j. Meet in the middle: each a of the first half's subset sums
    counts the second half's b ≤ −a by binary search, so a row costs 2^(n/2) log, not 2^n."""
    half = x.shape[1] // 2
    first, second = _subset_sums(x[:, :half]), np.sort(_subset_sums(x[:, half:]), axis=1)
    # one binary search over every row at once: each row's keys shifted into a range of its own
    rows = np.arange(len(x), dtype=np.int64)[:, None]
    span = 2 * max(int(np.abs(second).max(initial=0)), int(np.abs(first).max(initial=0))) + 1
    found = np.searchsorted((second + rows * span).ravel(), (-first + rows * span).ravel(), side="right")
    return (found.reshape(first.shape) - rows * second.shape[1]).sum(axis=1)
