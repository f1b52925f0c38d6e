"""The sandbox API: read an order of the sandbox backend (agents with read access, people)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import Code, Forbidden, NotFound
from people.roles import Role
from sandbox.selectors import order_statement
from sandbox.serializers import OrderOutput


def _check_may_read(user) -> None:
    if getattr(user, "is_agent", False):
        if not user.agent.can_read_sandbox:
            raise Forbidden(
                f"Agent `{user.agent.name}` has no read access to the sandbox; an operator grants "
                "it (create_agent --read-sandbox).",
                code=Code.FORBIDDEN,
            )
        return
    if not (user.is_superuser or user.groups.filter(name__in=Role.values).exists()):
        raise Forbidden(
            "Reading sandbox orders needs a Countersign role (supervisor, senior supervisor, "
            "QA reviewer, policy admin or auditor).",
            code=Code.FORBIDDEN,
        )


class OrderDetailView(APIView):
    @extend_schema(
        responses={200: OrderOutput, 403: None, 404: None},
        summary="A sandbox order with its customer, ledger and totals",
        tags=["sandbox"],
    )
    def get(self, request, order_id: str):
        _check_may_read(request.user)
        order = order_statement(order_id=order_id)
        if order is None:
            raise NotFound(f"Order {order_id} does not exist.", code=Code.ORDER_NOT_FOUND)
        return Response(OrderOutput(order).data)
