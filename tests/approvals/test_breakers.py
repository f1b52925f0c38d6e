"""Circuit breakers: rolling caps that hold an agent's further actions for a human until reset."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import BreakerTrip, CircuitBreaker
from approvals import breakers, services
from approvals.breakers import breaker_apply
from approvals.models import Action, Status
from approvals.services import breaker_reset, breaker_save
from audit.models import AuditEvent
from config.errors import Forbidden, InvalidInput
from policies.engine import Decision

DEMO_EXPLANATION = (
    "breaker `refund-burst` tripped for agent `support-bot` "
    "({count} refunds / {money} USD in 10 min): held for a human"
)


def refund(agent, amount: int = 1000, currency: str = "USD", order_id: str = "ORD-1001"):
    """Submit one refund through the single writer; small ones execute without a human."""
    return services.action_submit(
        agent=agent.agent,
        action_type="refund.issue",
        params={"order_id": order_id, "amount": amount, "currency": currency, "reason": "late"},
    ).action


def refunds(agent, n: int, amount: int = 1000, currency: str = "USD") -> list:
    return [refund(agent, amount, currency) for _ in range(n)]


@pytest.fixture(autouse=True)
def fresh_definitions():
    """Breaker definitions are cached per process; every test starts from the database."""
    breakers.breaker_definitions_clear()
    yield
    breakers.breaker_definitions_clear()


@pytest.fixture
def demo_breaker(demo) -> CircuitBreaker:
    return CircuitBreaker.objects.get(name="refund-burst")


@pytest.fixture
def pushes():
    """Every message handed to the channel layer, in order (action rows and breaker banners)."""
    with mock.patch("approvals.realtime.publish.group_send") as group_send:
        sent: list[dict] = []
        group_send.side_effect = lambda group, message: sent.append(message)
        yield sent


def banner_pushes(pushes: list[dict]) -> int:
    return sum(1 for message in pushes if message["type"] == "breaker.changed")


@pytest.fixture
def no_celery():
    with mock.patch("approvals.services.kernel.current_app"):
        yield


# ------------------------------------------------------------------------------------- tripping


@pytest.mark.django_db
class TestTripping:
    def test_the_demo_breaker_trips_on_the_21st_small_refund_and_holds_it_and_later_ones(
        self, agent, demo_breaker
    ):
        # Act
        actions = refunds(agent, 23, amount=1000)

        # Assert
        statuses = [a.status for a in actions]
        assert statuses == [Status.APPROVED] * 20 + [Status.PENDING] * 3
        expected = DEMO_EXPLANATION.format(count=21, money="210.00")
        for held in actions[20:]:
            assert (held.mode, held.approvals_required, held.approver_role) == (
                "execute_gated",
                1,
                "supervisor",
            )
            assert held.explanation == expected
        trip = BreakerTrip.objects.get()
        assert (trip.breaker, trip.agent, trip.action_count, trip.amount, trip.is_open) == (
            demo_breaker,
            agent.agent,
            21,
            21000,
            True,
        )
        assert AuditEvent.objects.filter(verb="breaker.tripped").count() == 1

    def test_the_money_cap_trips_before_the_count_cap(self, agent, demo):
        # Arrange: at most 100.00 USD of refunds without a human in 10 minutes
        breaker_save(
            name="refund-money", action_type="refund.issue", max_amount=10000,
            window_seconds=600, label="refunds",
        )  # fmt: skip

        # Act: 49.99 + 49.99 = 99.98 is within the cap, a third one is not
        actions = refunds(agent, 4, amount=4999)

        # Assert
        assert [a.status for a in actions] == ["approved", "approved", "pending", "pending"]
        assert actions[2].explanation == (
            "breaker `refund-money` tripped for agent `support-bot` "
            "(3 refunds / 149.97 USD in 10 min): held for a human"
        )

    def test_amounts_in_different_currencies_are_capped_apart(self, agent, demo):
        breaker_save(
            name="refund-money", action_type="refund.issue", max_amount=10000,
            window_seconds=600, label="refunds",
        )  # fmt: skip

        actions = refunds(agent, 2, amount=4999, currency="USD")
        actions += refunds(agent, 2, amount=4999, currency="EUR")

        assert all(a.status == Status.APPROVED for a in actions)

    def test_a_breaker_counts_per_agent_so_another_agent_keeps_executing(
        self, agent, make_agent, demo
    ):
        # Arrange: support-bot trips the all-agents demo breaker
        other = make_agent("billing-bot")
        refunds(agent, 21)

        # Act
        theirs = refund(other)

        # Assert
        assert theirs.status == Status.APPROVED
        assert refund(agent).status == Status.PENDING

    def test_a_breaker_for_one_agent_does_not_cover_another(self, agent, make_agent, demo):
        other = make_agent("billing-bot")
        breaker_save(
            name="billing-bot-refunds", action_type="refund.*", agent_name="billing-bot",
            max_count=1, window_seconds=600, label="refunds",
        )  # fmt: skip

        mine = refunds(agent, 3)
        theirs = refunds(other, 2)

        assert [a.status for a in mine] == [Status.APPROVED] * 3
        assert [a.status for a in theirs] == [Status.APPROVED, Status.PENDING]

    def test_actions_held_by_a_human_rule_are_not_counted(self, agent, demo):
        # 25 refunds over 50.00 wait for a person under the policy: none executed alone
        refunds(agent, 25, amount=6000)

        assert refund(agent).status == Status.APPROVED
        assert not BreakerTrip.objects.exists()

    def test_actions_older_than_the_window_are_not_counted(self, agent, demo, frozen_clock):
        # Arrange: a full window's worth of refunds, then 11 minutes pass (the window is 10)
        refunds(agent, 20)
        frozen_clock.shift(timedelta(minutes=11))

        # Act
        submitted = refund(agent)

        # Assert
        assert submitted.status == Status.APPROVED

    def test_a_deactivated_breaker_holds_nothing(self, agent, demo):
        breaker_save(
            name="refund-burst", action_type="refund.*", max_count=20, max_amount=100000,
            window_seconds=600, label="refunds", is_active=False,
        )  # fmt: skip

        assert all(a.status == Status.APPROVED for a in refunds(agent, 22))

    def test_no_query_is_made_when_no_breaker_covers_the_decision(self, agent, demo):
        # Arrange: definitions cached; a refund the policy already gates
        from policies.models import ActionType

        refund_type = ActionType.objects.get(key="refund.issue")
        gated = Decision(
            mode="execute_gated", rule_id=None, rule_name="", policy_version_id=None,
            policy_version=None, explanation="needs 1 approval", approvals_required=1,
        )  # fmt: skip
        breakers._definitions.get()

        # Act
        with CaptureQueriesContext(connection) as captured:
            decided = breaker_apply(
                agent=agent.agent, action_type=refund_type, params={}, decision=gated
            )

        # Assert
        assert decided is gated
        assert len(captured) == 0

    def test_a_covered_submission_costs_two_queries_for_the_breaker(self, agent, demo):
        from policies.models import ActionType

        refund_type = ActionType.objects.get(key="refund.issue")
        limited = Decision(
            mode="execute_limited", rule_id=None, rule_name="", policy_version_id=None,
            policy_version=None, explanation="within the limit",
        )  # fmt: skip
        breakers._definitions.get()

        with CaptureQueriesContext(connection) as captured:
            decided = breaker_apply(
                agent=agent.agent,
                action_type=refund_type,
                params={"amount": 1000, "currency": "USD"},
                decision=limited,
            )

        assert decided is limited
        assert len(captured) == 2  # lock the counter row, sum the window


# ------------------------------------------------------------------------------------- resetting


@pytest.mark.django_db
class TestReset:
    def test_a_reset_with_a_reason_is_audited_and_resumes_automatic_execution(
        self, agent, demo_breaker, supervisor
    ):
        # Arrange
        refunds(agent, 21)

        # Act
        (trip,) = breaker_reset(
            breaker_id=demo_breaker.pk, by=supervisor, reason="checked with the agent's owner"
        )

        # Assert
        trip.refresh_from_db()
        assert (trip.is_open, trip.reset_by, trip.reset_reason) == (
            False,
            supervisor,
            "checked with the agent's owner",
        )
        event = AuditEvent.objects.get(verb="breaker.reset")
        assert (event.actor_id, event.object_id) == (str(supervisor.pk), str(demo_breaker.pk))
        assert event.data["reason"] == "checked with the agent's owner"
        assert event.data["agent"] == "support-bot"
        assert refund(agent).status == Status.APPROVED

    def test_counting_starts_afresh_after_a_reset(self, agent, demo_breaker, supervisor):
        refunds(agent, 21)
        breaker_reset(breaker_id=demo_breaker.pk, by=supervisor, reason="false alarm")

        after = refunds(agent, 21)

        assert [a.status for a in after] == [Status.APPROVED] * 20 + [Status.PENDING]
        assert after[-1].explanation == DEMO_EXPLANATION.format(count=21, money="210.00")
        assert BreakerTrip.objects.filter(reset_at__isnull=True).count() == 1

    def test_a_reset_without_a_reason_is_refused_and_the_trip_stays_open(
        self, agent, demo_breaker, supervisor
    ):
        refunds(agent, 21)

        with pytest.raises(InvalidInput) as refused:
            breaker_reset(breaker_id=demo_breaker.pk, by=supervisor, reason="   ")

        assert refused.value.code == "reason_required"
        assert BreakerTrip.objects.get().is_open
        assert refund(agent).status == Status.PENDING

    def test_only_supervisors_may_reset(self, agent, demo_breaker, make_supervisor):
        refunds(agent, 21)
        reviewer = make_supervisor("quinn", role="qa_reviewer")
        senior = make_supervisor("sam", role="senior_supervisor")

        with pytest.raises(Forbidden) as refused:
            breaker_reset(breaker_id=demo_breaker.pk, by=reviewer, reason="looks fine")
        breaker_reset(breaker_id=demo_breaker.pk, by=senior, reason="looks fine")

        assert refused.value.code == "missing_role"
        assert not BreakerTrip.objects.get().is_open

    def test_resetting_a_breaker_that_is_not_tripped_is_a_conflict(self, demo_breaker, supervisor):
        from config.errors import Conflict

        with pytest.raises(Conflict) as refused:
            breaker_reset(breaker_id=demo_breaker.pk, by=supervisor, reason="just in case")

        assert refused.value.code == "breaker_not_tripped"

    def test_a_reset_for_one_agent_leaves_another_agents_trip_open(
        self, agent, make_agent, demo_breaker, supervisor
    ):
        other = make_agent("billing-bot")
        refunds(agent, 21)
        refunds(other, 21)

        breaker_reset(
            breaker_id=demo_breaker.pk, by=supervisor, reason="ok", agent_name="billing-bot"
        )

        assert refund(agent).status == Status.PENDING
        assert refund(other).status == Status.APPROVED


# ------------------------------------------------------------------------------------- pushes


@pytest.mark.django_db
def test_a_trip_and_a_reset_push_one_banner_event_each(
    agent, demo_breaker, supervisor, pushes, no_celery, django_capture_on_commit_callbacks
):
    # Arrange
    with django_capture_on_commit_callbacks(execute=True):
        refunds(agent, 20)
    assert banner_pushes(pushes) == 0

    # Act: the 21st trips it, the 22nd is held by the open trip
    with django_capture_on_commit_callbacks(execute=True):
        refunds(agent, 2)
    tripped = banner_pushes(pushes)
    with django_capture_on_commit_callbacks(execute=True):
        breaker_reset(breaker_id=demo_breaker.pk, by=supervisor, reason="owner confirmed")

    # Assert
    assert tripped == 1
    assert banner_pushes(pushes) == 2
    assert pushes[-1] == {"type": "breaker.changed"}


# ------------------------------------------------------------------------------------- definitions


@pytest.mark.django_db
class TestDefinitions:
    def test_loading_the_demo_again_saves_no_breaker(self, demo):
        from approvals.demo import demo_load

        assert demo_load()["breakers_saved"] == 0
        assert AuditEvent.objects.filter(verb="breaker.saved").count() == 1

    @pytest.mark.parametrize(
        "changes",
        [
            {"max_count": None, "max_amount": None},
            {"max_count": 0},
            {"window_seconds": 0},
            {"modes": ["escalate"]},
            {"action_type": "refund issue"},
            {"agent_name": "nobody"},
        ],
    )
    def test_an_invalid_breaker_is_refused(self, demo, changes):
        spec = {"name": "b", "action_type": "refund.*", "max_count": 5, "window_seconds": 60}

        with pytest.raises(InvalidInput):
            breaker_save(**{**spec, **changes})


# ------------------------------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_execute_more_than_the_cap_without_a_human(
    agent, demo, no_celery
):
    # Arrange: 40 agents' requests in flight at once against the demo cap of 20
    threads_n = 40
    start = threading.Barrier(threads_n, timeout=30)
    statuses, errors = [], []

    def submit_one():
        try:
            start.wait()
            statuses.append(refund(agent).status)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    # Act
    threads = [threading.Thread(target=submit_one) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Assert
    assert errors == []
    assert statuses.count(Status.APPROVED) == 20
    assert statuses.count(Status.PENDING) == 20
    assert BreakerTrip.objects.count() == 1
    assert Action.objects.filter(mode="execute_limited").count() == 20


# ------------------------------------------------------------------------------------- API


@pytest.fixture
def csrf_client(supervisor_client):
    """The supervisor's session client, sending the CSRF token the way the dashboard does."""
    supervisor_client.get("/accounts/login/")
    supervisor_client.credentials(HTTP_X_CSRFTOKEN=supervisor_client.cookies["csrftoken"].value)
    return supervisor_client


