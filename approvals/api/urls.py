"""Routes of the actions API (under /api/v1/)."""

from django.urls import path

from approvals.api import breakers, views
from approvals.api.wait import action_wait

urlpatterns = [
    path("actions/", views.ActionSubmitView.as_view(), name="action-submit"),
    path("actions/<str:action_id>/", views.ActionDetailView.as_view(), name="action-detail"),
    path("actions/<str:action_id>/wait/", action_wait, name="action-wait"),
    path("actions/<str:action_id>/cancel/", views.ActionCancelView.as_view(), name="action-cancel"),
    path(
        "actions/<str:action_id>/evidence/",
        views.ActionEvidenceView.as_view(),
        name="action-evidence",
    ),
    path(
        "actions/<str:action_id>/approve/", views.ActionApproveView.as_view(), name="action-approve"
    ),
    path("actions/<str:action_id>/reject/", views.ActionRejectView.as_view(), name="action-reject"),
    path("actions/<str:action_id>/adopt/", views.ActionAdoptView.as_view(), name="action-adopt"),
    path(
        "actions/<str:action_id>/dismiss/", views.ActionDismissView.as_view(), name="action-dismiss"
    ),
    path(
        "actions/<str:action_id>/rollback/",
        views.ActionRollbackView.as_view(),
        name="action-rollback",
    ),
    path(
        "actions/<str:action_id>/reconcile/",
        views.ActionReconcileView.as_view(),
        name="action-reconcile",
    ),
    path("actions/<str:action_id>/edit/", views.ActionEditView.as_view(), name="action-edit"),
    path("actions/<str:action_id>/claim/", views.ActionClaimView.as_view(), name="action-claim"),
    path(
        "actions/<str:action_id>/release/", views.ActionReleaseView.as_view(), name="action-release"
    ),
    path("reason-codes/", views.ReasonCodeListView.as_view(), name="reason-codes"),
    path("policy/check/", views.PolicyCheckView.as_view(), name="policy-check"),
    path("breakers/", breakers.BreakerListView.as_view(), name="breaker-list"),
    path(
        "breakers/<int:breaker_id>/reset/",
        breakers.BreakerResetView.as_view(),
        name="breaker-reset",
    ),
]
