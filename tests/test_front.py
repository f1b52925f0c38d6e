"""The front of `./run` (config/front.py): what it relays to gunicorn, what it keeps for ASGI, and
what it refuses; first against a recording HTTP server on a unix socket, then as served."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings

from config.client_address import client_address
from config.front import MAX_BODY_BYTES, Front, Relay, gunicorn_env, web_workers

# ------------------------------------------------------------------------ a recording upstream


class Upstream:
    """An HTTP/1.1 server on a unix socket that records the raw request and answers `response`."""

    def __init__(self, path: Path, response: bytes) -> None:
        self.path = str(path)
        self.response = response
        self.requests: list[bytes] = []
        self.connections = 0

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        writer.write(self.response)
        await writer.drain()
        writer.close()


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]], **extra) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": extra.pop("query_string", b""),
        "headers": headers,
        "client": ("10.1.2.3", 50000),
        "server": ("127.0.0.1", 8000),
        **extra,
    }


async def call(app, scope: dict, body: bytes = b"", pieces: int = 1) -> tuple[dict, list[dict]]:
    """Run one request through `app`; the response start message and the body messages."""
    size = max(1, -(-len(body) // pieces))
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start, [m for m in sent if m["type"] == "http.response.body"]


def header_values(start: dict, name: bytes) -> list[bytes]:
    return [value for key, value in start["headers"] if key == name]


@pytest.fixture
def socket_path(tmp_path_factory) -> Path:
    # A short directory: a unix socket's path is limited to about 100 bytes.
    return tmp_path_factory.mktemp("front") / "up.sock"


# ------------------------------------------------------------------------ relayed


async def test_a_post_is_relayed_with_its_body_headers_and_every_set_cookie(socket_path):
    answer = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b"Set-Cookie: sessionid=abc; HttpOnly; Path=/\r\nSet-Cookie: csrftoken=xyz; Path=/\r\n"
        b'Content-Length: 11\r\nConnection: close\r\n\r\n{"id": 42}\n'
    )
    body = b'{"action_type": "refund.issue"}'
    headers = [
        (b"host", b"countersign.test:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cookie", b"sessionid=old; csrftoken=tok"),
        (b"x-csrftoken", b"tok"),
        (b"origin", b"http://countersign.test:8000"),
        (b"connection", b"keep-alive"),
    ]
    async with Upstream(socket_path, answer) as upstream:
        start, chunks = await call(
            Relay(str(socket_path)),
            http_scope("POST", "/api/v1/actions/", headers, query_string=b"dry=1&x=%20"),
            body,
            pieces=3,
        )

    request = upstream.requests[0]
    head, sent_body = request.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/actions/?dry=1&x=%20 HTTP/1.1"
    for expected in (
        b"host: countersign.test:8000",
        b"cookie: sessionid=old; csrftoken=tok",
        b"x-csrftoken: tok",
        b"origin: http://countersign.test:8000",
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"x-forwarded-for: 10.1.2.3",
        b"x-forwarded-proto: http",
        b"connection: close",
    ):
        assert expected in lines
    assert b"connection: keep-alive" not in lines
    assert sent_body == body
    assert start["status"] == 201
    assert header_values(start, b"set-cookie") == [
        b"sessionid=abc; HttpOnly; Path=/",
        b"csrftoken=xyz; Path=/",
    ]
    assert header_values(start, b"connection") == []
    assert b"".join(c["body"] for c in chunks) == b'{"id": 42}\n'
    assert chunks[-1]["more_body"] is False


async def test_a_large_response_is_passed_on_in_pieces_as_it_arrives(socket_path):
    payload = bytes(range(256)) * (5 * 4096)  # 5 MiB, close-delimited
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + payload
    async with Upstream(socket_path, answer):
        start, chunks = await call(Relay(str(socket_path)), http_scope("GET", "/export/", []))

    assert start["status"] == 200
    assert b"".join(c["body"] for c in chunks) == payload
    assert len(chunks) > 10  # streamed, not read whole first
    assert all(len(c["body"]) <= 64 * 1024 for c in chunks)


async def test_a_chunked_request_body_reaches_gunicorn_whole_with_its_length(socket_path):
    answer = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    headers = [(b"host", b"x"), (b"transfer-encoding", b"chunked")]
    async with Upstream(socket_path, answer) as upstream:
        start, _ = await call(
            Relay(str(socket_path)), http_scope("POST", "/login/", headers), b"a=1&b=2", pieces=4
        )

    assert start["status"] == 204
    head, body = upstream.requests[0].split(b"\r\n\r\n", 1)
    assert b"content-length: 7" in head.split(b"\r\n")
    assert b"transfer-encoding" not in head
    assert body == b"a=1&b=2"


async def test_gunicorn_not_listening_is_a_502_in_the_error_shape(tmp_path):
    start, chunks = await call(
        Relay(str(tmp_path / "nothing.sock")), http_scope("GET", "/api/v1/actions/", [])
    )

    assert start["status"] == 502
    assert b'"code": "bad_gateway"' in chunks[0]["body"]


async def test_gunicorn_closing_without_an_answer_is_a_502(socket_path):
    async with Upstream(socket_path, b""):
        start, _ = await call(Relay(str(socket_path)), http_scope("GET", "/", []))

    assert start["status"] == 502


@pytest.mark.django_db
async def test_a_body_over_the_caps_is_refused_with_413_and_never_relayed(socket_path):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    api_body = b"x" * (settings.API_MAX_BODY_BYTES + 1)
    page_body = b"x" * (MAX_BODY_BYTES + 1)
    front = Front(socket_path=str(socket_path), asgi_app=None)
    async with Upstream(socket_path, answer) as upstream:
        api, api_chunks = await call(
            front,
            http_scope("POST", "/api/v1/actions/", [(b"content-length", b"%d" % len(api_body))]),
            api_body,
        )
        streamed, _ = await call(
            front, http_scope("POST", "/api/v1/actions/", []), api_body, pieces=8
        )
        page, page_chunks = await call(
            front,
            http_scope("POST", "/accounts/login/", [(b"content-length", b"%d" % len(page_body))]),
            page_body,
        )
        chunked_page, _ = await call(
            front, http_scope("POST", "/accounts/login/", []), page_body, pieces=8
        )

    assert [api["status"], streamed["status"], page["status"], chunked_page["status"]] == [413] * 4
    assert b'"code": "body_too_large"' in api_chunks[0]["body"]
    assert b'"code": "body_too_large"' in page_chunks[0]["body"]
    assert upstream.requests == []


# ------------------------------------------------------------------------ client address


async def test_a_client_sent_forwarded_for_stays_left_of_the_address_the_front_saw(socket_path):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    headers = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-proto", b"https")]
    async with Upstream(socket_path, answer) as upstream:
        await call(Relay(str(socket_path)), http_scope("GET", "/", headers))

    lines = upstream.requests[0].split(b"\r\n")
    assert b"x-forwarded-for: 6.6.6.6, 10.1.2.3" in lines
    assert b"x-forwarded-proto: http" in lines  # the front's own scheme, not the client's claim
    assert b"x-forwarded-proto: https" not in lines


async def test_behind_a_proxy_of_its_own_the_front_keeps_that_proxys_scheme(socket_path):
    # TLS ends at that proxy: Django must still see https (secure cookies, no redirect loop).
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    headers = [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.7"), (b"x-forwarded-proto", b"https")]
    async with Upstream(socket_path, answer) as upstream:
        await call(Relay(str(socket_path), behind_proxies=1), http_scope("GET", "/", headers))

    lines = upstream.requests[0].split(b"\r\n")
    assert b"x-forwarded-for: 6.6.6.6, 198.51.100.7, 10.1.2.3" in lines
    assert b"x-forwarded-proto: https" in lines


def test_gunicorn_behind_the_front_reads_the_address_the_front_saw_not_the_claimed_one():
    env = gunicorn_env({"TRUSTED_PROXY_COUNT": "0"})
    request = RequestFactory().get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.1.2.3")

    with override_settings(TRUSTED_PROXY_COUNT=int(env["TRUSTED_PROXY_COUNT"])):
        assert client_address(request) == "10.1.2.3"


def test_behind_a_proxy_of_its_own_gunicorn_trusts_one_proxy_more():
    assert gunicorn_env({"TRUSTED_PROXY_COUNT": "1"})["TRUSTED_PROXY_COUNT"] == "2"
    assert gunicorn_env({})["TRUSTED_PROXY_COUNT"] == "1"


def test_gunicorn_workers_are_two_per_core_unless_configured(monkeypatch):
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert web_workers() == 4
    monkeypatch.setenv("WEB_WORKERS", "7")
    assert web_workers() == 7


# ------------------------------------------------------------------------ routed to ASGI


async def test_sockets_and_waits_go_to_the_asgi_app_and_the_rest_is_relayed(socket_path):
    seen: list[str] = []

    async def asgi_app(scope, receive, send) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    front = Front(socket_path=str(socket_path), asgi_app=asgi_app)
    async with Upstream(socket_path, answer) as upstream:
        for path in (
            "/api/v1/actions/7/wait/",
            "/api/v1/actions/7/",
            "/api/v1/actions/7/wait/extra/",
            "/ws-like/",
            "/",
        ):
            await call(front, http_scope("GET", path, []))

    assert seen == ["/api/v1/actions/7/wait/"]
    assert upstream.connections == 4


# ------------------------------------------------------------------------ as served


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_served_front_relays_the_submit_and_keeps_the_wait_and_the_socket(
    live_server_url, demo, agent, supervisor
):
    from django.test import Client
    from websockets.sync.client import connect

    auth = {"Authorization": f"Api-Key {agent.key}"}
    submitted = httpx.post(
        f"{live_server_url}/api/v1/actions/",
        json={
            "action_type": "refund.issue",
            "params": {
                "order_id": "ORD-1001",
                "amount": 12000,
                "currency": "USD",
                "reason": "damaged item",
            },
        },
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert submitted.status_code == 201, submitted.text
    waited = httpx.get(
        f"{live_server_url}/api/v1/actions/{submitted.json()['id']}/wait/",
        params={"timeout": 1},
        headers=auth,
        timeout=30,
    )
    client = Client()
    client.force_login(supervisor)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    with connect(
        live_server_url.replace("http://", "ws://") + "/ws/dashboard/",
        origin=live_server_url,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
    ) as ws:
        hello = ws.recv(timeout=10)

    assert submitted.headers["server"] == "gunicorn"  # relayed to WSGI
    assert waited.status_code == 200
    assert waited.headers["X-Wait-Timed-Out"] == "true"
    assert "server" not in waited.headers  # answered by the ASGI app in the front
    assert '"hello"' in hello


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_client_cannot_dodge_the_sign_in_lockout_by_claiming_other_addresses(live_server_url):
    # Each failure claims another address; the lockout still counts them all against the one
    # the front saw. The sign-in form also passes the CSRF token and Origin check through it.
    username = f"nobody-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=live_server_url, timeout=30) as browser:
        statuses = []
        for attempt in range(settings.AXES_FAILURE_LIMIT):
            browser.get("/accounts/login/")
            token = browser.cookies[settings.CSRF_COOKIE_NAME]
            response = browser.post(
                "/accounts/login/",
                data={"username": username, "password": "wrong", "csrfmiddlewaretoken": token},
                headers={"Origin": live_server_url, "X-Forwarded-For": f"203.0.113.{attempt}"},
            )
            statuses.append(response.status_code)

    # The form again (not a 403 from the CSRF check) until the last failure locks the address.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
