"""The dashboard feed of a server process: one subscription, ordered per-socket outboxes, a slow
socket cut loose, a lost subscription turned into reconnects, and frames sent uncompressed."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings

from approvals.consumers import feed
from approvals.realtime import feed as feed_module
from approvals.realtime import publish
from approvals.realtime.subscriber import Subscriber, client_name
from tests.approvals.test_consumers import connected_as, next_push_for, submit_refund
from tests.clock import wait_for_async

# ------------------------------------------------------------------------ outboxes


async def test_an_outbox_writes_its_frames_in_order():
    written: list[str] = []

    async def send(frame: str) -> None:
        await asyncio.sleep(0)  # a socket write that yields, as a real one may
        written.append(frame)

    outbox = feed_module.Outbox(send, on_overflow=None)
    for n in range(100):
        outbox.put(f"f{n}")
    await wait_for_async(lambda: len(written) == 100, what="all 100 frames written")

    assert written == [f"f{n}" for n in range(100)]
    assert len(outbox) == 0


async def test_a_stalled_socket_holds_up_only_its_own_outbox():
    stalled = asyncio.Event()  # never set: this client stopped reading
    fast: list[str] = []

    async def stuck(frame: str) -> None:
        await stalled.wait()

    async def quick(frame: str) -> None:
        fast.append(frame)

    slow_box = feed_module.Outbox(stuck, on_overflow=None)
    fast_box = feed_module.Outbox(quick, on_overflow=None)
    for n in range(10):
        slow_box.put(f"f{n}")
        fast_box.put(f"f{n}")
    await wait_for_async(
        lambda: len(fast) == 10 and len(slow_box) == 9,
        what="the fast socket written to, the stalled one holding its first frame",
    )

    assert fast == [f"f{n}" for n in range(10)]
    assert len(slow_box) == 9  # one in flight, the rest waiting
    slow_box.close()


async def test_a_socket_that_falls_too_far_behind_is_closed(monkeypatch):
    monkeypatch.setattr(feed_module, "OUTBOX_LIMIT", 5)
    never = asyncio.Event()
    overflowed = asyncio.Event()

    async def stuck(frame: str) -> None:
        await never.wait()

    async def on_overflow() -> None:
        overflowed.set()

    outbox = feed_module.Outbox(stuck, on_overflow)
    for n in range(7):
        outbox.put(f"f{n}")
    await asyncio.wait_for(overflowed.wait(), 1)

    assert outbox.closed
    assert len(outbox) == 0
    outbox.put("later")  # a closed outbox takes nothing more
    assert len(outbox) == 0


# ------------------------------------------------------------------------ the subscription


@pytest.mark.django_db(transaction=True)
async def test_an_event_is_read_once_for_every_socket_of_the_process(demo, agent, make_supervisor):
    alice = await database_sync_to_async(make_supervisor)("feed-alice")
    bob = await database_sync_to_async(make_supervisor)("feed-bob")
    sockets = [await connected_as(alice), await connected_as(bob), await connected_as(alice)]
    action_id = await database_sync_to_async(submit_refund)(agent, "warm")
    for ws in sockets:
        await next_push_for(ws, action_id)
    events = feed.events

    action_id = await database_sync_to_async(submit_refund)(agent, "damaged")
    messages = [await next_push_for(ws, action_id) for ws in sockets]

    assert len({m["html"] for m in messages}) == 1
    # one for the Refunds group and one for the all-queues group, whatever the number of sockets
    assert feed.events - events == 2
    assert feed.member_count() >= 3
    for ws in sockets:
        await ws.disconnect()
    assert all(ws not in members for members in feed._members.values() for ws in sockets)


def _kill_feed_connections() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    killed = 0
    for entry in client.client_list(_type="pubsub"):
        if entry.get("name") == client_name():
            killed += client.client_kill_filter(_id=entry["id"])
    return killed


@pytest.mark.django_db(transaction=True)
async def test_a_lost_subscription_closes_the_sockets_so_they_reconnect_and_resync(
    demo, agent, supervisor
):
    # Arrange: a dashboard connected through this process's feed
    ws = await connected_as(supervisor)

    # Act: Redis drops the feed's connection
    assert await database_sync_to_async(_kill_feed_connections)() == 1

    # Assert: the socket is closed with "feed lost", and a new one gets pushes again
    closed = await ws.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": feed_module.CLOSE_FEED_LOST}
    again = await connected_as(supervisor)
    action_id = await database_sync_to_async(submit_refund)(agent, "after the outage")
    assert (await next_push_for(again, action_id))["status"] == "pending"
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_malformed_feed_message_is_ignored(demo, agent, supervisor):
    ws = await connected_as(supervisor)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.publish(publish.feed_channel("queue.refunds"), b"{not json")
    client.publish(publish.feed_channel("queue.refunds"), json.dumps({"no": "group"}))

    action_id = await database_sync_to_async(submit_refund)(agent, "still flowing")

    assert (await next_push_for(ws, action_id))["status"] == "pending"
    await ws.disconnect()


def test_the_feed_pattern_matches_only_its_own_prefix(settings):
    layers = {**settings.CHANNEL_LAYERS}
    layers["default"] = {**layers["default"], "CONFIG": {"prefix": "run[1]*"}}
    settings.CHANNEL_LAYERS = layers

    assert publish.feed_pattern() == r"run\[1\]\*:feed:*"
    assert publish.feed_channel("queue.refunds") == "run[1]*:feed:queue.refunds"


# ------------------------------------------------------------------------ as served


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_served_dashboard_socket_declines_compression(live_server_url, supervisor):
    # Deflating every frame once per socket cost more CPU than anything else in the fan-out;
    # the Procfile's server (which the live server runs with) sends frames as they are.
    from django.test import Client
    from websockets.sync.client import connect

    client = Client()
    client.force_login(supervisor)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    uri = live_server_url.replace("http://", "ws://") + "/ws/dashboard/"

    with connect(
        uri,
        origin=live_server_url,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        compression="deflate",  # offered, as browsers do
    ) as ws:
        hello = json.loads(ws.recv(timeout=10))
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")

    assert hello["type"] == "hello"
    assert extensions is None


@pytest.mark.django_db(transaction=True)
async def test_a_feed_that_is_closed_lets_go_of_its_subscription_and_sockets():
    own = feed_module.Feed(Subscriber())

    class Socket:
        def feed_event(self, event, frames) -> None: ...

        async def feed_lost(self) -> None: ...

    await own.join(Socket(), ("queue.refunds",))
    task = own._subscriber._task
    await own.close()

    assert own.member_count() == 0
    assert task.done()
