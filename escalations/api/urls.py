"""Routes of the escalations API (under /api/v1/)."""

from django.urls import path

from escalations.api import views

urlpatterns = [
    path("escalations/", views.EscalationListView.as_view(), name="escalation-list"),
    path(
        "escalations/<str:case_id>/", views.EscalationDetailView.as_view(), name="escalation-detail"
    ),
    path(
        "escalations/<str:case_id>/acknowledge/",
        views.EscalationAcknowledgeView.as_view(),
        name="escalation-acknowledge",
    ),
    path(
        "escalations/<str:case_id>/reassign/",
        views.EscalationReassignView.as_view(),
        name="escalation-reassign",
    ),
    path(
        "escalations/<str:case_id>/resolve/",
        views.EscalationResolveView.as_view(),
        name="escalation-resolve",
    ),
]
