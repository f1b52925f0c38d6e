"""The escalation workspace's HTML views: the list of cases, the case page, and its forms.

Each form posts to a thin view that makes one service call and answers with what changed: from
the case page, the whole page body on success (htmx swaps it in) or the panel with the service's
words on a refusal; from the list, the row, or the refusal in #flash. Without JavaScript a form
post answers with the page (or a redirect to it).
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from approvals import params_form, rulebook
from approvals.views.common import edited_params, expected_version
from config.errors import ApplicationError, Code, InvalidInput, NotFound
from config.http import request_id
from escalations import case_page as pages
from escalations import presenters, selectors, services
from escalations.models import Escalation, Outcome

NOTE_LIMIT = 2000


def workspace_required(view):
    """The workspace is for the people the rulebook lets use it (handlers of a tier, auditors,
    superusers); anyone else gets the 403 page the queue gives."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next=/escalations/")
            return redirect_to_login(request.get_full_path())
        person = rulebook.person_of(request.user)
        access = selectors.workspace_of(person=person)
        if not access.may_use:
            raise PermissionDenied(
                "The escalation workspace is for the handlers of an escalation tier, auditors "
                "and superusers."
            )
        return view(request, person, access, *args, **kwargs)

    return wrapped


def _visible_case(person, case_id) -> Escalation:
    """The case if the person may see it; a 404 (never a hint) otherwise."""
    try:
        case = selectors.case_get(case_id=case_id)
        rulebook.enforce(rulebook.may_see_case(person, selectors.case_facts(case)))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return case


# ---------------------------------------------------------------------------------------------
# the list


@require_GET
@workspace_required
def workspace(request, person, access):
    """The cases the person sees, filtered by status and tier; a bad filter is said on the page."""
    context = presenters.workspace_context(person, access, request.GET)
    return render(request, presenters.PAGE_TEMPLATE, context)


@require_GET
@workspace_required
def rows(request, person, access):
    """The list partial (counts and rows), for resync after a reconnect or a missed push."""
    context = presenters.workspace_context(person, access, request.GET)
    return render(request, presenters.LISTS_TEMPLATE, context)


@require_GET
@workspace_required
def row(request, person, access, case_id):
    """One row as it stands, for a page whose push came without it; 404 when not theirs."""
    html = presenters.case_row_html(case_id=case_id, viewer=person)
    if not html:
        return _flash_error(NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND))
    return HttpResponse(html)


