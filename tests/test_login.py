"""Sign-in: django-axes refuses a username, or a client address, after too many failed sign-ins,
on our page and the admin's; the address is the trusted proxy's view of the client."""

import pytest
from django.test import Client

from tests.conftest import SUPERVISOR_PASSWORD


@pytest.fixture
def three_failures_allowed(settings):
    settings.AXES_FAILURE_LIMIT = 3


def sign_in(password: str, *, username: str = "alice", address: str = "10.0.0.1", **meta):
    client = Client()
    response = client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **meta,
    )
    response.client_session = client.session
    return response


def test_after_too_many_failures_even_the_right_password_is_refused_with_429(
    supervisor, three_failures_allowed
):
    # Arrange: two failures are answered as such; the third (the limit) locks the username out
    for _ in range(2):
        assert sign_in("wrong-password").status_code == 200
    assert sign_in("wrong-password").status_code == 429

    # Act
    response = sign_in(SUPERVISOR_PASSWORD)

    # Assert
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in response.client_session


def test_a_username_is_locked_out_whatever_address_the_failures_came_from(
    supervisor, three_failures_allowed
):
    for n in range(3):
        sign_in("wrong-password", address=f"10.0.1.{n}")

    response = sign_in(SUPERVISOR_PASSWORD, address="10.0.2.1")

    assert response.status_code == 429


def test_an_address_is_locked_out_whatever_usernames_it_tried(
    make_supervisor, three_failures_allowed
):
    make_supervisor("alice")
    make_supervisor("bob")
    for username in ("carol", "dave", "erin"):
        sign_in("wrong-password", username=username, address="10.0.0.9")

    from_there = sign_in(SUPERVISOR_PASSWORD, username="bob", address="10.0.0.9")
    from_elsewhere = sign_in(SUPERVISOR_PASSWORD, username="bob", address="10.0.0.10")

    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 302


def test_failures_at_the_admin_sign_in_count_and_lock_it_too(supervisor, three_failures_allowed):
    admin = Client()
    for _ in range(3):
        admin.post(
            "/admin/login/",
            {"username": "alice", "password": "wrong-password"},
            REMOTE_ADDR="10.0.3.1",
        )

    at_admin = admin.post(
        "/admin/login/",
        {"username": "alice", "password": SUPERVISOR_PASSWORD},
        REMOTE_ADDR="10.0.3.2",
    )
    at_ours = sign_in(SUPERVISOR_PASSWORD, address="10.0.3.3")

    assert at_admin.status_code == 429
    assert at_ours.status_code == 429


def test_successful_sign_ins_do_not_count_against_the_limit(supervisor, three_failures_allowed):
    for _ in range(5):
        assert sign_in(SUPERVISOR_PASSWORD).status_code == 302

    assert sign_in(SUPERVISOR_PASSWORD).status_code == 302


def test_without_a_trusted_proxy_a_forwarded_for_header_is_ignored(
    make_supervisor, three_failures_allowed
):
    # Arrange: an attacker at one address varies the header to look like many clients
    make_supervisor("bob")
    for n in range(3):
        sign_in(
            "wrong-password", username=f"nobody{n}", address="10.0.4.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )  # fmt: skip

    # Act
    response = sign_in(
        SUPERVISOR_PASSWORD, username="bob", address="10.0.4.1", HTTP_X_FORWARDED_FOR="192.0.2.99"
    )

    # Assert: the address counted was REMOTE_ADDR, now locked out
    assert response.status_code == 429


def test_behind_one_trusted_proxy_the_address_it_appended_is_the_client(
    settings, make_supervisor, three_failures_allowed
):
    # Arrange: nginx appends the client's address; whatever the client wrote stays to its left
    settings.TRUSTED_PROXY_COUNT = 1
    make_supervisor("bob")
    for n in range(3):
        sign_in(
            "wrong-password", username=f"nobody{n}", address="172.18.0.5",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7",
        )  # fmt: skip

    # Act
    same_client = sign_in(
        SUPERVISOR_PASSWORD, username="bob", address="172.18.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )  # fmt: skip
    other_client = sign_in(
        SUPERVISOR_PASSWORD, username="bob", address="172.18.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )  # fmt: skip

    # Assert: the proxy's own address locks nobody out; the client's does, spoofed prefixes or not
    assert same_client.status_code == 429
    assert other_client.status_code == 302
