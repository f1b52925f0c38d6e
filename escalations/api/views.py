"""Escalations API: agents hand cases over and read their own; people list and work cases."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import rulebook
from approvals.api.views import IsHuman
from config.errors import Code, NotFound
from config.http import request_id
from escalations import selectors, services
from escalations.api.serializers import (
    CaseDetailOutput,
    CaseOutput,
    HandoffInput,
    ListQuery,
    ReassignInput,
    ResolveInput,
    VersionInput,
)


def _case_response(case_id, *, status_code=status.HTTP_200_OK) -> Response:
    return Response(CaseDetailOutput(selectors.case_get(case_id=case_id)).data, status=status_code)


class EscalationListView(APIView):
    @extend_schema(
        request=HandoffInput,
        responses={201: CaseOutput},
        summary="Hand a case to people, with a hand-off summary (agents)",
    )
    def post(self, request):
        agent = getattr(request.user, "agent", None)
        if agent is None:
            raise NotFound("Only agents hand cases over here.", code=Code.NOT_FOUND)
        payload = HandoffInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        case = services.escalation_handoff(
            agent=agent,
            action_id=data.get("action_id"),
            reason=data["reason"],
            summary=dict(data["summary"]),
            tier=data.get("tier", ""),
            request_id=request_id(request),
        )
        return Response(CaseOutput(case).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[ListQuery], responses=CaseOutput(many=True),
        summary="The cases of the tiers you handle (people), breached first",
    )  # fmt: skip
    def get(self, request):
        if getattr(request.user, "is_agent", False):
            raise NotFound("Agents read their own cases by id.", code=Code.NOT_FOUND)
        query = ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        cases = selectors.cases_visible(person=rulebook.person_of(request.user),
                                        **query.validated_data)  # fmt: skip
        return Response({"results": CaseOutput(cases, many=True).data})


class EscalationDetailView(APIView):
    @extend_schema(responses=CaseDetailOutput, summary="One case (the agent reads its own)")
    def get(self, request, case_id):
        case = selectors.case_get(case_id=case_id)
        agent = getattr(request.user, "agent", None)
        if agent is not None:
            if case.agent_id != agent.pk:
                raise NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND)
        else:
            person = rulebook.person_of(request.user)
            rulebook.enforce(rulebook.may_see_case(person, selectors.case_facts(case)))
        return Response(CaseDetailOutput(case).data)


class _CaseMoveView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]
    input_class = VersionInput

    def call(self, case_id, by, data, rid):
        raise NotImplementedError

    def post(self, request, case_id):
        payload = self.input_class(data=request.data)
        payload.is_valid(raise_exception=True)
        case = self.call(case_id, request.user, dict(payload.validated_data), request_id(request))
        return _case_response(case.pk)


class EscalationAcknowledgeView(_CaseMoveView):
    @extend_schema(request=VersionInput, responses=CaseDetailOutput,
                   summary="Take a case: others see who works it")  # fmt: skip
    def post(self, request, case_id):
        return super().post(request, case_id)

    def call(self, case_id, by, data, rid):
        return services.case_acknowledge(case_id=case_id, by=by, request_id=rid, **data)


class EscalationReassignView(_CaseMoveView):
    input_class = ReassignInput

    @extend_schema(request=ReassignInput, responses=CaseDetailOutput,
                   summary="Pass a case to another tier or person, with a reason")  # fmt: skip
    def post(self, request, case_id):
        return super().post(request, case_id)

    def call(self, case_id, by, data, rid):
        return services.case_reassign(case_id=case_id, by=by, request_id=rid, **data)


class EscalationResolveView(_CaseMoveView):
    input_class = ResolveInput

    @extend_schema(
        request=ResolveInput, responses=CaseDetailOutput,
        summary="Resolve a case: approved (with an optional edit), rejected, returned, or "
        "resolved outside",
    )  # fmt: skip
    def post(self, request, case_id):
        return super().post(request, case_id)

    def call(self, case_id, by, data, rid):
        data["reason_code"] = data.get("reason_code") or None
        return services.case_resolve(case_id=case_id, by=by, request_id=rid, **data)