@require_POST
@workspace_required
def row_acknowledge(request, person, access, case_id):
    """Acknowledge from the list (the `a` key); answers with the row."""
    try:
        services.case_acknowledge(
            case_id=case_id,
            by=request.user,
            expected_version=expected_version(request.POST.get("expected_version")),
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return HttpResponse(presenters.case_row_html(case_id=case_id, viewer=person))


def _flash_error(exc: ApplicationError) -> HttpResponse:
    """The service's own words in #flash, with its status code."""
    response = HttpResponse(presenters.flash_html(exc.message, exc.code), status=exc.status_code)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response


# ---------------------------------------------------------------------------------------------
# the case page


def _page_context(page: pages.CasePage, person) -> dict[str, Any]:
    return {"page": page, "viewer": person, "escalations_nav": True}


@require_GET
@workspace_required
def case(request, person, access, case_id):
    case = _visible_case(person, case_id)
    page = pages.case_page(case, person, tiers=access.tiers)
    return render(request, pages.PAGE_TEMPLATE, _page_context(page, person))


@require_GET
@workspace_required
def panel(request, person, access, case_id):
    """The header, clocks and forms, re-read after a push or a reconnect."""
    case = _visible_case(person, case_id)
    panel = pages.case_panel(case, person, tiers=access.tiers)
    return render(request, pages.PANEL_TEMPLATE, {"panel": panel})


def _refusal(exc: ApplicationError) -> str:
    if exc.code == Code.STALE_VERSION:
        return (
            "This case changed since you opened it: it is now "
            f"{exc.details.get('status', 'changed')} at version "
            f"{exc.details.get('current_version', '?')}; review the fresh state below and act "
            "again."
        )
    return exc.message


def _answer(request, person, access, case_id, *, exc: ApplicationError | None = None):
    """After a form: on success the whole page body (htmx) or a redirect to the page; on a
    refusal the panel (htmx) or the page, with the service's words and its status code. A case
    the person no longer sees (passed to a tier they do not handle) sends them to the list."""
    try:
        case = selectors.case_get(case_id=case_id)
        rulebook.enforce(rulebook.may_see_case(person, selectors.case_facts(case)))
    except NotFound:
        if exc is not None:
            raise Http404("No such escalation case.") from exc
        if request.htmx:
            return HttpResponseClientRedirect(reverse("escalations:workspace"))
        return redirect("escalations:workspace")
    if exc is None:
        if not request.htmx:
            return redirect("escalations:case", case_id=case.pk)
        page = pages.case_page(case, person, tiers=access.tiers)
        response = render(request, pages.BODY_TEMPLATE, {"page": page})
        response["HX-Retarget"] = "#case-page"
        response["HX-Reswap"] = "outerHTML"
        return response
    message, code, status = _refusal(exc), exc.code, exc.status_code
    if request.htmx:
        panel = pages.case_panel(
            case, person, tiers=access.tiers, message=message, message_code=code
        )
        response = render(request, pages.PANEL_TEMPLATE, {"panel": panel}, status=status)
        response["HX-Retarget"] = "#case-panel"
        response["HX-Reswap"] = "outerHTML"
        return response
    page = pages.case_page(case, person, tiers=access.tiers, message=message, message_code=code)
    return render(request, pages.PAGE_TEMPLATE, _page_context(page, person), status=status)


def _act(request, person, access, case_id, call) -> HttpResponse:
    _visible_case(person, case_id)
    try:
        call()
    except ApplicationError as exc:
        return _answer(request, person, access, case_id, exc=exc)
    return _answer(request, person, access, case_id)


def _version(request) -> int | None:
    return expected_version(request.POST.get("expected_version"))


def _note(request) -> str:
    return request.POST.get("note", "")[:NOTE_LIMIT]


@require_POST
@workspace_required
def acknowledge(request, person, access, case_id):
    return _act(request, person, access, case_id, lambda: services.case_acknowledge(
        case_id=case_id, by=request.user, expected_version=_version(request),
        request_id=request_id(request),
    ))  # fmt: skip


@require_POST
@workspace_required
def reassign(request, person, access, case_id):
    """Pass the case to a tier and/or a person, with a reason."""
    return _act(request, person, access, case_id, lambda: services.case_reassign(
        case_id=case_id, by=request.user, reason=request.POST.get("reason", "")[:500],
        tier=request.POST.get("tier", "").strip()[:32],
        to_user=request.POST.get("to_user", "").strip()[:150] or None,
        expected_version=_version(request), request_id=request_id(request),
    ))  # fmt: skip


# The outcomes a form resolves a case with as it stands (an edit goes through `edit`).
_OUTCOMES = frozenset(Outcome.values)


@require_POST
@workspace_required
def resolve(request, person, access, case_id, outcome):
    """Approve (as it stands), reject (reason code of kind reject), return to the agent (guidance
    in the note) or record it as resolved outside (note)."""
    if outcome not in _OUTCOMES:
        raise Http404("No such outcome.")
    return _act(request, person, access, case_id, lambda: services.case_resolve(
        case_id=case_id, by=request.user, outcome=outcome,
        reason_code=request.POST.get("reason_code") or None, note=_note(request),
        expected_version=_version(request), request_id=request_id(request),
    ))  # fmt: skip


def _edit_answer(request, person, access, case, step, *, status=200):
    action = pages.case_action(case)
    if request.htmx:
        context = {"edit": step, "action": action, "case": case}
        return render(request, pages.EDIT_TEMPLATE, context, status=status)
    page = pages.case_page(case, person, tiers=access.tiers, edit=step)
    return render(request, pages.PAGE_TEMPLATE, _page_context(page, person), status=status)


@require_http_methods(["GET", "POST"])
@workspace_required
def edit(request, person, access, case_id):
    """Approve with changes, as the action page's edit does it: the schema form (GET, or POST
    `step=review` answering the form with its errors or the confirm step: the diff and what the
    policy would now say), then POST `step=confirm` with a reason code of kind edit, which
    resolves the case as approved with the edited params."""
    case = _visible_case(person, case_id)
    panel = pages.case_panel(case, person, tiers=access.tiers)
    action = pages.case_action(case)
    if not panel.decides or action is None:
        step = params_form.EditStep(
            step="refused",
            message="You cannot approve this case now: it is resolved, someone else is working "
            "it, or its action no longer waits on it.",
            message_code=Code.NOT_EDITABLE,
        )
        return _edit_answer(request, person, access, case, step, status=409)
    if request.method == "GET":
        return _edit_answer(
            request, person, access, case, params_form.edit_form(action, version=case.version)
        )
    try:
        version = _version(request)
    except ApplicationError as exc:
        step = params_form.edit_form(action, general=[exc.message], version=case.version)
        return _edit_answer(request, person, access, case, step, status=400)
    step_name = request.POST.get("step", "review")
    if step_name == "back":
        form = params_form.edit_form(action, values=_posted_params(request), version=version)
        return _edit_answer(request, person, access, case, form)
    if step_name != "confirm":
        try:
            answer, _ = params_form.edit_review(action, request.POST, version=version)
        except ApplicationError as exc:  # the policy could not be asked about the new params
            answer = params_form.edit_form(action, general=[exc.message], version=version)
        status = 200 if answer.step == "confirm" else 400
        return _edit_answer(request, person, access, case, answer, status=status)
    params = _posted_params(request)
    try:
        if params is None:
            raise InvalidInput("The edited params are missing; start the edit again.")
        services.case_resolve(
            case_id=case.pk, by=request.user, outcome=Outcome.APPROVED, params=params,
            reason_code=request.POST.get("reason_code") or None, note=_note(request),
            expected_version=version, request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        if params is None:
            step = params_form.edit_form(action, general=[exc.message], version=version)
            return _edit_answer(request, person, access, case, step, status=400)
        answer = params_form.confirm_step(
            action, params, version=version, message=_refusal(exc), message_code=exc.code
        )
        return _edit_answer(request, person, access, case, answer, status=exc.status_code)
    return _answer(request, person, access, case.pk)


def _posted_params(request) -> dict | None:
    try:
        return edited_params(request.POST.get("params", ""))
    except ApplicationError:
        return None
