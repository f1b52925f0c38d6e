"""Claims: who reviews an action now, until when, and what a live claim keeps others from doing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from approvals import services
from approvals.models import Action, Status
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError
from policies.services import policy_publish
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db


def events(action: Action, verb: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            object_type="action", object_id=str(action.pk), verb=verb
        ).order_by("id")
    )


CLAIM = timedelta(seconds=settings.COUNTERSIGN["CLAIM_SECONDS"])


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value


def let_claims_run_out(clock) -> None:
    """Move the frozen clock past the length of a claim taken now."""
    clock.shift(CLAIM + timedelta(seconds=1))


@pytest.fixture
def bob(make_supervisor):
    return make_supervisor("bob")


@pytest.fixture
def senior(make_supervisor):
    return make_supervisor("sam", role="senior_supervisor")


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
                "queue": "Refunds",
            }
        ],
        actor=Actor.system("test"),
    )


# ---------------------------------------------------------------------------------------------
# claim


class TestClaim:
    def test_a_claim_sets_holder_and_expiry_pushes_once_and_is_audited(
        self, submit, supervisor, pushes, django_capture_on_commit_callbacks, frozen_clock
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            services.action_claim(action_id=action.pk, by=supervisor)

        fresh = Action.objects.get(pk=action.pk)
        assert fresh.claimed_by == supervisor
        assert fresh.claimed_at == timezone.now()
        assert fresh.claim_expires_at == timezone.now() + CLAIM
        assert len(pushes) == 1
        (event,) = events(action, "action.claimed")
        assert (event.actor_kind, event.data["expires_at"]) == (
            "user",
            fresh.claim_expires_at.isoformat(),
        )

    def test_a_claim_leaves_the_decision_version_alone(self, submit, supervisor):
        action = submit(12000)

        services.action_claim(action_id=action.pk, by=supervisor)
        services.action_release(action_id=action.pk, by=supervisor)

        assert Action.objects.get(pk=action.pk).version == action.version

    def test_claiming_again_renews_without_a_new_audit_event(
        self, submit, supervisor, pushes, django_capture_on_commit_callbacks, frozen_clock
    ):
        # Arrange: a claim five seconds from running out
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)
        first = Action.objects.get(pk=action.pk)
        frozen_clock.shift(CLAIM - timedelta(seconds=5))

        # Act
        with django_capture_on_commit_callbacks(execute=True):
            services.action_claim(action_id=action.pk, by=supervisor)

        # Assert: the same claim, running for a full period from now
        renewed = Action.objects.get(pk=action.pk)
        assert renewed.claimed_at == first.claimed_at
        assert renewed.claim_expires_at == timezone.now() + CLAIM
        assert len(events(action, "action.claimed")) == 1
        assert len(pushes) == 1
        assert renewed.version == action.version

    def test_someone_elses_live_claim_is_refused_with_who_and_until_when(
        self, submit, supervisor, bob
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)
        held = Action.objects.get(pk=action.pk)

        error = refusal(lambda: services.action_claim(action_id=action.pk, by=bob))

        assert (error.status_code, error.code) == (409, "claimed_by_other")
        assert error.details == {
            "claimed_by": "alice",
            "claim_expires_at": held.claim_expires_at.isoformat(),
        }
        assert Action.objects.get(pk=action.pk).claimed_by == supervisor

    def test_an_expired_claim_is_no_claim(self, submit, supervisor, bob, frozen_clock):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)
        let_claims_run_out(frozen_clock)

        services.action_claim(action_id=action.pk, by=bob)

        assert Action.objects.get(pk=action.pk).claimed_by == bob
        assert len(events(action, "action.claimed")) == 2

    def test_an_action_that_no_longer_waits_cannot_be_claimed(self, submit, supervisor):
        action = submit(12000)
        services.action_approve(action_id=action.pk, by=supervisor)

        error = refusal(lambda: services.action_claim(action_id=action.pk, by=supervisor))

        assert (error.status_code, error.code) == (409, "not_awaiting")

    def test_someone_who_could_not_decide_the_action_cannot_claim_it(self, submit, make_supervisor):
        action = submit(12000)
        qa = make_supervisor("quinn", role="qa_reviewer")

        error = refusal(lambda: services.action_claim(action_id=action.pk, by=qa))

        assert (error.status_code, error.code) == (403, "missing_role")
        assert Action.objects.get(pk=action.pk).claimed_by is None

    def test_an_operator_of_the_requesting_agent_cannot_claim_its_action(
        self, submit, agent, supervisor
    ):
        action = submit(12000)
        agent.agent.operators.add(supervisor)

        error = refusal(lambda: services.action_claim(action_id=action.pk, by=supervisor))

        assert (error.status_code, error.code) == (403, "own_request")

    def test_an_action_outside_ones_queues_is_not_found(self, submit, make_supervisor):
        action = submit(12000)
        outsider = make_supervisor("olga", queues=["Account security"])

        error = refusal(lambda: services.action_claim(action_id=action.pk, by=outsider))

        assert (error.status_code, error.code) == (404, "action_not_found")


# ---------------------------------------------------------------------------------------------
# takeover


class TestTakeover:
    def test_a_senior_supervisor_takes_over_with_a_reason(
        self, submit, supervisor, senior, pushes, django_capture_on_commit_callbacks
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        with django_capture_on_commit_callbacks(execute=True):
            services.action_claim(
                action_id=action.pk, by=senior, takeover_reason="alice is off shift"
            )

        assert Action.objects.get(pk=action.pk).claimed_by == senior
        assert len(pushes) == 1
        (event,) = events(action, "action.claim_taken_over")
        assert (event.data["previous"], event.data["reason"]) == ("alice", "alice is off shift")

    def test_a_plain_supervisor_cannot_take_over(self, submit, supervisor, bob):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        error = refusal(
            lambda: services.action_claim(action_id=action.pk, by=bob, takeover_reason="mine now")
        )

        assert (error.status_code, error.code) == (403, "takeover_needs_senior")
        assert Action.objects.get(pk=action.pk).claimed_by == supervisor

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_a_takeover_without_a_reason_is_refused(self, submit, supervisor, senior, reason):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        error = refusal(
            lambda: services.action_claim(action_id=action.pk, by=senior, takeover_reason=reason)
        )

        assert (error.status_code, error.code) == (409, "claimed_by_other")
        assert Action.objects.get(pk=action.pk).claimed_by == supervisor
        assert events(action, "action.claim_taken_over") == []


# ---------------------------------------------------------------------------------------------
# release


class TestRelease:
    def test_releasing_ones_claim_clears_it_pushes_and_is_audited(
        self, submit, supervisor, pushes, django_capture_on_commit_callbacks
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        with django_capture_on_commit_callbacks(execute=True):
            services.action_release(action_id=action.pk, by=supervisor)

        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.claimed_by, fresh.claimed_at, fresh.claim_expires_at) == (None, None, None)
        assert len(pushes) == 1
        (event,) = events(action, "action.released")
        assert event.actor_kind == "user"

    def test_releasing_when_nobody_holds_it_changes_nothing(
        self, submit, supervisor, pushes, django_capture_on_commit_callbacks
    ):
        action = submit(12000)

        with django_capture_on_commit_callbacks(execute=True):
            services.action_release(action_id=action.pk, by=supervisor)

        assert pushes == []
        assert events(action, "action.released") == []

    def test_a_release_of_a_claim_renewed_since_keeps_it(self, submit, supervisor):
        action = submit(12000)
        seen = services.action_claim(action_id=action.pk, by=supervisor).claim_expires_at
        renewed = services.action_claim(action_id=action.pk, by=supervisor).claim_expires_at

        services.action_release(action_id=action.pk, by=supervisor, if_expires_at=seen)

        assert Action.objects.get(pk=action.pk).claim_expires_at == renewed > seen

    def test_a_release_of_the_claim_as_it_was_read_frees_it(self, submit, supervisor):
        action = submit(12000)
        seen = services.action_claim(action_id=action.pk, by=supervisor).claim_expires_at

        services.action_release(action_id=action.pk, by=supervisor, if_expires_at=seen)

        assert Action.objects.get(pk=action.pk).claimed_by is None

    def test_releasing_someone_elses_claim_is_refused(self, submit, supervisor, bob):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        error = refusal(lambda: services.action_release(action_id=action.pk, by=bob))

        assert (error.status_code, error.code) == (409, "claimed_by_other")
        assert Action.objects.get(pk=action.pk).claimed_by == supervisor


# ---------------------------------------------------------------------------------------------
# a live claim and the decisions


class TestClaimAndDecisions:
    @pytest.mark.parametrize(
        "decide",
        [
            lambda pk, by: services.action_approve(action_id=pk, by=by),
            lambda pk, by: services.action_reject(
                action_id=pk, by=by, reason_code="outside-policy"
            ),
            lambda pk, by: services.action_edit(
                action_id=pk, by=by, params=refund_params(11000), reason_code="amount-corrected"
            ),
        ],
        ids=["approve", "reject", "edit"],
    )
    def test_nobody_but_the_holder_decides_while_a_claim_is_live(
        self, submit, supervisor, bob, decide
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        error = refusal(lambda: decide(action.pk, bob))

        assert (error.status_code, error.code) == (409, "claimed_by_other")
        assert error.details["claimed_by"] == "alice"
        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.status, fresh.version, fresh.final_params) == (Status.PENDING, 1, None)

    def test_the_holder_approves_and_the_decision_clears_the_claim(self, submit, supervisor):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        services.action_approve(action_id=action.pk, by=supervisor)

        fresh = Action.objects.get(pk=action.pk)
        assert fresh.status == Status.APPROVED
        assert (fresh.claimed_by, fresh.claim_expires_at) == (None, None)

    def test_an_expired_claim_does_not_hold_a_decision_up(
        self, submit, supervisor, bob, frozen_clock
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)
        let_claims_run_out(frozen_clock)

        services.action_reject(action_id=action.pk, by=bob, reason_code="outside-policy")

        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.status, fresh.claimed_by) == (Status.REJECTED, None)

    def test_the_first_of_two_approvals_releases_the_approvers_claim(
        self, two_approvals, submit, supervisor, bob
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        services.action_approve(action_id=action.pk, by=supervisor)
        services.action_approve(action_id=action.pk, by=bob)

        assert Action.objects.get(pk=action.pk).status == Status.APPROVED

    def test_the_first_of_two_approvals_leaves_the_action_unclaimed(
        self, two_approvals, submit, supervisor
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)

        services.action_approve(action_id=action.pk, by=supervisor)

        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.status, fresh.claimed_by, fresh.claim_expires_at) == (
            Status.PENDING,
            None,
            None,
        )

    def test_adopting_into_a_second_approval_releases_the_adopters_claim(
        self, demo, agent, two_approvals, supervisor, bob
    ):
        recommended = services.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(3000),
            intent="recommend",
        ).action  # fmt: skip
        services.action_claim(action_id=recommended.pk, by=supervisor)

        services.action_adopt(action_id=recommended.pk, by=supervisor)

        fresh = Action.objects.get(pk=recommended.pk)
        assert (fresh.status, fresh.claimed_by) == (Status.PENDING, None)
        services.action_approve(action_id=recommended.pk, by=bob)
        assert Action.objects.get(pk=recommended.pk).status == Status.APPROVED


# ---------------------------------------------------------------------------------------------
# the sweeper


class TestReleaseExpiredClaims:
    def test_only_expired_claims_of_waiting_actions_are_cleared_each_pushed(
        self, submit, supervisor, bob, pushes, django_capture_on_commit_callbacks, frozen_clock
    ):
        expired_a, expired_b, live, decided = (submit(12000) for _ in range(4))
        for action in (expired_a, expired_b):
            services.action_claim(action_id=action.pk, by=supervisor)
        let_claims_run_out(frozen_clock)
        services.action_claim(action_id=live.pk, by=supervisor)
        # A decided action whose claim fields were somehow left behind is not the sweeper's.
        services.action_approve(action_id=decided.pk, by=bob)
        Action.objects.filter(pk=decided.pk).update(
            claimed_by=supervisor, claim_expires_at=timezone.now() - timedelta(seconds=1)
        )

        with django_capture_on_commit_callbacks(execute=True):
            released = services.actions_release_expired_claims()

        assert released == 2
        assert sorted(p["action_id"] for p in pushes) == sorted(
            [str(expired_a.pk), str(expired_b.pk)]
        )
        claims = dict(Action.objects.values_list("pk", "claimed_by"))
        assert claims[expired_a.pk] is None and claims[expired_b.pk] is None
        assert claims[live.pk] == supervisor.pk
        assert claims[decided.pk] == supervisor.pk
        (event,) = events(expired_a, "action.released")
        assert (event.actor_kind, event.data) == (
            "system",
            {"expired": True, "claimed_by": supervisor.pk},
        )

    def test_the_sweeper_runs_on_the_beat_schedule(self):
        tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

        assert "approvals.tasks.release_expired_claims" in tasks


class TestWhenTheDeciderOpenedIt:
    """A decision remembers when its decider opened (claimed) the action: QA counts decisions made
    within seconds of opening as rubber stamps."""

    def test_a_decision_after_a_claim_records_when_the_claim_began(
        self, submit, supervisor, frozen_clock
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=supervisor)
        opened_at = timezone.now()
        frozen_clock.shift(timedelta(seconds=2))

        services.action_approve(action_id=action.pk, by=supervisor)

        assert action.decisions.get().opened_at == opened_at

    def test_a_decision_without_ones_own_claim_records_no_opening(
        self, submit, supervisor, bob, frozen_clock
    ):
        action = submit(12000)
        services.action_claim(action_id=action.pk, by=bob)
        services.action_release(action_id=action.pk, by=bob)

        services.action_reject(action_id=action.pk, by=supervisor, reason_code="duplicate-request")

        assert action.decisions.get().opened_at is None
