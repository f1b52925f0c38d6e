"""Dashboard pages: thin views over selectors and services, rendering named partials."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.presenters import may_use_dashboard, row_context
from config.errors import ApplicationError


def _supervisor_required(view):
    @login_required
    def wrapped(request, *args, **kwargs):
        if not may_use_dashboard(request.user):
            raise PermissionDenied("The queue is for supervisors.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _queue_context(request) -> dict:
    return {
        "pending": list(selectors.pending_actions()),
        "recent": list(selectors.recent_actions()),
        "approve_codes": selectors.reason_codes(kind="approve"),
        "reject_codes": selectors.reason_codes(kind="reject"),
    }


@require_GET
@_supervisor_required
def queue(request):
    return render(request, "approvals/queue.html", _queue_context(request))


@require_GET
@_supervisor_required
def queue_rows(request):
    """The list partial, for resync after a websocket reconnect."""
    return render(request, "approvals/queue.html#queue-lists", _queue_context(request))


def _decide(request, action_id, service):
    try:
        service(
            action_id=action_id,
            by=request.user,
            reason_code=request.POST.get("reason_code") or None,
            note=request.POST.get("note", ""),
        )
    except ApplicationError as exc:
        response = HttpResponse(exc.message, status=exc.status_code)
        response["HX-Retarget"] = "#flash"
        return response
    action = selectors.action_get(action_id=action_id)
    return render(
        request, "approvals/queue.html#action-row", row_context(action, request.user)
    )


@require_POST
@_supervisor_required
def approve(request, action_id):
    return _decide(request, action_id, services.action_approve)


@require_POST
@_supervisor_required
def reject(request, action_id):
    return _decide(request, action_id, services.action_reject)
