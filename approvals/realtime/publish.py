"""Publishing a change on commit: numbering, the pushed row, dashboard groups and waiters.

A dashboard group is a Redis pub/sub channel (`feed_channel`), an action's waiters another
(`action_channel`); each server process reads them all through one subscription
(`realtime.subscriber`), for its dashboard feed (`realtime.feed`) and its long-poll waiters
(`realtime.waiters`).

Everything here runs after commit (scheduled by services with `transaction.on_commit`) and is
best effort: dashboards and waiters re-read the database, which is the truth.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from typing import Any

import redis
from django.conf import settings
from django.utils.text import slugify
from redis.commands.core import Script

from approvals.models import Queue

logger = logging.getLogger(__name__)

# Every dashboard connection joins this group: breaker banners go to everyone who works a queue.
DASHBOARD_GROUP = "dashboard"
# Action changes go to the group of the action's queue, and to this one, which only superusers
# join (they see every queue, even one a rule names but nobody created).
ALL_QUEUES_GROUP = "queues.all"
ACTION_CHANNEL_PREFIX = "countersign:action:"
# The event types dashboards receive.
ACTION_CHANGED = "action.changed"
BREAKER_CHANGED = "breaker.changed"
# To one person's sockets (`person_group`): they signed out or their roles changed, so every socket
# they hold closes; the page reloads, to the sign-in page or with their new rights.
PERSON_SOCKETS_CLOSE = "person.sockets_close"


@functools.lru_cache(maxsize=1024)
def queue_group(queue: str) -> str:
    """The dashboard group of a queue, from its name as actions hold it ("" is the default)."""
    return f"queue.{slugify(queue or Queue.DEFAULT_NAME)[:80]}"


def person_group(user_id: Any) -> str:
    """The group every live socket of one person joins, whatever page it serves."""
    return f"person.{user_id}"


def action_channel(action_id: Any) -> str:
    return f"{ACTION_CHANNEL_PREFIX}{action_id}"


_redis_lock = threading.Lock()
_redis: tuple[int, redis.Redis] | None = None


def _redis_client() -> redis.Redis:
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        with _redis_lock:
            if _redis is None or _redis[0] != os.getpid():
                # Pushes are published from the committing thread: never hang it on Redis.
                client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
                )
                _redis = (os.getpid(), client)
    return _redis[1]


def _prefix() -> str:
    # The channel layer's prefix, so parallel deployments (and test runs) never share a key.
    return settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "countersign")


def feed_channel(group: str) -> str:
    """The Redis pub/sub channel of a dashboard group (the feed subscribes to all)."""
    return f"{_prefix()}:feed:{group}"


def feed_pattern() -> str:
    # Glob characters of the prefix are escaped, so the pattern matches this prefix only.
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in _prefix())
    return f"{escaped}:feed:*"


def group_send(group: str, message: dict[str, Any]) -> None:
    """Publish one event to the dashboards of `group`, in every server process."""
    _redis_client().publish(feed_channel(group), json.dumps({**message, "group": group}))


def publish_person_sockets_close(*, user_id: int) -> None:
    """Close every live socket of this person, in every server process (best effort: a socket
    that misses it still reads nothing new once its session is gone, at its next reconnect)."""
    try:
        group_send(person_group(user_id), {"type": PERSON_SOCKETS_CLOSE})
    except redis.RedisError:
        logger.exception("could not close the sockets of person %s", user_id)


def _seq_key(group: str) -> str:
    return f"{_prefix()}:seq:{group}"


def group_seqs(groups: list[str]) -> dict[str, int]:
    """The last sequence number given out in each group (0 if none yet)."""
    if not groups:
        return {}
    values = _redis_client().mget([_seq_key(g) for g in groups])
    return {g: int(v or 0) for g, v in zip(groups, values, strict=True)}


def _next_seqs(groups: list[str]) -> dict[str, int]:
    pipe = _redis_client().pipeline(transaction=False)
    for group in groups:
        pipe.incr(_seq_key(group))
    return dict(zip(groups, pipe.execute(), strict=True))


# Numbers and publishes in one round trip, so also in one order: the event of each group
# (KEYS[i], channel ARGV[2i-1], the event's JSON up to its sequence number ARGV[2i]) gets the
# group's next number; then the rest of ARGV is (channel, message) pairs published as they are.
_NUMBER_AND_PUBLISH = """
for i, key in ipairs(KEYS) do
  local seq = redis.call('INCR', key)
  redis.call('PUBLISH', ARGV[2 * i - 1], ARGV[2 * i] .. seq .. '}')
