"""How the QA API's refusals read in the OpenAPI schema: the one error shape every endpoint
answers with, and which codes each status carries there."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code; the API's description lists them.")
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    details = serializers.DictField(
        help_text="More about it: the field at fault, the role it needs (`role`, `roles`), ..."
    )


class ApiError(serializers.Serializer):
    error = ApiErrorDetail()


# Every endpoint of people's API answers these the same way.
SIGNED_OUT = "`unauthenticated`: no session (or no API key)."
NOT_FOR_AGENTS = "`forbidden`: an agent's API key (these endpoints are for people)"


def refusals(**by_status: str) -> dict[int, OpenApiResponse]:
    """`{status: OpenApiResponse(ApiError, description)}` from `r400="..."`, `r404="..."`."""
    return {
        int(key.removeprefix("r")): OpenApiResponse(ApiError, description=text)
        for key, text in by_status.items()
    }
