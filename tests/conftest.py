"""Shared fixtures: one real local Ray for the whole test session, and small on-disk datasets."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray (2 CPUs, as CI's machine), shared by every test that needs one."""
    import ray

    ctx = ray.init(num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False)
    yield ctx
    ray.shutdown()
