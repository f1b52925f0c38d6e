"""Calling out (config.outbound): the request connects to the address that was checked, ends by a
total deadline, and reads a capped answer; callbacks and notifications have their own queue."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings

from config import outbound
from config.outbound import OutboundUrlRefused, outbound_target, post_json


class _Receiver(BaseHTTPRequestHandler):
    """Answers 204 and remembers the Host header; `/slow` trickles its status line for ever."""

    hosts: list[str] = []
    stop = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).hosts.append(self.headers.get("Host", ""))
        if self.path == "/slow":
            try:
                while not self.stop.is_set():
                    self.wfile.write(b"H")
                    self.wfile.flush()
                    self.stop.wait(0.05)
            except OSError:
                pass  # the client hung up: what the deadline is for
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    _Receiver.hosts = []
    _Receiver.stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        _Receiver.stop.set()
        server.shutdown()
        server.server_close()


def resolving(monkeypatch, answers: dict[str, str]) -> list[str]:
    """Make the resolver answer `answers` (name -> address); the names asked, in order. An address
    stands for itself, as with the real resolver (connecting to one asks it too)."""
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port or 0))]
        except ValueError:
            asked.append(host)
        if host not in answers:
            raise socket.gaierror(f"unknown name {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def allow_private(monkeypatch, allowed: bool) -> None:
    monkeypatch.setitem(settings.COUNTERSIGN, "CALLBACK_ALLOW_PRIVATE_ADDRESSES", allowed)


def test_the_request_connects_to_the_checked_address_whatever_dns_says_next(monkeypatch, receiver):
    allow_private(monkeypatch, True)
    asked = resolving(monkeypatch, {"hooks.example.test": "127.0.0.1"})
    target = outbound_target(f"http://hooks.example.test:{receiver}/hook")
    # DNS rebinding: the name now points elsewhere (here: nowhere at all).
    asked_later = resolving(monkeypatch, {})

    error = post_json(target, b"{}", headers={}, timeout=5)

    assert error is None
    assert (asked, asked_later) == (["hooks.example.test"], [])
    assert _Receiver.hosts == [f"hooks.example.test:{receiver}"]


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    allow_private(monkeypatch, False)
    resolving(monkeypatch, {"rebind.example.test": "10.1.2.3"})

    with pytest.raises(OutboundUrlRefused) as refused:
        outbound_target("https://rebind.example.test/hook")

    assert "non-public address (10.1.2.3)" in refused.value.message


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_total_deadline(monkeypatch, receiver):
    allow_private(monkeypatch, True)
    target = outbound.OutboundTarget(url=f"http://127.0.0.1:{receiver}/slow", address="127.0.0.1")

    # Each byte comes well within any per-read timeout; only a deadline on the whole ends it.
    error = post_json(target, b"{}", headers={}, timeout=0.5)

    assert error is not None and "Timeout" in error
    assert not _Receiver.stop.is_set()  # the server was still sending when the client gave up


def test_only_the_first_kib_of_an_answer_are_read():
    chunks_read = 0

    def endless() -> Iterator[bytes]:
        nonlocal chunks_read
        while True:
            chunks_read += 1
            yield b"x" * 1024

    response = httpx.Response(500, stream=httpx.ByteStream(b""))
    response.stream = _Endless(endless())

    text = outbound._capped_text(response)

    assert text == "x" * outbound.READ_LIMIT
    assert chunks_read == outbound.READ_LIMIT // 1024


class _Endless(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


def test_callbacks_and_notifications_go_to_the_outbound_queue_and_execution_does_not():
    from config.celery import app

    route = app.amqp.router.route

    outbound_queue = settings.CELERY_OUTBOUND_QUEUE
    assert outbound_queue != settings.CELERY_TASK_DEFAULT_QUEUE
    for task in ("approvals.tasks.deliver_callback", "notifications.tasks.send_delivery"):
        assert route({}, task)["queue"].name == outbound_queue
    execute = route({}, "approvals.tasks.execute_action")["queue"].name
    assert execute == settings.CELERY_TASK_DEFAULT_QUEUE
    # A worker started without -Q (the Procfile's, the tests') consumes both.
    assert set(app.amqp.queues) == {settings.CELERY_TASK_DEFAULT_QUEUE, outbound_queue}


def test_the_deadline_is_measured_on_the_monotonic_clock():
    backend = outbound._PinnedBackend("127.0.0.1", time.monotonic() - 1)

    with pytest.raises(Exception, match="deadline"):
        backend.remaining(5)
