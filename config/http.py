"""Small request helpers shared by the HTTP views and the API views."""

from config.request_ids import META_KEY, request_id_from


def request_id(request) -> str:
    """The request's id: the one the request middleware gave it (the caller's X-Request-ID when
    safe, else a fresh one), so audit events carry the id its log lines and response show."""
    value = getattr(request, "request_id", None)
    if value is None:
        # No middleware ran (a test's bare request): decide once, the same way.
        value = request.request_id = request_id_from(request.META.get(META_KEY))
    return value
