"""Shared fixtures: one real local Ray per test process, and small on-disk datasets."""

from __future__ import annotations

import pytest

RAY_FIXTURES = {"ray_cluster", "diverging_experiment"}
# The files that train the most, slowest first (`pytest --durations=0`, results/bench/README.md).
# `make test` hands whole files to its processes in collection order (`--no-loadscope-reorder`):
# the long ones start first and the many short ones fill in at the end, so no process is left
# running one long file alone.
SLOWEST_FIRST = ("test_recovery.py", "test_cluster.py", "test_no_shared_disk.py", "test_seeds.py", "test_tracking.py",
                 "test_sweep.py", "test_search.py", "test_s3.py", "test_plugins.py", "test_image_folder.py")


def pytest_collection_modifyitems(items):
    """Mark every test that uses the session's Ray `ray` (a test starting its own cluster says so
    itself), so `pytest -m "not ray"` is the fast lane: models, configs, data formats, reports.
    Then order the files as SLOWEST_FIRST says, the rest after them as collected."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray (2 CPUs, as CI's machine), shared by every test of this process that needs
    one (`make test` runs a process per core, pytest-xdist's, each with its own); its processes'
    environment is the one `se-sweep run` gives a local Ray it starts."""
    import ray

    from se_train.sweep.cluster import local_environment

    with local_environment():
        ctx = ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False)
    yield ctx
    ray.shutdown()


@pytest.fixture(scope="session")
def diverging_experiment(ray_cluster, tmp_path_factory):
    """A real 4-trial sweep on digits, one trial at a time, the two lr=1e6 trials first: they
    diverge in their first epoch; the lr=1e-3 ones complete. Shared by the sweep and report tests."""
    from tests.helpers import run_with_hang_guard, sweep_file

    root = tmp_path_factory.mktemp("diverging")
    path = sweep_file(
        root, "div", {"activation": ["relu", "selu"], "lr": [1e6, 1e-3]}, resources={"max_concurrent_trials": 1}
    )
    return run_with_hang_guard(path)
