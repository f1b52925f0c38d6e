"""The policy page's simulation: start a run (a Celery worker replays), then poll its progress
until the report replaces it. See `policies.simulation_runs`."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.errors import InvalidInput, NotFound
from policies.simulation_runs import simulation_run_get, simulation_start
from policies.views import (
    PAGE,
    _flash_error,
    _page_context,
    _policy_admin_required,
    _version_or_404,
)


def _run_url(number: int, run_id: str) -> str:
    return reverse("policies:simulation", args=[number, run_id])


@require_POST
@_policy_admin_required
def version_simulate(request, number: int):
    version = _version_or_404(number)
    raw = request.POST.get("days", "").strip()
    try:
        run = simulation_start(version=version, days=int(raw) if raw.isdigit() else -1)
    except InvalidInput as exc:
        return _flash_error(exc)
    if not request.htmx:
        return redirect(_run_url(number, run.id))
    return render(request, f"{PAGE}#simulation-run", {"version": version, "run": run})


@require_GET
@_policy_admin_required
def simulation_progress(request, number: int, run_id: str):
    """The run's progress while it runs (the partial polls itself), then its report."""
    version = _version_or_404(number)
    try:
        run = simulation_run_get(run_id=run_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if run.version_number != number:
        raise Http404("No such simulation for this version.")
    context = {"version": version, "run": run, "days": run.days}
    if not request.htmx:
        return render(request, PAGE, _page_context(request, version) | context)
    return render(request, f"{PAGE}#simulation-run", context)
