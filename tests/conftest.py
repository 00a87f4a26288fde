"""Shared fixtures: one real local Ray per test process, and small on-disk datasets."""

from __future__ import annotations

import pytest

RAY_FIXTURES = {"ray_cluster", "diverging_experiment"}


def pytest_collection_modifyitems(items):
    """Mark every test that uses the session's Ray `ray` (a test starting its own cluster says so
    itself), so `pytest -m "not ray"` is the fast lane: models, configs, data formats, reports."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray (2 CPUs, as CI's machine), shared by every test of this process that needs
    one (`make test` runs a process per core, pytest-xdist's, each with its own)."""
    import ray

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
