"""The Celery app of the fault tests' worker processes: the project's app plus test executors.

`celery -A tests.approvals.fault_worker worker ...` runs the real worker with these executors:
- `test.refund`: the sandbox refund (idempotent on the action id: the ledger is the effect
  counter), slowed by FAULT_DELAY_BEFORE_MS / FAULT_DELAY_AFTER_MS around the refund, so a kill
  lands mid-attempt, often after the refund applied and before the worker recorded it;
- `test.http_idempotent` / `test.http_once`: a minimal HTTP test double of a connector, calling
  the URL in the params with the action id as the idempotency key. An idempotent target's 5xx,
  timeout or reset is transient (retry); a target that is not idempotent answering ambiguously is
  an unknown outcome (a person reconciles); a 4xx is a refusal.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from functools import partial
from urllib.parse import urlsplit

from celery import signals

from config.celery import app  # noqa: F401  (the app the worker runs)

HTTP_TIMEOUT_SECONDS = 0.5


def refund_slowly(action) -> dict:
    from config.errors import ApplicationError
    from execution import ExecutionFailed
    from sandbox import services as sandbox

    p = action.effective_params
    time.sleep(int(os.environ.get("FAULT_DELAY_BEFORE_MS", "0")) / 1000)
    try:
        refund = sandbox.refund_issue(
            order_id=p["order_id"], amount=p["amount"], currency=p["currency"],
            reason=p.get("reason", ""), action_id=action.pk,
        )  # fmt: skip
    except ApplicationError as exc:
        raise ExecutionFailed(exc.message, code=exc.code) from exc
    time.sleep(int(os.environ.get("FAULT_DELAY_AFTER_MS", "0")) / 1000)
    return {"refund_id": refund.refund_id, "replayed": refund.replayed}


def call_target(action, *, idempotent: bool) -> dict:
    from execution import ExecutionFailed, OutcomeUnknown

    url = urlsplit(action.effective_params["url"])
    ambiguous = ExecutionFailed if idempotent else OutcomeUnknown
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        conn.request(
            "POST", url.path, body=json.dumps({"action_id": str(action.pk)}),
            headers={"Idempotency-Key": str(action.pk), "Content-Type": "application/json"},
        )  # fmt: skip
        response = conn.getresponse()
        body = response.read()
    except ConnectionRefusedError as exc:  # never reached the target: safe to try again
        raise ExecutionFailed("target refused the connection", transient=True) from exc
    except TimeoutError as exc:
        raise ambiguous("target timed out", code="target_timeout", transient=True) from exc
    except (ConnectionError, http.client.HTTPException) as exc:
        raise ambiguous(f"connection lost: {exc!r}", code="target_reset", transient=True) from exc
    finally:
        conn.close()
    if response.status >= 500:
        raise ambiguous(f"target answered {response.status}", code="target_5xx", transient=True)
    if response.status >= 400:
        raise ExecutionFailed(f"target refused: {response.status}", code="target_refused")
    return json.loads(body)


def register_test_executors() -> None:
    import django

    django.setup()
    from execution import FunctionExecutor, register_executor

    register_executor("test.refund", FunctionExecutor(refund_slowly))
    for key, idempotent in (("test.http_idempotent", True), ("test.http_once", False)):
        register_executor(key, FunctionExecutor(partial(call_target, idempotent=idempotent)))


@signals.worker_init.connect
def _in_the_parent(**kwargs) -> None:
    register_test_executors()


@signals.worker_process_init.connect
def _in_each_child(**kwargs) -> None:
    register_test_executors()
