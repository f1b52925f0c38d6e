"""Error pages: JSON under /api/, HTML elsewhere."""

from django.shortcuts import render
from django.views import defaults

from config.api import api_not_found, api_server_error


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return defaults.server_error(request)


def permission_denied(request, exception):
    """The "not for this account" page. A view that raises `PermissionDenied(refusal)` with the
    rulebook's refusal (an `ApplicationError`) gets its message, and the roles its details name
    (`role` or `roles`) become the hint; anything else gets a neutral hint."""
    refusal = exception.args[0] if exception is not None and exception.args else None
    message = getattr(refusal, "message", None) or (str(refusal) if refusal else "")
    details = getattr(refusal, "details", None) or {}
    roles = details.get("roles") or ([details["role"]] if details.get("role") else [])
    context = {"exception": message, "roles": [str(role) for role in roles]}
    return render(request, "403.html", context, status=403)
