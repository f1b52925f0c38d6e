"""`./run`'s web process: one local port, routed by path as nginx routes production.

    python -m config.front --host 127.0.0.1 --port 8000

It starts gunicorn (WSGI, `WEB_WORKERS` sync workers) on a unix socket of its own and serves the
public port with uvicorn running `Front`:

- websockets (`/ws/...`) and the waiting long-polls (`/api/v1/actions/<id>/wait/`) go to the
  Channels application in this process (ASGI: a wait holds no sync worker);
- every other HTTP request (pages, the REST API, static files) is relayed to gunicorn.

Django under ASGI pays a thread hop per request that a sync worker does not (docs MEASUREMENTS:
about twice the CPU per API request), which is why the API is not served from here.

The relay speaks HTTP/1.1 over the unix socket: method, path, query, headers (Host, Cookie, CSRF
token and Origin included), body and the response's status and headers (every Set-Cookie) pass
through as they are, the response streamed as it arrives. As nginx does, it appends the address it
received the request from to X-Forwarded-For and sets X-Forwarded-Proto; gunicorn is told to trust
one proxy more than the front itself (TRUSTED_PROXY_COUNT + 1), so a client-sent X-Forwarded-For
stays to the left of what the app reads. Bodies are capped as nginx caps them (1 MiB) and API
bodies at API_MAX_BODY_BYTES (config/limits.py), both answered 413; gunicorn not answering is a 502,
both in the API's error shape. There is no connection pool: a sync worker closes the connection
after every response, so each request connects anew (a unix socket connect is a few µs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httptools

from config.limits import AsgiBodyLimit

WAIT_PATH = re.compile(r"^/api/v1/actions/[^/]+/wait/$")
WS_PREFIX = "/ws/"
MAX_BODY_BYTES = 1024 * 1024  # nginx's client_max_body_size in deploy/nginx.conf
READ_SIZE = 64 * 1024
# Headers that describe one connection, not the message: never relayed either way.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"expect",  # uvicorn answered any 100-continue already
    }
)
# Rewritten by the front: a client's own value must never reach the app unchanged.
FORWARDING = frozenset({b"x-forwarded-for", b"content-length"})

# The front's uvicorn settings; the options of the same name in uvicorn's command line are
# UVICORN_CLI (the tests serve their probe applications with them).
UVICORN_SETTINGS: dict[str, Any] = {
    "ws_per_message_deflate": False,  # deflating each dashboard frame was the fan-out's top cost
    "ws_max_size": 65536,  # the app closes a socket over WS_MAX_MESSAGE_BYTES; buffer no more
    "timeout_graceful_shutdown": 3,
    # The app reads the client's address itself (config/client_address.py); uvicorn's default
    # would take X-Forwarded-For from any local client as the client's address.
    "proxy_headers": False,
    "server_header": False,  # relayed answers carry gunicorn's Server and Date headers
    "date_header": False,
    "access_log": False,  # gunicorn logs what it serves; waits and sockets log in the app
}
UVICORN_CLI = [
    "--ws-per-message-deflate", "false",
    "--ws-max-size", "65536",
    "--timeout-graceful-shutdown", "3",
    "--no-proxy-headers",
]  # fmt: skip


def _error_body(code: str, message: str, details: dict[str, Any]) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()


async def _answer(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def bad_gateway(send) -> None:
    body = _error_body("bad_gateway", "The web server did not answer; try again.", {})
    await _answer(send, 502, body)


async def too_large(send) -> None:
    body = _error_body(
        "body_too_large",
        f"The request body is larger than {MAX_BODY_BYTES} bytes.",
        {"max_bytes": MAX_BODY_BYTES},
    )
    await _answer(send, 413, body)


class _BodyTooLarge(Exception):
    pass


class _UpstreamResponse:
    """httptools callbacks: the response head, then its body chunks as they are parsed."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.head_complete = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head_complete = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class Relay:
    """ASGI app: each HTTP request relayed to the HTTP server listening on `socket_path`."""

    def __init__(self, socket_path: str, *, behind_proxies: int = 0) -> None:
        self.socket_path = socket_path
        # Behind a trusted proxy of its own (TRUSTED_PROXY_COUNT > 0) the scheme is the one that
        # proxy set; otherwise it is the front's own, whatever the client claims.
        self.behind_proxies = behind_proxies

    async def __call__(self, scope, receive, send) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            await bad_gateway(send)
            return
        try:
            try:
                await self._send_request(scope, receive, writer)
            except _BodyTooLarge:
                await too_large(send)
                return
            except OSError:
                await bad_gateway(send)
                return
            await self._relay_response(reader, send)
        finally:
            writer.close()

    async def _send_request(self, scope, receive, writer: asyncio.StreamWriter) -> None:
        declared = None
        forwarded_for = []
        head = []
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto" and not self.behind_proxies:
                continue
            if name in HOP_BY_HOP or name in FORWARDING:
                continue
            head.append(b"%s: %s\r\n" % (name, value))
        if declared is not None and declared > MAX_BODY_BYTES:
            raise _BodyTooLarge
        client = scope.get("client")
        forwarded_for.append(client[0] if client else "unknown")
        head.append(b"x-forwarded-for: %s\r\n" % ", ".join(forwarded_for).encode("latin-1"))
        if not self.behind_proxies:
            head.append(b"x-forwarded-proto: %s\r\n" % scope.get("scheme", "http").encode())
        head.append(b"connection: close\r\n")
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        start = b"%s %s HTTP/1.1\r\n" % (scope["method"].encode(), target)

        if declared is not None:
            # Streamed as it arrives: the declared length bounds it (uvicorn holds the client to
            # it).
            writer.write(start + b"".join(head) + b"content-length: %d\r\n\r\n" % declared)
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    raise OSError("the client went away")
                writer.write(message.get("body", b""))
                more = message.get("more_body", False)
                await writer.drain()
            return
        # No length declared (a chunked body, or none): read it whole, capped, and send it with
        # its length, which is what Django under WSGI reads a body by.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise OSError("the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        if size:
            head.append(b"content-length: %d\r\n" % size)
        writer.write(start + b"".join(head) + b"\r\n" + b"".join(chunks))
        await writer.drain()

    async def _relay_response(self, reader: asyncio.StreamReader, send) -> None:
        response = _UpstreamResponse()
        parser = httptools.HttpResponseParser(response)
        started = False
        while not response.complete:
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                break  # gunicorn closed: the end of a close-delimited body, or a failure
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                break
            if response.head_complete and not started:
                headers = [(n, v) for n, v in response.headers if n not in HOP_BY_HOP]
                status = parser.get_status_code()
                await send({"type": "http.response.start", "status": status, "headers": headers})
                started = True
            if started and response.chunks:
                for chunk in response.chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                response.chunks.clear()
        if not started:
            await bad_gateway(send)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Front:
    """ASGI app of the public port: sockets and waits to `asgi_app`, the rest to gunicorn."""

    def __init__(self, *, socket_path: str, asgi_app, behind_proxies: int = 0) -> None:
        self.asgi_app = asgi_app
        # API bodies are capped before anything is relayed, as the ASGI app caps its own.
        self.relay = AsgiBodyLimit(Relay(socket_path, behind_proxies=behind_proxies))

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket" or WAIT_PATH.match(scope["path"]):
            await self.asgi_app(scope, receive, send)
        else:
            await self.relay(scope, receive, send)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# ------------------------------------------------------------------------------------------------
