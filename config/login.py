"""Sign-in pages: the lockout answer django-axes gives once failed sign-ins pass the limit.

django-axes counts failures per username and per client address (`config.client_address`), on
our sign-in page and the admin's alike; see AXES_* in the settings.
"""

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def locked_out(request, response=None, credentials=None):
    """The sign-in page, refused with 429 and when to try again; the password was not checked."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    locked = render(
        request,
        "registration/login.html",
        {"form": AuthenticationForm(request), "locked_out_seconds": seconds or None,
         "locked_out": True},
        status=429,
    )  # fmt: skip
    if seconds:
        locked["Retry-After"] = str(seconds)
    return locked
