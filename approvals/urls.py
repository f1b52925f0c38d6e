"""Dashboard routes."""

from django.urls import path

from approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("queue/rows/", views.queue_rows, name="queue-rows"),
    path("actions/batch/", views.batch, name="batch"),
    path("actions/<uuid:action_id>/row/", views.action_row, name="row"),
    path("actions/<uuid:action_id>/claim/", views.claim, name="claim"),
    path("actions/<uuid:action_id>/release/", views.release, name="release"),
    path("actions/<uuid:action_id>/approve/", views.approve, name="approve"),
    path("actions/<uuid:action_id>/reject/", views.reject, name="reject"),
    path("actions/<uuid:action_id>/adopt/", views.adopt, name="adopt"),
    path("actions/<uuid:action_id>/dismiss/", views.dismiss, name="dismiss"),
    path("actions/<uuid:action_id>/edit/", views.edit, name="edit"),
    path("breakers/<int:breaker_id>/reset/", views.breaker_reset, name="breaker-reset"),
]

# The action page (issue 4); its endpoints answer the page's partials, not queue rows.
urlpatterns += [
    path("actions/<uuid:action_id>/", views.action_page, name="action"),
    path("actions/<uuid:action_id>/page/panel/", views.page_panel, name="page-panel"),
    path("actions/<uuid:action_id>/page/claim/", views.page_claim, name="page-claim"),
    path("actions/<uuid:action_id>/page/release/", views.page_release, name="page-release"),
    path("actions/<uuid:action_id>/page/takeover/", views.page_takeover, name="page-takeover"),
    path("actions/<uuid:action_id>/page/edit/", views.page_edit, name="page-edit"),
    path("actions/<uuid:action_id>/page/decide/<str:kind>/", views.page_decide, name="page-decide"),
]
