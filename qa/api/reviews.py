"""The reviewers' API: their assignments, submitting (or amending) a review, reading one.

For people signed in with their browser session (and its CSRF token); agents' keys are refused.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import rulebook
from approvals.api.serializers import JSONObjectField, StrictSerializer
from approvals.api.views import IsHuman
from config.errors import Code, Forbidden, NotFound
from config.http import request_id
from people.roles import Role
from qa import selectors
from qa.api.schema import NOT_FOR_AGENTS, SIGNED_OUT, refusals
from qa.models import Assignment, Review
from qa.services.reviews import NOTE_LIMIT, ROOT_CAUSE_LIMIT, review_submit


class AssignmentQuery(StrictSerializer):
    reviewer = serializers.CharField(required=False, max_length=150)
    state = serializers.ChoiceField(
        choices=[Assignment.State.OPEN, Assignment.State.SUBMITTED], required=False
    )


class AssignmentOutput(serializers.ModelSerializer):
    action_id = serializers.UUIDField()
    action_type = serializers.CharField(source="action.action_type.key")
    agent = serializers.CharField(source="action.agent.name")
    amount = serializers.SerializerMethodField()
    reviewer = serializers.CharField(source="reviewer.username")
    scorecard = serializers.CharField(source="scorecard.slug")
    why = serializers.SerializerMethodField()
    period_start = serializers.SerializerMethodField()
    period_end = serializers.SerializerMethodField()
    session_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id", "action_id", "action_type", "agent", "amount", "reviewer", "kind", "state",
            "scorecard", "why", "period_start", "period_end", "session_id", "review_id",
            "assigned_at", "submitted_at",
        ]  # fmt: skip

    def get_amount(self, assignment) -> str:
        return selectors.amount_text(assignment.action)

    def get_why(self, assignment) -> str:
        return selectors.why_sampled(assignment)

    def get_period_start(self, assignment) -> str | None:
        sample = assignment.item.sample if assignment.item_id else None
        return sample.period_start.isoformat() if sample else None

    def get_period_end(self, assignment) -> str | None:
        sample = assignment.item.sample if assignment.item_id else None
        return sample.period_end.isoformat() if sample else None


class AssignmentList(serializers.Serializer):
    results = AssignmentOutput(many=True)
    # More assignments matched than one answer holds: narrow with ?state=.
    truncated = serializers.BooleanField()


class ReviewInput(StrictSerializer):
    assignment_id = serializers.IntegerField(min_value=1)
    scores = JSONObjectField()
    verdict = serializers.CharField(max_length=32)
    root_causes = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list,
        max_length=ROOT_CAUSE_LIMIT * 2,
    )  # fmt: skip
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=NOTE_LIMIT, trim_whitespace=True
    )
    policy_followed = serializers.BooleanField(required=False, allow_null=True, default=None)
    reason_code_accurate = serializers.BooleanField(required=False, allow_null=True, default=None)
    amount_right = serializers.BooleanField(required=False, allow_null=True, default=None)
    problem_solved = serializers.BooleanField(required=False, allow_null=True, default=None)


class ReviewOutput(serializers.ModelSerializer):
    action_id = serializers.UUIDField()
    reviewer = serializers.CharField(source="reviewer.username")
    scorecard = serializers.CharField(source="scorecard.slug")
    score = serializers.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        model = Review
        fields = [
            "id", "assignment_id", "action_id", "reviewer", "version", "supersedes_id",
            "scorecard", "scores", "score", "critical_failed", "verdict", "policy_followed",
            "reason_code_accurate", "amount_right", "problem_solved", "root_causes", "note",
            "created_at",
        ]  # fmt: skip


class AssignmentListView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        parameters=[AssignmentQuery],
        responses={200: AssignmentList, **refusals(
            r400="`invalid_input`: an unknown query parameter or state.",
            r401=SIGNED_OUT,
            r403=f"`missing_role`: not a QA reviewer, lead or auditor; `forbidden`: another "
            f"reviewer's assignments without being a lead or auditor, or {NOT_FOR_AGENTS}.",
            r404="`not_found`: no such reviewer.",
        )},
        summary="Your QA assignments, open first (leads and auditors: anyone's, ?reviewer=)",
    )  # fmt: skip
    def get(self, request):
        person = rulebook.person_of(request.user)
        if not rulebook.may_use_qa(person):
            raise Forbidden(
                "QA is for QA reviewers, QA leads and auditors.", code=Code.MISSING_ROLE,
                details={"roles": [Role.QA_REVIEWER, Role.QA_LEAD, Role.AUDITOR]},
            )  # fmt: skip
        query = AssignmentQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        reviewer_id = request.user.pk
        username = query.validated_data.get("reviewer")
        if username and username != request.user.get_username():
            if not rulebook.may_read_all_qa(person):
                raise Forbidden("Only QA leads and auditors read others' assignments.",
                                code=Code.FORBIDDEN)  # fmt: skip
            reviewer = get_user_model().objects.filter(username=username).first()
            if reviewer is None:
                raise NotFound("No such reviewer.", code=Code.NOT_FOUND)
            reviewer_id = reviewer.pk
        rows = selectors.assignments_list(
            reviewer_id=reviewer_id, state=query.validated_data.get("state", ""),
            limit=selectors.LIST_LIMIT + 1,
        )  # fmt: skip
        return Response({
            "results": AssignmentOutput(rows[: selectors.LIST_LIMIT], many=True).data,
            "truncated": len(rows) > selectors.LIST_LIMIT,
        })  # fmt: skip


class ReviewCreateView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        request=ReviewInput,
        responses={201: ReviewOutput, **refusals(
            r400="`invalid_input` or `malformed_json`: the body (every wrong field in "
            "`details.fields`); `invalid_review`: scores, verdict, root causes or the note "
            "(an amendment needs one) do not fit the scorecard.",
            r401=SIGNED_OUT,
            r403=f"`forbidden`: someone else's assignment, or {NOT_FOR_AGENTS}; "
            "`missing_role`: no longer a QA reviewer; `own_resolution`, `own_request`: you "
            "took part in the resolution or operate its agent.",
            r404="`assignment_not_found`: no such assignment, or not one you may see.",
            r409="`assignment_closed`: removed, or its calibration session was revealed.",
        )},
        summary="Review your assignment on its scorecard; again to amend it (a new version, "
        "with a note saying why)",
    )  # fmt: skip
    def post(self, request):
        payload = ReviewInput(data=request.data)
        payload.is_valid(raise_exception=True)
        review = review_submit(by=request.user, request_id=request_id(request),
                               **payload.validated_data)  # fmt: skip
        review = selectors.review_get(review_id=review.pk)
        return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)


class ReviewDetailView(APIView):
    permission_classes = [IsAuthenticated, IsHuman]

    @extend_schema(
        responses={200: ReviewOutput, **refusals(
            r401=SIGNED_OUT, r403=f"{NOT_FOR_AGENTS}.",
            r404="`review_not_found`: no such review, or one you may not see (reviews are "
            "blind while you review the same action).",
        )},
        summary="One review, if the rulebook lets you see it",
    )  # fmt: skip
    def get(self, request, review_id):
        review = selectors.review_get(review_id=review_id)
        person = rulebook.person_of(request.user)
        rulebook.enforce(rulebook.may_see_review(person, selectors.review_facts(review, person)))
        return Response(ReviewOutput(review).data)
