"""Input and output shapes of the escalations API."""

from __future__ import annotations

from rest_framework import serializers

from approvals.api.serializers import JSONObjectField, StrictSerializer
from escalations.models import CaseStatus, Escalation, Outcome
from escalations.summary import LIMITS


class SummaryInput(StrictSerializer):
    customer_id = serializers.CharField(required=False, allow_blank=True,
                                        max_length=LIMITS["customer_id"])  # fmt: skip
    order_id = serializers.CharField(required=False, allow_blank=True,
                                     max_length=LIMITS["order_id"])  # fmt: skip
    what_agent_did = serializers.CharField(max_length=LIMITS["what_agent_did"])
    what_agent_proposes = serializers.CharField(max_length=LIMITS["what_agent_proposes"])
    customer_words = serializers.CharField(required=False, allow_blank=True,
                                           max_length=LIMITS["customer_words"])  # fmt: skip
    sentiment = serializers.CharField(required=False, allow_blank=True,
                                      max_length=LIMITS["sentiment"])  # fmt: skip


class HandoffInput(StrictSerializer):
    action_id = serializers.UUIDField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500)
    summary = SummaryInput()
    tier = serializers.SlugField(required=False, allow_blank=True, max_length=32)


class ListQuery(StrictSerializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    tier = serializers.SlugField(required=False, max_length=32)


class VersionInput(StrictSerializer):
    expected_version = serializers.IntegerField(required=False, min_value=1)


class ReassignInput(VersionInput):
    tier = serializers.SlugField(required=False, allow_blank=True, max_length=32)
    to_user = serializers.CharField(required=False, allow_blank=True, max_length=150)
    reason = serializers.CharField(max_length=500)


class ResolveInput(VersionInput):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    params = JSONObjectField(required=False)


class CaseOutput(serializers.ModelSerializer):
    """A case as an agent reads its own: where it is, its clocks, its outcome."""

    tier = serializers.CharField(source="tier.key")
    action_id = serializers.UUIDField(allow_null=True)
    outcome = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = [
            "id", "status", "tier", "action_id", "source", "reason", "ack_due_at",
            "resolve_due_at", "breached_at", "outcome", "resolved_at", "created_at", "version",
        ]  # fmt: skip

    def get_outcome(self, case) -> str | None:
        return case.outcome or None


class CaseDetailOutput(CaseOutput):
    """A case as a person (or the agent) reads it: with the hand-off and who works it."""

    summary = serializers.JSONField()
    acknowledged_by = serializers.SerializerMethodField()
    assignee = serializers.SerializerMethodField()
    resolved_by = serializers.SerializerMethodField()
    resolution_note = serializers.CharField()
    reason_code = serializers.CharField()

    class Meta(CaseOutput.Meta):
        fields = [
            *CaseOutput.Meta.fields, "summary", "acknowledged_by", "assignee", "resolved_by",
            "resolution_note", "reason_code",
        ]  # fmt: skip

    def _name(self, user) -> str | None:
        return user.get_username() if user is not None else None

    def get_acknowledged_by(self, case) -> str | None:
        return self._name(case.acknowledged_by)

    def get_assignee(self, case) -> str | None:
        return self._name(case.assignee)

    def get_resolved_by(self, case) -> str | None:
        return self._name(case.resolved_by)
