"""Deciding many low-risk actions at once: each its own decision, audit event and push."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from approvals import services
from approvals.models import Action, Decision, Status
from approvals.services import batches
from audit.selectors import audit_events_for
from config.errors import InvalidInput

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def verbs(action) -> list[str]:
    events = audit_events_for(object_type="action", object_id=action.pk)
    return list(events.values_list("verb", flat=True))


def outcome_codes(outcomes) -> list[str]:
    return [o.code or "ok" for o in outcomes]


class TestActionsDecideBatch:
    def test_each_action_gets_its_own_decision_audit_event_push_and_enqueue(
        self, submit, supervisor, pushes, enqueued, django_capture_on_commit_callbacks
    ):
        # Arrange
        actions = [submit(6000 + i) for i in range(3)]
        pushes.clear()

        # Act
        with django_capture_on_commit_callbacks(execute=True):
            outcomes = services.actions_decide_batch(
                action_ids=[a.pk for a in actions],
                by=supervisor,
                kind="approve",
                reason_code="verified-eligible",
            )

        # Assert
        assert [o.ok for o in outcomes] == [True, True, True]
        assert [o.action_id for o in outcomes] == [str(a.pk) for a in actions]
        for action in actions:
            action.refresh_from_db()
            assert action.status == Status.APPROVED
            assert verbs(action) == ["action.submitted", "action.approved"]
            decision = Decision.objects.get(action=action)
            assert (decision.kind, decision.by, decision.reason_code.code) == (
                "approve",
                supervisor,
                "verified-eligible",
            )
        assert [p["action_id"] for p in pushes] == [str(a.pk) for a in actions]
        assert enqueued == [str(a.pk) for a in actions]

    def test_a_refused_or_ineligible_row_gets_its_own_error_and_stops_no_other(
        self, submit, supervisor, make_supervisor, pushes, django_capture_on_commit_callbacks
    ):
        fine = submit(6000)
        large = submit(50000)  # gated; its listing amount is set one cent above the limit
        Action.objects.filter(pk=large.pk).update(amount=50001)
        claimed = submit(7000)
        services.action_claim(action_id=claimed.pk, by=make_supervisor("bob"))
        edited_draft = submit(8000)
        Action.objects.filter(pk=edited_draft.pk).update(final_params={"amount": 1})
        pushes.clear()

        with django_capture_on_commit_callbacks(execute=True):
            outcomes = services.actions_decide_batch(
                action_ids=[fine.pk, large.pk, claimed.pk, edited_draft.pk, "not-an-id"],
                by=supervisor,
                kind="reject",
                reason_code="outside-policy",
            )

        assert outcome_codes(outcomes) == [
            "ok",
            "not_batchable",
            "claimed_by_other",
            "not_batchable",
            "action_not_found",
        ]
        assert "bob is reviewing" in outcomes[2].message
        assert Action.objects.get(pk=fine.pk).status == Status.REJECTED
        for action in (large, claimed, edited_draft):
            assert Action.objects.get(pk=action.pk).status == Status.PENDING
        assert [p["action_id"] for p in pushes] == [str(fine.pk)]

    def test_an_action_that_changed_since_it_was_read_is_stale(self, submit, supervisor):
        action = submit(6000)
        original = services.action_approve

        def approve_after_a_change(**kwargs):
            Action.objects.filter(pk=action.pk).update(version=7)
            return original(**kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(batches, "action_approve", approve_after_a_change)
            (outcome,) = services.actions_decide_batch(
                action_ids=[action.pk], by=supervisor, kind="approve", reason_code=None
            )

        assert outcome.code == "stale_version"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    def test_another_queues_action_reads_as_unknown(self, submit, make_supervisor):
        action = submit(6000)
        outsider = make_supervisor("sec", queues=["Account security"])

        (outcome,) = services.actions_decide_batch(
            action_ids=[action.pk], by=outsider, kind="approve", reason_code=None
        )

        assert outcome.code == "action_not_found"
        assert Action.objects.get(pk=action.pk).status == Status.PENDING

    @override_settings(COUNTERSIGN={"BATCH_MAX_SIZE": 2, "BATCH_MAX_AMOUNT": 50000})
    def test_a_batch_over_the_cap_is_refused_whole(self, submit, supervisor):
        actions = [submit(6000) for _ in range(3)]

        with pytest.raises(InvalidInput) as refused:
            services.actions_decide_batch(
                action_ids=[a.pk for a in actions], by=supervisor, kind="approve", reason_code=None
            )

        assert refused.value.code == "batch_too_large"
        assert not Decision.objects.exists()

    @pytest.mark.parametrize(
        ("kind", "code", "error"),
        [
            ("escalate", None, "invalid_batch_kind"),
            ("reject", None, "reason_code_required"),
            ("approve", "suspected-fraud", "unknown_reason_code"),
        ],
    )
    def test_a_bad_kind_or_reason_code_is_refused_once(self, submit, supervisor, kind, code, error):
        action = submit(6000)

        with pytest.raises(InvalidInput) as refused:
            services.actions_decide_batch(
                action_ids=[action.pk], by=supervisor, kind=kind, reason_code=code
            )

        assert refused.value.code == error

    def test_repeated_ids_are_decided_once(self, submit, supervisor):
        action = submit(6000)

        outcomes = services.actions_decide_batch(
            action_ids=[action.pk, str(action.pk)], by=supervisor, kind="approve", reason_code=None
        )

        assert len(outcomes) == 1 and outcomes[0].ok
        assert Decision.objects.filter(action=action).count() == 1


# ------------------------------------------------------------------------------------- the view


@pytest.fixture
def browser(supervisor) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    client.get("/")
    return client


def post(client: Client, data: dict):
    token = client.cookies["csrftoken"].value
    return client.post("/actions/batch/", data, HTTP_X_CSRFTOKEN=token, **HTMX)


def test_the_batch_view_answers_a_summary_with_each_refusal(demo, submit, browser):
    fine = [submit(6000), submit(7000)]
    near_limit = submit(49999)  # 499.99: gated, within the batch limit
    double = submit(9000)
    Action.objects.filter(pk=double.pk).update(approvals_required=2)

    response = post(
        browser,
        {"action_ids": [*(a.pk for a in fine), near_limit.pk, double.pk], "kind": "approve"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "3 approved, 1 refused:" in html
    assert "<code>not_batchable</code>" in html
    assert str(double.pk) in html
    assert Action.objects.filter(status=Status.APPROVED).count() == 3


def test_the_page_offers_checkboxes_on_eligible_rows_only(demo, submit, browser):
    small = submit(6000)
    double = submit(9000)
    Action.objects.filter(pk=double.pk).update(approvals_required=2)

    html = browser.get("/").content.decode()

    assert f'name="action_ids" value="{small.pk}"' in html
    assert f'name="action_ids" value="{double.pk}"' not in html
    assert 'id="batch-all"' in html


def test_a_batch_without_a_reject_reason_is_a_400_in_the_flash(demo, submit, browser):
    action = submit(6000)

    response = post(browser, {"action_ids": [action.pk], "kind": "reject"})

    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert 'data-code="reason_code_required"' in response.content.decode()


def test_the_batch_view_needs_the_csrf_token(demo, submit, supervisor):
    action = submit(6000)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)

    response = client.post("/actions/batch/", {"action_ids": [action.pk], "kind": "approve"})

    assert response.status_code == 403
    assert Action.objects.get(pk=action.pk).status == Status.PENDING
