"""se-sweep: model x dataset x activation x Squeeze-and-Excitation grids on Ray.

`se_train.load(path, ...)` opens experiments and reports in Python (`se_train.results`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from se_train.results import Results

__version__ = "0.1.0"


def load(*locations: str) -> Results:
    """An experiment, a report's folder (local or a URI), or several as one study: runs, epochs,
    effects, pairs and each sweep's record (`se_train.results.Results`). Imported when called:
    `import se_train` stays light for the command line."""
    from se_train.results import load as _load

    return _load(*locations)
