"""The long-poll `wait/` against the real ASGI server: it wakes on decisions, times out, and
hundreds of open waits do not stop submissions from being answered."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from approvals import services
from tests.approvals.conftest import refund_params

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def headers(agent) -> dict[str, str]:
    return {"Authorization": f"Api-Key {agent.key}"}


def wait(base: str, agent, action_id, timeout: float, **params) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(
        f"{base}/api/v1/actions/{action_id}/wait/",
        params={"timeout": timeout, **params},
        headers=headers(agent),
        timeout=timeout + 30,
    )
    return response, time.monotonic() - started


def in_a_thread(fn):
    """Run `fn` in another thread with its own database connection, closed afterwards."""

    def run():
        try:
            return fn()
        finally:
            connection.close()

    return run


def test_a_decided_action_is_returned_at_once(live_server_url, submit, agent, enqueued):
    action = submit(5000)  # within the limit: approved at submission

    response, elapsed = wait(live_server_url, agent, action.pk, timeout=20)

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.headers["X-Wait-Timed-Out"] == "false"
    assert elapsed < 10  # did not sit out the timeout


def test_a_wait_returns_as_soon_as_the_action_is_approved(
    live_server_url, submit, agent, supervisor, enqueued
):
    action = submit(12000)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, live_server_url, agent, action.pk, 20)
        time.sleep(1)  # the wait is open on the server
        assert not waiting.done()
        services.action_approve(action_id=action.pk, by=supervisor)
        response, elapsed = waiting.result(timeout=30)

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["version"] == 2
    assert response.headers["X-Wait-Timed-Out"] == "false"
    assert elapsed < 10  # woken by the approval, well before the 20 s timeout


def test_a_wait_wakes_on_a_rejection_made_by_another_thread(
    live_server_url, submit, agent, supervisor
):
    action = submit(12000)

    def reject_soon():
        time.sleep(1)
        services.action_reject(action_id=action.pk, by=supervisor, reason_code="outside-policy")

    with ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(wait, live_server_url, agent, action.pk, 20)
        pool.submit(in_a_thread(reject_soon)).result(timeout=30)
        response, elapsed = waiting.result(timeout=30)

    assert response.json()["status"] == "rejected"
    assert elapsed < 10


def test_a_wait_times_out_with_the_pending_action(live_server_url, submit, agent):
    action = submit(12000)

    response, elapsed = wait(live_server_url, agent, action.pk, timeout=1)

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.headers["X-Wait-Timed-Out"] == "true"
    assert elapsed >= 1


def test_a_first_of_two_approvals_does_not_end_the_wait(
    live_server_url, demo, agent, make_supervisor
):
    from audit.services import Actor
    from policies.services import policy_publish

    policy_publish(
        rules=[
            {
                "name": "two",
                "action_type": "refund.issue",
                "mode": "execute_gated",
                "approvals_required": 2,
            }
        ],
        actor=Actor.system("test"),
    )
    action = services.action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(12000)
    ).action

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, live_server_url, agent, action.pk, 3)
        time.sleep(1)
        services.action_approve(action_id=action.pk, by=make_supervisor("alice"))
        response, elapsed = waiting.result(timeout=30)

    assert response.json()["status"] == "pending"
    assert response.json()["version"] == 2
    assert response.headers["X-Wait-Timed-Out"] == "true"
    assert elapsed >= 3


def test_waiting_until_final_returns_after_execution(
    live_server_url, submit, agent, supervisor, enqueued
):
    action = submit(12000)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, live_server_url, agent, action.pk, 20, until="final")
        time.sleep(1)
        services.action_approve(action_id=action.pk, by=supervisor)
        time.sleep(0.5)
        assert not waiting.done()  # approved is not final
        services.action_execute(action_id=action.pk)
        response, elapsed = waiting.result(timeout=30)

    assert response.json()["status"] == "succeeded"
    assert response.json()["result"]["refundable_after"] == 13000
    assert elapsed < 10


def test_another_agents_action_is_not_found(live_server_url, submit, make_agent):
    action = submit(12000)
    stranger = make_agent("other-bot")

    response, _ = wait(live_server_url, stranger, action.pk, timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "action_not_found"


def test_an_unknown_key_is_refused(live_server_url, submit, agent):
    action = submit(12000)

    response = httpx.get(
        f"{live_server_url}/api/v1/actions/{action.pk}/wait/?timeout=1",
        headers={"Authorization": "Api-Key cs_nope_nope"},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


# ---------------------------------------------------------------------------------------------
# the one that matters: open waits must not hold what submissions need

WAITERS = 200
SUBMISSIONS = 20
WAIT_TIMEOUT = 20


def test_200_open_waits_do_not_hold_up_submissions(
    live_server_url, demo, agent, supervisor, enqueued
):
    # Arrange: 200 pending actions to wait on
    waited = [
        services.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(12000 + i)
        ).action.pk
        for i in range(WAITERS)
    ]

    def approve_all():
        for action_id in waited:
            services.action_approve(action_id=action_id, by=supervisor)

    async def scenario():
        limits = httpx.Limits(max_connections=WAITERS + 20, max_keepalive_connections=WAITERS + 20)
        async with httpx.AsyncClient(
            base_url=live_server_url,
            headers=headers(agent),
            limits=limits,
            timeout=httpx.Timeout(WAIT_TIMEOUT + 30, pool=WAIT_TIMEOUT + 30),
        ) as client:
            started = time.monotonic()
            waits = [
                asyncio.create_task(
                    client.get(f"/api/v1/actions/{pk}/wait/", params={"timeout": WAIT_TIMEOUT})
                )
                for pk in waited
            ]
            await asyncio.sleep(3)  # every wait is connected and parked on the server
            open_before = sum(not w.done() for w in waits)

            # Act 1: submissions while all the waits are open
            submissions = []
            for i in range(SUBMISSIONS):
                response = await client.post(
                    "/api/v1/actions/",
                    json={"action_type": "refund.issue", "params": refund_params(9000 + i)},
                    headers={"Idempotency-Key": f"during-wait-{i}"},
                )
                submissions.append(response)
            submissions_done_at = time.monotonic() - started
            open_after = sum(not w.done() for w in waits)

            # Act 2: decide the waited actions; every wait wakes
            await asyncio.to_thread(in_a_thread(approve_all))
            responses = await asyncio.gather(*waits, return_exceptions=True)
            waits_done_at = time.monotonic() - started
        return open_before, submissions, submissions_done_at, open_after, responses, waits_done_at

    open_before, submissions, submitted_at, open_after, responses, finished_at = asyncio.run(
        scenario()
    )

    # Assert: submissions were answered while every wait stayed open
    assert open_before == WAITERS
    assert [r.status_code for r in submissions] == [201] * SUBMISSIONS, submissions[-1].text
    assert {r.json()["status"] for r in submissions} == {"pending"}
    assert submitted_at < WAIT_TIMEOUT / 2
    assert open_after == WAITERS
    # ... and every wait then returned the approval, woken rather than timed out
    errors = [r for r in responses if isinstance(r, Exception)]
    assert errors == []
    assert [r.status_code for r in responses] == [200] * WAITERS
    assert {r.json()["status"] for r in responses} == {"approved"}
    assert {r.headers["X-Wait-Timed-Out"] for r in responses} == {"false"}
    assert sorted(r.json()["id"] for r in responses) == sorted(str(pk) for pk in waited)
    assert finished_at < WAIT_TIMEOUT
