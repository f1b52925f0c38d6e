"""Dashboard routes."""

from django.urls import path

from approvals.views import actions, dashboard, subscriptions

app_name = "approvals"
urlpatterns = [
    path("", dashboard.queue, name="queue"),
    path("queue/rows/", dashboard.queue_rows, name="queue-rows"),
    path("actions/batch/", dashboard.batch, name="batch"),
    path("actions/<uuid:action_id>/row/", dashboard.action_row, name="row"),
    path("actions/<uuid:action_id>/claim/", dashboard.claim, name="claim"),
    path("actions/<uuid:action_id>/release/", dashboard.release, name="release"),
    path("actions/<uuid:action_id>/approve/", dashboard.approve, name="approve"),
    path("actions/<uuid:action_id>/reject/", dashboard.reject, name="reject"),
    path("actions/<uuid:action_id>/adopt/", dashboard.adopt, name="adopt"),
    path("actions/<uuid:action_id>/dismiss/", dashboard.dismiss, name="dismiss"),
    path("actions/<uuid:action_id>/escalate/", dashboard.escalate, name="escalate"),
    path("actions/<uuid:action_id>/edit/", dashboard.edit, name="edit"),
    path("breakers/<int:breaker_id>/reset/", dashboard.breaker_reset, name="breaker-reset"),
]

# The action page (issue 4); its endpoints answer the page's partials, not queue rows.
urlpatterns += [
    path("actions/<uuid:action_id>/", actions.action_page, name="action"),
    path("actions/<uuid:action_id>/page/panel/", actions.page_panel, name="page-panel"),
    path("actions/<uuid:action_id>/page/claim/", actions.page_claim, name="page-claim"),
    path("actions/<uuid:action_id>/page/release/", actions.page_release, name="page-release"),
    path("actions/<uuid:action_id>/page/takeover/", actions.page_takeover, name="page-takeover"),
    path("actions/<uuid:action_id>/page/edit/", actions.page_edit, name="page-edit"),
    path(
        "actions/<uuid:action_id>/page/decide/<str:kind>/", actions.page_decide, name="page-decide"
    ),
]

# What a person hears by email of their queues and tiers (issue 11).
urlpatterns += [
    path("notifications/", subscriptions.subscriptions, name="subscriptions"),
    path("notifications/save/", subscriptions.subscription_save, name="subscription-save"),
]
