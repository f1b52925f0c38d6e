"""Sign-in: failed attempts are limited per client address, checked before the password is."""

import random

import pytest
from django.test import Client

from agents import throttling
from tests.conftest import SUPERVISOR_PASSWORD

WINDOW = 60


@pytest.fixture
def frozen_clock(monkeypatch):
    """20 s into a one-minute window no other run uses (the counters live in Redis)."""
    now = float(random.randrange(10**8, 10**9) * WINDOW + 20)
    monkeypatch.setattr(throttling, "clock", lambda: now)


@pytest.fixture
def three_failures_allowed(settings, frozen_clock):
    settings.LOGIN_FAILURE_LIMIT = "3/min"


def sign_in(client: Client, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": "alice", "password": password},
        REMOTE_ADDR=address,
    )


def test_after_too_many_failures_even_the_right_password_is_refused_with_429(
    supervisor, three_failures_allowed
):
    # Arrange
    client = Client()
    for _ in range(3):
        assert sign_in(client, "wrong-password").status_code == 200

    # Act
    response = sign_in(client, SUPERVISOR_PASSWORD)

    # Assert
    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_failures_from_one_address_do_not_lock_out_another(supervisor, three_failures_allowed):
    for _ in range(4):
        sign_in(Client(), "wrong-password", address="10.0.0.1")

    response = sign_in(Client(), SUPERVISOR_PASSWORD, address="10.0.0.2")

    assert response.status_code == 302


def test_successful_sign_ins_do_not_count_against_the_limit(supervisor, three_failures_allowed):
    for _ in range(5):
        assert sign_in(Client(), SUPERVISOR_PASSWORD).status_code == 302

    assert sign_in(Client(), SUPERVISOR_PASSWORD).status_code == 302
