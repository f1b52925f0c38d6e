"""QA's REST API: assignments and reviews for reviewers, metrics, and agents' outcome feedback."""

from django.urls import path

from qa.api import metrics, outcomes

urlpatterns: list = [
    path(
        "actions/<str:action_id>/outcome/",
        outcomes.OutcomeReportView.as_view(),
        name="action-outcome",
    ),
    path("qa/metrics/", metrics.MetricsView.as_view(), name="qa-metrics"),
]
