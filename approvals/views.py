"""Dashboard pages: thin views over presenters and services, rendering named partials."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from approvals import action_page as pages
from approvals import breakers, params_form, presenters, rulebook, selectors, services
from config.errors import ApplicationError, Code, InvalidInput, NotFound
from config.http import request_id


def _supervisor_required(view):
    """Pages and partials are for supervisors; htmx callers are sent to the login page whole."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next=/")
            return redirect_to_login(request.get_full_path())
        viewer = presenters.viewer_for(request.user)
        if not rulebook.may_use_dashboard(viewer):
            raise PermissionDenied("The queue is for supervisors.")
        return view(request, viewer, *args, **kwargs)

    return wrapped


def _queue_render(request, viewer, template: str) -> HttpResponse:
    """The page or its lists for the filters, sort and page of the query string. A bad filter is
    said on the page; a bad page link (cursor) is a 400 showing the first page and why."""
    try:
        return render(request, template, presenters.queue_context(viewer, request.GET))
    except InvalidInput as exc:
        context = presenters.queue_error_context(viewer, exc)
        return render(request, template, context, status=exc.status_code)


@require_GET
@_supervisor_required
def queue(request, viewer):
    return _queue_render(request, viewer, "approvals/queue.html")


@require_GET
@_supervisor_required
def queue_rows(request, viewer):
    """The list partial, for resync after a websocket reconnect (same query string as the page)."""
    return _queue_render(request, viewer, presenters.LISTS_TEMPLATE)


@require_GET
@_supervisor_required
def action_row(request, viewer, action_id):
    """One row as it stands, for a page that learned its copy is stale (a 409 on a decision)."""
    html = presenters.action_row_html(action_id=action_id, viewer=viewer)
    if not html:
        return _flash_error(NotFound("No such action.", code=Code.ACTION_NOT_FOUND))
    return HttpResponse(html)


