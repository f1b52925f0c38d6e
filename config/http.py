"""Small request helpers shared by the HTML views and the API views."""

import uuid


def request_id(request) -> str:
    """The caller's X-Request-ID (so audit events join up with its logs), or a fresh one."""
    return request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
