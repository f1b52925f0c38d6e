"""DRF glue shared by every app: the exception handler that gives every error one JSON shape."""

from __future__ import annotations

import math
from typing import Any

from django.http import JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError, Code

_DRF_CODES = {
    drf_exceptions.ParseError: Code.MALFORMED_JSON,
    drf_exceptions.AuthenticationFailed: Code.UNAUTHENTICATED,
    drf_exceptions.NotAuthenticated: Code.UNAUTHENTICATED,
    drf_exceptions.PermissionDenied: Code.FORBIDDEN,
    drf_exceptions.NotFound: Code.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: Code.METHOD_NOT_ALLOWED,
    drf_exceptions.NotAcceptable: Code.NOT_ACCEPTABLE,
    drf_exceptions.UnsupportedMediaType: Code.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.Throttled: Code.RATE_LIMITED,
    drf_exceptions.ValidationError: Code.INVALID_INPUT,
}


def error_body(code: Code, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django's 500 handling (and logging) have it
    code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), Code.ERROR)
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "The request body is not valid.", {"fields": response.data}
    else:
        message, details = str(getattr(exc, "detail", exc)), {}
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        # The same whole seconds as the Retry-After header DRF sets from `wait`.
        details = {"retry_after_seconds": math.ceil(exc.wait)}
    response.data = error_body(code, message, details)
    return response


def json_error(code: Code, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=code.status)


def api_not_found(request, exception=None):
    return json_error(Code.NOT_FOUND, "No such endpoint.")


def api_server_error(request):
    return json_error(Code.SERVER_ERROR, "Something went wrong on our side; it has been logged.")
