"""Executing an approved action: the lease, retries with backoff, recovery, reconciliation.

In-process: the test plays the worker and calls the services; on-commit enqueues are captured.
The fault tests with real worker processes, Redis and crashes are in test_execution_faults.py.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from approvals import services
from approvals.handoff import Source
from approvals.models import Action, Decision, Status
from approvals.transitions import IllegalTransition
from audit.selectors import audit_events_for
from escalations.models import Escalation
from execution import ExecutionFailed, Executor, OutcomeUnknown, executor_for
from sandbox.models import Refund
from tests.approvals.test_api_claims import session_client
from tests.execution.swap import executors_swapped

pytestmark = pytest.mark.django_db


def verbs(action) -> list[str]:
    events = audit_events_for(object_type="action", object_id=action.pk)
    return list(events.values_list("verb", flat=True))


@pytest.fixture
def sent():
    """(action_id, countdown) of every execution sent to Celery, in order."""
    with mock.patch("approvals.services.kernel.current_app") as app:
        calls: list[tuple[str, float | None]] = []
        app.send_task.side_effect = lambda name, kwargs, **options: calls.append(
            (kwargs["action_id"], options.get("countdown"))
        )
        yield calls


@pytest.fixture
def approved(submit, sent, django_capture_on_commit_callbacks) -> Action:
    """A 50.00 refund the policy approves at once (its enqueue already captured)."""
    with django_capture_on_commit_callbacks(execute=True):
        action = submit(5000)
    assert action.status == Status.APPROVED
    sent.clear()
    return action


class Scripted(Executor):
    """Fails as scripted (one exception or None per call), applying the real refund otherwise."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0
        self.real = executor_for("refund.issue")

    def execute(self, action):
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return self.real.execute(action)


def using(executor: Executor):
    return executors_swapped({"refund.issue": executor})


