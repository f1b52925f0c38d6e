"""Who operates an agent: managed by an audited command, and kept off that agent's breaker resets
and reconciliations as they are off its reviews."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from agents.models import BreakerTrip, CircuitBreaker
from approvals import rulebook, services
from approvals.models import Status
from audit.models import AuditEvent
from config.errors import Forbidden
from tests.approvals.test_breakers import refunds
from tests.approvals.test_rulebook import facts, person

pytestmark = pytest.mark.django_db


def operators_of(agent) -> list[str]:
    return sorted(agent.operators.values_list("username", flat=True))


def test_the_command_adds_and_removes_operators_and_audits_each_change(
    demo, agent, make_supervisor, capsys
):
    make_supervisor("olga")
    make_supervisor("omar")

    call_command("agent_operators", "support-bot", "--add", "olga", "--add", "omar")
    call_command("agent_operators", "support-bot", "--remove", "omar")

    assert operators_of(agent.agent) == ["olga"]
    assert capsys.readouterr().out.splitlines()[-1] == "support-bot: olga"
    events = AuditEvent.objects.filter(object_type="agent", verb__startswith="agent.operator")
    assert list(events.order_by("id").values_list("verb", "data__username")) == [
        ("agent.operator_added", "olga"),
        ("agent.operator_added", "omar"),
        ("agent.operator_removed", "omar"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost-bot", "--add", "olga"], "No agent named 'ghost-bot'"),
        (["support-bot", "--add", "nobody"], "No such person: nobody"),
        (["support-bot", "--add", "olga", "--remove", "olga"], "Add or remove, not both"),
    ],
)
def test_the_command_refuses_unknown_names_and_changes_nothing(
    demo, agent, make_supervisor, args, message
):
    make_supervisor("olga")

    with pytest.raises(CommandError, match=message):
        call_command("agent_operators", *args)

    assert operators_of(agent.agent) == []


def test_an_operator_cannot_reset_a_breaker_their_agent_tripped(demo, agent, make_supervisor):
    olga = make_supervisor("olga")
    call_command("agent_operators", "support-bot", "--add", "olga")
    breaker = CircuitBreaker.objects.get(name="refund-burst")
    refunds(agent, 21)

    with pytest.raises(Forbidden) as refused:
        services.breaker_reset(breaker_id=breaker.pk, by=olga, reason="my bot is fine")

    assert refused.value.code == "own_request"
    assert BreakerTrip.objects.get().is_open
    services.breaker_reset(breaker_id=breaker.pk, by=make_supervisor("sam"), reason="checked")
    assert not BreakerTrip.objects.get().is_open


def test_an_operator_cannot_reconcile_their_agents_action():
    senior_operator = person("senior_supervisor", operates=(7,))
    unknown = facts(status=Status.NEEDS_RECONCILIATION, agent_id=7)

    answer = rulebook.may_reconcile(senior_operator, unknown, target=Status.SUCCEEDED)
    other = rulebook.may_reconcile(person("senior_supervisor"), unknown, target=Status.SUCCEEDED)

    assert (answer.code, other.code) == ("own_request", None)
