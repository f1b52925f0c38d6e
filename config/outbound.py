"""Calling out: the signing, the URL check, the backoff and the signed POST that agent callbacks,
HTTP connectors and notification webhooks share.

A request is signed with HMAC-SHA256 over `"{timestamp}.{body}"` (`signed_headers`; receivers check
it with `verify_signature`). A URL is checked before it is stored (`outbound_url_check`) and again
before each request (`outbound_target`): http(s) only, and no loopback, private or link-local
address unless private addresses are allowed (`CALLBACK_ALLOW_PRIVATE_ADDRESSES`; by default only
outside production). The host name is resolved once, for that check, and the request connects to
the address that was checked (`post_json`): DNS that answers differently a moment later (DNS
rebinding) cannot steer it elsewhere. TLS still verifies the certificate for the host name, sent
as SNI and in the Host header. Each request has a total deadline and reads at most a few KiB of
the answer. Keys are derived from the deployment secret (`derived_key`), never stored.

A foundation of `config`: it imports no app (see .importlinter).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from config.errors import Code, InvalidInput

SIGNATURE_HEADER = "X-Countersign-Signature"
TIMESTAMP_HEADER = "X-Countersign-Timestamp"
EVENT_HEADER = "X-Countersign-Event"
DELIVERY_HEADER = "X-Countersign-Delivery"
USER_AGENT = "Countersign/1"
# How much of a receiver's refusal is kept in a delivery's error: enough to read, not a page.
_ANSWER_LIMIT = 200
# How much of an answer is read at most: a receiver streaming a large body holds no worker.
READ_LIMIT = 4096


# ---------------------------------------------------------------------------------------------
# signatures and keys


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256, keyed by `secret`, over `"{timestamp}.{body}"`."""
    message = _as_bytes(str(timestamp)) + b"." + _as_bytes(body)
    return "sha256=" + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: str | bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str,
    timestamp: int | str | None,
    body: str | bytes,
    signature: str | None,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether `signature` is ours for this timestamp and body, and the timestamp is recent.

    The tolerance (seconds, either side) bounds how long a captured request can be replayed; the
    comparison takes constant time so a forger learns nothing from how long a refusal took.
    """
    if not (secret and timestamp and signature):
        return False
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), str(signature))


def derived_key(label: str) -> str:
    """A signing key for one receiver (`label` names it, e.g. `countersign.callback.v1:<agent>`):
    HMAC-SHA256 of the label under `CALLBACK_SIGNING_SECRET` (or `SECRET_KEY` when that is unset).

    Derived, not stored: nothing new to keep secret in the database, one receiver's key does not
    let its owner forge requests to another, and changing the deployment secret rotates them all.
    """
    base = settings.COUNTERSIGN["CALLBACK_SIGNING_SECRET"] or settings.SECRET_KEY
    return hmac.new(base.encode(), label.encode(), hashlib.sha256).hexdigest()


def backoff_delay(tried: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the `tried`-th failure: exponential from `base`, capped at `cap`, with
    jitter (half fixed, half random) so callers that failed together do not come back together."""
    ceiling = min(cap, base * 2 ** (max(tried, 1) - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


# ---------------------------------------------------------------------------------------------
# where requests may go


class OutboundUrlRefused(InvalidInput):
    default_code = Code.CALLBACK_URL_REFUSED


def _private_addresses_allowed() -> bool:
    allowed = settings.COUNTERSIGN["CALLBACK_ALLOW_PRIVATE_ADDRESSES"]
    return (not settings.PRODUCTION) if allowed is None else bool(allowed)


def _refuse(what: str, why: str) -> OutboundUrlRefused:
    return OutboundUrlRefused(f"The {what} is refused: {why}.", details={"reason": why})


def _check_address(address: str, what: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        raise _refuse(what, f"it points to a non-public address ({ip})")


def outbound_url_check(url: str, *, resolve: bool = False, what: str = "callback URL") -> str:
    """Refuse a URL Countersign must not call: not http(s), or, unless private addresses are
    allowed (by default: outside production), one naming a loopback, private, link-local or
    otherwise non-public address. Without `resolve` only literal addresses and `localhost` are
    checked (when the URL is stored); with it, every address the host name resolves to (before a
    request). A resolver failure is an `OSError`: worth another try, unlike a refusal."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(what, "it must be an http or https URL")
    if _private_addresses_allowed():
        return url
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise _refuse(what, "it points to this machine")
    try:
        _check_address(host, what)
        return url
    except ValueError:
        pass  # a name, not an address
    if resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise OSError(f"could not resolve {host}: {exc}") from exc
        for *_, sockaddr in infos:
            _check_address(str(sockaddr[0]), what)
    return url


@dataclass(frozen=True)
class OutboundTarget:
    """A URL and the one address, checked, that a request to it connects to."""

    url: str
    address: str


def outbound_target(url: str, *, what: str = "callback URL") -> OutboundTarget:
    """Check `url` as `outbound_url_check` does and resolve its host once: the address a request
    then connects to, every address the name resolved to having passed the check. A resolver
    failure is an `OSError` (worth another try); a refusal is `OutboundUrlRefused`."""
    outbound_url_check(url, what=what)
    parts = urlsplit(url)
    host = parts.hostname.rstrip(".").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise OSError(f"could not resolve {host}: {exc}") from exc
    addresses = [str(sockaddr[0]) for *_, sockaddr in infos]
    if not addresses:
        raise OSError(f"could not resolve {host}: no address")
    if not _private_addresses_allowed():
        for address in addresses:
            _check_address(address, what)
    return OutboundTarget(url=url, address=addresses[0])


def where(url: str) -> str:
    """The URL without its query string (which may carry credentials), for errors and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# ---------------------------------------------------------------------------------------------
# posting


def json_body(payload: Any) -> bytes:
    """The canonical JSON of a payload: what is signed is exactly what is sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, backend: _PinnedBackend) -> None:
        self._stream, self._backend = stream, backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> _DeadlineStream:
        # server_hostname is the URL's host: SNI and certificate checks use the name, not the IP.
        upgraded = self._stream.start_tls(
            ssl_context, server_hostname, self._backend.remaining(timeout)
        )
        return _DeadlineStream(upgraded, self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to one address checked beforehand, whatever host the request names, and cuts
    every connect, read and write at a total deadline (a slow server trickling bytes included)."""

    def __init__(self, address: str, deadline: float) -> None:
        self._address, self._deadline = address, deadline
        self._backend = httpcore.SyncBackend()

    def remaining(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the request's total deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._backend.connect_tcp(
            self._address, port, self.remaining(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("outbound requests go over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that connects to `address` only, within `deadline_seconds` in all."""

    def __init__(self, address: str, *, deadline_seconds: float) -> None:
        super().__init__(retries=0)
        # httpx takes no network backend, so its connection pool is replaced by one that has ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=_PinnedBackend(address, time.monotonic() + deadline_seconds),
        )


def _capped_text(response: httpx.Response) -> str:
    """At most READ_LIMIT bytes of the answer, decoded; the rest is never read."""
    kept = b""
    for chunk in response.iter_raw():
        kept += chunk
        if len(kept) >= READ_LIMIT:
            break
    return kept[:READ_LIMIT].decode(response.encoding or "utf-8", errors="replace")


def post_json(
    target: OutboundTarget, body: bytes, *, headers: Mapping[str, str], timeout: float
) -> str | None:
    """One POST of a JSON `body` to the checked address of `target`, over within `timeout`
    seconds in all; None when the receiver took it (2xx), else why not (without the URL, which
    may be a credential itself, as Slack's incoming webhooks are)."""
    transport = PinnedTransport(target.address, deadline_seconds=timeout)
    try:
        # Redirects are not followed: a redirect could lead past the address check.
        with (
            httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client,
            client.stream(
                "POST",
                target.url,
                content=body,
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            ) as response,
        ):
            if response.is_success:
                return None
            answer = _capped_text(response)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"HTTP {response.status_code}: {answer[:_ANSWER_LIMIT]}"


def post_signed(
    target: OutboundTarget,
    *,
    secret: str,
    delivery_id: Any,
    event: str,
    payload: Any,
    timeout: float,
) -> str | None:
    """One signed POST of `payload` as a delivery of `event` (the delivery id is the same on every
    retry, so receivers can drop duplicates); None when the receiver took it, else why not."""
    body = json_body(payload)
    headers = {
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        **signed_headers(secret, body),
    }
    return post_json(target, body, headers=headers, timeout=timeout)
