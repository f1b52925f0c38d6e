"""Outcome feedback API: an agent reports what happened after one of its actions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.api.views import IsAgent
from config.http import request_id
from qa.api.schema import refusals
from qa.services.outcomes import NOTE_LIMIT, RECONTACT_DAYS_LIMIT, outcome_report, report_data


class OutcomeInput(serializers.Serializer):
    """Documents the body; the service checks it strictly (JSON types, no unknown keys)."""

    resolved = serializers.BooleanField(help_text="Was the customer's problem solved?")
    recontact_within_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=RECONTACT_DAYS_LIMIT,
        help_text="The customer came back about it within this many days.",
    )  # fmt: skip
    csat = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    chargeback = serializers.BooleanField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_LIMIT)


class OutcomeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action_id = serializers.UUIDField()
    source = serializers.CharField(help_text="`agent:<name>` for an agent's report.")
    resolved = serializers.BooleanField()
    recontact_within_days = serializers.IntegerField(allow_null=True)
    csat = serializers.IntegerField(allow_null=True)
    chargeback = serializers.BooleanField(allow_null=True)
    note = serializers.CharField()
    negative = serializers.BooleanField(
        help_text="Not resolved, a recontact, a CSAT of 2 or less, or a chargeback."
    )
    created_at = serializers.DateTimeField()


class OutcomeReportView(APIView):
    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(
        request=OutcomeInput,
        responses={
            201: OutcomeOutput,
            200: OpenApiResponse(OutcomeOutput, description="A replay of the same body."),
            **refusals(
                r400="`invalid_feedback`, with every wrong field; `malformed_json`.",
                r401="`unauthenticated`: no API key, or an unknown one.",
                r403="`forbidden`: a person's session (this endpoint is for agents).",
                r404="`action_not_found`: unknown or another agent's.",
                r409="`not_resolved`, or `outcome_already_reported` with another body (the "
                "existing report in the details).",
            ),
        },
        summary="Report what happened after one of your resolved actions (agents)",
        description="One report per action and agent: the same body again answers 200 with the "
        "first report and writes nothing; another body is refused.",
    )
    def post(self, request, action_id):
        report, created = outcome_report(
            action_id=action_id,
            agent=request.user.agent,
            body=request.data,
            request_id=request_id(request),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(report_data(report), status=code)
