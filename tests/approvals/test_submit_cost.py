"""What one submission costs through the API, and what its shortcuts must never change: the body
it answers, and the policy version that decides it the moment another process activates one."""

from __future__ import annotations

import threading

import pytest

from approvals.api.views import ActionOutput
from approvals.models import Action
from audit.services import Actor
from policies.models import PolicyVersion
from policies.services import policy_publish, policy_version_activate
from tests.approvals.conftest import refund_params

SUBMIT = "/api/v1/actions/"

# What a submission may cost (the audit event is one query, its insert: `audit.chain` seals it
# after commit): the API key with its agent; the action type with the active version and whether
# anyone listens to pending actions; BEGIN, the action's insert, the audit insert, COMMIT.
SUBMIT_QUERY_BUDGET = 6


def refund_body(amount: int = 12000, **context) -> dict:
    return {"action_type": "refund.issue", "params": refund_params(amount), "context": context}


def in_another_connection(fn) -> None:
    """Run `fn` in a thread of its own, so on a database connection of its own, and wait."""
    errors: list[BaseException] = []

    def run():
        from django.db import connection

        try:
            fn()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


@pytest.mark.django_db(transaction=True)
def test_a_submission_costs_at_most_its_query_budget_with_its_on_commit_work(
    demo, agent, django_assert_max_num_queries
):
    # Arrange: the active version compiled once in this process, as after any first submission
    api = agent.client()
    assert (
        api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="warm").status_code
        == 201
    )

    # Act: authentication, throttling, the view, the commit and its push, all in the request
    with django_assert_max_num_queries(SUBMIT_QUERY_BUDGET) as queries:
        response = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    # Assert: and none of them for people (sessions, sign-in lockouts, second factors)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    for table in ("django_session", "axes_", "otp_", "auth_user"):
        assert table not in sql


@pytest.mark.django_db(transaction=True)
def test_a_version_activated_by_another_connection_decides_the_very_next_submission(demo, agent):
    # Arrange: the demo version decided (and is compiled in this process)
    api = agent.client()
    first = api.post(SUBMIT, refund_body(), format="json")
    demo_version = first.json()["decision"]["policy_version"]
    assert first.json()["status"] == "pending"
    forbid = [{"name": "no-refunds", "action_type": "refund.issue", "mode": "forbidden"}]

    # Act: another connection publishes a version that forbids refunds
    in_another_connection(
        lambda: policy_publish(rules=forbid, note="stop refunds", actor=Actor.system("test"))
    )
    refused = api.post(SUBMIT, refund_body(), format="json")

    # Act: another connection activates the demo version again (compiled here long ago)
    in_another_connection(
        lambda: policy_version_activate(
            number=demo_version, actor=Actor.system("test"), reason="roll back"
        )
    )
    gated = api.post(SUBMIT, refund_body(), format="json")

    # Assert
    newest = PolicyVersion.objects.order_by("-number").first()
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["details"]["decision"]["policy_version"] == newest.number
    assert refused.json()["error"]["details"]["decision"]["rule"] == "no-refunds"
    assert gated.status_code == 201, gated.content
    assert gated.json()["decision"]["policy_version"] == demo_version
    assert gated.json()["status"] == "pending"


def read_back(action_id: str) -> dict:
    """The body the API answers for this action when it reads it from the database."""
    from approvals import selectors

    action = Action.objects.select_related("agent", "action_type", "policy_version").get(
        pk=action_id
    )
    data = ActionOutput(action).data
    data["approvals"] = selectors.action_approvals(action=action)
    data["escalation"] = selectors.action_escalation(action=action)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "status"), [(1000, "approved"), (12000, "pending"), (60000, "escalated")]
)
def test_a_new_submissions_body_is_the_body_read_back_from_the_database(
    demo, agent, amount, status
):
    api = agent.client()

    response = api.post(
        SUBMIT,
        {**refund_body(amount, sentiment="calm"), "callback_url": "https://agent.example/cb"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"body-{amount}",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == status
    assert list(body) == list(read_back(body["id"]))
    assert body == read_back(body["id"])
    assert (body["escalation"] is not None) == (status == "escalated")


@pytest.mark.django_db
def test_a_refused_submissions_details_are_those_read_back_from_the_database(demo, agent):
    in_force = [{"name": "no-refunds", "action_type": "refund.issue", "mode": "forbidden"}]
    policy_publish(rules=in_force, note="stop refunds", actor=Actor.system("test"))

    response = agent.client().post(SUBMIT, refund_body(), format="json")

    assert response.status_code == 403, response.content
    details = response.json()["error"]["details"]
    stored = read_back(details["action_id"])
    assert details == {k: stored[k] for k in ("status", "decision")} | {"action_id": stored["id"]}


@pytest.mark.django_db
def test_nobody_subscribed_to_pending_actions_means_no_subscription_lookup(demo, agent):
    from unittest import mock

    from notifications import selectors

    with mock.patch.object(
        selectors, "subscriptions_matching", wraps=selectors.subscriptions_matching
    ) as lookup:
        response = agent.client().post(SUBMIT, refund_body(), format="json")

    assert response.json()["status"] == "pending"
    assert lookup.call_count == 0


# ---------------------------------------------------------------------------------------------
# idempotency without a lookup of the key first


@pytest.mark.django_db
def test_retries_of_one_key_count_once_in_a_breaker(demo, agent):
    # Arrange: 19 small refunds of the demo's breaker (it trips on the 21st), and a 20th by key
    from agents.models import BreakerTrip
    from approvals import breakers, services

    breakers.breaker_definitions_clear()

    def small(key=None):
        return services.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(1000),
            idempotency_key=key,
        )  # fmt: skip

    for _ in range(19):
        small()
    first = small("k-20")

    # Act: the 20th retried five times, each failing its insert after the breaker counted it
    retries = [small("k-20") for _ in range(5)]
    twenty_first = small()

    # Assert: the retries were rolled back with their counts; the 21st trips the breaker
    assert first.action.status == "approved"
    assert all(r.replayed and r.action.pk == first.action.pk for r in retries)
    assert twenty_first.action.status == "pending"
    assert BreakerTrip.objects.get().action_count == 21
    breakers.breaker_definitions_clear()


@pytest.mark.django_db
def test_a_reused_key_with_a_body_its_type_refuses_is_still_a_reused_key(demo, agent):
    api = agent.client()
    api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    refused_params = {"amount": 12000, "currency": "USD"}  # no order_id: the schema refuses it

    response = api.post(
        SUBMIT,
        {"action_type": "refund.issue", "params": refused_params},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Action.objects.count() == 1


@pytest.mark.django_db
def test_a_body_its_type_refuses_without_a_stored_key_is_refused_as_invalid(demo, agent):
    response = agent.client().post(
        SUBMIT,
        {"action_type": "refund.issue", "params": {"amount": 12000, "currency": "USD"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-new",
    )

    assert response.status_code == 400, response.content
    assert Action.objects.count() == 0
