"""Fixtures of the policy tests."""

from __future__ import annotations

from unittest import mock

import pytest


@pytest.fixture
def simulations_inline():
    """Simulation runs replay at once, in the test, instead of in a Celery worker; yields the ids
    of the runs started."""
    from policies import simulation_runs

    with mock.patch("policies.simulation_runs.current_app") as app:
        started: list[str] = []

        def send_task(name, kwargs, **options):
            assert name == simulation_runs.RUN_TASK
            started.append(kwargs["run_id"])
            simulation_runs.simulation_run_execute(**kwargs)

        app.send_task.side_effect = send_task
        yield started
