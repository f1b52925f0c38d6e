"""Actions API: thin views that validate input, make one service call and shape the output."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.throttling import ApiRateThrottle, PolicyCheckThrottle
from approvals import evidence, rulebook, selectors, services
from approvals.api.serializers import (
    ActionOutput,
    ActionResponse,
    ActionSubmitInput,
    ApproveInput,
    ClaimInput,
    DecisionInput,
    EditInput,
    PolicyCheckInput,
    PolicyCheckOutput,
    ReasonCodeOutput,
    ReconcileInput,
)
from approvals.models import Status
from config.api import error_body
from config.errors import Code, InvalidInput
from config.http import request_id


class IsAgent(BasePermission):
    message = "This endpoint is for agents (Authorization: Api-Key <key>)."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_agent", False))


class IsHuman(BasePermission):
    message = "This endpoint is for people signed in to Countersign, not for agents."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and not getattr(user, "is_agent", False))


def action_data(action) -> dict:
    data = ActionOutput(action).data
    data["approvals"] = selectors.action_approvals(action=action)
    # An escalated action tells the agent to stop, and which case a person now holds.
    data["escalation"] = selectors.action_escalation(action=action)
    return data


_datetime = serializers.DateTimeField()


def submitted_action_data(action) -> dict:
    """`action_data` of an action this request just submitted, built as a plain dict from the
    objects the service holds: the same body (tests compare it with ActionOutput's), without a
    serializer pass or a query. A new action has no approvals and no claim yet, and a case only
    if the policy escalated it (a breaker's case links actions; it is not theirs)."""
    when = _datetime.to_representation
    version = action.policy_version
    return {
        "id": str(action.pk),
        "status": str(action.status),
        "version": action.version,
        "action_type": action.action_type.key,
        "agent": action.agent.name,
        "params": action.params,
        "final_params": action.final_params,
        "effective_params": action.effective_params,
        "context": action.context,
        "intent": str(action.intent),
        "callback_url": action.callback_url,
        "decision": {
            "mode": action.mode,
            "rule": action.rule_name,
            "explanation": action.explanation,
            "policy_version": version.number if version else None,
            "approvals_required": action.approvals_required,
            "approver_role": action.approver_role,
            "queue": action.queue,
        },
        "claim": {"claimed_by": None, "claim_expires_at": None},
        "result": action.result,
        "error": action.error,
        "attempts": action.attempts,
        "created_at": when(action.created_at),
        "updated_at": when(action.updated_at),
        "decided_at": when(action.decided_at),
        "execution_started_at": when(action.execution_started_at),
        "finished_at": when(action.finished_at),
        "approvals": [],
        "escalation": selectors.action_escalation(action=action)
        if action.status == Status.ESCALATED
        else None,
    }


def action_response(action, *, status_code: int = status.HTTP_200_OK, fresh: bool = False):
    data = submitted_action_data(action) if fresh else action_data(action)
    return Response(data, status=status_code)


def blocked_response(action, *, fresh: bool = False) -> Response:
    """A refused submission is an error for the agent, though it is recorded: 403 with the
    recorded action's id and the policy's explanation, the same on an idempotent replay."""
    data = submitted_action_data(action) if fresh else ActionOutput(action).data
    details = {"action_id": data["id"], "status": data["status"], "decision": data["decision"]}
    body = error_body(Code.ACTION_BLOCKED, f"Refused by policy: {action.explanation}", details)
    return Response(body, status=Code.ACTION_BLOCKED.status)


class ActionSubmitView(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(
        request=ActionSubmitInput,
        responses={201: ActionResponse, 200: ActionResponse, 403: None},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        summary="Submit an action for the permission map to decide",
    )
    def post(self, request):
        payload = ActionSubmitInput(data=request.data)
        payload.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= 255):
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters.", code=Code.INVALID_IDEMPOTENCY_KEY
            )
        result = services.action_submit(
            agent=request.user.agent,
            idempotency_key=key,
            request_id=request_id(request),
            **payload.validated_data,
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        if result.action.status == Status.BLOCKED:
            response = blocked_response(result.action, fresh=not result.replayed)
        else:
            response = action_response(result.action, status_code=code, fresh=not result.replayed)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ActionDetailView(APIView):
    @extend_schema(responses=ActionResponse, summary="Current state of an action")
    def get(self, request, action_id):
        agent = getattr(request.user, "agent", None)
        if agent is not None:
            return action_response(selectors.action_get_for_agent(action_id=action_id, agent=agent))
        # People see the actions of their queues, and what they may do to them now.
        action = selectors.action_get(action_id=action_id)
        person = rulebook.person_of(request.user)
        facts = rulebook.facts_of(action, history=True)
        rulebook.enforce(rulebook.may_see(person, facts))
        data = action_data(action)
        data["may"] = rulebook.affordances(person, facts)
        return Response(data)


class ActionEvidenceView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        summary="The action's evidence pack: the action, its decisions, its audit events and "
        "the checkpoint that covers them, signed (check it with `manage.py verify_evidence`)",
    )
    def get(self, request, action_id):
        pack = evidence.action_evidence(action_id=action_id, user=request.user)
        # The canonical bytes as sealed: a file with any byte changed is refused.
        response = HttpResponse(pack, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="evidence-{action_id}.json"'
        return response


class ActionCancelView(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(request=None, responses=ActionResponse, summary="Withdraw a pending action")
    def post(self, request, action_id):
        action = services.action_cancel(
            action_id=action_id, agent=request.user.agent, request_id=request_id(request)
        )
        return action_response(action)


class _DecisionView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]
    service = None
    input_class = DecisionInput

    @extend_schema(request=DecisionInput, responses=ActionResponse)
    def post(self, request, action_id):
        payload = self.input_class(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        action = type(self).service(
            action_id=action_id,
            by=request.user,
            reason_code=data.pop("reason_code", "") or None,
            note=data.pop("note", ""),
            expected_version=data.pop("expected_version", None),
            request_id=request_id(request),
            **data,  # what one kind of decision adds, e.g. confirm_irreversible
        )
        return action_response(selectors.action_get(action_id=action.pk))


class _ExecutingDecisionView(_DecisionView):
    input_class = ApproveInput

    @extend_schema(request=ApproveInput, responses=ActionResponse)
    def post(self, request, action_id):
        return super().post(request, action_id)


class ActionApproveView(_ExecutingDecisionView):
    service = staticmethod(services.action_approve)


class ActionRejectView(_DecisionView):
    service = staticmethod(services.action_reject)


class ActionAdoptView(_ExecutingDecisionView):
    """Adopt a recommendation or a draft: it executes on the adopting person's authority."""

    service = staticmethod(services.action_adopt)


class ActionDismissView(_DecisionView):
    """Dismiss a recommendation or a draft (a reason code is required)."""

    service = staticmethod(services.action_dismiss)


class ActionRollbackView(_DecisionView):
    """Undo a succeeded action within its type's rollback window, with a reason code of kind
    `rollback`: it moves to `rolling_back` and a worker runs the compensation. Types that cannot
    be undone (credentials.reset) are refused with 409 `not_compensable`."""

    service = staticmethod(services.action_rollback)


class ActionReconcileView(APIView):
    """Record what an execution of unknown outcome (`needs_reconciliation`) really did, after
    checking the target: `succeeded` or `failed`, with a reason code. Senior supervisors only."""

    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(request=ReconcileInput, responses=ActionResponse)
    def post(self, request, action_id):
        payload = ReconcileInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        action = services.action_reconcile(
            action_id=action_id,
            by=request.user,
            outcome=data["outcome"],
            reason_code=data["reason_code"],
            note=data.get("note", ""),
            request_id=request_id(request),
        )
        return action_response(selectors.action_get(action_id=action.pk))


class ActionEditView(APIView):
    """Change the params of a draft (before adopting it) or of a pending action (approve with
    changes: the policy decides again on the new params, and the edit is the editor's approval),
    with a reason code of kind `edit`."""

    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(request=EditInput, responses=ActionResponse)
    def post(self, request, action_id):
        payload = EditInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        action = services.action_edit(
            action_id=action_id,
            by=request.user,
            params=data["params"],
            reason_code=data.get("reason_code") or None,
            note=data.get("note", ""),
            expected_version=data.get("expected_version"),
            request_id=request_id(request),
        )
        return action_response(selectors.action_get(action_id=action.pk))


class ActionClaimView(APIView):
    """Claim an action that waits for a person, or renew one's claim; a senior supervisor takes
    over someone else's live claim by giving a `takeover_reason`."""

    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(request=ClaimInput, responses=ActionResponse, summary="Claim an action")
    def post(self, request, action_id):
        payload = ClaimInput(data=request.data)
        payload.is_valid(raise_exception=True)
        action = services.action_claim(
            action_id=action_id,
            by=request.user,
            takeover_reason=payload.validated_data["takeover_reason"],
            request_id=request_id(request),
        )
        return action_response(selectors.action_get(action_id=action.pk))


class ActionReleaseView(APIView):
    """Give up one's claim on an action (nobody's claim: nothing changes)."""

    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(request=None, responses=ActionResponse, summary="Release one's claim")
    def post(self, request, action_id):
        action = services.action_release(
            action_id=action_id, by=request.user, request_id=request_id(request)
        )
        return action_response(selectors.action_get(action_id=action.pk))


class ReasonCodeListView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ReasonCodeList", fields={"results": ReasonCodeOutput(many=True)}
        ),
        parameters=[OpenApiParameter("kind", str, description="approve, reject, edit ...")],
    )
    def get(self, request):
        codes = selectors.reason_codes(kind=request.query_params.get("kind") or None)
        return Response({"results": ReasonCodeOutput(codes, many=True).data})


class PolicyCheckView(APIView):
    """Dry run: which mode would apply to this action, and nothing more (not the rule, role or
    queue, which would let an agent map the policy's thresholds). Each check is audited and they
    have a rate limit of their own on top of the API's."""

    permission_classes = [IsAuthenticated, IsAgent]
    throttle_classes = [ApiRateThrottle, PolicyCheckThrottle]

    @extend_schema(request=PolicyCheckInput, responses=PolicyCheckOutput)
    def post(self, request):
        payload = PolicyCheckInput(data=request.data)
        payload.is_valid(raise_exception=True)
        mode = services.policy_check(
            agent=request.user.agent, **payload.validated_data, request_id=request_id(request)
        )
        return Response(PolicyCheckOutput({"mode": mode}).data)
