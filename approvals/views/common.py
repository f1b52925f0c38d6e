"""What every dashboard view shares: who may use it, and how decision forms are read."""

from __future__ import annotations

import functools
import json

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from approvals import presenters, rulebook
from config.errors import Code, Forbidden, InvalidInput
from config.http import request_id


def supervisor_required(view):
    """Pages and partials are for supervisors; htmx callers are sent to the login page whole."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse('login')}?next=/")
            return redirect_to_login(request.get_full_path())
        viewer = presenters.viewer_for(request.user)
        if not rulebook.may_use_dashboard(viewer):
            raise PermissionDenied(Forbidden(
                "The queue is for supervisors.", code=Code.MISSING_ROLE,
                details={"roles": sorted(rulebook.DASHBOARD_ROLES)},
            ))  # fmt: skip
        return view(request, viewer, *args, **kwargs)

    return wrapped


def expected_version(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput("expected_version must be a whole number.") from exc


def decision_input(request) -> dict:
    """What every decision form posts: reason code, note and the version the reviewer saw."""
    return {
        "by": request.user,
        "reason_code": request.POST.get("reason_code") or None,
        "note": request.POST.get("note", "")[:2000],
        "expected_version": expected_version(request.POST.get("expected_version")),
        "request_id": request_id(request),
    }


def executing(service, request):
    """A decision that makes the action execute carries the approver's confirmation that an
    action type nothing can undo may go ahead (the form's `confirm_irreversible` box)."""
    return functools.partial(
        service,
        confirm_irreversible=request.POST.get("confirm_irreversible") in ("on", "1", "true"),
    )


def escalating(service, request):
    """An escalation carries the tier the reviewer picked ("": the one the action's rule names)."""
    return functools.partial(service, tier=request.POST.get("tier", "")[:32].strip())


def edited_params(raw: str) -> dict:
    """The params a person typed as JSON: an object, or a clear 400."""
    try:
        params = json.loads(raw)
    except RecursionError as exc:
        raise InvalidInput("The params are nested too deeply.", code=Code.MALFORMED_JSON) from exc
    except ValueError as exc:
        raise InvalidInput(
            f"The params are not valid JSON ({exc}).", code=Code.MALFORMED_JSON
        ) from exc
    if not isinstance(params, dict):
        raise InvalidInput("The params must be a JSON object.", code=Code.INVALID_PARAMS)
    return params
