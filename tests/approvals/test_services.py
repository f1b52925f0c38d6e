"""The action services: what each use case changes, records, pushes and enqueues."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection

from approvals import services
from approvals.models import Action, Decision, Status
from approvals.services import kernel, submission
from approvals.transitions import IllegalTransition
from audit.models import AuditEvent
from audit.selectors import audit_events_for
from audit.services import Actor
from config.errors import Conflict, Forbidden, InvalidInput, NotFound
from escalations.models import Escalation
from policies.services import policy_publish
from tests.approvals.conftest import refund_params
from tests.execution.swap import executors_swapped


def verbs(action) -> list[str]:
    return list(
        audit_events_for(object_type="action", object_id=action.pk).values_list("verb", flat=True)
    )


@pytest.fixture
def two_approvals(demo):
    """A policy under which every refund needs two supervisors."""
    policy_publish(
        rules=[
            {
                "name": "every-refund-needs-two",
                "action_type": "refund.issue",
                "condition": "true",
                "mode": "execute_gated",
                "approvals_required": 2,
                "approver_role": "supervisor",
            }
        ],
        actor=Actor.system("test"),
    )


@pytest.fixture
def bob(make_supervisor):
    return make_supervisor("bob")


# ---------------------------------------------------------------------------------------------
# submit


@pytest.mark.django_db
class TestSubmit:
    def test_a_refund_within_the_limit_is_approved_and_enqueued_once(
        self, submit, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            action = submit(5000)

        assert action.status == Status.APPROVED
        assert action.mode == "execute_limited"
        assert action.decided_at is not None
        assert enqueued == [str(action.pk)]
        assert [p["status"] for p in pushes] == ["approved"]
        assert verbs(action) == ["action.submitted"]

    def test_a_refund_over_the_limit_waits_pending_and_is_not_enqueued(
        self, submit, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            action = submit(12000)

        assert action.status == Status.PENDING
        assert (action.mode, action.approvals_required, action.queue) == (
            "execute_gated",
            1,
            "Refunds",
        )
        assert action.decided_at is None
        assert enqueued == []
        assert pushes == [
            {
                "action_id": str(action.pk),
                "status": "pending",
                "version": 1,
                "queue": "Refunds",
                "updated_at": action.updated_at.isoformat(),
                "previous_status": "submitted",
                "previous_queue": "Refunds",
            }
        ]

    def test_a_high_value_refund_is_escalated_with_an_escalation_case(
        self, submit, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            action = submit(60000)

        assert action.status == Status.ESCALATED
        case = Escalation.objects.get(action=action)
        assert (case.source, case.tier.key, case.status) == ("policy", "l1-lead", "open")
        assert case.reason == action.explanation
        assert enqueued == []
        assert len(pushes) == 1
        assert verbs(action) == ["action.submitted"]
        assert audit_events_for(object_type="escalation", object_id=case.pk).count() == 1

    def test_a_forbidden_action_is_blocked_and_never_enqueued(
        self, submit, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            action = submit(
                action_type="account.delete", params={"customer_id": "CUS-001", "reason": "asked"}
            )

        assert action.status == Status.BLOCKED
        assert action.explanation == "agents may never delete accounts"
        assert enqueued == []
        assert [p["status"] for p in pushes] == ["blocked"]

    def test_the_submission_records_its_decision_in_the_audit_event(self, submit):
        action = submit(12000)

        event = audit_events_for(object_type="action", object_id=action.pk).get()
        assert event.data["decision"]["rule_name"] == "refund-over-50-needs-approval"
        assert event.data["status"] == "pending"
        assert event.data["params"] == refund_params(12000)

    @pytest.mark.parametrize("amount", [-5, True, "12", 1.5])
    def test_an_amount_that_is_not_money_stays_out_of_the_amount_column(self, submit, amount):
        from policies.services import action_type_upsert

        action_type_upsert(
            key="note.add",
            name="Add a note",
            params_schema={"type": "object"},
            default_mode="execute_gated",
        )

        action = submit(action_type="note.add", params={"amount": amount})

        assert action.amount is None
        assert action.params == {"amount": amount}

    def test_the_amount_column_holds_the_refund_in_minor_units(self, submit):
        action = submit(12000)

        assert (action.amount, action.currency, action.order_ref) == (12000, "USD", "ORD-1001")

    def test_an_unknown_action_type_is_refused_and_nothing_is_recorded(self, submit):
        events_before = AuditEvent.objects.count()

        with pytest.raises(InvalidInput) as refused:
            submit(action_type="refund.teleport", params={})

        assert refused.value.code == "unknown_action_type"
        assert Action.objects.count() == 0
        assert AuditEvent.objects.count() == events_before


# ---------------------------------------------------------------------------------------------
# idempotency


@pytest.mark.django_db
class TestIdempotency:
    def test_the_same_key_with_the_same_body_replays_the_first_action(self, submit):
        first = submit(12000, idempotency_key="k-1")
        events_before = AuditEvent.objects.count()

        result = services.action_submit(
            agent=first.agent,
            action_type="refund.issue",
            params=refund_params(12000),
            idempotency_key="k-1",
        )

        assert result.replayed is True
        assert result.action.pk == first.pk
        assert Action.objects.count() == 1
        assert AuditEvent.objects.count() == events_before

    def test_the_same_key_with_a_different_body_is_refused(self, submit):
        first = submit(12000, idempotency_key="k-1")

        with pytest.raises(services.IdempotencyKeyReused) as refused:
            services.action_submit(
                agent=first.agent,
                action_type="refund.issue",
                params=refund_params(13000),
                idempotency_key="k-1",
            )

        assert refused.value.status_code == 422
        assert refused.value.details == {"action_id": str(first.pk)}
        assert Action.objects.count() == 1

    def test_the_same_key_with_a_different_context_is_refused(self, submit):
        first = submit(12000, idempotency_key="k-1")

        with pytest.raises(services.IdempotencyKeyReused):
            services.action_submit(
                agent=first.agent,
                action_type="refund.issue",
                params=refund_params(12000),
                context={"sentiment": "angry"},
                idempotency_key="k-1",
            )

    def test_the_same_key_from_another_agent_is_a_separate_action(self, submit, make_agent):
        other = make_agent("billing-bot")
        first = submit(12000, idempotency_key="k-1")

        second = submit(12000, idempotency_key="k-1", by=other)

        assert second.pk != first.pk
        assert second.agent == other.agent


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_with_the_same_key_make_one_action(demo, agent):
    # Arrange: both requests pass the replay check before either inserts
    both_decided = threading.Barrier(2, timeout=10)
    real_decision_for = submission.policy_decision

    def decision_for_in_step(**kwargs):
        decided = real_decision_for(**kwargs)
        both_decided.wait()
        return decided

    results, errors = [], []

    def submit_once():
        try:
            results.append(
                services.action_submit(
                    agent=agent.agent,
                    action_type="refund.issue",
                    params=refund_params(12000),
                    idempotency_key="same-key",
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    # Act
    with mock.patch("approvals.services.submission.policy_decision", decision_for_in_step):
        threads = [threading.Thread(target=submit_once) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    # Assert
    assert errors == []
    assert len({r.action.pk for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True]
    assert Action.objects.filter(idempotency_key="same-key").count() == 1
    assert AuditEvent.objects.filter(verb="action.submitted").count() == 1


# ---------------------------------------------------------------------------------------------
# approve


@pytest.mark.django_db
class TestApprove:
    def test_one_approval_completes_a_one_approval_action_enqueues_once_and_pushes(
        self, submit, supervisor, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            approved = services.action_approve(
                action_id=action.pk, by=supervisor, reason_code="verified-eligible", note="ok"
            )

        assert approved.status == Status.APPROVED
        assert approved.version == 2
        assert approved.decided_at is not None
        assert enqueued == [str(action.pk)]
        assert pushes == [
            {
                "action_id": str(action.pk),
                "status": "approved",
                "version": 2,
                "queue": "Refunds",
                "updated_at": approved.updated_at.isoformat(),
                "previous_status": "pending",
                "previous_queue": "Refunds",
            }
        ]
        assert verbs(action) == ["action.submitted", "action.approved"]
        decision = Decision.objects.get(action=action)
        assert (decision.kind, decision.by, decision.reason_code.code) == (
            "approve",
            supervisor,
            "verified-eligible",
        )

    def test_an_approval_without_a_reason_code_is_accepted(self, submit, supervisor):
        action = submit(12000)

        approved = services.action_approve(action_id=action.pk, by=supervisor)

        assert approved.status == Status.APPROVED

    def test_approving_an_approved_action_is_an_illegal_transition(self, submit, supervisor):
        action = submit(12000)
        services.action_approve(action_id=action.pk, by=supervisor)

        with pytest.raises(IllegalTransition):
            services.action_approve(action_id=action.pk, by=supervisor)

        assert Decision.objects.filter(action=action).count() == 1

    def test_the_first_of_two_approvals_keeps_it_pending_and_enqueues_nothing(
        self,
        two_approvals,
        submit,
        supervisor,
        pushes,
        enqueued,
        django_capture_on_commit_callbacks,
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            after = services.action_approve(action_id=action.pk, by=supervisor)

        assert (after.status, after.version) == (Status.PENDING, 2)
        assert enqueued == []
        assert [(p["status"], p["version"]) for p in pushes] == [("pending", 2)]
        assert verbs(action) == ["action.submitted", "action.approval_recorded"]

    def test_a_second_person_completes_a_two_approval_action(
        self, two_approvals, submit, supervisor, bob, enqueued, django_capture_on_commit_callbacks
    ):
        action = submit(12000)
        services.action_approve(action_id=action.pk, by=supervisor)

        with django_capture_on_commit_callbacks(execute=True):
            after = services.action_approve(action_id=action.pk, by=bob)

        assert after.status == Status.APPROVED
        assert enqueued == [str(action.pk)]

    def test_the_same_person_cannot_approve_twice(self, two_approvals, submit, supervisor):
        action = submit(12000)
        services.action_approve(action_id=action.pk, by=supervisor)

        with pytest.raises(Conflict) as refused:
            services.action_approve(action_id=action.pk, by=supervisor)

        assert refused.value.code == "already_approved"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING
        assert Decision.objects.filter(action=action).count() == 1

    def test_a_user_without_the_approver_role_is_refused(self, submit, make_supervisor):
        action = submit(12000)
        reviewer = make_supervisor("quinn", role="qa_reviewer")

        with pytest.raises(Forbidden) as refused:
            services.action_approve(action_id=action.pk, by=reviewer)

        assert refused.value.code == "missing_role"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    def test_a_senior_supervisor_may_approve_what_a_supervisor_may(self, submit, make_supervisor):
        action = submit(12000)
        senior = make_supervisor("sam", role="senior_supervisor")

        services.action_approve(action_id=action.pk, by=senior)

        assert Action.objects.get(pk=action.pk).status == Status.APPROVED

    def test_an_operator_of_the_agent_cannot_approve_its_action(self, submit, agent, supervisor):
        agent.agent.operators.add(supervisor)
        action = submit(12000)

        with pytest.raises(Forbidden) as refused:
            services.action_approve(action_id=action.pk, by=supervisor)

        assert refused.value.code == "own_request"

    def test_an_unknown_reason_code_is_refused(self, submit, supervisor):
        action = submit(12000)

        with pytest.raises(InvalidInput) as refused:
            services.action_approve(action_id=action.pk, by=supervisor, reason_code="because")

        assert refused.value.code == "unknown_reason_code"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    def test_a_reason_code_of_another_kind_is_refused(self, submit, supervisor):
        action = submit(12000)

        with pytest.raises(InvalidInput) as refused:
            services.action_approve(
                action_id=action.pk, by=supervisor, reason_code="suspected-fraud"
            )

        assert refused.value.code == "unknown_reason_code"

    def test_a_stale_expected_version_is_refused(self, submit, supervisor):
        action = submit(12000)

        with pytest.raises(services.StaleVersion) as refused:
            services.action_approve(action_id=action.pk, by=supervisor, expected_version=7)

        assert refused.value.code == "stale_version"
        assert refused.value.details == {"current_version": 1, "status": "pending"}

    def test_the_current_expected_version_is_accepted(self, submit, supervisor):
        action = submit(12000)

        approved = services.action_approve(action_id=action.pk, by=supervisor, expected_version=1)

        assert approved.status == Status.APPROVED

    def test_an_unknown_action_is_not_found(self, demo, supervisor):
        with pytest.raises(NotFound):
            services.action_approve(action_id="00000000-0000-0000-0000-000000000000", by=supervisor)


# ---------------------------------------------------------------------------------------------
# reject and cancel


@pytest.mark.django_db
class TestReject:
    def test_a_rejection_needs_a_reason_code(self, submit, supervisor):
        action = submit(12000)

        with pytest.raises(InvalidInput) as refused:
            services.action_reject(action_id=action.pk, by=supervisor, reason_code=None)

        assert refused.value.code == "reason_code_required"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING
        assert verbs(action) == ["action.submitted"]

    def test_a_rejection_with_a_reason_code_rejects_pushes_and_enqueues_nothing(
        self, submit, supervisor, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            rejected = services.action_reject(
                action_id=action.pk, by=supervisor, reason_code="outside-policy"
            )

        assert rejected.status == Status.REJECTED
        assert enqueued == []
        assert [p["status"] for p in pushes] == ["rejected"]
        assert verbs(action) == ["action.submitted", "action.rejected"]

    def test_an_approve_reason_code_cannot_reject(self, submit, supervisor):
        action = submit(12000)

        with pytest.raises(InvalidInput) as refused:
            services.action_reject(action_id=action.pk, by=supervisor, reason_code="goodwill")

        assert refused.value.code == "unknown_reason_code"

    def test_an_inactive_reason_code_is_refused(self, submit, supervisor):
        from approvals.models import ReasonCode

        ReasonCode.objects.filter(code="outside-policy").update(is_active=False)
        action = submit(12000)

        with pytest.raises(InvalidInput):
            services.action_reject(action_id=action.pk, by=supervisor, reason_code="outside-policy")


@pytest.mark.django_db
class TestCancel:
    def test_the_owning_agent_cancels_its_pending_action(
        self, submit, agent, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            cancelled = services.action_cancel(action_id=action.pk, agent=agent.agent)

        assert cancelled.status == Status.CANCELLED
        assert [p["status"] for p in pushes] == ["cancelled"]
        assert enqueued == []
        assert verbs(action) == ["action.submitted", "action.cancelled"]

    def test_another_agent_cannot_find_the_action_to_cancel(self, submit, make_agent):
        action = submit(12000)
        stranger = make_agent("other-bot")

        with pytest.raises(NotFound):
            services.action_cancel(action_id=action.pk, agent=stranger.agent)

        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    def test_an_approved_action_cannot_be_cancelled(self, submit, agent):
        action = submit(5000)

        with pytest.raises(IllegalTransition):
            services.action_cancel(action_id=action.pk, agent=agent.agent)


# ---------------------------------------------------------------------------------------------
# one audit event per transition, in the same transaction


@pytest.mark.django_db
class TestAuditInTheSameTransaction:
    @pytest.mark.parametrize(
        ("call", "verb"),
        [
            (
                lambda a, user, agent: services.action_approve(action_id=a.pk, by=user),
                "action.approved",
            ),
            (
                lambda a, user, agent: services.action_reject(
                    action_id=a.pk, by=user, reason_code="outside-policy"
                ),
                "action.rejected",
            ),
            (
                lambda a, user, agent: services.action_cancel(action_id=a.pk, agent=agent.agent),
                "action.cancelled",
            ),
        ],
    )
    def test_each_transition_writes_exactly_one_audit_event(
        self, submit, supervisor, agent, call, verb
    ):
        action = submit(12000)
        before = AuditEvent.objects.count()

        call(action, supervisor, agent)

        assert AuditEvent.objects.count() == before + 1
        event = AuditEvent.objects.order_by("-id").first()
        assert (event.verb, event.object_id) == (verb, str(action.pk))
        assert (event.data["from"], event.data["to"]) == ("pending", verb.split(".")[1])

    def test_execution_writes_one_event_per_transition(self, submit):
        action = submit(5000)
        before = AuditEvent.objects.count()

        services.action_execute(action_id=action.pk)

        assert AuditEvent.objects.count() == before + 2
        assert verbs(action)[-2:] == ["action.execution_started", "action.succeeded"]

    def test_a_failure_after_the_audit_event_rolls_back_the_change_and_the_event(
        self, submit, supervisor, pushes, django_capture_on_commit_callbacks
    ):
        action = submit(12000)
        before = AuditEvent.objects.count()
        real_record = kernel.audit_record

        def record_then_fail(**kwargs):
            real_record(**kwargs)
            raise RuntimeError("the disk filled up")

        with (
            mock.patch("approvals.services.kernel.audit_record", record_then_fail),
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(RuntimeError),
        ):
            services.action_reject(action_id=action.pk, by=supervisor, reason_code="outside-policy")

        action.refresh_from_db()
        assert (action.status, action.version) == (Status.PENDING, 1)
        assert AuditEvent.objects.count() == before
        assert Decision.objects.filter(action=action).count() == 0
        assert pushes == []

    def test_a_failed_submission_leaves_neither_action_nor_event(self, demo, agent):
        before = AuditEvent.objects.count()

        with (
            mock.patch(
                "approvals.services.submission.audit_record", side_effect=RuntimeError("down")
            ),
            pytest.raises(RuntimeError),
        ):
            services.action_submit(
                agent=agent.agent, action_type="refund.issue", params=refund_params(12000)
            )

        assert Action.objects.count() == 0
        assert AuditEvent.objects.count() == before


# ---------------------------------------------------------------------------------------------
# execution and the sweeper


@pytest.mark.django_db
class TestExecute:
    def test_executing_a_pending_action_does_nothing(self, submit):
        action = submit(12000)

        assert services.action_execute(action_id=action.pk) is None

        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    def test_executing_twice_runs_the_executor_once(self, submit):
        action = submit(5000)
        services.action_execute(action_id=action.pk)

        again = services.action_execute(action_id=action.pk)

        assert again is None
        assert verbs(action).count("action.execution_started") == 1

    def test_an_action_type_without_executor_fails_with_no_executor(
        self, submit, supervisor, make_supervisor
    ):
        action = submit(
            action_type="credentials.reset", params={"customer_id": "CUS-001", "channel": "email"}
        )
        # A credential reset needs two approvals from different people, each confirming that it
        # cannot be undone.
        services.action_approve(action_id=action.pk, by=supervisor, confirm_irreversible=True)
        services.action_approve(
            action_id=action.pk, by=make_supervisor("bob"), confirm_irreversible=True
        )

        with executors_swapped(clear=True):
            done = services.action_execute(action_id=action.pk)

        assert done.status == Status.FAILED
        assert done.error["code"] == "no_executor"

    def test_the_sweeper_enqueues_approved_actions_nobody_started(
        self, submit, enqueued, django_capture_on_commit_callbacks
    ):
        action = submit(5000)
        Action.objects.filter(pk=action.pk).update(
            updated_at=action.updated_at - timedelta(minutes=5)
        )

        with django_capture_on_commit_callbacks(execute=True):
            count = services.actions_requeue_stalled(older_than_seconds=60)

        assert count == 1
        assert enqueued == [str(action.pk)]
        assert verbs(action)[-1] == "action.requeued"

    def test_the_sweeper_leaves_fresh_approvals_alone(
        self, submit, enqueued, django_capture_on_commit_callbacks
    ):
        submit(5000)

        with django_capture_on_commit_callbacks(execute=True):
            count = services.actions_requeue_stalled(older_than_seconds=60)

        assert (count, enqueued) == (0, [])