@pytest.mark.django_db
class TestApi:
    def test_a_supervisor_resets_a_tripped_breaker_with_a_reason(
        self, agent, demo_breaker, csrf_client
    ):
        refunds(agent, 21)

        response = csrf_client.post(
            f"/api/v1/breakers/{demo_breaker.pk}/reset/",
            {"reason": "owner confirmed the burst", "agent": "support-bot"},
            format="json",
        )

        assert response.status_code == 200, response.content
        assert response.json()["name"] == "refund-burst"
        assert response.json()["open_trips"] == []
        assert refund(agent).status == Status.APPROVED

    def test_a_reset_without_a_reason_is_a_400_in_the_error_shape(
        self, agent, demo_breaker, csrf_client
    ):
        refunds(agent, 21)

        response = csrf_client.post(
            f"/api/v1/breakers/{demo_breaker.pk}/reset/", {"reason": ""}, format="json"
        )

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "reason_required"
        assert BreakerTrip.objects.get().is_open

    def test_a_session_reset_without_the_csrf_token_is_refused(
        self, agent, demo_breaker, supervisor_client
    ):
        refunds(agent, 21)

        response = supervisor_client.post(
            f"/api/v1/breakers/{demo_breaker.pk}/reset/", {"reason": "ok"}, format="json"
        )

        assert response.status_code == 403
        assert BreakerTrip.objects.get().is_open

    def test_an_agent_cannot_reset_a_breaker(self, agent, demo_breaker):
        refunds(agent, 21)

        response = agent.client().post(
            f"/api/v1/breakers/{demo_breaker.pk}/reset/", {"reason": "trust me"}, format="json"
        )

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert BreakerTrip.objects.get().is_open

    def test_a_person_without_a_supervisor_role_gets_403(
        self, agent, demo_breaker, make_supervisor
    ):
        from rest_framework.test import APIClient

        refunds(agent, 21)
        client = APIClient()
        client.force_login(make_supervisor("quinn", role="qa_reviewer"))

        response = client.post(
            f"/api/v1/breakers/{demo_breaker.pk}/reset/", {"reason": "ok"}, format="json"
        )

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_role"

    def test_an_unknown_breaker_is_a_404(self, demo, csrf_client):
        response = csrf_client.post(
            "/api/v1/breakers/999999/reset/", {"reason": "ok"}, format="json"
        )

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "breaker_not_found"

    def test_the_list_shows_each_breaker_with_its_open_trips(
        self, agent, demo_breaker, supervisor_client
    ):
        refunds(agent, 21)

        (listed,) = supervisor_client.get("/api/v1/breakers/").json()["results"]

        assert (listed["name"], listed["action_type"], listed["agent"]) == (
            "refund-burst",
            "refund.*",
            None,
        )
        assert (listed["max_count"], listed["max_amount"], listed["window_seconds"]) == (
            20,
            100000,
            600,
        )
        (trip,) = listed["open_trips"]
        assert (trip["agent"], trip["action_count"], trip["amount"], trip["currency"]) == (
            "support-bot",
            21,
            21000,
            "USD",
        )


