"""Fixtures for the notification tests: subscriptions, a real SMTP server and real HTTP receivers
on 127.0.0.1, and the Celery enqueues counted instead of sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from unittest import mock

import pytest

from audit.services import Actor
from tests.approvals.conftest import enqueued, submit  # noqa: F401 - fixtures used here too
from tests.approvals.fake_http import FakeBackend
from tests.conftest import free_port


@pytest.fixture
def told():
    """Ids of the deliveries whose sending was enqueued (to Celery), in order."""
    with mock.patch("notifications.services.current_app") as app:
        sent: list[int] = []

        def send_task(name, kwargs, **options):
            assert name == "notifications.tasks.send_delivery"
            sent.append(kwargs["delivery_id"])

        app.send_task.side_effect = send_task
        yield sent


@pytest.fixture
def subscribe(db):
    """subscribe(scope_key=..., events=[...], channel=..., target=..., user=..., ...) -> a saved
    subscription, through the service (checked and audited)."""
    from notifications.models import Subscription
    from notifications.services import subscription_save

    def make(scope_key: str = "Refunds", **fields):
        fields.setdefault("scope", "queue")
        fields.setdefault("events", ["action.pending"])
        fields.setdefault(
            "channel", "webhook" if fields.get("target", "").startswith("http") else "email"
        )
        subscription = Subscription(scope_key=scope_key, **fields)
        return subscription_save(subscription=subscription, actor=Actor.system("test"))

    return make


@pytest.fixture
def receiver():
    """A webhook receiver (or a stand-in Slack endpoint) on 127.0.0.1."""
    server = FakeBackend()
    yield server
    server.close()


@pytest.fixture
def fast_retries(settings):
    settings.COUNTERSIGN = {
        **settings.COUNTERSIGN,
        "NOTIFY_BACKOFF_SECONDS": 0.0,
        "NOTIFY_BACKOFF_MAX_SECONDS": 0.0,
        "NOTIFY_MAX_ATTEMPTS": 3,
        "NOTIFY_TIMEOUT_SECONDS": 2.0,
    }
    return settings


@dataclass
class SmtpServer:
    """What a real SMTP server on 127.0.0.1 received, parsed."""

    port: int
    received: list[tuple[str, list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        with self.lock:
            self.received.append(
                (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
            )
        return "250 Message accepted for delivery"

    def messages(self) -> list[tuple[str, list[str], Message]]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def smtp_server(settings):
    """An aiosmtpd server on 127.0.0.1, with Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": server.port, "timeout": 5.0},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "Countersign <countersign@example.test>"
    yield server
    controller.stop()


@pytest.fixture
def person(make_supervisor):
    """make(username, queues=..., email=...) -> a supervisor with an email address."""

    def make(username: str = "alice", *, email: str | None = None, **kwargs):
        user = make_supervisor(username, **kwargs)
        user.email = email if email is not None else f"{username}@example.test"
        user.save(update_fields=["email"])
        return user

    return make
