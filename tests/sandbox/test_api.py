"""GET /api/v1/sandbox/orders/{order_id}/: an order with its ledger, for whom may read it: an agent
the orders its own actions name, a person the orders of actions in their queues."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from agents.services import agent_create
from approvals.models import Action
from approvals.services import action_submit
from sandbox import services as sandbox
from tests.conftest import AgentWithKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/sandbox/orders/{}/"


def ask_refund(agent, order_id: str = "ORD-1001") -> Action:
    """An action naming the order (60.00 needs a supervisor: it lands in the Refunds queue)."""
    params = {"order_id": order_id, "amount": 6000, "currency": "USD", "reason": "damaged"}
    return action_submit(agent=agent, action_type="refund.issue", params=params).action


@pytest.fixture
def reader(demo) -> AgentWithKey:
    issued = agent_create(name="ledger-reader", can_read_sandbox=True)
    for order_id in ("ORD-1001", "ORD-1002"):
        ask_refund(issued.agent, order_id)
    return AgentWithKey(agent=issued.agent, key=issued.key)


def test_an_agent_with_read_access_sees_the_order_its_ledger_and_totals(reader):
    kept, reversed_, discounted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sandbox.refund_issue(
        order_id="ORD-1001", amount=3000, currency="USD", reason="damaged", action_id=kept
    )
    sandbox.refund_issue(
        order_id="ORD-1001", amount=2000, currency="USD", reason="late", action_id=reversed_
    )
    sandbox.refund_reverse(action_id=reversed_)
    sandbox.discount_apply(
        order_id="ORD-1001", amount=500, currency="USD", code="SORRY", reason="x",
        action_id=discounted,
    )  # fmt: skip

    response = reader.client().get(URL.format("ORD-1001"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["order_id"], body["status"], body["currency"]) == ("ORD-1001", "paid", "USD")
    customer = {"customer_id": "CUS-001", "name": "Demo Customer 1", "tier": "standard"}
    assert body["customer"] == customer
    assert body["shipping_address"] == {"line1": "1 Demo Street", "city": "Springfield"}
    assert body["cancelled_at"] is None
    assert [(p["amount"], p["status"]) for p in body["payments"]] == [(25000, "paid")]
    refunds = [(r["action_id"], r["amount"], bool(r["reversed_at"])) for r in body["refunds"]]
    assert refunds == [(str(kept), 3000, False), (str(reversed_), 2000, True)]
    assert [(d["code"], d["amount"], d["removed_at"]) for d in body["discounts"]] == [
        ("SORRY", 500, None)
    ]
    assert body["totals"] == {
        "paid": 25000, "refunded": 3000, "reversed": 2000, "refundable": 22000, "discounted": 500,
    }  # fmt: skip


def test_a_cancelled_order_shows_when_it_was_cancelled(reader):
    sandbox.order_cancel(order_id="ORD-1002", action_id=uuid.uuid4())

    body = reader.client().get(URL.format("ORD-1002")).json()

    assert body["status"] == "cancelled"
    assert body["cancelled_at"] is not None


def test_an_unknown_order_is_not_found(reader):
    response = reader.client().get(URL.format("ORD-9999"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"


def test_an_agent_cannot_walk_orders_no_action_of_its_own_names(reader, make_agent):
    other = make_agent("other-bot")
    ask_refund(other.agent, "ORD-1003")

    response = reader.client().get(URL.format("ORD-1003"))

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "order_not_found", "message": "Order ORD-1003 does not exist.", "details": {},
    }  # fmt: skip


def test_an_agent_without_read_access_is_forbidden(demo, agent):
    response = agent.client().get(URL.format("ORD-1001"))

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "no read access to the sandbox" in error["message"]


@pytest.mark.parametrize("role", ["supervisor", "senior_supervisor", "auditor"])
def test_people_see_the_orders_of_actions_in_their_queues(demo, agent, make_supervisor, role):
    ask_refund(agent.agent)
    client = APIClient()
    client.force_login(make_supervisor("pat", role=role, queues=["Refunds"]))

    response = client.get(URL.format("ORD-1001"))

    assert response.status_code == 200
    assert response.json()["totals"]["refundable"] == 25000


def test_people_do_not_see_orders_no_action_in_their_queues_names(demo, agent, make_supervisor):
    ask_refund(agent.agent)
    client = APIClient()
    client.force_login(make_supervisor("pat", queues=["Account security"]))

    named_elsewhere = client.get(URL.format("ORD-1001"))
    named_nowhere = client.get(URL.format("ORD-1004"))

    assert (named_elsewhere.status_code, named_nowhere.status_code) == (404, 404)


def test_a_signed_in_user_without_a_role_is_forbidden(demo, django_user_model):
    client = APIClient()
    client.force_login(django_user_model.objects.create_user("nobody", password="x-y-z-1234"))

    response = client.get(URL.format("ORD-1001"))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_anonymous_callers_are_refused(demo):
    response = APIClient().get(URL.format("ORD-1001"))

    assert response.status_code == 401
    assert Action.objects.count() == 0


def test_create_agent_read_sandbox_grants_read_access(demo, capsys):
    from django.core.management import call_command

    from agents.models import Agent

    call_command("create_agent", "reader-bot", "--read-sandbox")
    call_command("create_agent", "plain-bot")

    assert Agent.objects.get(name="reader-bot").can_read_sandbox is True
    assert Agent.objects.get(name="plain-bot").can_read_sandbox is False
