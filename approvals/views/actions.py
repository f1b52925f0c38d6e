"""The action page: one action, its claim, decisions, edit with diff, and lineage.

Its endpoints answer the page's own partials (`approvals/action.html#...`), never queue rows.
"""

from __future__ import annotations

import dataclasses

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import action_page as pages
from approvals import params_form, rulebook, selectors, services
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


def _page_action(viewer, request, action_id):
    """The action if the viewer may see its queue; a 404 (never a hint) otherwise."""
    try:
        action = selectors.action_get_for_page(action_id=action_id)
        rulebook.enforce(rulebook.may_see(viewer, rulebook.facts_of(action)))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return action


def _page_render(request, viewer, action_id, *, message="", code="", status=200, edit=None):
    """The panel for htmx calls, the whole page otherwise (a form posted without JavaScript)."""
    action = _page_action(viewer, request, action_id)
    if request.htmx:
        panel = pages.action_panel(action, viewer, message=message, message_code=code)
        return render(request, pages.PANEL_TEMPLATE, {"panel": panel}, status=status)
    page = pages.action_page(action, viewer, message=message, edit=edit)
    return render(request, pages.PAGE_TEMPLATE, {"page": page, "viewer": viewer}, status=status)


def _refusal(exc: ApplicationError) -> tuple[str, str]:
    if exc.code == Code.STALE_VERSION:
        return (
            "This action changed since you opened it: it is now "
            f"{exc.details.get('status', 'changed')} at version "
            f"{exc.details.get('current_version', '?')}; review the fresh state below and decide "
            "again.",
            exc.code,
        )
    return exc.message, exc.code


@require_GET
@supervisor_required
def action_page(request, viewer, action_id):
    """The page only reads: its script claims the action with a POST once it has loaded
    (`claim_on_open`), so a link from another site can open the page but never lock the action."""
    action = _page_action(viewer, request, action_id)
    page = pages.action_page(action, viewer)
    if request.GET.get("edit") and page.panel.can_edit:  # the queue page's `e` key comes here
        page = dataclasses.replace(page, edit=params_form.edit_form(action))
    context = {
        "page": page,
        "viewer": viewer,
        "claim_on_open": pages.should_claim_on_open(action, viewer),
    }
    return render(request, pages.PAGE_TEMPLATE, context)


@require_GET
@supervisor_required
def page_panel(request, viewer, action_id):
    """The header, claim and decision area, re-read after a push or a reconnect."""
    action = _page_action(viewer, request, action_id)
    return render(request, pages.PANEL_TEMPLATE, {"panel": pages.action_panel(action, viewer)})


