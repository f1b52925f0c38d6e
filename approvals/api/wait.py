"""`GET /api/v1/actions/{id}/wait/`: a long-poll served without holding a thread.

A plain async Django view (DRF views are synchronous): under an ASGI server, hundreds of agents
can wait at once while submissions keep their workers.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from agents.authentication import agent_from_header
from approvals import selectors
from approvals.api.serializers import ActionOutput
from approvals.models import Status
from approvals.waiting import waiters
from config.api import json_error
from config.errors import ApplicationError

FINAL_WAITING_STATUSES = frozenset({Status.PENDING, Status.APPROVED, Status.EXECUTING, Status.SUBMITTED})


def _parse_timeout(raw: str | None) -> float:
    limit = settings.COUNTERSIGN["WAIT_MAX_SECONDS"]
    if raw is None or raw == "":
        return float(settings.COUNTERSIGN["WAIT_DEFAULT_SECONDS"])
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not (0 <= value <= limit):
        raise ApplicationError(
            f"timeout must be a number of seconds from 0 to {limit}.",
            code="invalid_timeout",
            details={"timeout": raw},
        )
    return value


@sync_to_async
def _load(action_id: str, agent) -> dict:
    action = selectors.action_get_for_agent(action_id=action_id, agent=agent)
    data = ActionOutput(action).data
    data["approvals"] = selectors.action_approvals(action=action)
    return data


@require_GET
async def action_wait(request: HttpRequest, action_id: str) -> JsonResponse:
    """Return as soon as the action leaves `pending` (or the waiting statuses), or at timeout."""
    agent = await sync_to_async(agent_from_header)(request.headers.get("Authorization"))
    if not agent:
        response = json_error("unauthenticated", "Send Authorization: Api-Key <key>.", 401)
        response["WWW-Authenticate"] = "Api-Key"
        return response
    try:
        timeout = _parse_timeout(request.GET.get("timeout"))
        waiting_statuses = _waiting_statuses(request.GET.get("until") or "decision")
        deadline = time.monotonic() + timeout
        while True:
            async with waiters.subscription(str(action_id)) as changed:
                data = await _load(action_id, agent)
                remaining = deadline - time.monotonic()
                if data["status"] not in waiting_statuses or remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(changed, timeout=remaining)
                except TimeoutError:
                    data = await _load(action_id, agent)
                    break
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    response = JsonResponse(data)
    response["X-Wait-Timed-Out"] = "true" if data["status"] in waiting_statuses else "false"
    return response


def _waiting_statuses(until: str) -> frozenset[str]:
    # `until=final` waits through approval and execution; the default returns once it is decided.
    if until == "decision":
        return frozenset({Status.PENDING})
    if until == "final":
        return FINAL_WAITING_STATUSES
    raise ApplicationError(
        "until is `decision` (default) or `final`.", code="invalid_until", details={"until": until}
    )
