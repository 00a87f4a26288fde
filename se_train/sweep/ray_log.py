"""Where Ray's own log lines go: to a file beside the experiment, so a user's terminal shows the
sweep (its live view, its verdicts) and not Ray's token-auth notice, its "Started a local Ray"
line or Tune's state-sync lines. `--verbose` keeps them on the terminal."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from se_train import storage

FILE = "ray.log"
OURS = "se-sweep"
LOGGERS = ("ray", "ray.data")  # the two Ray 2.60 gives handlers of their own (the rest propagate to "ray")


def where(experiment: str, name: str) -> Path:
    """The log file: in a local experiment folder, else (an experiment in a bucket) in the
    machine's temporary folder."""
    if storage.is_uri(experiment):
        return Path(tempfile.gettempdir()) / f"se-sweep-{name}-{FILE}"
    return Path(experiment) / FILE


def plain_when_piped() -> None:
    """In a pipe or a log file (CI, `ray job logs`, `| tee`), the trials' lines Ray streams to the
    driver come without colour codes, which are raw bytes there: Ray wraps each line's "(run_trial
    pid=…)" in them, and its "[repeated 19x across cluster]" note too, terminal or not, so its
    deduplication is off as well (every line shown once, as a log file wants). Read by Ray as it is
    imported: called before. A user's own setting wins."""
    if not sys.stdout.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def to_file(path: Path) -> None:
    """Ray's terminal handlers replaced by one that appends to `path`. Done before ray.init, which
    logs the first of them (and keeps the handlers it finds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s -- %(message)s"))
    handler.set_name(OURS)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        # the terminal's, and an earlier sweep's file in this process (a test session runs many)
        for old in [h for h in logger.handlers if h.get_name() == OURS or type(h) is not logging.FileHandler and isinstance(h, logging.StreamHandler)]:
            logger.removeHandler(old)
            if old.get_name() == OURS:
                old.close()
        logger.addHandler(handler)
    print(f"Ray's own log: {path} (--verbose shows it here)")


@contextmanager
def without_tunes_resume_hint():
    """Tune ends an interrupted run by logging "Resume experiment with: Tuner.restore(...)" (Ray
    2.60, ray.tune.tune); se-sweep's own hint, `se-sweep resume`, replaces it."""
    hint = lambda record: "Tuner.restore(" not in record.getMessage()  # noqa: E731
    logger = logging.getLogger("ray.tune.tune")
    logger.addFilter(hint)
    try:
        yield
    finally:
        logger.removeFilter(hint)