def _page_claim(request, viewer, action_id, *, takeover_reason=""):
    _page_action(viewer, request, action_id)
    try:
        services.action_claim(
            action_id=action_id,
            by=request.user,
            takeover_reason=takeover_reason,
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        message, code = _refusal(exc)
        # Someone else holding it is what the panel shows anyway; only other refusals are news.
        if exc.code == Code.CLAIMED_BY_OTHER and not takeover_reason:
            message, code = "", ""
        return _page_render(
            request,
            viewer,
            action_id,
            message=message,
            code=code,
            status=200 if not code else exc.status_code,
        )
    return _page_render(request, viewer, action_id)


@require_POST
@supervisor_required
def page_claim(request, viewer, action_id):
    """Claim, or renew one's claim (the page's heartbeat)."""
    return _page_claim(request, viewer, action_id)


@require_POST
@supervisor_required
def page_takeover(request, viewer, action_id):
    """A senior supervisor takes over someone else's claim, with a reason."""
    reason = request.POST.get("reason", "")[:2000].strip()
    if not reason:
        return _page_render(
            request,
            viewer,
            action_id,
            status=400,
            code=Code.REASON_REQUIRED,
            message="A reason is required to take over a review.",
        )
    return _page_claim(request, viewer, action_id, takeover_reason=reason)


@require_POST
@supervisor_required
def page_release(request, viewer, action_id):
    """Give the review up: the Release button, and best effort when the page is left."""
    _page_action(viewer, request, action_id)
    try:
        services.action_release(
            action_id=action_id,
            by=request.user,
            if_expires_at=parse_datetime(request.POST.get("claim_expires_at") or "") or None,
            request_id=request_id(request),
        )
    except ValueError:
        return HttpResponse("claim_expires_at is not a date and time.", status=400)
    except ApplicationError as exc:
        message, code = _refusal(exc)
        return _page_render(
            request, viewer, action_id, message=message, code=code, status=exc.status_code
        )
    if request.POST.get("beacon"):
        return HttpResponse(status=204)  # the page is gone: nobody reads the answer
    return _page_render(request, viewer, action_id)


_PAGE_DECISIONS = {
    "approve": services.action_approve,
    "reject": services.action_reject,
    "adopt": services.action_adopt,
    "dismiss": services.action_dismiss,
    "rollback": services.action_rollback,
    "escalate": services.action_escalate,
}


@require_POST
@supervisor_required
def page_decide(request, viewer, action_id, kind):
    """Approve, reject, adopt, dismiss, roll back or escalate from the page; answers the
    refreshed panel, or on a refusal the service's words over the fresh panel (a stale version is
    never overwritten)."""
    service = _PAGE_DECISIONS.get(kind)
    if service is None:
        raise Http404("No such decision.")
    if kind in ("approve", "adopt"):
        service = executing(service, request)
    elif kind == "escalate":
        service = escalating(service, request)
    _page_action(viewer, request, action_id)
    try:
        service(action_id=action_id, **decision_input(request))
    except ApplicationError as exc:
        message, code = _refusal(exc)
        return _page_render(
            request, viewer, action_id, message=message, code=code, status=exc.status_code
        )
    return _page_render(request, viewer, action_id)


def _edit_answer(request, viewer, action, step, *, status=200):
    if request.htmx:
        return render(request, pages.EDIT_TEMPLATE, {"edit": step, "action": action}, status=status)
    page = pages.action_page(action, viewer, edit=step)
    return render(request, pages.PAGE_TEMPLATE, {"page": page, "viewer": viewer}, status=status)


@require_http_methods(["GET", "POST"])
@supervisor_required
def page_edit(request, viewer, action_id):
    """Approve with changes, in two steps: the schema form (GET, or POST `step=review` answering
    the form with errors or the confirm step with the diff and what the policy would now say),
    then POST `step=confirm` with a reason code, which saves the edit through the service."""
    action = _page_action(viewer, request, action_id)
    if not pages.action_panel(action, viewer).can_edit:
        step = params_form.EditStep(
            step="refused",
            message="You cannot edit this action now: it is not pending or a draft, someone else "
            "is reviewing it, or it needs a role you do not have.",
            message_code=Code.NOT_EDITABLE,
        )
        return _edit_answer(request, viewer, action, step, status=409)
    if request.method == "GET":
        return _edit_answer(request, viewer, action, params_form.edit_form(action))
    try:
        version = expected_version(request.POST.get("expected_version"))
    except ApplicationError as exc:
        return _edit_answer(
            request,
            viewer,
            action,
            params_form.edit_form(action, general=[exc.message]),
            status=400,
        )
    step = request.POST.get("step", "review")
    if step == "back":
        values = _posted_params(request)
        form = params_form.edit_form(action, values=values, version=version)
        return _edit_answer(request, viewer, action, form)
    if step != "confirm":
        try:
            answer, _ = params_form.edit_review(action, request.POST, version=version)
        except ApplicationError as exc:  # the policy could not be asked about the new params
            answer = params_form.edit_form(action, general=[exc.message], version=version)
        return _edit_answer(
            request, viewer, action, answer, status=200 if answer.step == "confirm" else 400
        )
    params = _posted_params(request)
    try:
        if params is None:
            raise InvalidInput("The edited params are missing; start the edit again.")
        services.action_edit(
            action_id=action.pk,
            by=request.user,
            params=params,
            reason_code=request.POST.get("reason_code") or None,
            note=request.POST.get("note", "")[:2000],
            expected_version=version,
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        message, code = _refusal(exc)
        if params is None:
            return _edit_answer(
                request,
                viewer,
                action,
                params_form.edit_form(action, general=[message]),
                status=400,
            )
        answer = params_form.confirm_step(
            action, params, version=version, message=message, message_code=code
        )
        response = _edit_answer(request, viewer, action, answer, status=exc.status_code)
        if code == Code.STALE_VERSION and request.htmx:
            fresh = pages.action_panel(action, viewer, message=message, message_code=code)
            panel = render_to_string(
                pages.PANEL_TEMPLATE, {"panel": fresh, "oob": True}, request=request
            )
            response.content += panel.encode()
        return response
    fresh = _page_action(viewer, request, action_id)
    page = pages.action_page(fresh, viewer, message="Edit saved.")
    if request.htmx:
        response = render(request, pages.BODY_TEMPLATE, {"page": page})
        response["HX-Retarget"] = "#action-page"
        response["HX-Reswap"] = "outerHTML"
        return response
    return redirect("approvals:action", action_id=action.pk)


def _posted_params(request) -> dict | None:
    try:
        return edited_params(request.POST.get("params", ""))
    except ApplicationError:
        return None
