"""Sign-in with a limit on failed attempts per client address (password guessing)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render

from agents.throttling import rate_limit_exceeded, rate_limit_hit


def _ident(request) -> str:
    # Behind the proxy, uvicorn/gunicorn put the real client address in REMOTE_ADDR.
    return f"login:{request.META.get('REMOTE_ADDR', '')}"


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        # Checked before the password is: a locked-out address learns nothing more.
        wait = rate_limit_exceeded(ident=_ident(request), rate=settings.LOGIN_FAILURE_LIMIT)
        if wait:
            response = render(
                request,
                "registration/login.html",
                {"form": self.get_form(), "locked_out_seconds": wait},
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        rate_limit_hit(ident=_ident(self.request), rate=settings.LOGIN_FAILURE_LIMIT)
        return super().form_invalid(form)
