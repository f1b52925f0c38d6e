"""Request rate limits on the API: per API key for agents, per person for sessions, in Redis.

A fixed window per key (`API_RATE_LIMIT`, e.g. `600/min`), counted with one atomic MULTI of
`SET NX EX` and `INCR` on the Redis behind the cache: one round trip, and exact under concurrent
requests. Django's cache `incr` would be two round trips (EXISTS, then INCRBY) and not atomic with
the key's expiry. A request over the limit is told when the window ends (`Retry-After`).
When Redis does not answer, requests are let through: a limiter must not take the API down.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time

import redis
from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from agents.services import KEY_PREFIX

logger = logging.getLogger(__name__)

SCOPE = "api"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# The clock the windows are cut from; tests freeze it.
clock = time.time

_client_lock = threading.Lock()
_client: tuple[int, redis.Redis] | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None or _client[0] != os.getpid():
        with _client_lock:
            if _client is None or _client[0] != os.getpid():
                location = settings.CACHES["default"].get("LOCATION") or settings.REDIS_URL
                _client = (os.getpid(), redis.Redis.from_url(location))
    return _client[1]


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """`600/min` -> (600, 60); None or "" means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    seconds = _PERIODS.get(period.strip()[:1].lower())
    if not count.strip().isdigit() or seconds is None:
        raise ValueError(f"A rate is like 600/min or 10/s, not {rate!r}.")
    return int(count), seconds


def current_rate() -> str | None:
    # Read on every call (not at import) so settings overrides take effect at once.
    return api_settings.DEFAULT_THROTTLE_RATES.get(SCOPE)


def _key(ident: str, window: int) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "countersign"
    return f"{prefix}:rate:{ident}:{window}"


def rate_limit_hit(*, ident: str, rate: str | None = None) -> int | None:
    """Count one request for `ident`; the whole seconds to wait when it is over the limit."""
    parsed = parse_rate(rate if rate is not None else current_rate())
    if parsed is None:
        return None
    limit, period = parsed
    now = clock()
    window = int(now // period)
    key = _key(ident, window)
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.set(key, 0, ex=period + 1, nx=True)
        pipe.incr(key)
        _, count = pipe.execute()
    except redis.RedisError:
        logger.warning("rate limiter unavailable; letting the request through", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


def rate_limit_exceeded(*, ident: str, rate: str | None) -> int | None:
    """Whole seconds to wait when `ident` has used up `rate` in this window; counts nothing."""
    parsed = parse_rate(rate)
    if parsed is None:
        return None
    limit, period = parsed
    now = clock()
    window = int(now // period)
    try:
        count = int(_redis().get(_key(ident, window)) or 0)
    except redis.RedisError:
        logger.warning("rate limiter unavailable; letting the request through", exc_info=True)
        return None
    if count < limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


def ident_for_header(header: str | None) -> str | None:
    """`key:<prefix>` for an `Api-Key cs_<prefix>_<secret>` header, else None."""
    keyword, _, raw = (header or "").partition(" ")
    parts = raw.strip().split("_", 2)
    if keyword != "Api-Key" or len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1]:
        return None
    return f"key:{parts[1]}"


def ident_for_request(request) -> str | None:
    """Agents by the key they used (an agent's keys have a budget each), people by user id."""
    user = getattr(request, "user", None)
    if getattr(user, "is_agent", False):
        return ident_for_header(request.headers.get("Authorization")) or f"agent:{user.agent.pk}"
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None  # anonymous callers reach only the schema and its docs, which are not limited


class ApiRateThrottle(BaseThrottle):
    """DRF's side: `Throttled` becomes a 429 `rate_limited` error with `Retry-After`."""

    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request, view) -> bool:
        ident = ident_for_request(request)
        self._wait = rate_limit_hit(ident=ident) if ident else None
        return self._wait is None

    def wait(self) -> int | None:
        return self._wait


POLICY_CHECK_SCOPE = "policy_check"


class PolicyCheckThrottle(ApiRateThrottle):
    """The dry run's own budget (`POLICY_CHECK_RATE_LIMIT`, counted apart from the API's): an
    agent probing the policy for what executes without a person runs out of checks quickly."""

    def allow_request(self, request, view) -> bool:
        ident = ident_for_request(request)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(POLICY_CHECK_SCOPE) or ""
        scoped = f"{POLICY_CHECK_SCOPE}:{ident}"
        self._wait = rate_limit_hit(ident=scoped, rate=rate) if ident else None
        return self._wait is None
