"""The long-poll waiters of a process: a published change wakes the waiters of that action only,
and a subscription that comes back wakes everyone parked, since it may have missed changes."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from approvals.realtime.publish import action_channel
from approvals.realtime.subscriber import Subscriber
from approvals.realtime.waiters import Waiters


async def publish(action_id: str) -> None:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await client.publish(action_channel(action_id), json.dumps({"action_id": action_id}))
    finally:
        await client.aclose()


async def test_a_change_wakes_the_waiters_of_that_action_only():
    subscriber = Subscriber()
    waiters = Waiters(subscriber)
    mine, other, later = (str(uuid.uuid4()) for _ in range(3))

    async with (
        waiters.subscription(mine) as changed,
        waiters.subscription(other) as unrelated,
        waiters.subscription(later) as after,
    ):
        await publish(mine)
        # One subscription reads changes in order: once a later change woke its waiter, the
        # listener is done with the first, and anything it would have woken is awake.
        await publish(later)

        await asyncio.wait_for(after, timeout=5)
        assert changed.done()
        assert not unrelated.done()

    await subscriber.close()


async def test_a_waiter_stops_being_tracked_when_it_leaves():
    subscriber = Subscriber()
    waiters = Waiters(subscriber)
    action_id = str(uuid.uuid4())

    async with waiters.subscription(action_id):
        assert action_id in waiters._futures

    assert action_id not in waiters._futures
    await subscriber.close()


async def test_a_restarted_subscription_wakes_every_parked_waiter():
    subscriber = Subscriber()
    waiters = Waiters(subscriber)
    action_id = str(uuid.uuid4())

    async with waiters.subscription(action_id) as parked:
        # Arrange: the subscription dies; changes published now are lost
        subscriber._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await subscriber._task
        assert not parked.done()

        # Act: the next wait brings the subscription back
        async with waiters.subscription(str(uuid.uuid4())):
            # Assert: the parked waiter is told to re-read the database
            await asyncio.wait_for(parked, timeout=5)

    await subscriber.close()
