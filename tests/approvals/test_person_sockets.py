"""A person's live sockets (dashboard and escalation workspace) close when they sign out or their
roles change, so nothing more reaches a page they may no longer see; the page reloads on it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from approvals.consumers import CLOSE_PERSON_CHANGED
from config.asgi import application
from config.socket_guard import CLOSE_REFUSED
from people.roles import Role
from tests.approvals.test_consumers import ORIGIN
from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return client, f"{name}={client.cookies[name].value}".encode()


async def connected(cookie: bytes, path: str = "/ws/dashboard/") -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, path, headers=[(b"cookie", cookie), ORIGIN])
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "hello"
    return ws


async def closed_with(ws: WebsocketCommunicator) -> int | None:
    while True:
        message = await ws.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            return message.get("code")


@pytest.mark.parametrize("path", ["/ws/dashboard/", "/ws/escalations/"])
async def test_signing_out_closes_every_socket_of_that_person_and_no_other(
    demo, make_supervisor, path
):
    # Arrange: root has two sockets open; bob one
    root = await database_sync_to_async(get_user_model().objects.create_superuser)(
        "root", password=SUPERVISOR_PASSWORD
    )
    bob = await database_sync_to_async(make_supervisor)("bob")
    client, cookie = await database_sync_to_async(signed_in)(root)
    first, second = await connected(cookie, path), await connected(cookie, path)
    _, bob_cookie = await database_sync_to_async(signed_in)(bob)
    bobs = await connected(bob_cookie)

    # Act
    await database_sync_to_async(client.post)("/accounts/logout/")

    # Assert
    assert await closed_with(first) == CLOSE_PERSON_CHANGED
    assert await closed_with(second) == CLOSE_PERSON_CHANGED
    assert await bobs.receive_nothing(timeout=0.5)
    await bobs.disconnect()


async def test_losing_a_role_closes_the_persons_sockets(demo, make_supervisor):
    # Arrange
    sam = await database_sync_to_async(make_supervisor)("sam", role=Role.SENIOR_SUPERVISOR)
    _, cookie = await database_sync_to_async(signed_in)(sam)
    ws = await connected(cookie)

    # Act
    senior = await database_sync_to_async(Group.objects.get)(name=Role.SENIOR_SUPERVISOR)
    await database_sync_to_async(sam.groups.remove)(senior)

    # Assert
    assert await closed_with(ws) == CLOSE_PERSON_CHANGED


async def test_a_group_losing_its_people_closes_their_sockets(demo, make_supervisor):
    alice = await database_sync_to_async(make_supervisor)("alice")
    _, cookie = await database_sync_to_async(signed_in)(alice)
    ws = await connected(cookie)

    supervisors = await database_sync_to_async(Group.objects.get)(name=Role.SUPERVISOR)
    await database_sync_to_async(supervisors.user_set.clear)()

    assert await closed_with(ws) == CLOSE_PERSON_CHANGED


async def test_a_socket_is_refused_until_the_second_factor_is_proven(demo, make_supervisor):
    # Arrange: a senior supervisor signed in with the password only
    await database_sync_to_async(make_supervisor)("sam", role=Role.SENIOR_SUPERVISOR)

    def password_only() -> bytes:
        client = Client()
        client.post("/accounts/login/", {"username": "sam", "password": SUPERVISOR_PASSWORD})
        name = settings.SESSION_COOKIE_NAME
        return f"{name}={client.cookies[name].value}".encode()

    cookie = await database_sync_to_async(password_only)()
    ws = WebsocketCommunicator(application, "/ws/dashboard/", headers=[(b"cookie", cookie), ORIGIN])

    # Act
    connected_, code = await ws.connect()

    # Assert
    assert not connected_
    assert code == CLOSE_REFUSED
