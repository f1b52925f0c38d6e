"""The long-poll `wait/` against a real ASGI server: it wakes on decisions, times out, and
hundreds of open waits do not stop submissions from being answered.

The server is the web app with one test-only route (`wait_probe`) that says when a wait is open
on the server, so a test makes its change once the wait is listening instead of after a sleep.
A wait asked to hold for `LONG_WAIT` seconds that answers within `ANSWER_DEADLINE` was ended by
the change, not by its timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings

from approvals import services
from tests.approvals.conftest import refund_params
from tests.approvals.wait_probe import PROBE_PATH
from tests.clock import wait_for
from tests.conftest import asgi_server, in_a_thread

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LONG_WAIT = settings.COUNTERSIGN["WAIT_MAX_SECONDS"]  # the longest a server holds a wait
ANSWER_DEADLINE = 20  # well within LONG_WAIT


class WaitServer:
    def __init__(self, url: str) -> None:
        self.url = url

    def subscriptions(self) -> dict[str, dict[str, int]]:
        return httpx.get(f"{self.url}{PROBE_PATH}", timeout=10).json()

    def open_waits(self, action_ids) -> int:
        open_now = self.subscriptions()["open"]
        return sum(open_now.get(str(pk), 0) for pk in action_ids)

    def wait_listening(self, action_id, *, times: int = 1) -> None:
        """Until the wait on `action_id` has subscribed `times` times and is subscribed now."""

        def listening():
            seen = self.subscriptions()
            key = str(action_id)
            return seen["entered"].get(key) == times and seen["open"].get(key) == 1

        ordinal = {1: "", 2: " again"}.get(times, f" for the {times}th time")
        wait_for(listening, what=f"the wait on {action_id} listening{ordinal} on the server")


@pytest.fixture(scope="module")
def server(test_database_name, tmp_path_factory) -> Iterator[WaitServer]:
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with asgi_server("tests.approvals.wait_probe:application", test_database_name, log) as url:
        yield WaitServer(url)


def headers(agent) -> dict[str, str]:
    return {"Authorization": f"Api-Key {agent.key}"}


def wait(base: str, agent, action_id, timeout: float = LONG_WAIT, **params) -> httpx.Response:
    return httpx.get(
        f"{base}/api/v1/actions/{action_id}/wait/",
        params={"timeout": timeout, **params},
        headers=headers(agent),
        timeout=timeout + 30,
    )


def answer(waiting: concurrent.futures.Future, *, what: str) -> httpx.Response:
    try:
        return waiting.result(timeout=ANSWER_DEADLINE)
    except concurrent.futures.TimeoutError:
        raise AssertionError(
            f"{what}: no answer within {ANSWER_DEADLINE}s (the wait itself holds up to "
            f"{LONG_WAIT}s)"
        ) from None


def test_a_decided_action_is_returned_at_once(server, submit, agent, enqueued):
    action = submit(5000)  # within the limit: approved at submission

    with ThreadPoolExecutor(1) as pool:
        response = answer(
            pool.submit(wait, server.url, agent, action.pk), what="a wait on a decided action"
        )

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_a_wait_returns_as_soon_as_the_action_is_approved(
    server, submit, agent, supervisor, enqueued
):
    action = submit(12000)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, server.url, agent, action.pk)
        server.wait_listening(action.pk)
        assert not waiting.done()
        services.action_approve(action_id=action.pk, by=supervisor)
        response = answer(waiting, what="the wait after the approval")

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["version"] == 2
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_a_wait_wakes_on_a_rejection_made_by_another_thread(server, submit, agent, supervisor):
    action = submit(12000)

    def reject():
        services.action_reject(action_id=action.pk, by=supervisor, reason_code="outside-policy")

    with ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(wait, server.url, agent, action.pk)
        server.wait_listening(action.pk)
        pool.submit(in_a_thread(reject)).result(timeout=30)
        response = answer(waiting, what="the wait after the rejection")

    assert response.json()["status"] == "rejected"
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_a_wait_times_out_with_the_pending_action(server, submit, agent):
    action = submit(12000)

    response = wait(server.url, agent, action.pk, timeout=1)

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.headers["X-Wait-Timed-Out"] == "true"


def test_a_first_of_two_approvals_does_not_end_the_wait(server, demo, agent, make_supervisor):
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
        waiting = pool.submit(wait, server.url, agent, action.pk)
        server.wait_listening(action.pk)
        services.action_approve(action_id=action.pk, by=make_supervisor("alice"))
        # Assert: woken by the first approval, it read the action and went back to waiting
        server.wait_listening(action.pk, times=2)
        assert not waiting.done()
        services.action_approve(action_id=action.pk, by=make_supervisor("bob"))
        response = answer(waiting, what="the wait after the second approval")

    assert response.json()["status"] == "approved"
    assert response.json()["version"] == 3
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_waiting_until_final_returns_after_execution(server, submit, agent, supervisor, enqueued):
    action = submit(12000)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, server.url, agent, action.pk, until="final")
        server.wait_listening(action.pk)
        services.action_approve(action_id=action.pk, by=supervisor)
        server.wait_listening(action.pk, times=2)
        assert not waiting.done()  # approved is not final
        services.action_execute(action_id=action.pk)
        response = answer(waiting, what="the wait after the execution")

    assert response.json()["status"] == "succeeded"
    assert response.json()["result"]["refundable_after"] == 13000
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_another_agents_action_is_not_found(server, submit, make_agent):
    action = submit(12000)
    stranger = make_agent("other-bot")

    response = wait(server.url, stranger, action.pk, timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "action_not_found"


def test_an_unknown_key_is_refused(server, submit, agent):
    action = submit(12000)

    response = httpx.get(
        f"{server.url}/api/v1/actions/{action.pk}/wait/?timeout=1",
        headers={"Authorization": "Api-Key cs_nope_nope"},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


# ---------------------------------------------------------------------------------------------
# the one that matters: open waits must not hold what submissions need

WAITERS = 200
SUBMISSIONS = 20


def test_200_open_waits_do_not_hold_up_submissions(server, demo, agent, supervisor, enqueued):
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

    def all_listening():
        wait_for(
            lambda: server.open_waits(waited) == WAITERS,
            deadline=60,
            what=f"all {WAITERS} waits listening on the server",
        )

    async def scenario():
        limits = httpx.Limits(max_connections=WAITERS + 20, max_keepalive_connections=WAITERS + 20)
        async with httpx.AsyncClient(
            base_url=server.url,
            headers=headers(agent),
            limits=limits,
            timeout=httpx.Timeout(LONG_WAIT + 30, pool=LONG_WAIT + 30),
        ) as client:
            waits = [
                asyncio.create_task(
                    client.get(f"/api/v1/actions/{pk}/wait/", params={"timeout": LONG_WAIT})
                )
                for pk in waited
            ]
            await asyncio.to_thread(all_listening)
            answered_before = sum(w.done() for w in waits)

            # Act 1: submissions while all the waits are open
            submissions = []
            for i in range(SUBMISSIONS):
                response = await client.post(
                    "/api/v1/actions/",
                    json={"action_type": "refund.issue", "params": refund_params(9000 + i)},
                    headers={"Idempotency-Key": f"during-wait-{i}"},
                )
                submissions.append(response)
            open_after = await asyncio.to_thread(server.open_waits, waited)
            answered_after = sum(w.done() for w in waits)

            # Act 2: decide the waited actions; every wait wakes
            await asyncio.to_thread(in_a_thread(approve_all))
            try:
                responses = await asyncio.wait_for(
                    asyncio.gather(*waits, return_exceptions=True), timeout=ANSWER_DEADLINE
                )
            except TimeoutError:
                answered = sum(w.done() for w in waits)
                raise AssertionError(
                    f"{answered} of {WAITERS} waits answered within {ANSWER_DEADLINE}s of the "
                    f"approvals (each holds up to {LONG_WAIT}s)"
                ) from None
        return answered_before, submissions, open_after, answered_after, responses

    answered_before, submissions, open_after, answered_after, responses = asyncio.run(scenario())

    # Assert: submissions were answered while every wait stayed open on the server
    assert answered_before == 0
    assert [r.status_code for r in submissions] == [201] * SUBMISSIONS, submissions[-1].text
    assert {r.json()["status"] for r in submissions} == {"pending"}
    assert (open_after, answered_after) == (WAITERS, 0)
    # ... and every wait then returned the approval, woken rather than timed out
    errors = [r for r in responses if isinstance(r, Exception)]
    assert errors == []
    assert [r.status_code for r in responses] == [200] * WAITERS
    assert {r.json()["status"] for r in responses} == {"approved"}
    assert {r.headers["X-Wait-Timed-Out"] for r in responses} == {"false"}
    assert sorted(r.json()["id"] for r in responses) == sorted(str(pk) for pk in waited)


def test_a_wait_wakes_when_the_sla_runs_out(server, submit, agent):
    from datetime import timedelta

    from escalations.services import slas_sweep
    from tests.clock import frozen

    action = submit(12000)  # the demo rule waits four hours for a supervisor, then expires it

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, server.url, agent, action.pk)
        server.wait_listening(action.pk)
        with frozen() as clock:
            # The frozen clock starts at the whole second, before the submission: a minute's margin.
            clock.shift(timedelta(hours=4, minutes=1))
            slas_sweep()
        response = answer(waiting, what="the wait after the SLA ran out")

    assert response.json()["status"] == "expired"
    assert response.headers["X-Wait-Timed-Out"] == "false"


def test_waiting_until_final_holds_through_an_escalation_until_its_handler_settles_it(
    server, submit, agent, make_supervisor
):
    from django.contrib.auth.models import Group

    from escalations.models import Escalation
    from escalations.services import case_resolve

    action = submit(60000)  # the demo policy escalates refunds over 500.00 to l1-lead
    handler = make_supervisor("lee", queues=[])
    handler.groups.add(Group.objects.get(name="l1-lead"))
    case = Escalation.objects.get(action=action)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait, server.url, agent, action.pk, until="final")
        server.wait_listening(action.pk)
        assert not waiting.done()
        case_resolve(case_id=case.pk, by=handler, outcome="returned", note="Offer a voucher")
        response = answer(waiting, what="the wait after the case was returned")

    assert response.json()["status"] == "rejected"
    assert response.json()["escalation"]["outcome"] == "returned"
