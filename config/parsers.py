"""The API's request parsers (DRF's `DEFAULT_PARSER_CLASSES`)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import JSONParser

from config.limits import json_depth_over, too_deep


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than `API_MAX_JSON_DEPTH` with 400
    `json_too_deep`: Python's decoder raises RecursionError on very deep input, which DRF would
    let through as a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_JSON_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise too_deep(limit) from exc
        if json_depth_over(data, limit):
            raise too_deep(limit)
        return data
