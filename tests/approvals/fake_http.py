"""A real HTTP server on 127.0.0.1, scripted per test: the company's backend, or an agent's callback
receiver. It records every request and counts effects by Idempotency-Key, as an idempotent target
would apply them.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from config.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass(frozen=True)
class Reply:
    """What the server does with one request.

    kind: "respond" (status + body), "hang" (sleep `seconds`, then respond), "reset" (read the
    request, then close the connection without a response), "apply_then_hang" (apply the effect,
    then sleep past the client's timeout). `applies` says whether a "respond" applies the effect.
    """

    kind: str = "respond"
    status: int = 200
    body: Any = None
    seconds: float = 0.0
    applies: bool = True


def ok(body: Any = None, status: int = 200) -> Reply:
    return Reply(status=status, body=body if body is not None else {"ok": True})


def status(code: int, body: Any = "") -> Reply:
    return Reply(status=code, body=body, applies=False)


def hang(seconds: float) -> Reply:
    return Reply(kind="hang", seconds=seconds)


def reset() -> Reply:
    return Reply(kind="reset", applies=False)


def apply_then_hang(seconds: float) -> Reply:
    return Reply(kind="apply_then_hang", seconds=seconds)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def verifies(self, secret: str) -> bool:
        return verify_signature(
            secret,
            self.headers.get(TIMESTAMP_HEADER),
            self.body,
            self.headers.get(SIGNATURE_HEADER),
        )


@dataclass
class FakeBackend:
    script: list[Reply] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    # Effects applied, by Idempotency-Key: an idempotent target applies each key once.
    effects: dict[str, int] = field(default_factory=dict)
    applied_calls: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                backend._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def then(self, *replies: Reply) -> FakeBackend:
        """Script the next replies; the last one repeats."""
        self.script.extend(replies)
        return self

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def effect_count(self) -> int:
        return len(self.effects)

    def _next(self) -> Reply:
        with self._lock:
            if len(self.script) > 1:
                return self.script.pop(0)
            return self.script[0] if self.script else ok()

    def _apply(self, key: str) -> None:
        with self._lock:
            self.applied_calls += 1
            self.effects[key] = self.effects.get(key, 0) + 1

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        reply = self._next()
        with self._lock:
            self.requests.append(Received(handler.path, dict(handler.headers.items()), body))
        key = handler.headers.get("Idempotency-Key", "")
        if reply.kind == "reset":
            # RST instead of FIN: the client sees its connection reset after it sent the request.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        if reply.kind == "apply_then_hang":
            self._apply(key)
            self._stop.wait(reply.seconds)
            handler.close_connection = True
            return
        if reply.kind == "hang":
            self._stop.wait(reply.seconds)
        if reply.applies and 200 <= reply.status < 300:
            self._apply(key)
        payload = reply.body
        data = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        )  # fmt: skip
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timed out) first


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused, nothing is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
