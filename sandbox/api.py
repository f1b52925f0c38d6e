"""The sandbox API: read an order of the sandbox backend, scoped to the caller's own actions (an
agent) or queues (a person); the rulebook says who may (approvals.rulebook.orders)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import rulebook, selectors
from config.errors import Code, NotFound
from sandbox.selectors import order_statement
from sandbox.serializers import OrderOutput


def _may_read(user, order_id: str) -> rulebook.Answer:
    if getattr(user, "is_agent", False):
        agent = user.agent
        return rulebook.may_agent_read_order(
            agent_name=agent.name, can_read_sandbox=agent.can_read_sandbox, order_id=order_id,
            named_by_own_action=agent.can_read_sandbox
            and selectors.order_named_by_agent(order_id=order_id, agent_id=agent.pk),
        )  # fmt: skip
    person = rulebook.person_of(user)
    return rulebook.may_read_order(
        person, order_id=order_id,
        named_in_their_queues=selectors.order_named_in_queues(
            order_id=order_id, queues=person.queues
        ),
    )  # fmt: skip


class OrderDetailView(APIView):
    @extend_schema(
        responses={200: OrderOutput, 403: None, 404: None},
        summary="A sandbox order its caller's actions name, with its customer, ledger and totals",
        description=(
            "An agent reads the orders its own actions name; a person the orders named by "
            "actions in the queues they work. Any other order reads as unknown (404)."
        ),
        tags=["sandbox"],
    )
    def get(self, request, order_id: str):
        rulebook.enforce(_may_read(request.user, order_id))
        order = order_statement(order_id=order_id)
        if order is None:
            raise NotFound(f"Order {order_id} does not exist.", code=Code.ORDER_NOT_FOUND)
        return Response(OrderOutput(order).data)
