"""The dashboard websocket on the real channels_redis layer: who may connect, what gets pushed."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from approvals import services
from approvals.realtime import publish
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def communicator(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/dashboard/", headers=list(headers))


async def next_push_for(ws: WebsocketCommunicator, action_id: str, timeout: float = 10.0) -> dict:
    """Other tests may share the Redis group: skip pushes about other actions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        if message.get("type") == "action.changed" and message["action_id"] == action_id:
            return message


async def messages_until_push_for(
    ws: WebsocketCommunicator, action_id: str, timeout: float = 10.0
) -> list[dict]:
    """Every message up to and including the push about `action_id`. A socket gets its pushes in
    the order they were published, so one published earlier that is not among these never came:
    a later push is the barrier that lets a test say something did not arrive, without a wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    messages = []
    while True:
        message = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        messages.append(message)
        if message.get("type") == "action.changed" and message["action_id"] == action_id:
            return messages


def about(messages: list[dict], action_id: str) -> list[str]:
    """The types of the messages about `action_id`."""
    return [m["type"] for m in messages if m.get("action_id") == action_id]


def submit_refund(agent, reason: str) -> str:
    response = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue",
         "params": {"order_id": "ORD-1001", "amount": 12000, "currency": "USD", "reason": reason}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def test_a_supervisor_gets_a_submitted_action_pushed_as_an_escaped_row(
    demo, agent, supervisor
):
    # Arrange: a supervisor's browser is connected with its session cookie
    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(supervisor)), ORIGIN)
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "hello"

    # Act: an agent submits a refund whose reason carries markup
    action_id = await database_sync_to_async(submit_refund)(agent, '<script>alert("x")</script>')

    # Assert: the rendered row arrives, with the agent's text escaped
    message = await next_push_for(ws, action_id)
    assert (message["status"], message["version"]) == ("pending", 1)
    html = message["html"]
    assert f'id="action-{action_id}"' in html
    assert 'data-version="1"' in html
    assert "120.00 USD" in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    await ws.disconnect()


async def test_a_decision_is_pushed_with_the_new_status_and_version(demo, agent, supervisor):
    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(supervisor)), ORIGIN)
    assert (await ws.connect())[0]
    await ws.receive_json_from()
    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    await next_push_for(ws, action_id)

    from approvals.services import action_reject

    await database_sync_to_async(action_reject)(
        action_id=action_id, by=supervisor, reason_code="suspected-fraud"
    )

    message = await next_push_for(ws, action_id)
    assert (message["status"], message["version"]) == ("rejected", 2)
    assert 'data-status="rejected"' in message["html"]
    assert "rejected by alice" in message["html"]
    await ws.disconnect()


async def test_the_socket_answers_a_ping_and_ignores_garbage(demo, supervisor):
    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(supervisor)), ORIGIN)
    assert (await ws.connect())[0]
    await ws.receive_json_from()

    await ws.send_to(text_data="{not json")
    await ws.send_json_to({"type": "ping"})

    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


async def test_an_anonymous_connection_is_refused(demo):
    ws = communicator(ORIGIN)

    connected, _ = await ws.connect()

    assert not connected


async def test_a_connection_from_a_foreign_origin_is_refused(demo, supervisor):
    ws = communicator(
        (b"cookie", await database_sync_to_async(session_cookie)(supervisor)),
        (b"origin", b"http://evil.example"),
    )

    connected, _ = await ws.connect()

    assert not connected


async def test_a_signed_in_user_who_is_not_a_supervisor_is_refused(demo):
    outsider = await database_sync_to_async(get_user_model().objects.create_user)(
        "mallory", password="x-long-enough-pass"
    )
    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(outsider)), ORIGIN)

    connected, code = await ws.connect()

    assert not connected
    assert code == 4403


def submit_credentials_reset(agent) -> str:
    response = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "credentials.reset", "params": {"customer_id": "CUS-1001"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def connected_as(user) -> WebsocketCommunicator:
    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(user)), ORIGIN)
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "hello"
    return ws


async def test_a_refund_is_pushed_to_members_of_refunds_and_not_to_others(
    demo, agent, make_supervisor
):
    # Arrange: one supervisor works Refunds, another only Account security
    refunds = await database_sync_to_async(make_supervisor)("ref", queues=["Refunds"])
    security = await database_sync_to_async(make_supervisor)("sec", queues=["Account security"])
    refunds_ws, security_ws = await connected_as(refunds), await connected_as(security)

    # Act: a refund (Refunds), a credentials reset (Account security), another refund
    refund_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    reset_id = await database_sync_to_async(submit_credentials_reset)(agent)
    later_id = await database_sync_to_async(submit_refund)(agent, "late")

    # Assert: each gets the pushes of its own queue, and none of the other's came before them
    to_refunds = await messages_until_push_for(refunds_ws, later_id)
    to_security = await messages_until_push_for(security_ws, reset_id)
    assert about(to_refunds, refund_id) == ["action.changed"]
    assert about(to_refunds, reset_id) == []
    assert about(to_security, refund_id) == []
    assert to_security[-1]["status"] == "pending"
    await refunds_ws.disconnect()
    await security_ws.disconnect()


async def test_a_superuser_gets_the_pushes_of_every_queue(demo, agent):
    root = await database_sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="x-long-enough-pass"
    )
    ws = await connected_as(root)

    refund_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    reset_id = await database_sync_to_async(submit_credentials_reset)(agent)

    assert (await next_push_for(ws, refund_id))["status"] == "pending"
    assert (await next_push_for(ws, reset_id))["status"] == "pending"
    await ws.disconnect()


# ------------------------------------------------------------------------ sequence numbers


async def test_hello_carries_the_current_sequence_number_of_each_queue_group(
    demo, agent, make_supervisor
):
    refunds = await database_sync_to_async(make_supervisor)("ref", queues=["Refunds"])
    await database_sync_to_async(submit_refund)(agent, "damaged")
    expected = await database_sync_to_async(publish.group_seqs)(["queue.refunds"])

    ws = communicator((b"cookie", await database_sync_to_async(session_cookie)(refunds)), ORIGIN)
    assert (await ws.connect())[0]
    hello = await ws.receive_json_from()

    assert hello == {"type": "hello", "seqs": expected}
    assert expected["queue.refunds"] >= 1
    await ws.disconnect()


async def test_pushes_of_a_group_carry_consecutive_sequence_numbers(demo, agent, make_supervisor):
    refunds = await database_sync_to_async(make_supervisor)("ref", queues=["Refunds"])
    ws = await connected_as(refunds)

    first = await next_push_for(ws, await database_sync_to_async(submit_refund)(agent, "a"))
    second = await next_push_for(ws, await database_sync_to_async(submit_refund)(agent, "b"))

    assert first["group"] == second["group"] == "queue.refunds"
    assert second["seq"] == first["seq"] + 1
    assert (first["queue"], first["previous_status"]) == ("Refunds", "submitted")
    await ws.disconnect()


async def test_an_event_the_viewer_may_not_see_still_arrives_as_a_skip(
    demo, agent, make_supervisor
):
    # Arrange: an action of a queue whose name shares its slug (and group) with Refunds
    from approvals.models import Action

    refunds = await database_sync_to_async(make_supervisor)("ref", queues=["Refunds"])
    ws = await connected_as(refunds)
    action_id = await database_sync_to_async(submit_refund)(agent, "a")
    await next_push_for(ws, action_id)
    await database_sync_to_async(Action.objects.filter(pk=action_id).update)(queue="Refunds!")

    # Act: a change of it is published to the shared group
    await database_sync_to_async(publish.publish_action_changed)(
        {"action_id": action_id, "status": "pending", "version": 1, "queue": "Refunds!",
         "updated_at": "x", "previous_status": "pending"}
    )  # fmt: skip

    # Assert: no row, but the sequence number, so the page sees no gap
    message = await ws.receive_json_from(timeout=5)
    assert message["type"] == "skip"
    assert message["group"] == "queue.refunds"
    assert isinstance(message["seq"], int)
    assert "html" not in message
    await ws.disconnect()


# ------------------------------------------------------------------------ render once


async def test_a_change_is_rendered_once_by_the_process_that_made_it(demo, agent, make_supervisor):
    # A change a person makes (here a claim) carries its row, rendered by the request's process
    from approvals import presenters
    from approvals.consumers import rows

    alice = await database_sync_to_async(make_supervisor)("alice2")
    bob = await database_sync_to_async(make_supervisor)("bob2")
    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    sockets = [await connected_as(alice), await connected_as(bob), await connected_as(alice)]
    server_renders = rows.renders

    with mock.patch.object(presenters, "_render_row", side_effect=presenters._render_row) as render:
        await database_sync_to_async(services.action_claim)(action_id=action_id, by=alice)
        messages = [await next_push_for(ws, action_id) for ws in sockets]

    assert len({m["html"] for m in messages}) == 1
    assert f'id="action-{action_id}"' in messages[0]["html"]
    assert render.call_count == 1
    assert rows.renders == server_renders  # the server process rendered nothing
    for ws in sockets:
        await ws.disconnect()


async def test_a_new_action_is_rendered_once_by_the_server_process_not_by_the_submission(
    demo, agent, make_supervisor
):
    # Submitting is the API's hottest path: its request publishes the event, the feed renders it
    from approvals.consumers import rows

    alice = await database_sync_to_async(make_supervisor)("alice4")
    bob = await database_sync_to_async(make_supervisor)("bob4")
    sockets = [await connected_as(alice), await connected_as(bob), await connected_as(alice)]
    server_renders = rows.renders

    with mock.patch.object(
        publish, "publish_action_changed", side_effect=publish.publish_action_changed
    ) as published:
        action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
        messages = [await next_push_for(ws, action_id) for ws in sockets]

    ((_, row),) = [(c.args, c.kwargs) for c in published.call_args_list]
    assert row == {}  # no instance handed over: nothing rendered in the request
    assert len({m["html"] for m in messages}) == 1
    assert f'id="action-{action_id}"' in messages[0]["html"]
    assert "120.00 USD" in messages[0]["html"]
    assert rows.renders == server_renders + 1
    for ws in sockets:
        await ws.disconnect()


async def test_an_event_without_its_row_is_rendered_once_per_server_process(
    demo, agent, make_supervisor
):
    # e.g. the publisher's render failed: the event still comes, and the server renders the row
    from approvals.consumers import rows

    alice = await database_sync_to_async(make_supervisor)("alice3")
    bob = await database_sync_to_async(make_supervisor)("bob3")
    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    sockets = [await connected_as(alice), await connected_as(bob), await connected_as(alice)]
    renders = rows.renders

    await database_sync_to_async(publish.publish_action_changed)(
        {"action_id": action_id, "status": "pending", "version": 1, "queue": "Refunds",
         "updated_at": "bare", "previous_status": "pending"}
    )  # fmt: skip
    messages = [await next_push_for(ws, action_id) for ws in sockets]

    assert len({m["html"] for m in messages}) == 1
    assert f'id="action-{action_id}"' in messages[0]["html"]
    assert rows.renders == renders + 1
    for ws in sockets:
        await ws.disconnect()


async def test_the_row_cache_renders_a_key_once_while_concurrent_callers_wait():
    from approvals.consumers import RowCache

    cache = RowCache(size=2)
    calls = []

    async def render():
        calls.append(1)
        await asyncio.sleep(0.05)
        return ("<tr></tr>", "Refunds")

    results = await asyncio.gather(*(cache.get(("a", 1, "t"), render) for _ in range(5)))
    again = await cache.get(("a", 1, "t"), render)
    await cache.get(("b", 1, "t"), render)
    await cache.get(("c", 1, "t"), render)  # the oldest key falls out
    await cache.get(("a", 1, "t"), render)

    assert results == [("<tr></tr>", "Refunds")] * 5
    assert again == ("<tr></tr>", "Refunds")
    assert len(calls) == 4


async def next_message_about(ws: WebsocketCommunicator, action_id: str, timeout: float = 10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        if message.get("action_id") == action_id:
            return message


async def test_an_edit_that_reroutes_an_action_drops_it_from_the_queue_it_left(
    demo, agent, make_supervisor
):
    # Arrange: a policy that sends refunds over 200.00 to two seniors in Escalations; a 120.00
    # refund waits in Refunds. Rita works only Refunds, Erin only Escalations, Sam both.
    from approvals import services
    from audit.services import Actor
    from policies.services import policy_publish
    from tests.approvals.test_edit_pending import BIG_REFUND_RULE, DEMO_RULES

    await database_sync_to_async(policy_publish)(
        rules=[DEMO_RULES[0], BIG_REFUND_RULE, *DEMO_RULES[1:]], actor=Actor.system("test")
    )
    rita = await database_sync_to_async(make_supervisor)("rita", queues=["Refunds"])
    erin = await database_sync_to_async(make_supervisor)(
        "erin", role="senior_supervisor", queues=["Escalations"]
    )
    sam = await database_sync_to_async(make_supervisor)(
        "sam", role="senior_supervisor", queues=["Refunds", "Escalations"]
    )
    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    rita_ws, erin_ws, sam_ws = [await connected_as(u) for u in (rita, erin, sam)]

    # Act: Sam edits the refund to 300.00, which re-routes it to Escalations
    await database_sync_to_async(services.action_edit)(
        action_id=action_id,
        by=sam,
        params={"order_id": "ORD-1001", "amount": 30000, "currency": "USD", "reason": "x"},
        reason_code="amount-corrected",
    )

    # Assert: Rita is told to drop it (and her Refunds count), Erin gets the row with the queue
    # it came from, and Sam, who works both queues, gets the row once and a skip for the other copy
    removed = await next_message_about(rita_ws, action_id)
    assert removed["type"] == "action.removed"
    assert (removed["previous_queue"], removed["previous_status"]) == ("Refunds", "pending")
    arrived = await next_message_about(erin_ws, action_id)
    assert arrived["type"] == "action.changed"
    assert (arrived["queue"], arrived["previous_queue"]) == ("Escalations", "Refunds")
    # ... and nothing more came to Sam before the push of a later refund
    later_id = await database_sync_to_async(submit_refund)(agent, "later")
    *sams, _later = await messages_until_push_for(sam_ws, later_id)
    assert sorted(m["type"] for m in sams) == ["action.changed", "skip"]
    assert about(sams, action_id) == ["action.changed"]  # a skip names only its group
    for ws in (rita_ws, erin_ws, sam_ws):
        await ws.disconnect()


async def test_a_dashboard_idle_longer_than_the_layers_receive_wait_stays_connected(
    demo, agent, supervisor
):
    # A quiet feed waits in bounded reads with health checks between them: no read timeout may
    # drop a quiet dashboard (as channels_redis's 5 s blocking read once did, every 5 s).
    ws = await connected_as(supervisor)

    assert await ws.receive_nothing(timeout=7.0)
    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")

    assert (await next_push_for(ws, action_id))["status"] == "pending"
    await ws.disconnect()
