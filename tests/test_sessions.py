"""A sign-in lasts SESSION_MAX_SECONDS at most and ends after SESSION_IDLE_SECONDS without a
request (frozen clock)."""

from datetime import timedelta

from django.test import Client

from tests.clock import frozen
from tests.conftest import SUPERVISOR_PASSWORD


def signed_in() -> Client:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": SUPERVISOR_PASSWORD}
    )
    assert response.status_code == 302
    return client


def test_a_session_idle_longer_than_the_idle_timeout_is_signed_out(supervisor, settings):
    settings.SESSION_IDLE_SECONDS = 1800
    with frozen() as clock:
        client = signed_in()
        clock.shift(timedelta(minutes=29))
        assert client.get("/").status_code == 200

        clock.shift(timedelta(minutes=30, seconds=1))
        response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")
    assert "_auth_user_id" not in client.session


def test_requests_keep_a_session_alive_until_its_lifetime_ends(supervisor, settings):
    settings.SESSION_IDLE_SECONDS = 1800
    settings.SESSION_MAX_SECONDS = 8 * 3600
    with frozen() as clock:
        client = signed_in()
        for _ in range(16):  # a request every 29 minutes: 7 h 44 min
            clock.shift(timedelta(minutes=29))
            assert client.get("/").status_code == 200

        clock.shift(timedelta(minutes=29))  # 8 h 13 min after signing in
        response = client.get("/")

    assert response.status_code == 302


def test_an_ended_session_answers_the_api_with_401_and_htmx_with_a_redirect(supervisor, settings):
    settings.SESSION_IDLE_SECONDS = 60
    with frozen() as clock:
        api, page = signed_in(), signed_in()
        clock.shift(timedelta(minutes=2))
        from_api = api.get("/api/v1/actions/")
        from_htmx = page.get("/", HTTP_HX_REQUEST="true")

    assert from_api.status_code == 401
    assert from_api.json()["error"]["code"] == "unauthenticated"
    assert from_htmx["HX-Redirect"] == "/accounts/login/"
