"""Two-factor sign-in pages: enrolment and verification, and the middleware that holds a person
who must prove a second factor (`people.two_factor.second_factor_required`) on them until they
have, on every page and API call of their session."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.api import json_error
from config.errors import Code
from people import two_factor

# Signing in and out, these pages, and static files stay open to a session not yet verified.
OPEN_PREFIXES = ("/accounts/", "/static/")


def _pending(request) -> bool:
    """Signed in with a password only, and someone who must prove a second factor."""
    user = request.user
    return (
        user.is_authenticated and not user.is_verified() and two_factor.second_factor_required(user)
    )


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(OPEN_PREFIXES) or not _pending(request):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return json_error(
                Code.SECOND_FACTOR_REQUIRED,
                "Verify your sign-in with your authenticator app first "
                f"({reverse('two-factor-verify')}).",
            )
        target = f"{reverse('two-factor-verify')}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": target})
        return redirect(target)


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("approvals:queue")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """The code from the authenticator app, after the password."""
    if not _pending(request):
        return redirect(_next(request))
    if not two_factor.second_factor_enrolled(request.user):
        return redirect(f"{reverse('two-factor-setup')}?{urlencode({'next': _next(request)})}")
    refused = False
    if request.method == "POST":
        if two_factor.totp_verify(request=request, token=request.POST.get("token", "")):
            return redirect(_next(request))
        refused = True
    return render(
        request,
        "registration/two_factor_verify.html",
        {"next": _next(request), "refused": refused},
        status=400 if refused else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Enrol an authenticator app: its secret and QR code, shown until a code from it confirms it.
    Someone with a confirmed app verifies instead: a password alone never adds another one."""
    if not _pending(request):
        return redirect(_next(request))
    if two_factor.second_factor_enrolled(request.user):
        return redirect(f"{reverse('two-factor-verify')}?{urlencode({'next': _next(request)})}")
    refused = False
    if request.method == "POST":
        if two_factor.totp_enrolment_confirm(request=request, token=request.POST.get("token", "")):
            return redirect(_next(request))
        refused = True
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "enrolment": two_factor.totp_enrolment_start(user=request.user),
            "next": _next(request),
            "refused": refused,
        },
        status=400 if refused else 200,
    )
