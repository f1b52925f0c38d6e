"""Small input and output serializers for the actions API. No business logic lives here."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.callbacks import CallbackUrlRefused, callback_url_check
from approvals.models import Action, ReasonCode
from config import clock
from config.limits import agent_json_problem, context_size_problem


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error instead of a silent drop."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def _storable_text(value) -> bool:
    """PostgreSQL's jsonb refuses NUL characters and unpaired surrogates in any string."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable_text(k) and _storable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable_text(v) for v in value)
    return True


class JSONObjectField(serializers.JSONField):
    """A JSON object within the caps on agent input (string lengths, list sizes: config.limits)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        problem = agent_json_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        if not _storable_text(value):
            raise serializers.ValidationError(
                "Text must not contain NUL characters or unpaired surrogates."
            )
        return value


class ContextField(JSONObjectField):
    """The agent's context: kept with the action and its audit event, so its size is capped."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = context_size_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class PolicyCheckInput(StrictSerializer):
    action_type = serializers.CharField(max_length=64)
    params = JSONObjectField()
    context = ContextField(required=False, default=dict)
    intent = serializers.ChoiceField(
        choices=["execute", "recommend", "draft"], required=False, default="execute"
    )


class ActionSubmitInput(PolicyCheckInput):
    callback_url = serializers.URLField(
        required=False, allow_blank=True, default="", max_length=500
    )

    def validate_callback_url(self, value: str) -> str:
        # http(s) only; in production no loopback or private address (checked again, with DNS,
        # at every delivery).
        if not value:
            return value
        try:
            return callback_url_check(value)
        except CallbackUrlRefused as exc:
            raise serializers.ValidationError(exc.message) from exc


class DecisionInput(StrictSerializer):
    reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    expected_version = serializers.IntegerField(required=False, min_value=1)


class ApproveInput(DecisionInput):
    # Needed for an action type nothing can undo (a credentials reset): the approver knows.
    confirm_irreversible = serializers.BooleanField(required=False, default=False)


class ReconcileInput(StrictSerializer):
    outcome = serializers.ChoiceField(choices=["succeeded", "failed"])
    reason_code = serializers.CharField(max_length=64)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class EditInput(DecisionInput):
    params = JSONObjectField()


class ClaimInput(StrictSerializer):
    # Only needed to take over someone else's live claim (senior supervisors).
    takeover_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500
    )


class DecisionOutput(serializers.Serializer):
    mode = serializers.CharField()
    rule = serializers.CharField(source="rule_name", allow_blank=True)
    explanation = serializers.CharField()
    policy_version = serializers.IntegerField(allow_null=True)
    approvals_required = serializers.IntegerField()
    approver_role = serializers.CharField(allow_blank=True)
    queue = serializers.CharField(allow_blank=True)


class PolicyCheckOutput(serializers.Serializer):
    mode = serializers.CharField()


class ApprovalOutput(serializers.Serializer):
    by = serializers.CharField()
    kind = serializers.CharField()
    at = serializers.DateTimeField()


class DecisionSummaryOutput(serializers.Serializer):
    mode = serializers.CharField()
    rule = serializers.CharField(allow_blank=True)
    explanation = serializers.CharField()
    policy_version = serializers.IntegerField(allow_null=True)
    approvals_required = serializers.IntegerField()
    approver_role = serializers.CharField(allow_blank=True)
    queue = serializers.CharField(allow_blank=True)


class ClaimOutput(serializers.Serializer):
    claimed_by = serializers.CharField(allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)


class EscalationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    tier = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    outcome = serializers.CharField(allow_null=True)


class ActionOutput(serializers.ModelSerializer):
    action_type = serializers.CharField(source="action_type.key")
    agent = serializers.CharField(source="agent.name")
    decision = serializers.SerializerMethodField()
    claim = serializers.SerializerMethodField()
    effective_params = serializers.JSONField()

    class Meta:
        model = Action
        fields = [
            "id", "status", "version", "action_type", "agent", "params", "final_params",
            "effective_params", "context", "intent", "callback_url", "decision", "claim", "result",
            "error", "attempts", "created_at", "updated_at", "decided_at", "execution_started_at",
            "finished_at",
        ]  # fmt: skip

    @extend_schema_field(DecisionSummaryOutput)
    def get_decision(self, action: Action) -> dict:
        return {
            "mode": action.mode,
            "rule": action.rule_name,
            "explanation": action.explanation,
            "policy_version": action.policy_version.number if action.policy_version else None,
            "approvals_required": action.approvals_required,
            "approver_role": action.approver_role,
            "queue": action.queue,
        }

    @extend_schema_field(ClaimOutput)
    def get_claim(self, action: Action) -> dict:
        """Who reviews the action now; a claim that ran out reads as nobody's."""
        if action.claim_holder_id(clock.now()) is None:
            return {"claimed_by": None, "claim_expires_at": None}
        return {
            "claimed_by": action.claimed_by.get_username(),
            "claim_expires_at": serializers.DateTimeField().to_representation(
                action.claim_expires_at
            ),
        }


class AffordanceOutput(serializers.Serializer):
    allowed = serializers.BooleanField()
    code = serializers.CharField(allow_null=True, help_text="Why not, as an error code.")


class AffordancesOutput(serializers.Serializer):
    """What the person asking may do to the action now, as the rulebook answers it."""

    claim = AffordanceOutput()
    take_over = AffordanceOutput()
    approve = AffordanceOutput()
    reject = AffordanceOutput()
    edit = AffordanceOutput()
    adopt = AffordanceOutput()
    dismiss = AffordanceOutput()
    roll_back = AffordanceOutput()
    reconcile = AffordanceOutput()
    escalate = AffordanceOutput()


class ActionResponse(ActionOutput):
    """The schema of an action as the API answers it: ActionOutput plus what the views add."""

    approvals = ApprovalOutput(many=True, read_only=True)
    escalation = EscalationOutput(allow_null=True, read_only=True)
    may = AffordancesOutput(
        read_only=True, required=False, help_text="For people only (`GET` of one action)."
    )

    class Meta(ActionOutput.Meta):
        fields = [*ActionOutput.Meta.fields, "approvals", "escalation", "may"]


class ReasonCodeOutput(serializers.ModelSerializer):
    class Meta:
        model = ReasonCode
        fields = ["code", "label", "kinds"]
