"""The client's address as our own proxies saw it, never as the client claims it."""

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR when nothing is trusted (TRUSTED_PROXY_COUNT = 0); behind N trusted proxies, the
    Nth address from the right of TRUSTED_PROXY_HEADER.

    Each proxy appends the address it received the request from, so the rightmost N entries were
    written by our proxies and everything to their left by the client (freely). A header with
    fewer entries than trusted proxies did not come through them all: REMOTE_ADDR is used.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    meta_key = "HTTP_" + settings.TRUSTED_PROXY_HEADER.upper().replace("-", "_")
    hops = [hop.strip() for hop in request.META.get(meta_key, "").split(",") if hop.strip()]
    if len(hops) < trusted:
        return remote
    return hops[-trusted]
