"""Rolling back a succeeded action: who may, when, why, and the compensation that restores the
sandbox, run by the service directly and by a real Celery worker."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client

from approvals import services, tasks
from approvals.handoff import Source
from approvals.models import Action, Decision, DecisionKind, Status
from approvals.services import kernel
from audit.selectors import audit_events_for
from config.errors import Conflict, Forbidden, InvalidInput, NotFound
from escalations.models import Escalation
from execution import ExecutionFailed, FunctionExecutor, executor_for
from sandbox.models import Customer, Order, Ticket
from sandbox.services import refundable_amount
from tests.approvals.conftest import refund_params
from tests.conftest import wait_until
from tests.execution.swap import executors_swapped

pytestmark = pytest.mark.django_db


def sandbox_state() -> dict:
    """Everything a built-in executor can change, in one comparable value."""
    orders = Order.objects.order_by("order_id")
    return {
        "orders": [
            (o.order_id, o.status, o.cancelled_at, o.shipping_address, refundable_amount(o),
             o.discounts.filter(removed_at__isnull=True).count())
            for o in orders
        ],
        "preferences": list(
            Customer.objects.order_by("external_id").values_list("external_id", "preferences")
        ),
        "open_tickets": Ticket.objects.filter(status=Ticket.Status.OPEN).count(),
    }  # fmt: skip


COMPENSABLE = {
    "refund.issue": refund_params(12000),
    "order.cancel": {"order_id": "ORD-1002", "reason": "customer changed their mind"},
    "address.change": {
        "order_id": "ORD-1003",
        "address": {"line1": "9 Elm Street", "city": "Shelbyville"},
    },
    "discount.apply": {
        "order_id": "ORD-1004",
        "amount": 1500,
        "currency": "USD",
        "reason": "late delivery",
    },
    "ticket.create": {"customer_id": "CUS-005", "subject": "Parcel is late", "priority": "high"},
    "preference.update": {"customer_id": "CUS-006", "preferences": {"marketing_emails": False}},
}


@pytest.fixture
def executed(submit, supervisor, make_supervisor):
    """executed(action_type, params) -> an action that ran through its executor and succeeded."""

    def make(action_type: str = "refund.issue", params: dict | None = None) -> Action:
        action = submit(action_type=action_type, params=params or COMPENSABLE[action_type])
        if action.status == Status.PENDING:
            # A type nothing can undo is approved only with that confirmed.
            confirm = {"confirm_irreversible": action_type == "credentials.reset"}
            services.action_approve(action_id=action.pk, by=supervisor, **confirm)
            if Action.objects.get(pk=action.pk).status == Status.PENDING:
                services.action_approve(
                    action_id=action.pk, by=make_supervisor("second"), **confirm
                )
        services.action_execute(action_id=action.pk)
        action = Action.objects.get(pk=action.pk)
        assert action.status == Status.SUCCEEDED, action.error
        return action

    return make


@pytest.fixture
def compensations():
    """Ids of the actions whose compensation was sent to Celery, in order."""
    with mock.patch("approvals.services.kernel.current_app") as app:
        sent: list[str] = []

        def send_task(name, kwargs):
            assert name == kernel.COMPENSATE_TASK
            sent.append(kwargs["action_id"])

        app.send_task.side_effect = send_task
        yield sent


def rollback(action, by, reason_code: str | None = "executed-in-error", **kwargs) -> Action:
    return services.action_rollback(action_id=action.pk, by=by, reason_code=reason_code, **kwargs)


class TestRequestingARollback:
    def test_a_rollback_records_the_decision_moves_to_rolling_back_and_enqueues_once(
        self, executed, supervisor, compensations, pushes, django_capture_on_commit_callbacks
    ):
        action = executed()
        pushes.clear()

        with django_capture_on_commit_callbacks(execute=True):
            rollback(action, supervisor, note="wrong order")

        action.refresh_from_db()
        assert action.status == Status.ROLLING_BACK
        decision = Decision.objects.get(action=action, kind=DecisionKind.ROLLBACK)
        assert (decision.by, decision.reason_code.code, decision.note) == (
            supervisor, "executed-in-error", "wrong order",
        )  # fmt: skip
        assert compensations == [str(action.pk)]
        assert [p["status"] for p in pushes] == ["rolling_back"]
        event = list(audit_events_for(object_type="action", object_id=str(action.pk)))[-1]
        assert event.verb == "action.rollback_requested"
        assert event.data["reason_code"] == "executed-in-error"

    def test_an_action_that_did_not_succeed_cannot_be_rolled_back(self, submit, supervisor):
        action = submit(12000)  # pending

        with pytest.raises(Conflict) as refused:
            rollback(action, supervisor)

        assert (refused.value.status_code, refused.value.code) == (409, "illegal_transition")
        assert "pending cannot become rolling_back" in refused.value.message

    def test_a_rollback_outside_the_window_is_refused_with_the_deadline(
        self, executed, supervisor, frozen_clock
    ):
        action = executed()  # refund.issue: a 7-day window
        finished = Action.objects.get(pk=action.pk).finished_at
        frozen_clock.shift(timedelta(days=7, seconds=1))

        with pytest.raises(services.RollbackWindowClosed) as refused:
            rollback(action, supervisor)

        assert (refused.value.status_code, refused.value.code) == (409, "rollback_window_closed")
        assert refused.value.details["deadline"] == (finished + timedelta(days=7)).isoformat()
        assert Action.objects.get(pk=action.pk).status == Status.SUCCEEDED

    def test_a_rollback_just_inside_the_window_is_accepted(
        self, executed, supervisor, frozen_clock
    ):
        action = executed()
        frozen_clock.shift(timedelta(days=7) - timedelta(minutes=1))

        assert rollback(action, supervisor).status == Status.ROLLING_BACK

    def test_a_rollback_needs_a_reason_code(self, executed, supervisor):
        action = executed()

        with pytest.raises(InvalidInput) as refused:
            rollback(action, supervisor, reason_code=None)

        assert refused.value.code == "reason_code_required"

    def test_a_reason_code_of_another_kind_is_refused(self, executed, supervisor):
        action = executed()

        with pytest.raises(InvalidInput) as refused:
            rollback(action, supervisor, reason_code="verified-eligible")

        assert refused.value.code == "unknown_reason_code"

    def test_someone_without_a_deciding_role_is_refused(self, executed, make_supervisor):
        action = executed()
        reviewer = make_supervisor("quinn", role="qa_reviewer")

        with pytest.raises(Forbidden) as refused:
            rollback(action, reviewer)

        assert (refused.value.status_code, refused.value.code) == (403, "missing_role")

    def test_a_senior_supervisor_may_roll_back(self, executed, make_supervisor):
        action = executed()

        assert rollback(action, make_supervisor("sam", role="senior_supervisor")).status == (
            Status.ROLLING_BACK
        )

    def test_an_action_of_another_queue_is_not_found(self, executed, make_supervisor):
        action = executed()  # the Refunds queue
        outsider = make_supervisor("olga", queues=["Account security"])

        with pytest.raises(NotFound) as refused:
            rollback(action, outsider)

        assert (refused.value.status_code, refused.value.code) == (404, "action_not_found")

    def test_a_credentials_reset_cannot_be_undone(self, executed, supervisor):
        action = executed("credentials.reset", {"customer_id": "CUS-001"})

        with pytest.raises(services.NotCompensable) as refused:
            rollback(action, supervisor)

        assert (refused.value.status_code, refused.value.code) == (409, "not_compensable")
        assert "cannot be undone" in refused.value.message
        assert not executor_for("credentials.reset").compensable
        assert Action.objects.get(pk=action.pk).status == Status.SUCCEEDED

    def test_a_rolled_back_action_cannot_be_rolled_back_again(self, executed, supervisor):
        action = executed()
        rollback(action, supervisor)
        services.action_compensate(action_id=action.pk)

        with pytest.raises(Conflict) as refused:
            rollback(action, supervisor)

        assert refused.value.code == "illegal_transition"


class TestCompensating:
    @pytest.mark.parametrize("action_type", sorted(COMPENSABLE))
    def test_rollback_of_each_built_in_action_type_restores_the_sandbox_state(
        self, demo, executed, supervisor, action_type
    ):
        before = sandbox_state()
        action = executed(action_type)
        assert sandbox_state() != before

        rollback(action, supervisor)
        services.action_compensate(action_id=action.pk)

        action.refresh_from_db()
        assert action.status == Status.ROLLED_BACK
        assert "rollback" in action.result
        assert sandbox_state() == before

    def test_compensating_twice_compensates_once(self, executed, supervisor):
        action = executed()
        rollback(action, supervisor)
        services.action_compensate(action_id=action.pk)

        assert services.action_compensate(action_id=action.pk) is None
        events = [e.verb for e in audit_events_for(object_type="action", object_id=str(action.pk))]
        assert events.count("action.rolled_back") == 1

    def test_compensating_an_action_not_rolling_back_does_nothing(self, executed):
        action = executed()

        assert services.action_compensate(action_id=action.pk) is None
        assert Action.objects.get(pk=action.pk).status == Status.SUCCEEDED

    def test_a_refused_compensation_ends_rollback_failed_with_the_error(self, executed, supervisor):
        action = executed()
        rollback(action, supervisor)

        def refuse(action):
            raise ExecutionFailed("ledger closed")

        refusing = FunctionExecutor(lambda a: {}, refuse)

        with executors_swapped({"refund.issue": refusing}):
            services.action_compensate(action_id=action.pk)

        action.refresh_from_db()
        assert action.status == Status.ROLLBACK_FAILED
        assert (action.error["code"], action.error["message"]) == (
            "execution_failed", "ledger closed",
        )  # fmt: skip
        case = Escalation.objects.get(action=action)
        assert (case.source, "ledger closed" in case.reason) == (Source.ROLLBACK, True)
        verbs = [e.verb for e in audit_events_for(object_type="action", object_id=str(action.pk))]
        assert verbs[-1] == "action.rollback_failed"


class Flaky:
    """A compensation that fails transiently `failures` times, then runs the real one."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self.real = executor_for("refund.issue")

    def __call__(self, action):
        self.calls += 1
        if self.calls <= self.failures:
            raise ExecutionFailed("ledger timed out", transient=True)
        return self.real.compensate(action)


