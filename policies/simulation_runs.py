"""Simulations run by a worker: start one, follow its progress, read its report.

Replaying up to a year of actions takes far longer than a request may, so the policy page starts
a run, a Celery task replays (`simulation_run_execute`), and the page polls the run until its
report is ready. A run lives in the cache (Redis) for RUN_SECONDS: it only reads, so nothing is
audited and nothing is kept in the database. The window ends when the run was asked for, so a
run that waits in the queue replays the same actions as one that starts at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from celery import current_app
from django.core.cache import cache

from config import clock
from config.errors import Code, NotFound
from policies.models import PolicyVersion
from policies.simulation import SimulationReport, days_check, simulate

logger = logging.getLogger(__name__)

RUN_TASK = "policies.tasks.simulate_version"
RUN_SECONDS = 3600


class RunStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class SimulationRun:
    id: str
    version_id: int
    version_number: int
    days: int
    requested_at: datetime
    status: str = RunStatus.QUEUED
    done: int = 0
    total: int | None = None
    report: SimulationReport | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.status == RunStatus.DONE else None
        return min(100, self.done * 100 // self.total)


def _key(run_id: str) -> str:
    return f"policies:simulation:{run_id}"


def _save(run: SimulationRun) -> SimulationRun:
    cache.set(_key(run.id), run, timeout=RUN_SECONDS)
    return run


def simulation_run_get(*, run_id: str) -> SimulationRun:
    run = cache.get(_key(run_id)) if run_id else None
    if run is None:
        raise NotFound(
            "No such simulation (they are kept for an hour).", code=Code.SIMULATION_NOT_FOUND
        )
    return run


def simulation_start(*, version: PolicyVersion, days: int) -> SimulationRun:
    """Queue a simulation of `version` over the last `days` days; refuse bad days at once."""
    run = _save(
        SimulationRun(
            id=uuid.uuid4().hex,
            version_id=version.pk,
            version_number=version.number,
            days=days_check(days),
            requested_at=clock.now(),
        )
    )
    try:
        current_app.send_task(RUN_TASK, kwargs={"run_id": run.id})
    except Exception:
        logger.exception("could not enqueue simulation %s", run.id)
        return _save(
            replace(run, status=RunStatus.FAILED, error="The task queue cannot be reached.")
        )
    return run


def simulation_run_execute(*, run_id: str) -> SimulationRun | None:
    """Replay the run's window (the worker's one call). A finished or expired run is left as it
    is, so a message delivered twice replays at most once more."""
    try:
        run = simulation_run_get(run_id=run_id)
    except NotFound:
        return None
    if run.finished:
        return run
    version = PolicyVersion.objects.filter(pk=run.version_id).first()
    if version is None:
        return _save(replace(run, status=RunStatus.FAILED, error="The version was discarded."))
    run = _save(replace(run, status=RunStatus.RUNNING))

    def progress(done: int, total: int | None) -> None:
        nonlocal run
        run = _save(replace(run, done=done, total=total))

    try:
        report = simulate(version=version, days=run.days, now=run.requested_at, progress=progress)
    except Exception:
        _save(replace(run, status=RunStatus.FAILED, error="The simulation failed; see the logs."))
        raise
    return _save(replace(run, status=RunStatus.DONE, report=report, done=report.replayed))
