"""Top-level URLs: the dashboard, the escalation workspace, the REST API and its schema, login,
admin, and the operators' health, readiness and metrics."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from approvals.api.slack import slack_interactions
from config import observability, two_factor

urlpatterns = [
    path("", include("approvals.urls")),
    path("policies/", include("policies.urls")),
    path("escalations/", include("escalations.urls")),
    path("qa/", include("qa.urls")),
    path("api/v1/sandbox/", include("sandbox.urls")),
    path("api/v1/", include("approvals.api.urls")),
    path("api/v1/", include("escalations.api.urls")),
    path("api/v1/", include("qa.api.urls")),
    # Signed by Slack, not a session: see approvals.api.slack.
    path("integrations/slack/interactions/", slack_interactions, name="slack-interactions"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script from a URL: the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/two-factor/", two_factor.verify, name="two-factor-verify"),
    path("accounts/two-factor/setup/", two_factor.setup, name="two-factor-setup"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # For operators: /healthz, /readyz and /metrics (config.observability answers them first).
    *(path(route, view, name=route) for route, view in observability.ROUTES.items()),
]
# Superusers only (config.admin); a deployment that manages people by commands switches it off.
if settings.ADMIN_ENABLED:
    urlpatterns.append(path("admin/", admin.site.urls))

handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
