"""`GET /api/v1/actions/{id}/wait/`: a long-poll served without holding a thread or a connection.

A plain async Django view (DRF views are synchronous): under an ASGI server, hundreds of agents
can wait at once while submissions keep their workers and their database connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from agents.authentication import agent_from_header
from agents.throttling import ident_for_header, rate_limit_hit
from approvals import selectors
from approvals.api.views import action_data
from approvals.models import Status
from approvals.realtime.waiters import waiters
from config.api import json_error
from config.errors import ApplicationError, Code

# `until=final` also waits while a person works the action's escalation case: its handler
# approves (it executes), rejects, returns or closes it.
FINAL_WAITING_STATUSES = frozenset(
    {Status.SUBMITTED, Status.PENDING, Status.ESCALATED, Status.APPROVED, Status.EXECUTING}
)
# A parked wait holds neither a thread nor a database connection: reads run on this small pool
# and give their connection back at once. Without it every open wait kept a connection, and
# ~100 waits exhausted PostgreSQL's max_connections for the whole app. The pool also bounds how
# many connections a burst of wake-ups (a bulk approval) can open at the same time.
_db_pool = ThreadPoolExecutor(
    max_workers=settings.COUNTERSIGN.get("WAIT_DB_THREADS", 4),
    thread_name_prefix="countersign-wait-db",
)


def _in_db_pool(fn):
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()  # hands the connection back to the pool

    return sync_to_async(run, thread_sensitive=False, executor=_db_pool)


def _parse_timeout(raw: str | None) -> float:
    limit = settings.COUNTERSIGN["WAIT_MAX_SECONDS"]
    if raw is None or raw == "":
        return float(settings.COUNTERSIGN["WAIT_DEFAULT_SECONDS"])
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 <= value <= limit):  # also refuses nan
        raise ApplicationError(
            f"timeout must be a number of seconds from 0 to {limit}.",
            code=Code.INVALID_TIMEOUT,
            details={"timeout": raw},
        )
    return value


def _waiting_statuses(until: str) -> frozenset[str]:
    # `until=final` waits through approval and execution; the default returns once it is decided.
    if until == "decision":
        return frozenset({Status.PENDING})
    if until == "final":
        return FINAL_WAITING_STATUSES
    raise ApplicationError(
        "until is `decision` (default) or `final`.",
        code=Code.INVALID_UNTIL,
        details={"until": until},
    )


@_in_db_pool
def _authenticate(header: str | None):
    """The agent (None or False when there is none) and, if it is over its rate limit, the wait."""
    agent, ident = agent_from_header(header), ident_for_header(header)
    return agent, (rate_limit_hit(ident=ident) if agent and ident else None)


@_in_db_pool
def _load(action_id: str, agent) -> dict[str, Any]:
    return action_data(selectors.action_get_for_agent(action_id=action_id, agent=agent))


@require_GET
async def action_wait(request: HttpRequest, action_id: str) -> JsonResponse:
    """Return as soon as the action leaves `pending` (or the waiting statuses), or at timeout."""
    agent, retry_after = await _authenticate(request.headers.get("Authorization"))
    if not agent:
        response = json_error(Code.UNAUTHENTICATED, "Send Authorization: Api-Key <key>.")
        response["WWW-Authenticate"] = "Api-Key"
        return response
    if retry_after is not None:
        # The same budget, error and header as the DRF views (one limit per API key).
        message = f"Request was throttled. Expected available in {retry_after} seconds."
        details = {"retry_after_seconds": retry_after}
        response = json_error(Code.RATE_LIMITED, message, details)
        response["Retry-After"] = str(retry_after)
        return response
    try:
        timeout = _parse_timeout(request.GET.get("timeout"))
        waiting_statuses = _waiting_statuses(request.GET.get("until") or "decision")
        deadline = time.monotonic() + timeout
        while True:
            # Subscribe before reading, so a change between the read and the wait is not missed.
            async with waiters.subscription(str(action_id)) as changed:
                data = await _load(action_id, agent)
                remaining = deadline - time.monotonic()
                if data["status"] not in waiting_statuses or remaining <= 0:
                    break
                # On timeout, the read at the top of the loop is the answer.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed, timeout=remaining)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status_code)
    response = JsonResponse(data)
    response["X-Wait-Timed-Out"] = "true" if data["status"] in waiting_statuses else "false"
    return response
