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
