"""Routes of the sandbox API (under /api/v1/sandbox/)."""

from django.urls import path

from sandbox import api

urlpatterns = [
    path("orders/<str:order_id>/", api.OrderDetailView.as_view(), name="sandbox-order"),
]
