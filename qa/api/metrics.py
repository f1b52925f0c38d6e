"""Scorecard metrics as JSON: the figures of /qa/scorecards/ per week and group."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import rulebook
from approvals.api.views import IsHuman
from config.errors import Code, Forbidden, InvalidInput
from qa import metrics
from qa.api.schema import NOT_FOR_AGENTS, SIGNED_OUT, refusals

PERIODS = ("week",)


class FigureOutput(serializers.Serializer):
    value = serializers.FloatField(
        allow_null=True,
        help_text="A share (0..1), seconds (time to decision) or a mean (CSAT); null when there "
        "was nothing to count.",
    )
    numerator = serializers.IntegerField(allow_null=True, help_text="Null for percentiles.")
    denominator = serializers.IntegerField(allow_null=True)


class MoneyFigureOutput(serializers.Serializer):
    value = serializers.IntegerField(help_text="Leaked amount, in minor units of the currency.")
    numerator = serializers.IntegerField(help_text="Refunds that leaked.")
    denominator = serializers.IntegerField(help_text="Refunds resolved.")


def _figure(**kwargs):
    return FigureOutput(allow_null=True, **kwargs)


class FiguresOutput(serializers.Serializer):
    """One cell's figures. Grouped by reviewer, only the figures from reviews are given (the
    others are null)."""

    override_rate = _figure()
    action_accuracy = _figure()
    money_leak = serializers.DictField(
        child=MoneyFigureOutput(), allow_null=True, help_text="Per ISO currency code."
    )
    rollback_rate = _figure()
    escalation_rate = _figure()
    escalation_quality = _figure()
    time_to_decision_p50 = _figure()
    time_to_decision_p90 = _figure()
    rubber_stamp_rate = _figure()
    recontact_rate = _figure()
    csat = _figure()


class WeekOutput(serializers.Serializer):
    week = serializers.DateField(help_text="The week's Monday (UTC).")
    figures = FiguresOutput()


class SeriesOutput(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="Null for the overall series.")
    weeks = WeekOutput(many=True)
    window = FiguresOutput(help_text="Over every week of the window.")


class MetricsOutput(serializers.Serializer):
    period = serializers.CharField()
    group_by = serializers.ChoiceField(choices=metrics.GROUP_BYS)
    weeks = serializers.ListField(child=serializers.DateField())
    groups = serializers.ListField(child=serializers.CharField())
    overall = SeriesOutput()
    by_group = SeriesOutput(many=True)


def _series(cards: metrics.Scorecards, group: str | None) -> dict:
    return {
        "group": group,
        "weeks": [
            {"week": week, "figures": metrics.figures_as_dict(cards.figures(week, group))}
            for week in cards.window.weeks
        ],
        "window": metrics.figures_as_dict(cards.figures(None, group)),
    }


class MetricsView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        parameters=[
            OpenApiParameter("period", str, enum=list(PERIODS), description="Only `week`."),
            OpenApiParameter("group_by", str, enum=list(metrics.GROUP_BYS)),
            OpenApiParameter(
                "weeks",
                int,
                description=f"1 to {metrics.WEEKS_MAX} (default "
                f"{metrics.WEEKS_DEFAULT}), the current week included.",
            ),
        ],
        responses={
            200: MetricsOutput,
            **refusals(
                r400="`invalid_period`, `invalid_group_by` or `invalid_input` (weeks).",
                r401=SIGNED_OUT,
                r403="`missing_role`: not a person the rulebook lets read scorecards (the roles "
                f"that may are in `details.roles`); {NOT_FOR_AGENTS}.",
            ),
        },
        summary="Scorecard figures per week, overall and per group (people who read scorecards)",
    )
    def get(self, request):
        if not rulebook.may_see_scorecards(rulebook.person_of(request.user)):
            raise Forbidden(
                "The scorecards are for QA reviewers and leads, auditors, policy admins and "
                "senior supervisors.",
                code=Code.MISSING_ROLE, details={"roles": sorted(rulebook.SCORECARD_ROLES)},
            )  # fmt: skip
        period = request.query_params.get("period", "week")
        if period not in PERIODS:
            raise InvalidInput(
                "`period` must be week.",
                code=Code.INVALID_PERIOD,
                details={"period": period[:20], "allowed": list(PERIODS)},
            )
        weeks = metrics.checked_weeks(request.query_params.get("weeks"))
        group_by = metrics.checked_group_by(request.query_params.get("group_by"))
        cards = metrics.scorecards(weeks=weeks, group_by=group_by)
        data = {
            "period": period,
            "group_by": group_by,
            "weeks": list(cards.window.weeks),
            "groups": cards.groups,
            "overall": _series(cards, None),
            "by_group": [_series(cards, group) for group in cards.groups],
        }
        return Response(MetricsOutput(data).data)
