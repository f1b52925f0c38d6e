"""The web app as the run command serves it, plus a test-only route telling how the long-poll
waits of each action stand: how many subscriptions each has taken, and how many are open now.

A wait subscribes before it reads the action, so once one is open no change can slip past it:
that is the moment a test may make the change. This module is the only place the tests reach
into the waiters, so a move of `approvals.realtime.waiters` is fixed here.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter

from config.asgi import application as countersign

from approvals.realtime.waiters import waiters  # isort: skip (Django is set up by config.asgi)

PROBE_PATH = "/__tests__/waits/"

_entered: Counter[str] = Counter()
_open: Counter[str] = Counter()
_subscription = waiters.subscription


@contextlib.asynccontextmanager
async def _counted_subscription(action_id: str):
    _entered[action_id] += 1
    async with _subscription(action_id) as changed:
        _open[action_id] += 1
        try:
            yield changed
        finally:
            _open[action_id] -= 1


waiters.subscription = _counted_subscription


async def application(scope, receive, send):
    if scope["type"] != "http" or scope["path"] != PROBE_PATH:
        return await countersign(scope, receive, send)
    body = json.dumps({"entered": _entered, "open": +_open}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
