"""Celery tasks of the policies app: thin, one service call each."""

from celery import shared_task

from policies.simulation_runs import simulation_run_execute


@shared_task(name="policies.tasks.simulate_version", ignore_result=True)
def simulate_version(*, run_id: str) -> None:
    """Replay a simulation run the policy page started."""
    simulation_run_execute(run_id=run_id)