def run_compensate_task(action, flaky: Flaky) -> None:
    executor = FunctionExecutor(lambda a: {}, flaky)
    with executors_swapped({"refund.issue": executor}):
        tasks.compensate_action.apply(kwargs={"action_id": str(action.pk)})


class TestTransientCompensationFailures:
    def test_transient_failures_are_retried_until_the_compensation_succeeds(
        self, executed, supervisor
    ):
        action = executed()
        rollback(action, supervisor)
        flaky = Flaky(failures=2)

        run_compensate_task(action, flaky)

        action.refresh_from_db()
        assert (flaky.calls, action.status) == (3, Status.ROLLED_BACK)
        assert refundable_amount(Order.objects.get(order_id="ORD-1001")) == 25000

    def test_a_compensation_that_keeps_failing_ends_rollback_failed_after_five_tries(
        self, executed, supervisor
    ):
        action = executed()
        rollback(action, supervisor)
        flaky = Flaky(failures=99)

        run_compensate_task(action, flaky)

        action.refresh_from_db()
        assert flaky.calls == tasks.COMPENSATE_TRIES == 5
        assert action.status == Status.ROLLBACK_FAILED
        assert action.error["message"] == "ledger timed out"


class TestRollbackApi:
    def test_a_person_rolls_back_through_the_api(self, executed, csrf_client):
        action = executed()

        response = csrf_client.post(
            f"/api/v1/actions/{action.pk}/rollback/",
            {"reason_code": "customer-request", "note": "asked by phone"},
            format="json",
        )

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "rolling_back"

    def test_the_api_refuses_a_rollback_without_a_reason_code(self, executed, csrf_client):
        action = executed()

        response = csrf_client.post(f"/api/v1/actions/{action.pk}/rollback/", {}, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "reason_code_required"

    def test_the_api_says_why_a_credentials_reset_cannot_be_rolled_back(
        self, executed, csrf_client
    ):
        action = executed("credentials.reset", {"customer_id": "CUS-001"})

        response = csrf_client.post(
            f"/api/v1/actions/{action.pk}/rollback/",
            {"reason_code": "executed-in-error"},
            format="json",
        )

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_compensable"
        assert "cannot be undone" in response.json()["error"]["message"]

    def test_agents_cannot_roll_back(self, executed, agent):
        action = executed()

        response = agent.client().post(
            f"/api/v1/actions/{action.pk}/rollback/",
            {"reason_code": "executed-in-error"},
            format="json",
        )

        assert response.status_code == 403


def browser_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


class TestRollbackOnTheActionPage:
    def test_a_succeeded_action_shows_the_roll_back_form_with_rollback_codes(
        self, executed, supervisor
    ):
        action = executed()

        page = browser_for(supervisor).get(f"/actions/{action.pk}/").content.decode()

        assert 'id="decide-rollback"' in page
        assert 'value="customer-request"' in page
        assert 'value="verified-eligible"' not in page.split('id="decide-rollback"')[1][:1500]

    def test_the_form_rolls_the_action_back(self, executed, supervisor):
        action = executed()
        client = browser_for(supervisor)

        response = client.post(
            f"/actions/{action.pk}/page/decide/rollback/",
            {"reason_code": "executed-in-error", "expected_version": action.version},
            HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
            HTTP_HX_REQUEST="true",
        )

        assert response.status_code == 200
        assert Action.objects.get(pk=action.pk).status == Status.ROLLING_BACK

    def test_a_credentials_reset_says_it_cannot_be_undone_instead(self, executed, supervisor):
        action = executed("credentials.reset", {"customer_id": "CUS-001"})

        page = browser_for(supervisor).get(f"/actions/{action.pk}/").content.decode()

        assert 'id="decide-rollback"' not in page
        assert 'id="rollback-notice"' in page
        assert "cannot be undone" in page

    def test_the_lineage_tells_who_asked_for_the_rollback_and_how_it_ended(
        self, executed, supervisor
    ):
        action = executed()
        rollback(action, supervisor, reason_code="customer-request")
        services.action_compensate(action_id=action.pk)

        page = browser_for(supervisor).get(f"/actions/{action.pk}/").content.decode()

        assert "asked to roll it back" in page
        assert "rolled it back" in page
        assert 'data-verb="action.rolled_back"' in page
        assert 'id="decide-rollback"' not in page

    def test_an_action_past_its_window_shows_no_form(self, executed, supervisor, frozen_clock):
        action = executed()
        frozen_clock.shift(timedelta(days=8))

        page = browser_for(supervisor).get(f"/actions/{action.pk}/").content.decode()

        assert 'id="decide-rollback"' not in page
        assert "rollback window" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_rolls_back_a_refund_and_the_ledger_is_restored(
    demo, agent, supervisor_client, celery_worker_process
):
    # Arrange: a 120.00 refund, approved through the API, executed by the worker
    submitted = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue", "params": refund_params(12000)},
        format="json",
    )
    action_id = submitted.json()["id"]
    supervisor_client.get("/accounts/login/")
    supervisor_client.credentials(HTTP_X_CSRFTOKEN=supervisor_client.cookies["csrftoken"].value)
    approved = supervisor_client.post(
        f"/api/v1/actions/{action_id}/approve/", {"reason_code": "verified-eligible"},
        format="json",
    )  # fmt: skip
    assert approved.status_code == 200, approved.content
    wait_until(lambda: Action.objects.filter(pk=action_id, status=Status.SUCCEEDED).exists())
    assert refundable_amount(Order.objects.get(order_id="ORD-1001")) == 13000

    # Act: a supervisor rolls it back through the API
    rolled = supervisor_client.post(
        f"/api/v1/actions/{action_id}/rollback/", {"reason_code": "executed-in-error"},
        format="json",
    )  # fmt: skip
    assert rolled.status_code == 200, rolled.content

    # Assert: the worker ran the compensation; the refund is reversed, the balance restored
    action = wait_until(
        lambda: Action.objects.filter(pk=action_id, status=Status.ROLLED_BACK).first()
    )
    assert action.result["rollback"]["amount"] == 12000
    assert refundable_amount(Order.objects.get(order_id="ORD-1001")) == 25000


