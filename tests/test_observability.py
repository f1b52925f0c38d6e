"""Request ids and logs: every request gets an id (the caller's when safe), its response and log
lines carry it, its audit events too; logs are one JSON object per line and stay redacted."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import AsyncClient, Client

from config import request_ids
from config.logs import JsonFormatter, RequestIdFilter

FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log():
    """The configured console handler (with its filters) writing JSON into a buffer; yields a
    function that returns the lines written so far, parsed."""
    handler = next(
        h for h in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in h.filters)
    )  # fmt: skip
    buffer = io.StringIO()
    stream, formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        handler.setStream(stream)
        handler.setFormatter(formatter)


class TestRequestId:
    def test_a_safe_id_from_the_caller_is_kept(self):
        assert request_ids.request_id_from("trace-42.a:b_C") == "trace-42.a:b_C"

    @pytest.mark.parametrize(
        "header", [None, "", "x" * 65, "two words", "line\nbreak", "<script>", "é"]
    )
    def test_anything_else_gets_a_fresh_id(self, header):
        assert FRESH.fullmatch(request_ids.request_id_from(header))

    @pytest.mark.django_db
    def test_the_response_carries_the_id_and_nothing_is_left_behind(self):
        given = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="trace-42")
        fresh = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="bad id")

        assert given.headers["X-Request-ID"] == "trace-42"
        assert FRESH.fullmatch(fresh.headers["X-Request-ID"])
        assert request_ids.current() == ""

    @pytest.mark.django_db
    async def test_under_asgi_too(self):
        response = await AsyncClient().get("/accounts/login/", headers={"X-Request-ID": "async-1"})
        probe = await AsyncClient().get("/healthz")

        assert response.headers["X-Request-ID"] == "async-1"
        assert (probe.status_code, probe.content) == (200, b"ok\n")


@pytest.mark.django_db
def test_a_submission_logs_and_audits_under_the_callers_request_id(demo, agent, json_log):
    from approvals.models import Action
    from audit.models import AuditEvent
    from tests.approvals.conftest import refund_params

    response = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue", "params": refund_params(6000)},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
        HTTP_X_REQUEST_ID="trace-submit-7",
    )

    assert response.status_code == 201, response.content
    assert response.headers["X-Request-ID"] == "trace-submit-7"
    action = Action.objects.get(pk=response.json()["id"])
    events = AuditEvent.objects.filter(object_id=str(action.pk)).order_by("seq")
    assert {event.request_id for event in events} == {"trace-submit-7"}
    (line,) = [line for line in json_log() if line["logger"] == "countersign.request"]
    assert line["request_id"] == "trace-submit-7"
    assert (line["method"], line["route"], line["status"]) == ("POST", "api/v1/actions/", 201)
    assert line["level"] == "INFO" and line["duration_ms"] > 0
    assert set(line) == {
        "time", "level", "logger", "message", "request_id", "method", "route", "status",
        "duration_ms",
    }  # fmt: skip


def test_json_log_lines_are_still_redacted(json_log):
    token = request_ids.bind("trace-redact")
    try:
        logging.getLogger("countersign.test").warning(
            "card %s for %s", "4111 1111 1111 1111", "jane.doe@example.com"
        )
        try:
            raise ValueError("card 4111111111111111")
        except ValueError:
            logging.getLogger("countersign.test").exception("failed")
    finally:
        request_ids.unbind(token)

    first, second = json_log()
    assert first["request_id"] == second["request_id"] == "trace-redact"
    assert first["message"] == "card [card ****1111] for [email]"
    assert "4111111111111111" not in second["exc"] and "ValueError" in second["exc"]


def test_outside_a_request_the_request_id_is_empty(json_log):
    logging.getLogger("countersign.test").warning("between requests")

    (line,) = json_log()
    assert line["request_id"] == "" and line["message"] == "between requests"
