"""The request id: taken from the caller's X-Request-ID when it is safe, made up otherwise, and kept
in a context variable so every log line of the request (and its audit events) carries it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# As long as the audit event's column; letters, digits and a few separators only, so an id can
# neither forge a log line nor smuggle markup into a page that shows it.
MAX_LENGTH = 64
_SAFE = re.compile(r"[A-Za-z0-9._:-]+")

_current: ContextVar[str] = ContextVar("countersign_request_id", default="")


def request_id_from(header: str | None) -> str:
    """The caller's id if it is 1-64 safe characters, else a fresh one (32 hex digits)."""
    if header and len(header) <= MAX_LENGTH and _SAFE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current() -> str:
    """The id of the request (or task) being served in this context; empty outside one."""
    return _current.get()


def bind(value: str):
    """Make `value` the current id; returns the token `unbind` takes."""
    return _current.set(value)


def unbind(token) -> None:
    _current.reset(token)
