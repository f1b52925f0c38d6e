"""The process's one Redis subscription: the dashboard feed and the long-poll waiters share it,
and both recover when Redis drops it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings

from approvals.realtime.feed import CLOSE_FEED_LOST
from approvals.realtime.subscriber import Subscriber, client_name
from approvals.realtime.waiters import waiters
from approvals.services import action_reject
from tests.approvals.test_consumers import connected_as, next_push_for, submit_refund

pytestmark = pytest.mark.django_db(transaction=True)


def _own_tcp_ports() -> set[int]:
    """The local ports of this process's TCP sockets (Linux /proc), to tell its Redis clients
    from those of other processes on the same server."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as rows:
            next(rows)  # the header
            for row in rows:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _own_pubsub_connections() -> list[dict]:
    """This process's connections to Redis that are in pub/sub mode, as `CLIENT LIST` shows them."""
    ports = _own_tcp_ports()
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        listed = client.client_list(_type="pubsub")
    return [entry for entry in listed if int(entry["addr"].rsplit(":", 1)[1]) in ports]


def _kill(client_id: str) -> int:
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return client.client_kill_filter(_id=client_id)


async def test_the_feed_and_the_waiters_share_one_redis_connection(demo, supervisor):
    # Arrange: a dashboard connected and a long-poll parked in this process
    ws = await connected_as(supervisor)
    async with waiters.subscription(str(uuid.uuid4())):
        # Act
        connections = await database_sync_to_async(_own_pubsub_connections)()

    # Assert: one connection, subscribed to both patterns (the feed's and the waiters')
    assert [(c["name"], c["psub"], c["sub"]) for c in connections] == [(client_name(), "2", "0")]
    await ws.disconnect()


async def test_after_redis_drops_the_shared_connection_the_feed_and_the_waiters_recover(
    demo, agent, supervisor
):
    # Arrange: a dashboard connected and a long-poll parked, on the process's one connection
    ws = await connected_as(supervisor)
    async with waiters.subscription(str(uuid.uuid4())) as parked:
        (lost,) = await database_sync_to_async(_own_pubsub_connections)()

        # Act: Redis drops the connection
        assert await database_sync_to_async(_kill)(lost["id"]) == 1

        # Assert: the socket is closed with "feed lost", and the parked long-poll is woken to
        # re-read the database once the subscription is back
        closed = await ws.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": CLOSE_FEED_LOST}
        await asyncio.wait_for(parked, timeout=10)

    # Assert: a new socket and a new long-poll both hear of changes, through one new connection
    again = await connected_as(supervisor)
    action_id = await database_sync_to_async(submit_refund)(agent, "after the outage")
    assert (await next_push_for(again, action_id))["status"] == "pending"
    async with waiters.subscription(action_id) as changed:
        await database_sync_to_async(action_reject)(
            action_id=action_id, by=supervisor, reason_code="suspected-fraud"
        )
        await asyncio.wait_for(changed, timeout=10)
    assert (await next_push_for(again, action_id))["status"] == "rejected"
    (now,) = await database_sync_to_async(_own_pubsub_connections)()
    assert (now["name"], now["psub"]) == (client_name(), "2")
    assert now["id"] != lost["id"]
    await again.disconnect()


async def test_two_listeners_joining_at_once_share_one_connection():
    class Listener:
        async def message(self, channel: bytes, data: bytes) -> None: ...

        def subscribed(self) -> None: ...

        async def subscription_lost(self) -> None: ...

    subscriber = Subscriber()
    prefix = f"test-subscriber-{uuid.uuid4()}"

    # Act: two listeners join at once, as a first wait and a first dashboard may
    await asyncio.gather(
        subscriber.join(Listener(), f"{prefix}:a:*"), subscriber.join(Listener(), f"{prefix}:b:*")
    )

    # Assert: one connection holds both patterns
    connections = await database_sync_to_async(_own_pubsub_connections)()
    assert [(c["name"], c["psub"]) for c in connections] == [(client_name(), "2")]
    await subscriber.close()