def _expected_version(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput("expected_version must be a whole number.") from exc


def _flash_error(exc: ApplicationError) -> HttpResponse:
    """The service's own words in #flash, with its status code: never a 500 for a refusal."""
    html = render_to_string(
        "approvals/queue.html#flash-message", {"message": exc.message, "code": exc.code}
    )
    response = HttpResponse(html, status=exc.status_code)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response


def _decision_input(request) -> dict:
    """What every decision form posts: reason code, note and the version the reviewer saw."""
    return {
        "by": request.user,
        "reason_code": request.POST.get("reason_code") or None,
        "note": request.POST.get("note", "")[:2000],
        "expected_version": _expected_version(request.POST.get("expected_version")),
        "request_id": request_id(request),
    }


def _executing(service, request):
    """A decision that makes the action execute carries the approver's confirmation that an
    action type nothing can undo may go ahead (the form's `confirm_irreversible` box)."""
    return functools.partial(
        service,
        confirm_irreversible=request.POST.get("confirm_irreversible") in ("on", "1", "true"),
    )


def _decide(request, viewer, action_id, service) -> HttpResponse:
    try:
        service(action_id=action_id, **_decision_input(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@_supervisor_required
def approve(request, viewer, action_id):
    return _decide(request, viewer, action_id, _executing(services.action_approve, request))


@require_POST
@_supervisor_required
def reject(request, viewer, action_id):
    return _decide(request, viewer, action_id, services.action_reject)


@require_POST
@_supervisor_required
def adopt(request, viewer, action_id):
    return _decide(request, viewer, action_id, _executing(services.action_adopt, request))


@require_POST
@_supervisor_required
def dismiss(request, viewer, action_id):
    return _decide(request, viewer, action_id, services.action_dismiss)


def _edited_params(raw: str) -> dict:
    try:
        params = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(
            f"The params are not valid JSON ({exc}).", code=Code.MALFORMED_JSON
        ) from exc
    if not isinstance(params, dict):
        raise InvalidInput("The params must be a JSON object.", code=Code.INVALID_PARAMS)
    return params


@require_POST
@_supervisor_required
def edit(request, viewer, action_id):
    """Change a draft's params (JSON from the row's textarea) with an edit reason code."""
    try:
        services.action_edit(
            action_id=action_id,
            by=request.user,
            params=_edited_params(request.POST.get("params", "")),
            reason_code=request.POST.get("reason_code") or None,
            note=request.POST.get("note", "")[:2000],
            expected_version=_expected_version(request.POST.get("expected_version")),
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@_supervisor_required
def claim(request, viewer, action_id):
    """Claim a row (or renew one's claim); answers with the row, like a decision."""
    try:
        services.action_claim(action_id=action_id, by=request.user, request_id=request_id(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@_supervisor_required
def release(request, viewer, action_id):
    try:
        services.action_release(
            action_id=action_id, by=request.user, request_id=request_id(request)
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.action_row_html(action_id=action_id, viewer=viewer))


@require_POST
@_supervisor_required
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
@_supervisor_required
def breaker_reset(request, viewer, breaker_id):
    """Reset one agent's trip from the banner; answers with the banner as it now stands."""
    try:
        breakers.breaker_reset(
            breaker_id=breaker_id,
            by=request.user,
            reason=request.POST.get("reason", "")[:2000],
            agent_name=request.POST.get("agent") or None,
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.breaker_banner_html(viewer=viewer))


# ---------------------------------------------------------------------------------------------
# the action page (issue 4): one action, its claim, decisions, edit with diff, and lineage.
# Page endpoints answer the page's own partials (`approvals/action.html#...`), never queue rows.


def _page_action(viewer, request, action_id):
    """The action if the viewer may see its queue; a 404 (never a hint) otherwise."""
    try:
        return selectors.action_get_for_page(action_id=action_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _page_render(request, viewer, action_id, *, message="", code="", status=200, edit=None):
    """The panel for htmx calls, the whole page otherwise (a form posted without JavaScript)."""
    action = _page_action(viewer, request, action_id)
    if request.htmx:
        panel = pages.action_panel(action, viewer, message=message, message_code=code)
        return render(request, pages.PANEL_TEMPLATE, {"panel": panel}, status=status)
    page = pages.action_page(action, viewer, message=message, edit=edit)
    return render(request, pages.PAGE_TEMPLATE, {"page": page}, status=status)


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
@_supervisor_required
def action_page(request, viewer, action_id):
    action = _page_action(viewer, request, action_id)
    if pages.should_claim_on_open(action, viewer):
        with contextlib.suppress(ApplicationError):  # taken a moment ago: the page shows by whom
            services.action_claim(
                action_id=action.pk, by=request.user, request_id=request_id(request)
            )
        action = _page_action(viewer, request, action_id)
    page = pages.action_page(action, viewer)
    if request.GET.get("edit") and page.panel.can_edit:  # the queue page's `e` key comes here
        page = dataclasses.replace(page, edit=params_form.edit_form(action))
    return render(request, pages.PAGE_TEMPLATE, {"page": page})


@require_GET
@_supervisor_required
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
@_supervisor_required
def page_claim(request, viewer, action_id):
    """Claim, or renew one's claim (the page's heartbeat)."""
    return _page_claim(request, viewer, action_id)


@require_POST
@_supervisor_required
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
@_supervisor_required
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
}


@require_POST
@_supervisor_required
def page_decide(request, viewer, action_id, kind):
    """Approve, reject, adopt, dismiss or roll back from the page; answers the refreshed panel,
    or on a refusal the service's words over the fresh panel (a stale version is never
    overwritten)."""
    service = _PAGE_DECISIONS.get(kind)
    if service is None:
        raise Http404("No such decision.")
    if kind in ("approve", "adopt"):
        service = _executing(service, request)
    _page_action(viewer, request, action_id)
    try:
        service(action_id=action_id, **_decision_input(request))
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
    return render(request, pages.PAGE_TEMPLATE, {"page": page}, status=status)


@require_http_methods(["GET", "POST"])
@_supervisor_required
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
        version = _expected_version(request.POST.get("expected_version"))
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
        return _edited_params(request.POST.get("params", ""))
    except ApplicationError:
        return None
