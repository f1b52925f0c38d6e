"""Policy pages for policy admins: versions, the draft editor, diffs, publish and rollback. The
simulation runs are in `views_simulation`, the escalation tiers the rules name in `views_tiers`.

Views stay thin: each reads through selectors or makes one service call, then renders a page or,
for htmx, one named partial of `policies/version.html`. A refused change comes back as the
service's own words with its status code (422 for a rule that does not validate, shown next to
its fields; 409 or 404 in #flash), never a 500.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from approvals import rulebook
from audit.services import Actor
from config.errors import ApplicationError, Code, InvalidInput, NotFound
from people.roles import DECIDING_ROLES
from policies import publication, selectors, services
from policies.models import RULE_SPEC_FIELDS, Mode, OnTimeout, PolicyVersion, Priority
from policies.simulation import MAX_DAYS
from policies.yaml_io import policy_to_yaml

PAGE = "policies/version.html"
DEFAULT_DAYS = 7


def _policy_admin_required(view):
    """Only those the rulebook lets edit policy see or change it; others get a 403."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next={request.path}")
            return redirect_to_login(request.get_full_path())
        allowed = rulebook.may_edit_policy(rulebook.person_of(request.user))
        if not allowed:
            raise PermissionDenied(allowed.error)
        return view(request, *args, **kwargs)

    return wrapped


def _actor(request) -> Actor:
    return Actor.user(request.user.pk)


def _version_or_404(number: int) -> PolicyVersion:
    try:
        return selectors.policy_version_get(number=number)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _flash_error(exc: ApplicationError) -> HttpResponse:
    html = render_to_string(f"{PAGE}#flash-message", {"message": exc.message, "code": exc.code})
    response = HttpResponse(html, status=exc.status_code)
    response["HX-Retarget"] = "#flash"
    response["HX-Reswap"] = "innerHTML"
    return response


