"""Circuit breakers over the API: people list them and reset a tripped one with a reason."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from approvals import services
from approvals.api.serializers import StrictSerializer
from approvals.api.views import IsHuman
from config.http import request_id


class BreakerResetInput(StrictSerializer):
    # Blank is left to the service, which refuses it with `reason_required` as the dashboard does.
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    agent = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class TripOutput(serializers.Serializer):
    id = serializers.IntegerField()
    agent = serializers.CharField(source="agent.name")
    tripped_at = serializers.DateTimeField()
    action_count = serializers.IntegerField()
    amount = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField(allow_blank=True)
    explanation = serializers.CharField()


class BreakerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    action_type = serializers.CharField()
    agent = serializers.CharField(source="agent.name", allow_null=True, default=None)
    max_count = serializers.IntegerField(allow_null=True)
    max_amount = serializers.IntegerField(allow_null=True)
    window_seconds = serializers.IntegerField()
    modes = serializers.ListField(child=serializers.CharField())
    label = serializers.CharField()
    is_active = serializers.BooleanField()
    open_trips = TripOutput(many=True)


class BreakerListOutput(serializers.Serializer):
    results = BreakerOutput(many=True)


class BreakerListView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(responses=BreakerListOutput, summary="Circuit breakers and their open trips")
    def get(self, request):
        return Response(BreakerListOutput({"results": selectors.breakers_list()}).data)


class BreakerResetView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        request=BreakerResetInput,
        responses=BreakerOutput,
        summary="Reset a tripped breaker (one agent's trip, or all) with a reason",
    )
    def post(self, request, breaker_id: int):
        payload = BreakerResetInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        services.breaker_reset(
            breaker_id=breaker_id,
            by=request.user,
            reason=data["reason"],
            agent_name=data["agent"] or None,
            request_id=request_id(request),
        )
        return Response(BreakerOutput(selectors.breaker_get(breaker_id=breaker_id)).data)
