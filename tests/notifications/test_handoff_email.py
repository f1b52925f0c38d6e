"""An agent's hand-off through the API reaches its tier's handlers: the case is on their list, and
an email subscribed to the tier arrives over real SMTP."""

from __future__ import annotations

import pytest

from notifications.models import Delivery
from notifications.tasks import send_delivery
from tests.approvals.test_api_claims import session_client
from tests.clock import wait_for
from tests.escalations.conftest import make_handler, policy, tiers  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_an_agent_hand_off_reaches_the_tiers_handlers_and_an_email(
    request, agent, subscribe, smtp_server
):
    # Arrange: Lee handles L1 and subscribed to its new cases by email
    request.getfixturevalue("policy")
    lee = request.getfixturevalue("make_handler")("lee", "l1-lead")
    lee.email = "lee@example.test"
    lee.save(update_fields=["email"])
    subscribe(scope="tier", scope_key="l1-lead", events=["case.opened"], user=lee)

    # Act: the agent hands a case over (no tier named: the default, L1)
    response = agent.client().post(
        "/api/v1/escalations/",
        {"reason": "Customer threatens legal action",
         "summary": {"what_agent_did": "Read the order", "what_agent_proposes": "A person calls",
                     "customer_words": "I'll sue"}},
        format="json",
    )  # fmt: skip
    delivery = Delivery.objects.get()
    sent = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: on Lee's list, and in Lee's mailbox
    assert response.status_code == 201, response.content
    case_id = response.json()["id"]
    listed = session_client(lee).get("/api/v1/escalations/").json()["results"]
    assert [c["id"] for c in listed] == [case_id]
    assert (delivery.event, delivery.subscription.user_id) == ("case.opened", lee.pk)
    assert sent.successful(), sent.traceback
    _, to, message = wait_for(
        lambda: smtp_server.messages() and smtp_server.messages()[0],
        deadline=10, what="the case's email reached the SMTP server",
    )  # fmt: skip
    assert to == ["lee@example.test"]
    assert f"/escalations/{case_id}/" in message.get_payload(decode=True).decode()
