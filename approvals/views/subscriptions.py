"""The notifications page: a person chooses what they hear by email of their queues and tiers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals import services, subscription_page
from config.errors import ApplicationError, InvalidInput
from config.http import request_id
from notifications.events import Event

PAGE = "notifications/subscriptions.html"


def _amount(raw: str) -> int | None:
    """An amount typed in major units ("500", "500.00") as minor units; blank is none."""
    raw = (raw or "").strip().replace(",", "")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise InvalidInput(
            "The amount must be a number, such as 500.00.", details={"min_amount": raw}
        ) from exc
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput(
            "The amount must be positive, with at most two decimals.", details={"min_amount": raw}
        )
    return int(value * 100)


@require_GET
@login_required
def subscriptions(request):
    return render(request, PAGE, subscription_page.subscriptions_context(request.user))


@require_POST
@login_required
def subscription_save(request):
    scope, key = request.POST.get("scope", ""), request.POST.get("scope_key", "")
    error = None
    try:
        services.subscription_set(
            by=request.user,
            scope=scope,
            scope_key=key,
            events=[e for e in request.POST.getlist("events") if e in Event.values],
            min_amount=_amount(request.POST.get("min_amount", "")),
            digest=request.POST.get("digest") in ("on", "1", "true"),
            request_id=request_id(request),
        )
    except ApplicationError as exc:
        error = exc
    if not request.htmx:
        if error is not None:
            messages.error(request, error.message)
        else:
            messages.success(request, "Saved.")
        return redirect("approvals:subscriptions")
    row = subscription_page.subscription_row(request.user, scope, key)
    return render(
        request,
        f"{PAGE}#row",
        {"row": row, "error": error.message if error else "", "saved": error is None},
        status=error.status_code if error else 200,
    )
