"""Bounds on what clients send: the API's body size, the shape of its JSON, websocket frames.

The body cap is enforced by the app itself, whatever serves it (see the README's "Limits"):

- Under WSGI (gunicorn, the Django test client) Django reads no more of a body than its declared
  Content-Length (a chunked body without one reads as empty), so `BodyLimitMiddleware` refusing
  a Content-Length over the cap bounds every API body.
- Under ASGI (uvicorn) Django reads the whole body before any middleware runs, spooling it to
  disk when large, so `AsgiBodyLimit` wraps the ASGI app and counts the body as it streams in,
  answering 413 at the first byte over the cap (a chunked body declares no length).
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import JsonResponse

from config.errors import ApplicationError, Code

API_PREFIX = "/api/"


def _too_large(limit: int) -> ApplicationError:
    return ApplicationError(
        f"The request body is larger than {limit} bytes.",
        code=Code.BODY_TOO_LARGE,
        details={"max_bytes": limit},
    )


def _declared_length(raw: str | bytes | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None  # Django reads a malformed Content-Length as no body


class BodyLimitMiddleware:
    """Answers 413 `body_too_large` to an API request that declares a body over
    `API_MAX_BODY_BYTES`, before anything reads it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._refusal(request) or self.get_response(request)

    async def _acall(self, request):
        return self._refusal(request) or await self.get_response(request)

    @staticmethod
    def _refusal(request):
        if not request.path.startswith(API_PREFIX):
            return None
        limit = settings.API_MAX_BODY_BYTES
        declared = _declared_length(request.META.get("CONTENT_LENGTH"))
        if declared is None or declared <= limit:
            return None
        error = _too_large(limit)
        return JsonResponse(error.as_dict(), status=error.status_code)


class AsgiBodyLimit:
    """ASGI middleware: an API request's body is read here, at most `API_MAX_BODY_BYTES` of it,
    and handed on whole; one byte more (declared or streamed) is answered 413 without reading on.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        limit = settings.API_MAX_BODY_BYTES
        headers = dict(scope.get("headers") or [])
        declared = _declared_length(headers.get(b"content-length"))
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        handed = False

        async def replay() -> dict[str, Any]:
            # The body once, then the client's own messages (Django listens for a disconnect).
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return body

        await self.app(scope, replay, send)


async def _send_too_large(send, limit: int) -> None:
    content = json.dumps(_too_large(limit).as_dict()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": Code.BODY_TOO_LARGE.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


# -- the shape of JSON


class JsonTooDeep(ApplicationError):
    default_code = Code.JSON_TOO_DEEP


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests objects and arrays more than `limit` deep (walked without recursion,
    so a deep value cannot exhaust the stack here either)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep(limit: int) -> JsonTooDeep:
    return JsonTooDeep(
        f"The JSON nests objects and arrays more than {limit} deep.", details={"max_depth": limit}
    )


def agent_json_problem(value: Any) -> str:
    """What makes an agent's JSON (params, context) too big to keep and decide on, or "".

    Strings (keys too) are at most `API_MAX_STRING_CHARS` characters and arrays hold at most
    `API_MAX_LIST_ITEMS` items: conditions iterate over arrays, so their size bounds a decision.
    """
    max_chars, max_items = settings.API_MAX_STRING_CHARS, settings.API_MAX_LIST_ITEMS
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > max_chars:
                return f"Text is at most {max_chars} characters."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) > max_items:
                return f"Lists hold at most {max_items} items."
            stack.extend(item)
    return ""


def context_size_problem(context: Any) -> str:
    """Why the agent's context is too large to keep (its JSON over `API_MAX_CONTEXT_BYTES`)."""
    limit = settings.API_MAX_CONTEXT_BYTES
    size = len(json.dumps(context, ensure_ascii=False, separators=(",", ":")).encode())
    return f"The context is at most {limit} bytes of JSON." if size > limit else ""


def ws_frame_too_large(text_data: str | None, bytes_data: bytes | None) -> bool:
    """Whether a websocket frame from a client is over `WS_MAX_MESSAGE_BYTES`."""
    limit = settings.WS_MAX_MESSAGE_BYTES
    if text_data is not None:
        return len(text_data) > limit or len(text_data.encode("utf-8", "replace")) > limit
    return len(bytes_data or b"") > limit
