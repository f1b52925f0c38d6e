"""Approving with changes: editing a pending action, the authority its new params need, 4 eyes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from approvals import services
from approvals.demo import DEMO_RULES
from approvals.models import Action, Decision, Status
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError
from policies.services import policy_publish
from sandbox.models import Refund
from tests.approvals.conftest import refund_params
from tests.approvals.test_api import assert_error

pytestmark = pytest.mark.django_db

API = "/api/v1/actions/"

# The demo policy, plus two rules the edits below run into: refunds over 200.00 need two senior
# supervisors in the Escalations queue, and refunds in EUR are forbidden. Refunds over 500.00
# still escalate, over 50.00 need one supervisor (Refunds queue), up to 50.00 execute.
BIG_REFUND_RULE = {
    "name": "refund-over-200-needs-two-seniors",
    "action_type": "refund.issue",
    "condition": "params.amount > 20000",
    "mode": "execute_gated",
    "approvals_required": 2,
    "approver_role": "senior_supervisor",
    "queue": "Escalations",
    "explanation": "refund {amount} > 200.00 for agent `{agent}`: needs 2 senior approvals",
}
EUR_RULE = {
    "name": "no-eur-refunds",
    "action_type": "refund.issue",
    "condition": 'params.currency == "EUR"',
    "mode": "forbidden",
    "explanation": "agents may not refund in EUR",
}


@pytest.fixture
def policy(demo):
    rules = [EUR_RULE, DEMO_RULES[0], BIG_REFUND_RULE, *DEMO_RULES[1:]]
    return policy_publish(rules=rules, actor=Actor.system("test"))


@pytest.fixture
def pending(policy, submit) -> Action:
    """A 120.00 USD refund waiting for one supervisor, in the Refunds queue."""
    action = submit(12000)
    assert (action.status, action.approvals_required, action.queue) == (
        Status.PENDING,
        1,
        "Refunds",
    )
    return action


@pytest.fixture
def bob(make_supervisor):
    return make_supervisor("bob")


@pytest.fixture
def sam(make_supervisor):
    """A senior supervisor who also works as a supervisor."""
    sam = make_supervisor("sam", role="senior_supervisor")
    sam.groups.add(Group.objects.get(name="supervisor"))
    return sam


@pytest.fixture
def tess(make_supervisor):
    """Another senior supervisor."""
    tess = make_supervisor("tess", role="senior_supervisor")
    tess.groups.add(Group.objects.get(name="supervisor"))
    return tess


def edit(action, by, amount: int = 11000, *, reason_code="amount-corrected", **kwargs) -> Action:
    params = kwargs.pop("params", None) or refund_params(amount)
    return services.action_edit(
        action_id=action.pk, by=by, params=params, reason_code=reason_code, **kwargs
    )


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value


def edited_events(action: Action) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            object_type="action", object_id=str(action.pk), verb="action.edited"
        ).order_by("id")
    )


def assert_unchanged(action: Action) -> None:
    fresh = Action.objects.get(pk=action.pk)
    assert (fresh.status, fresh.version, fresh.final_params, fresh.amount) == (
        Status.PENDING,
        action.version,
        None,
        action.amount,
    )
    assert (fresh.approvals_required, fresh.approver_role, fresh.queue, fresh.rule_name) == (
        action.approvals_required,
        action.approver_role,
        action.queue,
        action.rule_name,
    )
    assert not Decision.objects.filter(action=action).exists()
    assert edited_events(action) == []


# ---------------------------------------------------------------------------------------------
# what an edit needs


class TestRefusedEdits:
    def test_params_that_do_not_match_the_schema_are_refused_field_by_field(
        self, pending, supervisor
    ):
        bad = {**refund_params(11000), "amount": "110.00", "tip": 1}

        error = refusal(lambda: edit(pending, supervisor, params=bad))

        assert (error.status_code, error.code) == (400, "invalid_params")
        paths = [e["path"] for e in error.details["errors"]]
        assert "params['amount']" in paths
        assert any("tip" in e["message"] for e in error.details["errors"])
        assert_unchanged(pending)

    @pytest.mark.parametrize(
        ("reason_code", "code"),
        [(None, "reason_code_required"), ("goodwill", "unknown_reason_code")],
    )
    def test_an_edit_needs_a_reason_code_of_kind_edit(self, pending, supervisor, reason_code, code):
        error = refusal(lambda: edit(pending, supervisor, reason_code=reason_code))

        assert (error.status_code, error.code) == (400, code)
        assert_unchanged(pending)

    @pytest.mark.parametrize(
        ("params", "mode"),
        [(refund_params(60000), "escalate"), (refund_params(11000, currency="EUR"), "forbidden")],
        ids=["escalate", "forbidden"],
    )
    def test_params_the_policy_would_not_let_execute_are_refused_and_nothing_changes(
        self, pending, supervisor, pushes, django_capture_on_commit_callbacks, params, mode
    ):
        with django_capture_on_commit_callbacks(execute=True):
            error = refusal(lambda: edit(pending, supervisor, params=params))

        assert (error.status_code, error.code) == (403, "policy_refuses")
        assert error.details["mode"] == mode
        assert pushes == []
        assert_unchanged(pending)

    def test_a_stale_expected_version_is_refused_with_the_current_one(self, pending, supervisor):
        error = refusal(lambda: edit(pending, supervisor, expected_version=7))

        assert (error.status_code, error.code) == (409, "stale_version")
        assert error.details == {"current_version": 1, "status": "pending"}
        assert_unchanged(pending)

    def test_the_version_the_reviewer_saw_is_accepted(self, pending, supervisor):
        edited = edit(pending, supervisor, expected_version=1)

        assert edited.version == 2

    def test_an_operator_of_the_requesting_agent_cannot_edit_it(self, pending, agent, supervisor):
        agent.agent.operators.add(supervisor)

        error = refusal(lambda: edit(pending, supervisor))

        assert (error.status_code, error.code) == (403, "own_request")
        assert_unchanged(pending)

    def test_an_operator_of_the_requesting_agent_cannot_approve_an_edited_action(
        self, pending, agent, supervisor, bob
    ):
        edit(pending, supervisor)
        agent.agent.operators.add(bob)

        error = refusal(lambda: services.action_approve(action_id=pending.pk, by=bob))

        assert (error.status_code, error.code) == (403, "own_request")
        assert Action.objects.get(pk=pending.pk).status == Status.PENDING

    def test_someone_without_the_role_the_new_params_need_cannot_make_the_edit(
        self, pending, supervisor
    ):
        error = refusal(lambda: edit(pending, supervisor, 30000))

        assert (error.status_code, error.code) == (403, "missing_role")
        assert error.details == {"role": "senior_supervisor"}
        assert_unchanged(pending)

    def test_an_action_that_no_longer_waits_cannot_be_edited(self, pending, supervisor):
        services.action_approve(action_id=pending.pk, by=supervisor)

        error = refusal(lambda: edit(pending, supervisor))

        assert (error.status_code, error.code) == (409, "not_a_draft")


# ---------------------------------------------------------------------------------------------
# what an edit changes


class TestEdit:
    def test_an_edit_keeps_the_agents_params_and_waits_with_the_editors_approval(
        self, pending, supervisor, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            edited = edit(pending, supervisor, 11000, note="customer asked for less")

        fresh = Action.objects.get(pk=pending.pk)
        assert (fresh.params, fresh.final_params) == (refund_params(12000), refund_params(11000))
        assert (fresh.status, fresh.version, fresh.amount) == (Status.PENDING, 2, 11000)
        assert edited.effective_params == refund_params(11000)
        decisions = Decision.objects.filter(action=pending).order_by("id")
        assert [(d.kind, d.by, d.action_version) for d in decisions] == [
            ("edit", supervisor, 1),
            ("approve", supervisor, 1),
        ]
        assert decisions[0].reason_code.code == "amount-corrected"
        assert [(p["status"], p["version"]) for p in pushes] == [("pending", 2)]
        assert enqueued == []

    def test_the_edit_is_audited_with_before_after_reason_and_authority(self, pending, supervisor):
        edit(pending, supervisor, 11000, note="customer asked for less")

        (event,) = edited_events(pending)
        assert (event.actor_kind, event.actor_id) == ("user", str(supervisor.pk))
        assert event.data["before"] == refund_params(12000)
        assert event.data["after"] == refund_params(11000)
        assert (event.data["reason_code"], event.data["note"]) == (
            "amount-corrected",
            "customer asked for less",
        )
        assert event.data["authority"] == {
            "mode": "execute_gated",
            "rule": "refund-over-50-needs-approval",
            "policy_version": Action.objects.get(pk=pending.pk).policy_version.number,
            "approvals_required": 1,
            "approver_role": "supervisor",
            "queue": "Refunds",
        }
        assert (event.data["approvals"], event.data["required"]) == (1, 1)

    def test_an_edit_that_raises_the_stakes_takes_the_authority_the_new_params_need(
        self, pending, sam
    ):
        edit(pending, sam, 30000)

        fresh = Action.objects.get(pk=pending.pk)
        assert (fresh.status, fresh.approvals_required, fresh.approver_role, fresh.queue) == (
            Status.PENDING,
            2,
            "senior_supervisor",
            "Escalations",
        )
        assert fresh.rule_name == "refund-over-200-needs-two-seniors"
        assert fresh.explanation == (
            "refund 300.00 USD > 200.00 for agent `support-bot`: needs 2 senior approvals"
        )
        assert fresh.params == refund_params(12000)
        assert fresh.amount == 30000

    def test_an_edit_that_lowers_the_stakes_keeps_the_authority_it_had(self, pending, supervisor):
        edit(pending, supervisor, 3000)

        fresh = Action.objects.get(pk=pending.pk)
        assert (fresh.status, fresh.approvals_required, fresh.approver_role, fresh.queue) == (
            Status.PENDING,
            1,
            "supervisor",
            "Refunds",
        )
        assert fresh.rule_name == "small-refund-executes"
        assert fresh.explanation.endswith("edited while pending: needs 1 approval(s)")

    def test_an_edit_under_a_rule_that_needs_nobody_keeps_the_role_and_queue(
        self, policy, submit, sam
    ):
        action = submit(30000)  # two seniors, Escalations queue

        edit(action, sam, 3000)

        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.approvals_required, fresh.approver_role, fresh.queue) == (
            2,
            "senior_supervisor",
            "Escalations",
        )

    def test_an_edit_releases_the_editors_claim(self, pending, supervisor):
        services.action_claim(action_id=pending.pk, by=supervisor)

        edit(pending, supervisor)

        fresh = Action.objects.get(pk=pending.pk)
        assert (fresh.claimed_by, fresh.claim_expires_at) == (None, None)

    def test_each_edit_pushes_exactly_once(
        self, pending, supervisor, bob, pushes, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            edit(pending, supervisor, 11000)
        with django_capture_on_commit_callbacks(execute=True):
            edit(pending, bob, 10000)

        assert [(p["status"], p["version"]) for p in pushes] == [("pending", 2), ("pending", 3)]


# ---------------------------------------------------------------------------------------------
# four eyes


class TestFourEyes:
    def test_the_editor_alone_cannot_get_an_edited_action_approved(self, pending, supervisor):
        edit(pending, supervisor)

        error = refusal(lambda: services.action_approve(action_id=pending.pk, by=supervisor))

        assert (error.status_code, error.code) == (409, "already_approved")
        assert Action.objects.get(pk=pending.pk).status == Status.PENDING

    def test_a_second_person_approves_and_the_edited_params_execute(
        self, pending, supervisor, bob, enqueued, django_capture_on_commit_callbacks
    ):
        edit(pending, supervisor, 11000)

        with django_capture_on_commit_callbacks(execute=True):
            approved = services.action_approve(action_id=pending.pk, by=bob)

        assert approved.status == Status.APPROVED
        assert enqueued == [str(pending.pk)]
        services.action_execute(action_id=pending.pk)
        assert Refund.objects.get(action_id=pending.pk).amount == 11000

    def test_an_action_edited_by_two_people_still_needs_a_third_who_edited_nothing(
        self, pending, supervisor, bob, make_supervisor
    ):
        edit(pending, supervisor, 11000)
        edit(pending, bob, 10000)
        assert Action.objects.get(pk=pending.pk).status == Status.PENDING

        services.action_approve(action_id=pending.pk, by=make_supervisor("carol"))

        assert Action.objects.get(pk=pending.pk).status == Status.APPROVED

    def test_a_two_approval_edit_needs_another_senior_after_the_editor(self, pending, sam, tess):
        edit(pending, sam, 30000)

        approved = services.action_approve(action_id=pending.pk, by=tess)

        assert approved.status == Status.APPROVED

    def test_the_new_role_is_needed_to_approve_the_edited_action(self, pending, sam, bob):
        edit(pending, sam, 30000)

        error = refusal(lambda: services.action_approve(action_id=pending.pk, by=bob))

        assert (error.status_code, error.code) == (403, "missing_role")

    def test_who_approved_before_an_edit_cannot_approve_the_new_params_another_must(
        self, policy, submit, sam, tess, make_supervisor
    ):
        action = submit(25000)  # two seniors
        services.action_approve(action_id=action.pk, by=sam)
        edit(action, tess, 24000)

        refused = refusal(lambda: services.action_approve(action_id=action.pk, by=sam))
        assert refused.code == "already_approved"
        uma = make_supervisor("uma", role="senior_supervisor")
        assert services.action_approve(action_id=action.pk, by=uma).status == Status.APPROVED

    def test_an_editor_who_had_approved_is_not_recorded_twice(self, policy, submit, sam, tess):
        action = submit(25000)
        services.action_approve(action_id=action.pk, by=sam)

        edit(action, sam, 24000)

        assert Decision.objects.filter(action=action, kind="approve").count() == 1
        assert services.action_approve(action_id=action.pk, by=tess).status == Status.APPROVED


# ---------------------------------------------------------------------------------------------
# the API


class TestEditThroughTheApi:
    def test_editing_a_pending_action_answers_it_waiting_with_the_new_params(
        self, pending, csrf_client
    ):
        response = csrf_client.post(
            f"{API}{pending.pk}/edit/",
            {"params": refund_params(11000), "reason_code": "amount-corrected",
             "expected_version": 1},
            format="json",
        )  # fmt: skip

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["version"]) == ("pending", 2)
        assert body["params"] == refund_params(12000)
        assert body["final_params"] == body["effective_params"] == refund_params(11000)
        assert [(a["by"], a["kind"]) for a in body["approvals"]] == [
            ("alice", "edit"),
            ("alice", "approve"),
        ]
        assert body["decision"]["rule"] == "refund-over-50-needs-approval"

    def test_schema_invalid_params_are_400_with_the_field_errors(self, pending, csrf_client):
        response = csrf_client.post(
            f"{API}{pending.pk}/edit/",
            {"params": {"order_id": "ORD-1001"}, "reason_code": "amount-corrected"},
            format="json",
        )

        error = assert_error(response, 400, "invalid_params")
        assert error["details"]["errors"]
        assert_unchanged(pending)

    def test_an_edit_without_a_reason_code_is_400(self, pending, csrf_client):
        response = csrf_client.post(
            f"{API}{pending.pk}/edit/", {"params": refund_params(11000)}, format="json"
        )

        assert_error(response, 400, "reason_code_required")

    def test_params_the_policy_refuses_are_403_policy_refuses(self, pending, csrf_client):
        response = csrf_client.post(
            f"{API}{pending.pk}/edit/",
            {"params": refund_params(60000), "reason_code": "amount-corrected"},
            format="json",
        )

        error = assert_error(response, 403, "policy_refuses")
        assert error["details"]["mode"] == "escalate"
        assert_unchanged(pending)

    def test_a_stale_version_is_409_with_the_current_one(self, pending, csrf_client):
        response = csrf_client.post(
            f"{API}{pending.pk}/edit/",
            {"params": refund_params(11000), "reason_code": "amount-corrected",
             "expected_version": 3},
            format="json",
        )  # fmt: skip

        error = assert_error(response, 409, "stale_version")
        assert error["details"] == {"current_version": 1, "status": "pending"}

    def test_the_editor_approving_again_is_409_already_approved(self, pending, csrf_client):
        csrf_client.post(
            f"{API}{pending.pk}/edit/",
            {"params": refund_params(11000), "reason_code": "amount-corrected"},
            format="json",
        )

        response = csrf_client.post(f"{API}{pending.pk}/approve/", {}, format="json")

        assert_error(response, 409, "already_approved")

    def test_an_agent_cannot_edit(self, pending, agent):
        response = agent.client().post(
            f"{API}{pending.pk}/edit/",
            {"params": refund_params(11000), "reason_code": "amount-corrected"},
            format="json",
        )

        assert_error(response, 403, "forbidden")
        assert_unchanged(pending)
