"""The queue page: the list, its rows, and the decisions made from it (answered with rows)."""

from __future__ import annotations

import functools

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from approvals import presenters, rulebook, services
from approvals.views.common import (
    decision_input,
    edited_params,
    escalating,
    executing,
    expected_version,
    supervisor_required,
)
from config.errors import ApplicationError, Code, InvalidInput, NotFound
from config.http import request_id


def _queue_render(request, viewer, template: str) -> HttpResponse:
    """The page or its lists for the filters, sort and page of the query string. A bad filter is
    said on the page; a bad page link (cursor) is a 400 showing the first page and why."""
    try:
        return render(request, template, presenters.queue_context(viewer, request.GET))
    except InvalidInput as exc:
        context = presenters.queue_error_context(viewer, exc)
        return render(request, template, context, status=exc.status_code)


def _qa_elsewhere(view):
    """People the rulebook lets use QA but not the queue find their work at `/qa/` (by path:
    approvals does not know the QA app); anyone else refused the queue still gets the 403."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            person = presenters.viewer_for(request.user)
            if not rulebook.may_use_dashboard(person) and rulebook.may_use_qa(person):
                return redirect("/qa/")
            raise

    return wrapped


@require_GET
@_qa_elsewhere
@supervisor_required
def queue(request, viewer):
    return _queue_render(request, viewer, "approvals/queue.html")


@require_GET
@supervisor_required
def queue_rows(request, viewer):
    """The list partial, for resync after a websocket reconnect (same query string as the page)."""
    return _queue_render(request, viewer, presenters.LISTS_TEMPLATE)


@require_GET
@supervisor_required
def action_row(request, viewer, action_id):
    """One row as it stands, for a page that learned its copy is stale (a 409 on a decision)."""
    html = presenters.action_row_html(action_id=action_id, viewer=viewer)
    if not html:
        return _flash_error(NotFound("No such action.", code=Code.ACTION_NOT_FOUND))
    return HttpResponse(html)


def _decide(request, viewer, action_id, service) -> HttpResponse:
    try:
        service(action_id=action_id, **decision_input(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@supervisor_required
def approve(request, viewer, action_id):
    return _decide(request, viewer, action_id, executing(services.action_approve, request))


@require_POST
@supervisor_required
def reject(request, viewer, action_id):
    return _decide(request, viewer, action_id, services.action_reject)


@require_POST
@supervisor_required
def escalate(request, viewer, action_id):
    """Hand a pending action to an escalation tier (the rule's, or the one picked) with a reason
    code of kind `escalate`; answers with the row, which now waits for a handler."""
    return _decide(request, viewer, action_id, escalating(services.action_escalate, request))


@require_POST
@supervisor_required
def adopt(request, viewer, action_id):
    return _decide(request, viewer, action_id, executing(services.action_adopt, request))


@require_POST
@supervisor_required
def dismiss(request, viewer, action_id):
    return _decide(request, viewer, action_id, services.action_dismiss)


@require_POST
@supervisor_required
def edit(request, viewer, action_id):
    """Change a draft's params (JSON from the row's textarea) with an edit reason code."""
    try:
        services.action_edit(
            action_id=action_id,
            by=request.user,
            params=edited_params(request.POST.get("params", "")),
            reason_code=request.POST.get("reason_code") or None,
            note=request.POST.get("note", "")[:2000],
            expected_version=expected_version(request.POST.get("expected_version")),
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@supervisor_required
def claim(request, viewer, action_id):
    """Claim a row (or renew one's claim); answers with the row, like a decision."""
    try:
        services.action_claim(action_id=action_id, by=request.user, request_id=request_id(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@supervisor_required
def release(request, viewer, action_id):
    try:
        services.action_release(
            action_id=action_id, by=request.user, request_id=request_id(request)
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@supervisor_required
def batch(request, viewer):
    """Approve or reject the ticked rows with one reason code; answers with a summary for #flash
    (each row still changes on its own, by its push)."""
    kind = request.POST.get("kind", "")
    try:
        outcomes = services.actions_decide_batch(
            action_ids=request.POST.getlist("action_ids"),
            by=request.user,
            kind=kind,
            reason_code=request.POST.get("reason_code") or None,
            note=request.POST.get("note", "")[:2000],
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.batch_summary_html(outcomes, kind))


@require_POST
@supervisor_required
def breaker_reset(request, viewer, breaker_id):
    """Reset one agent's trip from the banner; answers with the banner as it now stands."""
    try:
        services.breaker_reset(
            breaker_id=breaker_id,
            by=request.user,
            reason=request.POST.get("reason", "")[:2000],
            agent_name=request.POST.get("agent") or None,
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.breaker_banner_html(viewer=viewer))


def _flash_error(exc: ApplicationError) -> HttpResponse:
    """The service's own words in #flash, with its status code: never a 500 for a refusal."""
    html = render_to_string(
        "approvals/queue.html#flash-message", {"message": exc.message, "code": exc.code}
    )
    response = HttpResponse(html, status=exc.status_code)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response
