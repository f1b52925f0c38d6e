"""The escalation workspace's websocket on the real feed: who may connect, and which case changes
reach whom, numbered per tier group."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from approvals.realtime import publish
from config.asgi import application
from escalations import services
from escalations.models import Escalation
from tests.approvals.test_consumers import ORIGIN, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(user)
    ws = WebsocketCommunicator(
        application, "/ws/escalations/", headers=[(b"cookie", cookie), ORIGIN]
    )
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from()
    assert hello["type"] == "hello"
    ws.hello = hello
    return ws


async def messages_until(ws, case_id: int, kind: str = "case.changed", timeout=10.0) -> list[dict]:
    """Every message up to and including the first `kind` about `case_id`: a socket gets its
    pushes in the order they were published, so one published earlier that is not among these
    never came (no waiting to say something did not arrive)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    messages = []
    while True:
        message = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        messages.append(message)
        if message.get("type") == kind and message.get("case_id") == case_id:
            return messages


def about(messages: list[dict], case_id: int) -> list[str]:
    return [m["type"] for m in messages if m.get("case_id") == case_id]


@pytest.fixture
def open_case(policy, agent):
    """open_case(tier) -> a case handed off by the agent into `tier` (committed, pushed)."""

    def make(tier: str) -> Escalation:
        return services.escalation_handoff(
            agent=agent.agent, reason="stuck", tier=tier,
            summary={"what_agent_did": "Looked", "what_agent_proposes": "<b>a call</b>"},
        )  # fmt: skip

    return make


async def test_a_handler_gets_the_changes_of_their_tier_and_not_of_another(open_case, make_handler):
    # Arrange: lena handles l1-lead, sam l2-specialist; both are connected
    lena = await database_sync_to_async(make_handler)("lena", "l1-lead")
    sam = await database_sync_to_async(make_handler)("sam", "l2-specialist")
    lena_ws, sam_ws = await connect(lena), await connect(sam)
    assert set(lena_ws.hello["seqs"]) == {"tier.l1-lead"}

    # Act: a case opens in l2-specialist, then one in l1-lead
    higher = await database_sync_to_async(open_case)("l2-specialist")
    lower = await database_sync_to_async(open_case)("l1-lead")

    # Assert: lena gets the l1 case, rendered and numbered, and never the l2 one before it
    seen = await messages_until(lena_ws, lower.pk)
    assert about(seen, higher.pk) == []
    pushed = seen[-1]
    assert (pushed["tier"], pushed["status"], pushed["group"]) == (
        "l1-lead",
        "open",
        "tier.l1-lead",
    )
    assert pushed["seq"] == lena_ws.hello["seqs"]["tier.l1-lead"] + 1
    assert f'id="case-{lower.pk}"' in pushed["html"]
    assert "&lt;b&gt;a call&lt;/b&gt;" in pushed["html"] and "<b>" not in pushed["html"]
    assert "/row/acknowledge/" in pushed["html"]  # lena may acknowledge it
    assert pushed["counts"] == {"l1-lead": 1}
    # and sam gets his own tier's case
    assert (await messages_until(sam_ws, higher.pk))[-1]["tier"] == "l2-specialist"
    await lena_ws.disconnect()
    await sam_ws.disconnect()


async def test_a_case_passed_to_another_tier_leaves_one_page_and_reaches_the_other(
    open_case, make_handler
):
    lena = await database_sync_to_async(make_handler)("lena", "l1-lead")
    sam = await database_sync_to_async(make_handler)("sam", "l2-specialist")
    case = await database_sync_to_async(open_case)("l1-lead")
    lena_ws, sam_ws = await connect(lena), await connect(sam)

    await database_sync_to_async(services.case_reassign)(
        case_id=case.pk, by=lena, reason="specialist", tier="l2-specialist"
    )

    assert (await messages_until(lena_ws, case.pk, "case.removed"))[-1]["group"] == "tier.l1-lead"
    arrived = (await messages_until(sam_ws, case.pk))[-1]
    assert (arrived["tier"], arrived["previous_tier"]) == ("l2-specialist", "l1-lead")
    await lena_ws.disconnect()
    await sam_ws.disconnect()


async def test_an_auditor_watches_every_tier_and_gets_rows_without_the_acknowledge_button(
    open_case, make_supervisor
):
    auditor = await database_sync_to_async(make_supervisor)("audrey", "auditor", [])
    ws = await connect(auditor)
    assert set(ws.hello["seqs"]) == {"tiers.all"}

    case = await database_sync_to_async(open_case)("finance")

    pushed = (await messages_until(ws, case.pk))[-1]
    assert pushed["group"] == "tiers.all"
    assert "/row/acknowledge/" not in pushed["html"]
    await ws.disconnect()


async def test_a_push_whose_row_could_not_be_rendered_tells_the_page_to_read_it(
    tiers, make_handler
):
    lena = await database_sync_to_async(make_handler)("lena", "l1-lead")
    ws = await connect(lena)

    await database_sync_to_async(publish.publish_numbered)(
        ["tier.l1-lead"], {"type": "case.changed", "case_id": 999999, "tier": "l1-lead"}
    )

    stale = (await messages_until(ws, 999999, "case.stale"))[-1]
    assert stale["group"] == "tier.l1-lead" and isinstance(stale["seq"], int)
    await ws.disconnect()


async def test_someone_who_handles_no_tier_is_refused(policy, make_supervisor):
    pat = await database_sync_to_async(make_supervisor)("pat", "supervisor", [])
    cookie = await database_sync_to_async(session_cookie)(pat)
    ws = WebsocketCommunicator(
        application, "/ws/escalations/", headers=[(b"cookie", cookie), ORIGIN]
    )

    connected, _ = await ws.connect()

    assert not connected


async def test_an_anonymous_or_foreign_origin_connection_is_refused(policy, make_handler):
    lena = await database_sync_to_async(make_handler)("lena", "l1-lead")
    cookie = await database_sync_to_async(session_cookie)(lena)
    anonymous = WebsocketCommunicator(application, "/ws/escalations/", headers=[ORIGIN])
    foreign = WebsocketCommunicator(
        application,
        "/ws/escalations/",
        headers=[(b"cookie", cookie), (b"origin", b"http://evil.example")],
    )

    assert not (await anonymous.connect())[0]
    assert not (await foreign.connect())[0]