class TestSweepingStalledRollbacks:
    def test_the_sweeper_enqueues_again_a_rollback_whose_task_was_lost(
        self, executed, supervisor, compensations, django_capture_on_commit_callbacks, frozen_clock
    ):
        # Arrange: a rollback was requested, but its task never reached a worker
        action = executed()
        rollback(action, supervisor)
        compensations.clear()
        frozen_clock.shift(timedelta(minutes=10))

        # Act
        with django_capture_on_commit_callbacks(execute=True):
            swept = services.actions_requeue_stalled(older_than_seconds=60)

        # Assert: its compensation is enqueued again, once, and the sweep is audited
        assert swept == 1
        assert compensations == [str(action.pk)]
        assert Action.objects.get(pk=action.pk).status == Status.ROLLING_BACK

    def test_a_recent_rollback_is_left_to_its_own_task(
        self, executed, supervisor, compensations, django_capture_on_commit_callbacks
    ):
        action = executed()
        rollback(action, supervisor)
        compensations.clear()

        with django_capture_on_commit_callbacks(execute=True):
            swept = services.actions_requeue_stalled(older_than_seconds=60)

        assert (swept, compensations) == (0, [])


class TestApprovingWhatCannotBeUndone:
    def test_approving_a_credentials_reset_needs_the_approver_to_confirm_it(
        self, submit, supervisor
    ):
        action = submit(action_type="credentials.reset", params={"customer_id": "CUS-001"})

        with pytest.raises(InvalidInput) as refused:
            services.action_approve(action_id=action.pk, by=supervisor)

        assert refused.value.code == "confirmation_required"
        assert "cannot be undone" in refused.value.message
        assert not Decision.objects.filter(action=action).exists()
        services.action_approve(action_id=action.pk, by=supervisor, confirm_irreversible=True)
        assert Decision.objects.filter(action=action, kind=DecisionKind.APPROVE).count() == 1

    def test_an_action_that_can_be_undone_needs_no_confirmation(self, submit, supervisor):
        action = submit(12000)

        services.action_approve(action_id=action.pk, by=supervisor)

        assert Action.objects.get(pk=action.pk).status == Status.APPROVED

    def test_the_queue_row_and_the_action_page_ask_for_the_tick(self, submit, supervisor):
        reset = submit(action_type="credentials.reset", params={"customer_id": "CUS-001"})
        refund = submit(12000)
        client = browser_for(supervisor)

        queue = client.get("/").content.decode()
        page = client.get(f"/actions/{reset.pk}/").content.decode()
        refund_page = client.get(f"/actions/{refund.pk}/").content.decode()

        row = queue[queue.index(f'id="action-{reset.pk}"') :]
        row = row[: row.index("</tr>")]
        assert 'name="confirm_irreversible" required' in row
        assert 'name="confirm_irreversible" required' in page
        assert "confirm_irreversible" not in refund_page

    def test_the_dashboard_approves_with_the_tick(self, submit, supervisor, make_supervisor):
        action = submit(action_type="credentials.reset", params={"customer_id": "CUS-001"})
        client = browser_for(supervisor)

        headers = {
            "HTTP_HX_REQUEST": "true",
            "HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value,
        }

        refused = client.post(f"/actions/{action.pk}/approve/", {}, **headers)
        ticked = client.post(
            f"/actions/{action.pk}/approve/", {"confirm_irreversible": "on"}, **headers
        )

        assert refused.status_code == 400
        assert "cannot be undone" in refused.content.decode()
        assert ticked.status_code == 200
        assert Decision.objects.filter(action=action, kind=DecisionKind.APPROVE).count() == 1
