"""QA's REST API: assignments and reviews for reviewers, metrics, and agents' outcome feedback."""

from django.urls import path

from qa.api import metrics, outcomes, reviews

urlpatterns = [
    path(
        "actions/<str:action_id>/outcome/",
        outcomes.OutcomeReportView.as_view(),
        name="action-outcome",
    ),
    path("qa/assignments/", reviews.AssignmentListView.as_view(), name="qa-assignment-list"),
    path("qa/reviews/", reviews.ReviewCreateView.as_view(), name="qa-review-create"),
    path(
        "qa/reviews/<str:review_id>/", reviews.ReviewDetailView.as_view(), name="qa-review-detail"
    ),
    path("qa/metrics/", metrics.MetricsView.as_view(), name="qa-metrics"),
]
