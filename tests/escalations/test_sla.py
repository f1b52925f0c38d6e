"""SLAs fail closed: actions past their SLA expire, are rejected or escalate as their rule says,
and cases climb their tiers; one sweep catches up after downtime and a second does nothing."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from approvals import services as approvals
from approvals.handoff import Source
from approvals.models import CallbackDelivery, Decision, Status
from audit.models import AuditEvent
from escalations.models import Escalation
from escalations.services import slas_sweep
from notifications.events import Event
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def gated(policy, agent):
    """gated(timeout) -> a pending action whose rule times out after an hour with `timeout`."""

    def make(timeout: str):
        return approvals.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(12000),
            context={"timeout": timeout}, callback_url="http://127.0.0.1:9/hook",
        ).action  # fmt: skip

    return make


@pytest.fixture
def told():
    """The notifications the sweep wrote, as (event, tier or queue)."""
    calls: list[tuple[str, str]] = []

    def record(**kwargs):
        calls.append((kwargs["event"], kwargs.get("tier") or kwargs.get("queue")))
        return 0

    with (
        mock.patch("escalations.services.kernel.notify", side_effect=record),
        mock.patch("approvals.services.sweeps.notify", side_effect=record),
    ):
        yield calls


class TestActionsPastTheirSla:
    def test_nothing_moves_before_the_sla(self, gated, frozen_clock):
        action = gated("expire")
        frozen_clock.shift(HOUR - timedelta(seconds=1))

        slas_sweep()

        assert action.__class__.objects.get(pk=action.pk).status == Status.PENDING

    @pytest.mark.parametrize(
        "timeout, status", [("expire", "expired"), ("reject", "rejected"),
                            ("escalate", "escalated")],
    )  # fmt: skip
    def test_an_action_past_its_sla_moves_as_its_rule_says_and_never_executes(
        self, gated, frozen_clock, enqueued, timeout, status
    ):
        action = gated(timeout)
        frozen_clock.shift(HOUR)

        counts = slas_sweep()

        action.refresh_from_db()
        assert action.status == status
        assert counts[status] == 1
        assert enqueued == []
        assert CallbackDelivery.objects.filter(action=action, event=status).count() == 1

    def test_a_rejection_by_the_sla_is_the_systems_with_the_sla_timeout_code(
        self, gated, frozen_clock
    ):
        action = gated("reject")
        frozen_clock.shift(HOUR)

        slas_sweep()

        decision = Decision.objects.get(action=action)
        assert (decision.by_id, decision.reason_code.code) == (None, "sla-timeout")
        event = AuditEvent.objects.filter(object_id=str(action.pk), verb="action.rejected").get()
        assert (event.actor_kind, event.actor_id) == ("system", "sla")

    def test_an_escalation_by_the_sla_opens_a_case_in_the_rules_tier(self, gated, frozen_clock):
        action = gated("escalate")
        frozen_clock.shift(HOUR)

        slas_sweep()

        case = Escalation.objects.get(action=action)
        assert (case.source, case.tier.key) == (Source.TIMEOUT, "l2-specialist")

    def test_a_second_sweep_changes_nothing(self, gated, frozen_clock):
        actions = [gated(t) for t in ("expire", "reject", "escalate")]
        frozen_clock.shift(HOUR)
        slas_sweep()
        events = AuditEvent.objects.count()

        counts = slas_sweep()

        assert set(counts.values()) == {0}
        assert AuditEvent.objects.count() == events
        assert Escalation.objects.filter(action__in=actions).count() == 1

    def test_the_queue_is_warned_at_80_percent_once_and_told_of_the_breach(
        self, gated, frozen_clock, told
    ):
        gated("expire")
        frozen_clock.shift(HOUR * 0.8)
        slas_sweep()
        slas_sweep()
        frozen_clock.shift(HOUR * 0.2)
        slas_sweep()

        assert [e for e, _ in told] == [Event.SLA_WARNING, Event.SLA_BREACHED]


class TestCasesPastTheirSla:
    def test_an_unacknowledged_case_moves_to_the_next_tier_when_its_acknowledge_sla_passes(
        self, escalate, frozen_clock, told
    ):
        case = Escalation.objects.get(action=escalate())
        opened = case.created_at
        frozen_clock.shift(timedelta(minutes=15))

        slas_sweep()

        case.refresh_from_db()
        assert (case.tier.key, case.status) == ("l2-specialist", "open")
        assert case.tier_entered_at == opened + timedelta(minutes=15)
        assert (Event.CASE_OPENED, "l2-specialist") in told

    def test_an_acknowledged_case_moves_on_when_its_resolve_sla_passes(
        self, escalate, make_handler, frozen_clock
    ):
        from escalations.services import case_acknowledge

        case = Escalation.objects.get(action=escalate())
        case_acknowledge(case_id=case.pk, by=make_handler("ann"))
        frozen_clock.shift(timedelta(minutes=59))
        slas_sweep()
        assert Escalation.objects.get(pk=case.pk).tier.key == "l1-lead"

        frozen_clock.shift(timedelta(minutes=1))
        slas_sweep()

        case.refresh_from_db()
        assert (case.tier.key, case.status, case.acknowledged_by_id) == (
            "l2-specialist", "open", None,
        )  # fmt: skip

    def test_after_beat_was_down_one_sweep_catches_up_through_every_tier_once(
        self, escalate, frozen_clock, told
    ):
        case = Escalation.objects.get(action=escalate())
        opened = case.created_at
        # l1 ack 15 min -> l2 (ack 30 min) at +15 -> finance (ack 1 h) at +45 -> breached at +105
        frozen_clock.shift(timedelta(hours=2))

        counts = slas_sweep()
        again = slas_sweep()

        case.refresh_from_db()
        assert (counts["tier_moves"], counts["breached"]) == (2, 1)
        assert case.tier.key == "finance"
        assert case.tier_entered_at == opened + timedelta(minutes=45)
        assert case.breached_at == opened + timedelta(minutes=105)
        assert case.status == "open"
        assert set(again.values()) == {0}
        verbs = list(
            AuditEvent.objects.filter(object_type="escalation", object_id=str(case.pk))
            .order_by("id").values_list("verb", flat=True)
        )  # fmt: skip
        assert verbs == ["escalation.opened", "escalation.tier_moved", "escalation.tier_moved",
                         "escalation.breached"]  # fmt: skip

    def test_a_breached_case_at_the_last_tier_stays_open_and_is_told_again_every_interval(
        self, escalate, frozen_clock, told
    ):
        case = Escalation.objects.get(action=escalate())
        frozen_clock.shift(timedelta(hours=2))
        slas_sweep()
        told.clear()

        frozen_clock.shift(timedelta(minutes=59))
        slas_sweep()
        assert told == []
        frozen_clock.shift(timedelta(minutes=1))
        slas_sweep()
        slas_sweep()

        assert told == [(Event.SLA_BREACHED, "finance")]
        assert Escalation.objects.get(pk=case.pk).status == "open"

    def test_a_resolved_case_is_left_alone(self, escalate, make_handler, frozen_clock):
        from escalations.services import case_resolve

        case = Escalation.objects.get(action=escalate())
        case_resolve(case_id=case.pk, by=make_handler("ann"), outcome="returned", note="no")
        frozen_clock.shift(timedelta(days=2))

        assert set(slas_sweep().values()) == {0}