def _go(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _detail_url(number: int) -> str:
    return reverse("policies:version", args=[number])


# ---------------------------------------------------------------------------------------------
# the rule form


def _int_or_raw(raw: str) -> Any:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else raw


def spec_from_form(data) -> dict[str, Any]:
    """A rule spec from the editor's fields; anything malformed is left for the service to name."""
    sla = data.get("sla_seconds", "").strip()
    condition = data.get("condition", "").replace("\r\n", "\n").strip()
    return {
        "name": data.get("name", "").strip(),
        "action_type": data.get("action_type", "").strip(),
        "agents": [a.strip() for a in data.get("agents", "").split(",") if a.strip()],
        "condition": condition or "true",
        "mode": data.get("mode", ""),
        "approvals_required": _int_or_raw(data.get("approvals_required", "1")),
        "approver_role": data.get("approver_role", "").strip()
        or services.RULE_DEFAULTS["approver_role"],
        "queue": data.get("queue", "").strip(),
        "priority": data.get("priority", Priority.NORMAL),
        "sla_seconds": _int_or_raw(sla) if sla else None,
        "on_timeout": data.get("on_timeout", OnTimeout.EXPIRE),
        "escalation_tier": data.get("escalation_tier", "").strip(),
        "explanation": data.get("explanation", "").strip(),
    }


def _form_values(spec: dict[str, Any]) -> dict[str, Any]:
    defaults = services.RULE_DEFAULTS
    values = {field: spec.get(field, defaults.get(field, "")) for field in RULE_SPEC_FIELDS}
    values["agents"] = ", ".join(spec.get("agents") or [])
    values["sla_seconds"] = "" if spec.get("sla_seconds") is None else spec["sla_seconds"]
    return values


def _form_context(
    version: PolicyVersion,
    *,
    spec: dict[str, Any] | None = None,
    rule_id: int | None = None,
    error: InvalidInput | None = None,
) -> dict[str, Any]:
    problems = (error.details.get("problems") if error else None) or []
    if error and not problems:
        problems = [{"field": "", "message": error.message, "position": "", "detail": ""}]
    known_tiers = selectors.tiers()
    return {
        "version": version,
        "form": _form_values(spec or {"mode": Mode.EXECUTE_GATED}),
        "rule_id": rule_id,
        "errors": {p["field"]: p for p in problems if p["field"]},
        "form_errors": [p for p in problems if not p["field"]],
        "modes": Mode.choices,
        "timeouts": OnTimeout.choices,
        "priorities": Priority.choices,
        "approver_roles": sorted(DECIDING_ROLES),
        "queues": selectors.queue_names(),
        "action_types": selectors.action_types(),
        "tiers": known_tiers,
        "tier_keys": [tier.key for tier in known_tiers],
    }


# ---------------------------------------------------------------------------------------------
# page context


def _diff_context(version: PolicyVersion, against: int | None) -> dict[str, Any]:
    if against is None:
        # Against the active version: what publishing this one (or rolling back to it) would
        # change. The active version itself is compared with the one published before it.
        base = selectors.active_version()
        if base is None or base.pk == version.pk:
            base = selectors.published_before(version=version)
        against = base.number if base else None
    diff = selectors.policy_diff(old=against, new=version.number) if against else None
    return {"diff": diff, "against": against}


def _publication_context(request, version: PolicyVersion) -> dict[str, Any]:
    """The request waiting for a second admin, if any, and whether this admin may confirm it."""
    waiting = selectors.publication_waiting(version=version)
    may_confirm = waiting is not None and bool(
        rulebook.may_confirm_publication(
            rulebook.person_of(request.user), requested_by_id=waiting.requested_by_id
        )
    )
    return {"publication": waiting, "may_confirm_publication": may_confirm}


def _page_context(request, version: PolicyVersion, **form: Any) -> dict[str, Any]:
    return {
        **_publication_context(request, version),
        "version": version,
        "rules": selectors.policy_rules(version=version),
        "versions": selectors.policy_versions(),
        "days": DEFAULT_DAYS,
        "max_days": MAX_DAYS,
        **_diff_context(version, None),
        **(_form_context(version, **form) if version.is_draft else {}),
    }


def _workspace(request, version: PolicyVersion) -> HttpResponse:
    """After a change: the whole editor, fresh (htmx), or the page again (plain form)."""
    if not request.htmx:
        return redirect(_detail_url(version.number))
    version = _version_or_404(version.number)
    response = render(request, f"{PAGE}#workspace", _page_context(request, version))
    response["HX-Retarget"] = "#workspace"
    response["HX-Reswap"] = "outerHTML"
    return response


def _form_refused(request, version: PolicyVersion, exc: InvalidInput, **form: Any) -> HttpResponse:
    if request.htmx:
        context = _form_context(version, error=exc, **form)
        return render(request, f"{PAGE}#rule-form", context, status=422)
    return render(request, PAGE, _page_context(request, version, error=exc, **form), status=422)


# ---------------------------------------------------------------------------------------------
# pages


@require_GET
@_policy_admin_required
def index(request):
    return render(
        request,
        "policies/index.html",
        {"versions": selectors.policy_versions(), "active": selectors.active_version()},
    )


@require_GET
@_policy_admin_required
def version_detail(request, number: int):
    version = _version_or_404(number)
    form: dict[str, Any] = {}
    edit = request.GET.get("edit", "")
    if version.is_draft and edit.isdigit():  # the Edit link without JavaScript
        rule = version.rules.filter(pk=int(edit)).first()
        if rule is not None:
            form = {"spec": rule.spec(), "rule_id": rule.pk}
    return render(request, PAGE, _page_context(request, version, **form))


@require_GET
@_policy_admin_required
def version_export(request, number: int):
    version = _version_or_404(number)
    response = HttpResponse(policy_to_yaml(version), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="policy-v{version.number}.yaml"'
    return response


@require_GET
@_policy_admin_required
def version_diff(request, number: int):
    version = _version_or_404(number)
    raw = request.GET.get("against", "")
    against = int(raw) if raw.isdigit() else None
    try:
        context = {"version": version, "versions": selectors.policy_versions()}
        context |= _diff_context(version, against)
    except NotFound as exc:
        return _flash_error(exc)
    template = f"{PAGE}#diff" if request.htmx else PAGE
    if not request.htmx:
        context = _page_context(request, version) | context
    return render(request, template, context)


# ---------------------------------------------------------------------------------------------
# changes


@require_POST
@_policy_admin_required
def draft_create(request):
    raw = request.POST.get("based_on", "")
    try:
        version = services.policy_draft_create(
            actor=_actor(request),
            based_on=int(raw) if raw.isdigit() else None,
            note=request.POST.get("note", "").strip()[:200],
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, _detail_url(version.number))


@require_GET
@_policy_admin_required
def rule_form(request, number: int, rule_id: int | None = None):
    """The editor for a new rule, or for an existing one of a draft."""
    version = _version_or_404(number)
    if not version.is_draft:
        return _flash_error(
            services.PolicyVersionPublished(
                f"Policy version {number} is published and can no longer change; "
                "create a draft from it instead."
            )
        )
    spec = None
    if rule_id is not None:
        rule = version.rules.filter(pk=rule_id).first()
        if rule is None:
            raise Http404("No such rule.")
        spec = rule.spec()
    return render(request, f"{PAGE}#rule-form", _form_context(version, spec=spec, rule_id=rule_id))


@require_POST
@_policy_admin_required
def rule_add(request, number: int):
    version = _version_or_404(number)
    spec = spec_from_form(request.POST)
    try:
        services.policy_rule_add(number=number, spec=spec, actor=_actor(request))
    except InvalidInput as exc:
        return _form_refused(request, version, exc, spec=spec)
    except ApplicationError as exc:
        return _flash_error(exc)
    return _workspace(request, version)


@require_POST
@_policy_admin_required
def rule_update(request, number: int, rule_id: int):
    version = _version_or_404(number)
    spec = spec_from_form(request.POST)
    try:
        services.policy_rule_update(
            number=number, rule_id=rule_id, spec=spec, actor=_actor(request)
        )
    except InvalidInput as exc:
        return _form_refused(request, version, exc, spec=spec, rule_id=rule_id)
    except ApplicationError as exc:
        return _flash_error(exc)
    return _workspace(request, version)


@require_POST
@_policy_admin_required
def rule_delete(request, number: int, rule_id: int):
    version = _version_or_404(number)
    try:
        services.policy_rule_delete(number=number, rule_id=rule_id, actor=_actor(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return _workspace(request, version)


@require_POST
@_policy_admin_required
def rule_move(request, number: int, rule_id: int):
    version = _version_or_404(number)
    raw = request.POST.get("to", "")
    try:
        if not raw.isdigit():
            raise InvalidInput(
                "to is the new position, a whole number.", code=Code.INVALID_POSITION
            )
        services.policy_rule_move(
            number=number, rule_id=rule_id, to_position=int(raw), actor=_actor(request)
        )
    except ApplicationError as exc:
        return _flash_error(exc)
    return _workspace(request, version)


@require_POST
@_policy_admin_required
def condition_check(request):
    """Live feedback while typing a condition: the CEL error and where it is, or nothing."""
    condition = request.POST.get("condition", "").replace("\r\n", "\n").strip() or "true"
    problem = services.condition_problem(condition)
    context = {"error": problem.as_dict() if problem else None, "condition": condition}
    return render(request, f"{PAGE}#condition-error", context)


@require_POST
@_policy_admin_required
def version_publish(request, number: int):
    """Ask a second policy admin to publish this draft."""
    try:
        publication.policy_publication_request(
            number=number, kind="publish", by=request.user,
            note=request.POST.get("note", "").strip()[:200],
        )  # fmt: skip
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, _detail_url(number))


@require_POST
@_policy_admin_required
def version_activate(request, number: int):
    """Ask a second policy admin to make this published version active again."""
    try:
        publication.policy_publication_request(
            number=number, kind="activate", by=request.user,
            note=request.POST.get("reason", "")[:500],
        )  # fmt: skip
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, _detail_url(number))


@require_POST
@_policy_admin_required
def publication_confirm(request, number: int, publication_id: int):
    try:
        publication.policy_publication_confirm(publication_id=publication_id, by=request.user)
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, _detail_url(number))


@require_POST
@_policy_admin_required
def publication_withdraw(request, number: int, publication_id: int):
    try:
        publication.policy_publication_withdraw(publication_id=publication_id, by=request.user)
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, _detail_url(number))


@require_POST
@_policy_admin_required
def draft_discard(request, number: int):
    try:
        services.policy_draft_discard(number=number, actor=_actor(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return _go(request, reverse("policies:index"))
