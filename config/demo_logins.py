"""The demo logins `./run` makes sure of and prints: the demo supervisor, the handlers of the demo
escalation tiers, the demo QA people, and a fresh key for the demo agent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEMO_SUPERVISOR = "supervisor"
# A demo login, printed on every start; a real deployment creates its people with create_supervisor.
DEMO_SUPERVISOR_PASSWORD = "countersign-demo"
# The demo handlers of the escalation tiers (approvals.demo.DEMO_HANDLERS) sign in with it too,
# and so do the demo QA people (qa.demo.DEMO_QA_PEOPLE).
DEMO_HANDLER_PASSWORD = DEMO_SUPERVISOR_PASSWORD
# The queue escalated demo actions are routed to: handlers work it to open the actions of cases.
DEMO_HANDLER_QUEUES = ("Escalations",)
DEMO_AGENT = "support-bot"
DEMO_SUBMISSION = {
    "action_type": "refund.issue",
    "params": {"order_id": "ORD-1001", "amount": 1000, "currency": "USD", "reason": "damaged item"},
}


@dataclass(frozen=True)
class DemoHandler:
    username: str
    password: str | None  # None once someone changed it
    tier_name: str


@dataclass(frozen=True)
class DemoLogins:
    username: str
    password: str | None  # None once someone changed it: we no longer know it
    agent_name: str
    api_key: str
    handlers: tuple[DemoHandler, ...] = ()
    qa: tuple[Any, ...] = ()  # qa.demo.DemoQaLogin


def demo_handlers_ensure() -> tuple[DemoHandler, ...]:
    """One demo handler per demo escalation tier (created once): a supervisor in the tier's group
    who works the queue escalated demo actions go to."""
    from django.contrib.auth import get_user_model

    from approvals.demo import DEMO_HANDLERS
    from approvals.services import supervisor_create

    handlers = []
    for username, tier_name in DEMO_HANDLERS:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            user = supervisor_create(
                username=username, password=DEMO_HANDLER_PASSWORD, queues=DEMO_HANDLER_QUEUES,
                teams=(username,),
            )  # fmt: skip
        known = user.check_password(DEMO_HANDLER_PASSWORD)
        handlers.append(DemoHandler(username, DEMO_HANDLER_PASSWORD if known else None, tier_name))
    return tuple(handlers)


def demo_logins_ensure() -> DemoLogins:
    """The demo supervisor (created once, a member of every demo queue), the demo handlers of the
    escalation tiers, the demo QA people (with QA's demo plan), and a fresh key for the demo agent.

    Keys are stored hashed and shown once, so every start issues a new one to print.
    """
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from agents.services import agent_create, agent_issue_key
    from approvals.demo import DEMO_QUEUES, demo_queues_ensure
    from approvals.services import queue_members_add, supervisor_create
    from audit.services import Actor
    from qa.demo import demo_qa_ensure

    demo_queues_ensure()
    user = get_user_model().objects.filter(username=DEMO_SUPERVISOR).first()
    if user is None:
        user = supervisor_create(
            username=DEMO_SUPERVISOR, password=DEMO_SUPERVISOR_PASSWORD, queues=DEMO_QUEUES
        )
    else:
        # A database from before queues existed: the demo supervisor works every demo queue.
        queue_members_add(user=user, queue_names=DEMO_QUEUES, actor=Actor.system("run"))
    known = user.check_password(DEMO_SUPERVISOR_PASSWORD)
    agent = Agent.objects.filter(name=DEMO_AGENT).first()
    issued = agent_issue_key(agent_id=agent.pk) if agent else agent_create(name=DEMO_AGENT)
    return DemoLogins(
        username=DEMO_SUPERVISOR,
        password=DEMO_SUPERVISOR_PASSWORD if known else None,
        agent_name=DEMO_AGENT,
        api_key=issued.key,
        handlers=demo_handlers_ensure(),
        qa=demo_qa_ensure(password=DEMO_SUPERVISOR_PASSWORD),
    )


_NOT_SHOWN = "(changed since it was created; not shown)"


def banner(base_url: str, logins: DemoLogins) -> str:
    password = logins.password or _NOT_SHOWN
    handlers = [
        f"                {h.username} / {h.password or _NOT_SHOWN}"
        f'   handler in tier "{h.tier_name}"'
        for h in logins.handlers
    ]
    qa_people = [
        f"                {q.username} / {q.password or _NOT_SHOWN}   {q.role} (/qa/)"
        for q in logins.qa
    ]
    return "\n".join(
        [
            "",
            "  Countersign is running. Press Ctrl-C to stop everything.",
            "",
            f"  Dashboard     {base_url}/",
            f"  Sign in as    {logins.username} / {password}",
            *handlers,
            *qa_people,
            f"  Agent key     {logins.api_key}",
            f"                agent `{logins.agent_name}`: a new key each start, shown only here",
            f"  API           {base_url}/api/v1/   docs: {base_url}/api/docs/",
            "",
            "  Try it:",
            f"    curl -s {base_url}/api/v1/actions/ \\",
            f"      -H 'Authorization: Api-Key {logins.api_key}' \\",
            "      -H 'Content-Type: application/json' \\",
            f"      -d '{json.dumps(DEMO_SUBMISSION)}'",
            "",
        ]
    )
