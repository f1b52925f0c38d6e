"""Websocket routes of the escalation workspace."""

from django.urls import path

from escalations.consumers import WorkspaceConsumer

websocket_urlpatterns = [path("ws/escalations/", WorkspaceConsumer.as_asgi())]