# The web process


def web_workers() -> int:
    """Gunicorn's sync workers: WEB_WORKERS, else two per core (4 on the 2-core machines)."""
    configured = os.environ.get("WEB_WORKERS", "").strip()
    return int(configured) if configured else 2 * (os.cpu_count() or 1)


def gunicorn_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    # The front is one proxy more between the client and the app.
    env["TRUSTED_PROXY_COUNT"] = str(int(base.get("TRUSTED_PROXY_COUNT") or 0) + 1)
    # A sync worker serves one request at a time: as docker-compose's web, a pool of one.
    env["DB_POOL_MIN_SIZE"] = "1"
    env["DB_POOL_MAX_SIZE"] = "2"
    return env


def _die_with_parent() -> None:
    # Linux: gunicorn gets SIGTERM if the front is killed without the chance to stop it.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def gunicorn_start(socket_path: str, workers: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        f"--bind=unix:{socket_path}", f"--workers={workers}",
        "--access-logfile=-", "--graceful-timeout=3",
        # The client's address is the front's last X-Forwarded-For entry (REMOTE_ADDR is empty on
        # a unix socket).
        "--access-logformat",
        '%({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    ]  # fmt: skip
    env = gunicorn_env(dict(os.environ))
    return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)  # noqa: S603


def _wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        with socket.socket(socket.AF_UNIX) as sock:
            if sock.connect_ex(path) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {path} within {timeout:.0f} s")


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.front", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # uvicorn raises the signal that stopped it again once it is done: let that unwind the
    # `finally` below, which stops gunicorn and removes its socket.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    directory = Path(tempfile.mkdtemp(prefix="countersign-web-"))
    socket_path = str(directory / "gunicorn.sock")
    gunicorn = gunicorn_start(socket_path, web_workers())
    try:
        _wait_for_socket(socket_path, gunicorn)
        from django.conf import settings

        from config.asgi import application as channels_application

        front = Front(
            socket_path=socket_path,
            asgi_app=channels_application,
            behind_proxies=settings.TRUSTED_PROXY_COUNT,
        )
        uvicorn.run(front, host=args.host, port=args.port, lifespan="on", **UVICORN_SETTINGS)
    finally:
        if gunicorn.poll() is None:
            gunicorn.terminate()
            try:
                gunicorn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
                gunicorn.wait()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