# ------------------------------------------------------------------------------------- dashboard


@pytest.fixture
def browser(supervisor):
    """A session client that enforces CSRF, holding the token the page hands out."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    client.get("/")
    return client


@pytest.mark.django_db
class TestDashboard:
    def test_the_banner_shows_on_page_load_while_tripped_and_goes_after_a_reset(
        self, agent, demo_breaker, browser
    ):
        # Arrange
        assert 'class="notice notice-breaker"' not in browser.get("/").content.decode()
        refunds(agent, 21)

        # Act
        tripped = browser.get("/").content.decode()
        reset = browser.post(
            f"/breakers/{demo_breaker.pk}/reset/",
            {"reason": "owner confirmed", "agent": "support-bot"},
            HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
            HTTP_HX_REQUEST="true",
        )
        after = browser.get("/").content.decode()

        # Assert
        assert 'class="notice notice-breaker"' in tripped
        assert "breaker `refund-burst` tripped for agent `support-bot`" in tripped
        assert f'hx-post="/breakers/{demo_breaker.pk}/reset/"' in tripped
        assert reset.status_code == 200
        assert reset.content.decode().startswith('<div id="breaker-banner"')
        assert "notice-breaker" not in reset.content.decode()
        assert 'class="notice notice-breaker"' not in after

    def test_a_reset_without_a_reason_from_the_banner_shows_the_refusal_in_flash(
        self, agent, demo_breaker, browser
    ):
        refunds(agent, 21)

        response = browser.post(
            f"/breakers/{demo_breaker.pk}/reset/",
            {"reason": "", "agent": "support-bot"},
            HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
            HTTP_HX_REQUEST="true",
        )

        assert response.status_code == 400
        assert response["HX-Retarget"] == "#flash"
        assert 'data-code="reason_required"' in response.content.decode()
        assert BreakerTrip.objects.get().is_open

    def test_the_resync_partial_carries_the_banner(self, agent, demo_breaker, browser):
        refunds(agent, 21)

        html = browser.get("/queue/rows/", HTTP_HX_REQUEST="true").content.decode()

        assert html.lstrip().startswith('<div id="queue-lists"')
        assert 'id="breaker-banner"' in html
        assert "notice-breaker" in html


# ------------------------------------------------------------------------------------- websocket


async def next_banner(ws, timeout: float = 10.0) -> dict:
    """Skip the row pushes (and any from other tests sharing the group) up to the next banner."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        if message.get("type") == "breaker.changed":
            return message


