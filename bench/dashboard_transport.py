"""Section 4 of the dashboard bench: the transport alone, the channel layer against the feed.

`bench/dashboard.py` runs it (see its docstring): events to N receivers of one process, with no
rendering and no database.
"""

from __future__ import annotations

import asyncio
import time

import uvloop
from common import pct


def _paced(rate: float, seconds: float, send) -> None:
    """Call `send(t)` at `rate` for `seconds`, from the calling thread, `t` its wall clock."""
    start = time.time() + 0.2
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        send(time.time())


async def _layer_fanout(receivers: int, rate: float, seconds: float) -> list[list[float]]:
    """`receivers` channels of this process in one group, as consumers held them before the feed;
    a sender thread with its own loop and layer does `group_send` at `rate`."""
    from channels.layers import channel_layers, get_channel_layer

    layer = get_channel_layer()
    group = f"bench.layer.{time.time_ns()}"
    channels = [await layer.new_channel() for _ in range(receivers)]
    for channel in channels:
        await layer.group_add(group, channel)
    arrivals: list[list[float]] = [[] for _ in range(receivers)]

    async def receive(i: int) -> None:
        while True:
            message = await layer.receive(channels[i])
            arrivals[i].append(time.time() - message["t"])

    def send() -> None:
        loop = asyncio.new_event_loop()
        own = channel_layers.make_backend("default")
        _paced(
            rate,
            seconds,
            lambda t: loop.run_until_complete(own.group_send(group, {"type": "bench", "t": t})),
        )
        loop.close()

    tasks = [asyncio.create_task(receive(i)) for i in range(receivers)]
    await asyncio.to_thread(send)
    await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await layer.group_discard(group, channel)
    return arrivals


class _FeedReceiver:
    """A socket as the feed sees it, whose writes only note the time."""

    def __init__(self, arrivals: list[float]) -> None:
        from approvals.realtime.feed import Outbox

        self.arrivals = arrivals
        self.sent_at: list[float] = []
        self.outbox = Outbox(self._write, on_overflow=None)

    async def _write(self, frame: str) -> None:
        self.arrivals.append(time.time() - self.sent_at.pop(0))

    def feed_event(self, event: dict, frames) -> None:
        self.sent_at.append(event["t"])
        self.outbox.put(frames.frame("bench", lambda: event))

    async def feed_lost(self) -> None:
        pass


async def _feed_fanout(receivers: int, rate: float, seconds: float) -> list[list[float]]:
    """`receivers` sockets of this process in one group of a feed (`approvals.realtime.feed`, on
    a subscriber of its own); a sender thread publishes with `publish.group_send` at `rate`, as
    services do after commit."""
    from approvals.realtime import publish
    from approvals.realtime.feed import Feed
    from approvals.realtime.subscriber import Subscriber

    feed = Feed(Subscriber())
    group = f"bench.feed.{time.time_ns()}"
    arrivals: list[list[float]] = [[] for _ in range(receivers)]
    members = [_FeedReceiver(arrivals[i]) for i in range(receivers)]
    for member in members:
        await feed.join(member, (group,))
    await asyncio.to_thread(
        _paced, rate, seconds, lambda t: publish.group_send(group, {"type": "bench", "t": t})
    )
    await asyncio.sleep(1.0)
    await feed.close()
    return arrivals


def bench_transport(args) -> None:
    """The floor under 2 for each transport: one event to `--dashboards` sockets of one process,
    with no rendering and no database, and the CPU this process spent per delivered pair."""
    print(
        f"\n4. the transport alone: {args.rate}/s for {args.seconds} s from a thread to N "
        f"receivers of one process (no rendering, no database)"
    )
    print(
        f"{'transport':>14} {'receivers':>9} {'pairs':>7} {'missed':>7} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'cpu us/pair':>11}"
    )
    runs = {"channel layer": _layer_fanout, "feed": _feed_fanout}
    for name, run in runs.items():
        for receivers in (1, args.dashboards):
            cpu = time.process_time()
            arrivals = asyncio.run(
                run(receivers, args.rate, args.seconds), loop_factory=uvloop.new_event_loop
            )
            cpu = time.process_time() - cpu
            expected = int(args.rate * args.seconds) * receivers
            lat = [t * 1000 for seen in arrivals for t in seen if t <= args.deadline]
            print(
                f"{name:>14} {receivers:>9} {expected:>7} {expected - len(lat):>7} "
                f"{pct(lat or [float('nan')], 50):>8.1f} {pct(lat or [float('nan')], 99):>8.1f} "
                f"{cpu * 1e6 / max(1, len(lat)):>11.0f}",
                flush=True,
            )