end
for i = 2 * #KEYS + 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
"""
_script: Script | None = None


def _number_and_publish(
    groups: list[str], event: dict[str, Any], plain: list[tuple[str, str]]
) -> None:
    global _script
    client = _redis_client()
    if _script is None:
        _script = client.register_script(_NUMBER_AND_PUBLISH)
    args: list[str] = []
    for group in groups:
        text = json.dumps({**event, "group": group, "seq": 0})
        # `seq` is the last key, so the JSON ends with `0}`: the script puts the number there.
        args += [feed_channel(group), text[: -len("0}")]]
    for channel, message in plain:
        args += [channel, message]
    # Run on this process's client (the script only keeps its hash), loaded again if Redis lost it.
    _script(keys=[_seq_key(g) for g in groups], args=args, client=client)


def publish_numbered(
    groups: list[str], event: dict[str, Any], *, plain: list[tuple[str, str]] = ()
) -> None:
    """Publish `event` to each of `groups` carrying that group's next sequence number, and the
    `plain` (channel, message) pairs as they are, all in one Redis round trip (a script): a page
    that sees a number jump knows it missed an event and resyncs. Best effort: if that fails,
    the events go one by one, unnumbered if numbering fails, and a group Redis refuses is
    skipped."""
    if "seq" not in event and "group" not in event:
        try:
            _number_and_publish(groups, event, list(plain))
            return
        except redis.RedisError:
            logger.exception("could not number and publish a push at once; trying one by one")
    try:
        seqs = _next_seqs(groups)
    except redis.RedisError:
        logger.exception("could not number a push; dashboards will see it unnumbered")
        seqs = {}
    for channel, message in plain:
        try:
            _redis_client().publish(channel, message)
        except redis.RedisError:
            logger.exception("could not publish to %s", channel)
    for group in groups:
        numbered = {**event, "seq": seqs[group]} if group in seqs else event
        try:
            group_send(group, numbered)
        except redis.RedisError:
            logger.exception("could not publish a push to the dashboards of %s", group)


def publish_action_changed(
    payload: dict[str, Any], *, action: Any = None, created: bool = False
) -> None:
    """Push one event to the action's queue, with the row rendered once, here; waiters get the
    small event and re-read the action.

    Each group's events carry that group's next sequence number (one Redis round trip for both
    groups): a dashboard that sees a number jump knows it missed a push and resyncs. `action`
    (the instance the service changed) and `created` say how to render the row
    (`presenters.pushed_row_html`); if that fails, the event goes without it and each server
    process renders the row itself.
    """
    # The queue an action left (an edit re-routed it) hears of it too, so its pages drop the row.
    queues = dict.fromkeys([payload.get("queue", ""), payload.get("previous_queue", "")])
    groups = [*dict.fromkeys(queue_group(q) for q in queues), ALL_QUEUES_GROUP]
    pushed = {"type": ACTION_CHANGED, **payload}
    if action is not None:
        from approvals.presenters import pushed_row_html

        try:
            pushed["html"] = pushed_row_html(action=action, created=created)
        except Exception:
            logger.exception("could not render a pushed row; server processes will render it")
    waiters = (action_channel(payload["action_id"]), json.dumps(payload))
    publish_numbered(groups, pushed, plain=[waiters])
