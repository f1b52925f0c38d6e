"""QA's REST API: assignments and reviews for reviewers, metrics, and agents' outcome feedback."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
