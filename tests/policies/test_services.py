"""Publishing policy versions: a bad rule is refused with a code, never stored half-way."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import InvalidInput
from policies.models import PolicyVersion, Rule
from policies.services import policy_publish

pytestmark = pytest.mark.django_db


def rule(**overrides) -> dict:
    return {"name": "r", "action_type": "refund.issue", "mode": "execute_gated", **overrides}


def publish(*rules) -> PolicyVersion:
    return policy_publish(rules=list(rules), note="test", actor=Actor.system("test"))


def test_publishing_activates_a_new_numbered_version_and_audits_it():
    first = publish(rule())

    second = publish(rule(name="other"))

    assert (first.number, second.number) == (1, 2)
    assert list(PolicyVersion.objects.filter(is_active=True)) == [second]
    assert list(second.rules.values_list("name", "position")) == [("other", 1)]
    assert AuditEvent.objects.filter(verb="policy.published").count() == 2


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (rule(agents="support-bot"), "agents is a list"),
        (rule(agents=[""]), "agents is a list"),
        (rule(name="has spaces"), "needs a name"),
        (rule(name=""), "needs a name"),
        (rule(action_type=""), "needs an action_type"),
        (rule(mode="sometimes"), "has mode"),
        (rule(approvals_required=3), "approvals_required"),
        (rule(approvals_required=True), "approvals_required"),
        (rule(sla_seconds=-1), "sla_seconds"),
        (rule(sla_seconds="soon"), "sla_seconds"),
        (rule(on_timeout="explode"), "on_timeout"),
        (rule(queue=["Refunds"]), "queue is text"),
        (rule(explanation="x" * 301), "explanation is text"),
        (rule(colour="red"), "unknown fields"),
        ("refund.issue", "is not an object"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_malformed_rule_is_refused_and_nothing_is_published(spec, fragment):
    publish(rule(name="keep"))

    with pytest.raises(InvalidInput) as refused:
        publish(rule(name="fine"), spec)

    assert refused.value.code == "invalid_rule"
    assert fragment in refused.value.message
    assert PolicyVersion.objects.count() == 1
    assert Rule.objects.count() == 1


def test_two_rules_with_one_name_are_refused():
    with pytest.raises(InvalidInput, match="repeats the name 'r'"):
        publish(rule(), rule())

    assert PolicyVersion.objects.count() == 0


def test_rules_that_are_not_a_list_are_refused():
    with pytest.raises(InvalidInput):
        policy_publish(rules={"name": "r"}, actor=Actor.system("test"))
