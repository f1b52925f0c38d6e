"""The baseline's one route, at the path Countersign's submit has."""

from django.urls import path

from baseline.views import SubmitView

urlpatterns = [path("api/v1/actions/", SubmitView.as_view())]