def expire_lease(action: Action) -> None:
    Action.objects.filter(pk=action.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def run(action, **kwargs):
    return services.action_execute(action_id=action.pk, task_id="task-1", **kwargs)


class TestLease:
    def test_an_attempt_holds_a_lease_while_it_runs_and_gives_it_up_when_done(self, approved):
        seen = {}

        def look(action):
            row = Action.objects.get(pk=action.pk)
            seen.update(status=row.status, owner=row.lease_owner, until=row.lease_expires_at)
            return {"ok": True}

        executor = Executor()
        executor.execute = look
        with using(executor):
            done = run(approved)

        assert seen["status"] == Status.EXECUTING
        assert seen["owner"].endswith(":task-1:1")
        assert seen["until"] > timezone.now()
        assert (done.status, done.attempts, done.lease_owner, done.lease_expires_at) == (
            Status.SUCCEEDED, 1, "", None,
        )  # fmt: skip

    def test_a_redelivered_task_does_nothing_while_the_first_attempt_is_alive(self, approved):
        executor = Scripted()
        with using(executor):
            Action.objects.filter(pk=approved.pk).update(
                status=Status.EXECUTING,
                attempts=1,
                lease_owner="host:1:task-0:1",
                lease_expires_at=timezone.now() + timedelta(seconds=30),
            )

            assert run(approved) is None

        assert executor.calls == 0
        assert Action.objects.get(pk=approved.pk).attempts == 1

    def test_an_expired_lease_is_taken_over_and_the_refund_is_replayed_not_repeated(self, approved):
        # Arrange: attempt 1 applied the refund, then its worker died before recording it
        executor_for("refund.issue").execute(approved)
        Action.objects.filter(pk=approved.pk).update(
            status=Status.EXECUTING, attempts=1, lease_owner="host:1:task-0:1"
        )
        expire_lease(approved)

        # Act
        done = run(approved)

        # Assert
        assert (done.status, done.attempts) == (Status.SUCCEEDED, 2)
        assert Refund.objects.filter(action_id=approved.pk).count() == 1
        assert verbs(approved)[-2:] == ["action.execution_recovered", "action.succeeded"]

    def test_an_expired_lease_with_the_attempts_used_up_fails_and_escalates(
        self, approved, settings
    ):
        settings.COUNTERSIGN = {**settings.COUNTERSIGN, "EXECUTION_MAX_ATTEMPTS": 3}
        Action.objects.filter(pk=approved.pk).update(
            status=Status.EXECUTING, attempts=3, lease_owner="host:1:task-0:3"
        )
        expire_lease(approved)
        executor = Scripted()

        with using(executor):
            assert run(approved) is None

        action = Action.objects.get(pk=approved.pk)
        assert (action.status, action.error["code"], executor.calls) == (
            Status.ESCALATED, "attempts_exhausted", 0,
        )  # fmt: skip
        assert verbs(approved)[-2:] == ["action.failed", "action.escalated"]
        case = Escalation.objects.get(action=approved)
        assert (case.source, "3 attempt(s)" in case.reason) == (Source.FAILURE, True)

    def test_an_attempt_that_lost_its_lease_writes_no_outcome(self, approved):
        def outrun_the_lease(action):
            Action.objects.filter(pk=action.pk).update(lease_owner="other:2:task-2:2", attempts=2)
            return {"late": True}

        executor = Executor()
        executor.execute = outrun_the_lease
        with using(executor):
            assert run(approved) is None

        action = Action.objects.get(pk=approved.pk)
        assert (action.status, action.lease_owner, action.result) == (
            Status.EXECUTING, "other:2:task-2:2", None,
        )  # fmt: skip
        assert verbs(approved)[-1] == "action.execution_lease_lost"


class TestRetries:
    def test_a_transient_failure_schedules_a_retry_with_backoff(
        self, approved, sent, django_capture_on_commit_callbacks, settings
    ):
        settings.COUNTERSIGN = {**settings.COUNTERSIGN, "EXECUTION_RETRY_BASE_SECONDS": 4.0}
        executor = Scripted(ExecutionFailed("503 from target", transient=True))

        with using(executor), django_capture_on_commit_callbacks(execute=True):
            run(approved)

        action = Action.objects.get(pk=approved.pk)
        assert (action.status, action.attempts, action.lease_owner) == (Status.EXECUTING, 1, "")
        assert action.error["message"] == "503 from target"
        [(action_id, countdown)] = sent
        assert action_id == str(approved.pk) and 2.0 <= countdown <= 4.0
        assert action.lease_expires_at > timezone.now()  # not due before the countdown
        assert verbs(approved)[-1] == "action.retry_scheduled"

    def test_a_retry_runs_once_due_and_succeeds(self, approved, sent):
        executor = Scripted(ExecutionFailed("timeout", transient=True))
        with using(executor):
            run(approved)
            assert run(approved) is None  # early: the backoff still holds it
            expire_lease(approved)
            done = run(approved)

        assert (done.status, done.attempts, executor.calls) == (Status.SUCCEEDED, 2, 2)
        assert done.error is None
        assert Refund.objects.filter(action_id=approved.pk).count() == 1
        assert "action.execution_retried" in verbs(approved)

    def test_transient_failures_until_the_attempts_run_out_fail_and_escalate(
        self, approved, sent, settings
    ):
        settings.COUNTERSIGN = {**settings.COUNTERSIGN, "EXECUTION_MAX_ATTEMPTS": 3}
        executor = Scripted(*[ExecutionFailed("reset", transient=True)] * 3)

        with using(executor):
            for _ in range(3):
                run(approved)
                expire_lease(approved)

        action = Action.objects.get(pk=approved.pk)
        assert (action.status, action.attempts, executor.calls) == (Status.ESCALATED, 3, 3)
        assert action.error["message"] == "reset"
        assert Escalation.objects.filter(action=approved, source="failure").count() == 1
        assert verbs(approved)[-2:] == ["action.failed", "action.escalated"]

    def test_a_refusal_fails_at_once_without_retry_or_escalation(self, approved, sent):
        executor = Scripted(ExecutionFailed("422: amount exceeds balance", code="refused"))

        with using(executor):
            done = run(approved)

        assert (done.status, done.attempts, done.error["code"]) == (Status.FAILED, 1, "refused")
        assert sent == []
        assert not Escalation.objects.filter(action=approved).exists()

    def test_an_unknown_outcome_waits_for_a_person_and_is_never_retried(self, approved, sent):
        executor = Scripted(OutcomeUnknown("timed out after sending", transient=True))

        with using(executor):
            done = run(approved)
            expire_lease(approved)
            again = run(approved)

        assert (done.status, again, executor.calls) == (Status.NEEDS_RECONCILIATION, None, 1)
        assert sent == []
        assert "action.needs_reconciliation" in verbs(approved)
        case = Escalation.objects.get(action=approved)
        assert (case.source, case.status) == (Source.RECONCILIATION, "open")


class TestReconcile:
    @pytest.fixture
    def unknown(self, approved):
        with using(Scripted(OutcomeUnknown("timed out after sending"))):
            return run(approved)

    def test_a_senior_supervisor_records_that_the_target_applied_it(self, unknown, make_supervisor):
        senior = session_client(make_supervisor("sam", role="senior_supervisor"))

        response = senior.post(
            f"/api/v1/actions/{unknown.pk}/reconcile/",
            {"outcome": "succeeded", "reason_code": "confirmed-in-target", "note": "seen in ERP"},
            format="json",
        )

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "succeeded"
        decision = Decision.objects.get(action=unknown)
        assert (decision.kind, decision.reason_code.code) == ("reconcile", "confirmed-in-target")
        assert verbs(unknown)[-1] == "action.reconciled"

    def test_a_plain_supervisor_may_not_reconcile(self, unknown, supervisor):
        response = session_client(supervisor).post(
            f"/api/v1/actions/{unknown.pk}/reconcile/",
            {"outcome": "failed", "reason_code": "absent-in-target"},
            format="json",
        )

        assert response.status_code == 403
        assert Action.objects.get(pk=unknown.pk).status == Status.NEEDS_RECONCILIATION

    def test_only_an_unknown_outcome_can_be_reconciled(self, approved, make_supervisor):
        senior = make_supervisor("sam", role="senior_supervisor")

        with pytest.raises(IllegalTransition):
            services.action_reconcile(
                action_id=approved.pk, by=senior, outcome="failed", reason_code="absent-in-target"
            )


class TestSweeper:
    def age(self, action, seconds=120):
        Action.objects.filter(pk=action.pk).update(
            updated_at=timezone.now() - timedelta(seconds=seconds)
        )

    def sweep(self, capture):
        with capture(execute=True):
            return services.actions_requeue_stalled(older_than_seconds=60)

    def test_it_enqueues_an_execution_whose_lease_ran_out(
        self, approved, sent, django_capture_on_commit_callbacks
    ):
        Action.objects.filter(pk=approved.pk).update(
            status=Status.EXECUTING, attempts=1, lease_owner="host:1:task-0:1"
        )
        expire_lease(approved)
        self.age(approved)

        count = self.sweep(django_capture_on_commit_callbacks)

        assert (count, sent) == (1, [(str(approved.pk), None)])
        assert verbs(approved)[-1] == "action.requeued"
        # touched: the next sweep leaves it to the task it just enqueued
        assert self.sweep(django_capture_on_commit_callbacks) == 0

    def test_it_leaves_a_live_lease_alone(self, approved, sent, django_capture_on_commit_callbacks):
        Action.objects.filter(pk=approved.pk).update(
            status=Status.EXECUTING,
            attempts=1,
            lease_owner="host:1:task-0:1",
            lease_expires_at=timezone.now() + timedelta(seconds=30),
        )
        self.age(approved)

        assert (self.sweep(django_capture_on_commit_callbacks), sent) == (0, [])
