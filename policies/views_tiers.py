"""The escalation tier pages for policy admins: the tiers the rules name, and their business
hours. Thin like the other policy pages (`policies.views`): one read or one service call."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError, Code, InvalidInput
from policies import business_hours, selectors, tiers
from policies.views import _actor, _flash_error, _int_or_raw, _policy_admin_required

TIERS_PAGE = "policies/tiers.html"

DAYS = tuple(zip(business_hours.DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                       "Saturday", "Sunday"), strict=True))  # fmt: skip
_TIER_DEFAULTS = {
    "key": "", "name": "", "handler_group": "", "handler_queue": "", "ack_sla_seconds": 15 * 60,
    "resolve_sla_seconds": 4 * 3600, "next_tier": "", "renotify_seconds": 3600,
    "time_zone": "UTC", "weekly_hours": {}, "holidays": [], "is_default": False,
}  # fmt: skip


def _span(text: str) -> list[str]:
    # An en dash typed for the hyphen reads the same.
    start, dash, end = text.replace("\u2013", "-").partition("-")
    return [start.strip(), end.strip()] if dash else [text.strip()]


def tier_from_form(data) -> dict[str, Any]:
    """A tier spec from the tier form; anything malformed is left for the service to name.

    Each day's hours are written "09:00-17:00", several spans comma-separated; holidays are
    dates separated by commas or spaces."""
    hours = {}
    for day, _ in DAYS:
        raw = data.get(f"hours_{day}", "").strip()
        if raw:
            hours[day] = [_span(part) for part in raw.split(",") if part.strip()]
    holidays = data.get("holidays", "").replace(",", " ").split()
    return {
        "key": data.get("key", "").strip(),
        "name": data.get("name", "").strip(),
        "handler_group": data.get("handler_group", "").strip(),
        "handler_queue": data.get("handler_queue", "").strip(),
        "ack_sla_seconds": _int_or_raw(data.get("ack_sla_seconds", "")),
        "resolve_sla_seconds": _int_or_raw(data.get("resolve_sla_seconds", "")),
        "next_tier": data.get("next_tier", "").strip(),
        "renotify_seconds": _int_or_raw(data.get("renotify_seconds", "")),
        "time_zone": data.get("time_zone", "").strip(),
        "weekly_hours": hours,
        "holidays": holidays,
        "is_default": bool(data.get("is_default")),
    }


def _tier_form_values(spec: dict[str, Any]) -> dict[str, Any]:
    values = {**_TIER_DEFAULTS, **spec}
    hours = values["weekly_hours"] if isinstance(values["weekly_hours"], dict) else {}
    values["hours"] = [
        (day, label, ", ".join("-".join(map(str, span)) for span in hours.get(day) or []))
        for day, label in DAYS
    ]
    values["holidays"] = ", ".join(map(str, values["holidays"]))
    return values


def _tier_form_context(
    *, spec: dict[str, Any] | None = None, editing: str = "", error: InvalidInput | None = None
) -> dict[str, Any]:
    problems = (error.details.get("problems") if error else None) or []
    if error and not problems:
        field = error.details.get("field", "")
        problems = [{"field": field, "message": error.message}]
    return {
        "form": _tier_form_values(spec or {}),
        "editing": editing,
        "errors": {p["field"]: p for p in problems if p["field"]},
        "form_errors": [p for p in problems if not p["field"]],
        "tiers": selectors.tiers(),
        "groups": selectors.group_names(),
        "time_zones": sorted(zoneinfo.available_timezones()),
    }


def _tiers_context(**form: Any) -> dict[str, Any]:
    return {"default_tier": selectors.default_tier(), **_tier_form_context(**form)}


def _tiers_workspace(request) -> HttpResponse:
    """After a change: the table and an empty form, fresh (htmx), or the page again."""
    if not request.htmx:
        return redirect(reverse("policies:tiers"))
    response = render(request, f"{TIERS_PAGE}#tiers-workspace", _tiers_context())
    response["HX-Retarget"] = "#tiers-workspace"
    response["HX-Reswap"] = "outerHTML"
    return response


def _tier_refused(request, exc: InvalidInput, **form: Any) -> HttpResponse:
    if request.htmx:
        return render(request, f"{TIERS_PAGE}#tier-form", _tier_form_context(error=exc, **form),
                      status=422)  # fmt: skip
    return render(request, TIERS_PAGE, _tiers_context(error=exc, **form), status=422)


@require_GET
@_policy_admin_required
def tier_list(request):
    return render(request, TIERS_PAGE, _tiers_context())


@require_GET
@_policy_admin_required
def tier_edit(request, key: str):
    """The form for an existing tier: the partial for htmx, the page without JavaScript."""
    tier = selectors.tier_get(key=key)
    if tier is None:
        raise Http404("No such tier.")
    form = {"spec": tier.spec(), "editing": tier.key}
    if request.htmx:
        return render(request, f"{TIERS_PAGE}#tier-form", _tier_form_context(**form))
    return render(request, TIERS_PAGE, _tiers_context(**form))


@require_POST
@_policy_admin_required
def tier_save(request):
    spec = tier_from_form(request.POST)
    editing = request.POST.get("editing", "").strip()
    try:
        if not editing and selectors.tier_get(key=spec["key"]) is not None:
            # The new-tier form never changes a tier by accident: editing is its own form.
            raise InvalidInput(
                f"A tier {spec['key']!r} exists already; edit it instead.",
                code=Code.INVALID_TIER,
                details={"field": "key"},
            )
        tiers.tier_save(**spec, actor=_actor(request))
    except InvalidInput as exc:
        return _tier_refused(request, exc, spec=spec, editing=editing)
    except ApplicationError as exc:
        return _flash_error(exc)
    return _tiers_workspace(request)


@require_POST
@_policy_admin_required
def tier_delete(request, key: str):
    try:
        tiers.tier_delete(key=key, actor=_actor(request))
    except ApplicationError as exc:
        return _flash_error(exc)
    return _tiers_workspace(request)
