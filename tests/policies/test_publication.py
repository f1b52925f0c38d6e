"""Four eyes on the permission map: one policy admin asks to publish or activate a version, another
confirms; rules name only deciding roles and existing queues, and set their priority."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import Conflict, Forbidden, InvalidInput
from policies import publication, services
from policies.models import PolicyVersion, PublicationRequest

pytestmark = pytest.mark.django_db


def rule(name: str = "r", **overrides) -> dict:
    return {"name": name, "action_type": "refund.issue", "mode": "execute_gated", **overrides}


@pytest.fixture
def pat(demo, make_supervisor):
    return make_supervisor("pat", role="policy_admin")


@pytest.fixture
def sam(demo, make_supervisor):
    return make_supervisor("sam", role="policy_admin")


@pytest.fixture
def draft(pat) -> PolicyVersion:
    return services.policy_draft_create(actor=Actor.user(pat.pk), based_on=1)


def verbs_since(event_id: int) -> list[tuple[str, str]]:
    events = AuditEvent.objects.filter(id__gt=event_id).order_by("id")
    return list(events.values_list("verb", "actor_id"))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# ------------------------------------------------------------------------- publishing, 2 admins


class TestTwoAdminsPublish:
    def test_a_request_leaves_the_draft_unpublished_until_a_second_admin_confirms(
        self, pat, sam, draft
    ):
        start = last_event_id()

        asked = publication.policy_publication_request(
            number=draft.number, kind="publish", by=pat, note="tighter"
        )
        draft.refresh_from_db()
        assert (draft.is_draft, asked.state) == (True, "pending")

        publication.policy_publication_confirm(publication_id=asked.pk, by=sam)

        draft.refresh_from_db()
        asked.refresh_from_db()
        assert (draft.status, draft.is_active, draft.note) == ("published", True, "tighter")
        assert (asked.state, asked.decided_by) == ("confirmed", sam)
        assert verbs_since(start) == [
            ("policy.publication_requested", str(pat.pk)),
            ("policy.published", str(sam.pk)),
            ("policy.publication_confirmed", str(sam.pk)),
        ]

    def test_the_asking_admin_cannot_confirm_their_own_request(self, pat, draft):
        asked = publication.policy_publication_request(number=draft.number, kind="publish", by=pat)

        with pytest.raises(Forbidden) as refused:
            publication.policy_publication_confirm(publication_id=asked.pk, by=pat)

        assert refused.value.code == "second_admin_required"
        draft.refresh_from_db()
        assert draft.is_draft

    def test_the_database_refuses_a_confirmation_by_the_asking_admin(self, pat, draft):
        asked = publication.policy_publication_request(number=draft.number, kind="publish", by=pat)

        with pytest.raises(IntegrityError), transaction.atomic():
            PublicationRequest.objects.filter(pk=asked.pk).update(state="confirmed", decided_by=pat)

    def test_a_person_cannot_publish_or_activate_at_once(self, pat, draft):
        for change in (
            lambda: services.policy_version_publish(number=draft.number, actor=Actor.user(pat.pk)),
            lambda: services.policy_version_activate(number=1, actor=Actor.user(pat.pk)),
            lambda: services.policy_publish(rules=[rule()], actor=Actor.user(pat.pk)),
            lambda: services.policy_import(rules=[rule()], actor=Actor.user(pat.pk), publish=True),
        ):
            with pytest.raises(Forbidden) as refused:
                change()
            assert refused.value.code == "second_admin_required"
        assert PolicyVersion.objects.get(is_active=True).number == 1

    def test_a_draft_waiting_for_a_second_admin_cannot_change(self, pat, draft):
        publication.policy_publication_request(number=draft.number, kind="publish", by=pat)

        with pytest.raises(Conflict) as refused:
            services.policy_rule_add(number=draft.number, spec=rule("x"), actor=Actor.user(pat.pk))

        assert refused.value.code == "publication_already_requested"

    def test_a_second_request_for_the_same_version_is_refused(self, pat, sam, draft):
        publication.policy_publication_request(number=draft.number, kind="publish", by=pat)

        with pytest.raises(Conflict) as refused:
            publication.policy_publication_request(number=draft.number, kind="publish", by=sam)

        assert refused.value.code == "publication_already_requested"

    def test_a_withdrawn_request_cannot_be_confirmed_and_the_draft_can_change_again(
        self, pat, sam, draft
    ):
        asked = publication.policy_publication_request(number=draft.number, kind="publish", by=pat)
        publication.policy_publication_withdraw(publication_id=asked.pk, by=sam)

        with pytest.raises(Conflict) as refused:
            publication.policy_publication_confirm(publication_id=asked.pk, by=sam)

        assert refused.value.code == "publication_request_decided"
        services.policy_rule_add(number=draft.number, spec=rule("x"), actor=Actor.user(pat.pk))
        assert AuditEvent.objects.filter(verb="policy.publication_withdrawn").count() == 1

    def test_activating_an_earlier_version_also_needs_a_second_admin(self, pat, sam, draft):
        asked = publication.policy_publication_request(number=draft.number, kind="publish", by=pat)
        publication.policy_publication_confirm(publication_id=asked.pk, by=sam)

        back = publication.policy_publication_request(
            number=1, kind="activate", by=sam, note="too strict"
        )
        assert PolicyVersion.objects.get(is_active=True) == draft
        publication.policy_publication_confirm(publication_id=back.pk, by=pat)

        assert PolicyVersion.objects.get(is_active=True).number == 1
        event = AuditEvent.objects.filter(verb="policy.activated").get()
        assert (event.actor_id, event.data["reason"], event.data["requested_by"]) == (
            str(pat.pk),
            "too strict",
            sam.pk,
        )


# ------------------------------------------------------------------ roles, queues and priority


class TestRuleLimits:
    @pytest.mark.parametrize("role", ["qa_reviewer", "qa_lead", "policy_admin", "auditor", "x", ""])
    def test_a_rule_naming_a_role_that_does_not_decide_is_refused(self, pat, draft, role):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(
                number=draft.number, spec=rule(approver_role=role), actor=Actor.user(pat.pk)
            )

        assert refused.value.code == "approver_role_not_deciding"
        assert refused.value.status_code == 400

    def test_an_import_naming_a_role_that_does_not_decide_is_refused(self, demo):
        with pytest.raises(InvalidInput) as refused:
            services.policy_import(
                rules=[rule(approver_role="qa_reviewer")], actor=Actor.system("test")
            )

        assert refused.value.code == "approver_role_not_deciding"

    def test_a_rule_naming_a_queue_that_does_not_exist_is_refused(self, pat, draft):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(
                number=draft.number, spec=rule(queue="Nowhere"), actor=Actor.user(pat.pk)
            )

        assert refused.value.code == "unknown_queue"
        assert "Refunds" in refused.value.message

    def test_a_rule_naming_an_existing_queue_and_a_deciding_role_is_saved(self, pat, draft):
        saved = services.policy_rule_add(
            number=draft.number, actor=Actor.user(pat.pk),
            spec=rule(queue="Refunds", approver_role="senior_supervisor", priority="high"),
        )  # fmt: skip

        assert (saved.queue, saved.approver_role, saved.priority) == (
            "Refunds",
            "senior_supervisor",
            "high",
        )

    def test_an_unknown_priority_is_refused(self, pat, draft):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(
                number=draft.number, spec=rule(priority="asap"), actor=Actor.user(pat.pk)
            )

        assert refused.value.details["problems"][0]["field"] == "priority"
