"""Log records as one JSON object per line, each with the id of the request it belongs to."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from config import request_ids

# What a request log line adds to the common fields (see config.observability).
REQUEST_FIELDS = ("method", "route", "status", "duration_ms")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_ids.current()
        return True


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, request_id; a request log line's method,
    route, status and duration_ms; the traceback, if any, as `exc`. Runs after the handler's
    filters, so the message and traceback it prints are the redacted ones."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
        }
        for field in REQUEST_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _dumps(line)
