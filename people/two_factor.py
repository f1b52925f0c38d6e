"""Two-factor sign-in (TOTP, django-otp): who must prove a second factor, enrolling, verifying."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import segno
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from people.roles import Role

# The roles that can change what runs without another person (take over reviews, approve what
# needs a senior, write policy); staff and superusers reach the admin.
SECOND_FACTOR_ROLES = frozenset({Role.SENIOR_SUPERVISOR.value, Role.POLICY_ADMIN.value})
DEVICE_NAME = "Authenticator app"


def second_factor_required(user) -> bool:
    """Whether `user` must prove a second factor before any page (one query for their roles)."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    groups = user.groups.values_list("name", flat=True).order_by("name")
    return bool(Role.held(groups) & SECOND_FACTOR_ROLES)


def second_factor_enrolled(user) -> bool:
    return any(devices_for_user(user, confirmed=True))


@dataclass(frozen=True)
class Enrolment:
    """What an authenticator app needs, shown while the device is not confirmed."""

    secret: str  # base32, for typing in by hand
    url: str  # otpauth://totp/...
    qr_svg: str  # the URL as an SVG QR code, drawn here (no external service sees the secret)


def totp_enrolment_start(*, user) -> Enrolment:
    """The person's unconfirmed authenticator device, made on first call: the same secret until
    confirmed, so a reload does not break an app that already scanned it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    url = device.config_url
    qr = segno.make(url, error="m")
    return Enrolment(
        secret=base64.b32encode(device.bin_key).decode(),
        url=url,
        qr_svg=qr.svg_inline(scale=4, dark="#111", light="#fff", omitsize=False),
    )


def totp_enrolment_confirm(*, request, token: str) -> bool:
    """Confirm the device being enrolled with a code from the app, and count the session as
    verified. Refused (False) when the code is wrong or the person already has a device."""
    user = request.user
    if second_factor_enrolled(user):
        return False
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or not device.verify_token(_digits(token)):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    # The secret was shown to enrol this one device: other unconfirmed ones go.
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    otp_login(request, device)
    return True


def totp_verify(*, request, token: str) -> bool:
    """Check a code against the person's confirmed devices (django-otp throttles repeated failures
    per device) and count the session as verified when one accepts it."""
    token = _digits(token)
    for device in devices_for_user(request.user, confirmed=True):
        if device.verify_token(token):
            otp_login(request, device)
            return True
    return False


def _digits(token: str) -> str:
    return "".join(c for c in (token or "")[:20] if c.isdigit())
