"""Multi-step actions: a failing later step undoes the earlier ones, last first; a succeeded
multi-step action rolls back whole."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from approvals import services
from approvals.models import Action, Status
from execution import ExecutionFailed, StepsExecutor, executor_for
from sandbox.models import Order
from sandbox.services import refund_issue, refundable_amount

pytestmark = pytest.mark.django_db


def order(order_id: str) -> Order:
    return Order.objects.get(order_id=order_id)


@pytest.fixture
def cancel_and_refund(submit, supervisor):
    """cancel_and_refund(order_id) -> the approved two-step action, executed."""

    def run(order_id: str) -> Action:
        action = submit(
            action_type="order.cancel_and_refund",
            params={"order_id": order_id, "reason": "customer cancelled"},
        )
        services.action_approve(action_id=action.pk, by=supervisor)
        services.action_execute(action_id=action.pk)
        return Action.objects.get(pk=action.pk)

    return run


def test_both_steps_succeed_the_order_is_cancelled_and_refunded_in_full(cancel_and_refund):
    action = cancel_and_refund("ORD-1006")

    assert action.status == Status.SUCCEEDED
    assert [s["name"] for s in action.result["steps"]] == ["order_cancel", "refund_in_full"]
    assert order("ORD-1006").status == Order.Status.CANCELLED
    assert refundable_amount(order("ORD-1006")) == 0


def test_a_failing_second_step_compensates_the_first_and_the_action_fails(cancel_and_refund):
    refund_issue(
        order_id="ORD-1005", amount=25000, currency="USD", reason="x", action_id=uuid.uuid4()
    )  # nothing left to refund: step 2 will be refused

    action = cancel_and_refund("ORD-1005")

    assert action.status == Status.FAILED
    assert action.error["code"] == "nothing_to_refund"
    assert action.error["details"]["failed_step"] == 2
    assert action.error["details"]["compensated_steps"] == [{"step": 1, "name": "order_cancel"}]
    reinstated = order("ORD-1005")
    assert (reinstated.status, reinstated.cancelled_at) == (Order.Status.PAID, None)


def test_rollback_of_a_succeeded_two_step_action_undoes_both_steps(cancel_and_refund, supervisor):
    action = cancel_and_refund("ORD-1006")

    services.action_rollback(action_id=action.pk, by=supervisor, reason_code="executed-in-error")
    services.action_compensate(action_id=action.pk)

    action.refresh_from_db()
    assert action.status == Status.ROLLED_BACK
    assert [s["name"] for s in action.result["rollback"]["steps"]] == [
        "refund_in_full",
        "order_cancel",
    ]
    restored = order("ORD-1006")
    assert (restored.status, restored.cancelled_at) == (Order.Status.PAID, None)
    assert refundable_amount(restored) == 25000


def test_executing_the_steps_twice_for_one_action_changes_the_sandbox_once(demo):
    action = SimpleNamespace(pk=uuid.uuid4(), effective_params={"order_id": "ORD-1007"})
    executor = executor_for("order.cancel_and_refund")

    first = executor.execute(action)
    second = executor.execute(action)

    assert first["steps"][1]["amount"] == second["steps"][1]["amount"] == 25000
    assert refundable_amount(order("ORD-1007")) == 0


class TestStepsExecutor:
    def steps(self, log: list, *, failing: int | None = None):
        def step(n):
            def run(action):
                if n == failing:
                    raise ExecutionFailed(f"step {n} refused", code="refused", transient=True)
                log.append(f"do {n}")
                return {"n": n}

            def undo(action):
                log.append(f"undo {n}")
                return {"n": n}

            run.step_name = f"step-{n}"
            return run, undo

        return [step(1), step(2), step(3)]

    def test_a_failing_step_undoes_the_done_steps_in_reverse_and_is_not_transient(self):
        log: list[str] = []
        executor = StepsExecutor(steps=self.steps(log, failing=3))

        with pytest.raises(ExecutionFailed) as failed:
            executor.execute(SimpleNamespace(pk=uuid.uuid4()))

        assert log == ["do 1", "do 2", "undo 2", "undo 1"]
        assert failed.value.transient is False
        assert failed.value.code == "refused"
        assert [s["step"] for s in failed.value.details["compensated_steps"]] == [2, 1]

    def test_compensate_undoes_every_step_last_first(self):
        log: list[str] = []
        executor = StepsExecutor(steps=self.steps(log))

        result = executor.compensate(SimpleNamespace(pk=uuid.uuid4()))

        assert log == ["undo 3", "undo 2", "undo 1"]
        assert [s["name"] for s in result["steps"]] == ["step-3", "step-2", "step-1"]

    def test_a_step_without_a_compensation_makes_the_whole_not_compensable(self):
        (run, undo), *_ = self.steps([])

        assert not StepsExecutor(steps=[(run, undo), (run, None)]).compensable
        assert StepsExecutor(steps=[(run, undo)]).compensable
