"""Who may read an order of the system of record through the sandbox API.

Order ids are guessable (ORD-1001, ORD-1002, ...), so nobody walks them: an agent reads the orders
its own actions name, a person the orders named by actions in the queues they work. Anything else
reads as unknown (404), the same answer as an order that does not exist.
"""

from __future__ import annotations

from approvals.rulebook.subjects import ALLOWED, Answer, Person
from config.errors import Code, Forbidden, NotFound
from people.roles import Role


def _unknown(order_id: str) -> Answer:
    return Answer(NotFound(f"Order {order_id} does not exist.", code=Code.ORDER_NOT_FOUND))


def may_agent_read_order(
    *, agent_name: str, can_read_sandbox: bool, order_id: str, named_by_own_action: bool
) -> Answer:
    """An agent granted sandbox reads (create_agent --read-sandbox) reads the orders that its own
    actions name."""
    if not can_read_sandbox:
        return Answer(
            Forbidden(
                f"Agent `{agent_name}` has no read access to the sandbox; an operator grants "
                "it (create_agent --read-sandbox).",
                code=Code.FORBIDDEN,
            )
        )
    return ALLOWED if named_by_own_action else _unknown(order_id)


def may_read_order(person: Person, *, order_id: str, named_in_their_queues: bool) -> Answer:
    """A person with a Countersign role reads the orders that actions in their queues name
    (superusers: every queue)."""
    if person.user_id is None or not (person.is_superuser or person.roles & set(Role.values)):
        return Answer(
            Forbidden(
                "Reading sandbox orders needs a Countersign role and an action naming the order "
                "in a queue you work.",
                code=Code.FORBIDDEN,
            )
        )
    return ALLOWED if named_in_their_queues else _unknown(order_id)