@pytest.mark.django_db(transaction=True)
async def test_supervisors_get_the_banner_pushed_when_a_breaker_trips_and_when_it_is_reset(
    agent, demo, supervisor, no_celery
):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.conf import settings
    from django.test import Client

    from config.asgi import application

    # Arrange: a supervisor's dashboard is connected
    def cookie() -> bytes:
        client = Client()
        client.force_login(supervisor)
        name = settings.SESSION_COOKIE_NAME
        return f"{name}={client.cookies[name].value}".encode()

    headers = [
        (b"cookie", await database_sync_to_async(cookie)()),
        (b"origin", b"http://testserver"),
    ]
    ws = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "hello"

    # Act: the 21st small refund trips the demo breaker
    await database_sync_to_async(refunds)(agent, 21)
    tripped = await next_banner(ws)
    breaker = await database_sync_to_async(CircuitBreaker.objects.get)(name="refund-burst")
    await database_sync_to_async(breaker_reset)(
        breaker_id=breaker.pk, by=supervisor, reason="owner confirmed"
    )
    cleared = await next_banner(ws)

    # Assert
    assert tripped["html"].startswith('<div id="breaker-banner"')
    assert "breaker `refund-burst` tripped for agent `support-bot`" in tripped["html"]
    assert "notice-breaker" not in cleared["html"]
    assert " hidden" in cleared["html"]
    await ws.disconnect()
