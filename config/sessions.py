"""Session lifetime: a sign-in lasts SESSION_MAX_SECONDS at most and ends after
SESSION_IDLE_SECONDS without a request; either way the person is signed out (which closes their
sockets) and sent to sign in again."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpResponse

from config import clock
from config.api import json_error
from config.errors import Code

SIGNED_IN_AT = "countersign_signed_in_at"
SEEN_AT = "countersign_seen_at"
# The last request is written to the session at most this often (not on every request); the idle
# timeout is exact to within it.
SEEN_EVERY_SECONDS = 60


@receiver(user_logged_in, dispatch_uid="config.sessions.started")
def _started(sender, request, user, **kwargs) -> None:
    # A fresh sign-in starts both clocks, even in a session that carried one over.
    now = clock.now().timestamp()
    request.session[SIGNED_IN_AT] = now
    request.session[SEEN_AT] = now


def session_ended(session, now: float) -> bool:
    signed_in_at = session.get(SIGNED_IN_AT, now)
    seen_at = session.get(SEEN_AT, now)
    return (
        now - signed_in_at >= settings.SESSION_MAX_SECONDS
        or now - seen_at >= settings.SESSION_IDLE_SECONDS
    )


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = clock.now().timestamp()
        if session_ended(session, now):
            logout(request)
            return _to_sign_in(request)
        session.setdefault(SIGNED_IN_AT, now)  # a session from before these clocks
        if now - session.get(SEEN_AT, 0) >= SEEN_EVERY_SECONDS:
            session[SEEN_AT] = now
        return self.get_response(request)


def _to_sign_in(request):
    if request.path.startswith("/api/"):
        return json_error(Code.UNAUTHENTICATED, "Your session ended; sign in again.")
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": settings.LOGIN_URL})
    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
