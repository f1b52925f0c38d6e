"""The HTTP connector against a real HTTP server on 127.0.0.1: signatures, idempotency keys,
retries with backoff, refusals, and what an ambiguous failure becomes."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from approvals import services
from approvals.connectors import (
    ConnectorConfig,
    HttpConnector,
    connector_configs,
    register_configured,
)
from approvals.models import Status
from config.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature
from execution import ExecutionFailed, NotCompensable, OutcomeUnknown, executor_for
from tests.approvals.fake_http import (
    FakeBackend,
    apply_then_hang,
    hang,
    ok,
    refused_url,
    reset,
    status,
)
from tests.execution.swap import executors_swapped

SECRET = "s3cret-for-tests"


@pytest.fixture
def backend():
    server = FakeBackend()
    yield server
    server.close()


def make_action(**overrides):
    """What the connector reads of an action; the registry test below uses a real one."""
    fields = {
        "pk": uuid.uuid4(),
        "action_type": SimpleNamespace(key="refund.issue"),
        "effective_params": {"order_id": "ORD-1001", "amount": 12000, "currency": "USD"},
        "context": {"ticket": "T-1"},
        "result": {"refund_id": "R-1"},
    }
    return SimpleNamespace(**{**fields, **overrides})


class Connector:
    """A connector on `url` with tiny delays, recording how long it was asked to wait."""

    def __init__(self, url: str, **config) -> None:
        self.sleeps: list[float] = []
        settings = {"timeout": 2.0, "max_tries": 4, "backoff_base": 0.01, "backoff_max": 0.05,
                    "idempotent": True, **config}  # fmt: skip
        self.connector = HttpConnector(
            ConnectorConfig(action_type="refund.issue", url=url, secret=SECRET, **settings),
            sleep=self._sleep,
        )

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def execute(self, action):
        return self.connector.execute(action)

    def compensate(self, action):
        return self.connector.compensate(action)


# ---------------------------------------------------------------------------------------------
# the request


def test_a_request_is_signed_over_timestamp_and_body_and_a_tampered_body_fails(
    backend, frozen_clock
):
    # Arrange
    action = make_action()

    # Act
    Connector(backend.url + "/refunds").execute(action)

    # Assert: the backend sees the action, signed; the same signature over another body fails
    (received,) = backend.requests
    assert received.path == "/refunds"
    assert received.json() == {
        "action_id": str(action.pk),
        "action_type": "refund.issue",
        "operation": "execute",
        "params": {"order_id": "ORD-1001", "amount": 12000, "currency": "USD"},
        "context": {"ticket": "T-1"},
    }
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert int(received.headers[TIMESTAMP_HEADER]) == int(time.time())  # the clock stands still
    assert received.verifies(SECRET)
    assert not received.verifies("another-secret")
    tampered = received.body.replace(b"12000", b"99000")
    assert not verify_signature(
        SECRET, received.headers[TIMESTAMP_HEADER], tampered, received.headers[SIGNATURE_HEADER]
    )


def test_a_signature_outside_the_tolerance_window_is_refused():
    body = b'{"a":1}'
    now = 1_800_000_000

    assert verify_signature(SECRET, now - 299, body, sign(SECRET, now - 299, body), now=now)
    assert not verify_signature(SECRET, now - 301, body, sign(SECRET, now - 301, body), now=now)
    assert not verify_signature(SECRET, now + 301, body, sign(SECRET, now + 301, body), now=now)
    assert not verify_signature(SECRET, "not-a-time", body, sign(SECRET, now, body), now=now)
    assert not verify_signature(SECRET, now, body, None, now=now)


def test_a_2xx_answer_returns_its_json_object_or_its_status():
    with_json, empty = (
        FakeBackend().then(ok({"refund_id": "R-9"})),
        FakeBackend().then(ok(b"", status=204)),
    )
    try:
        assert Connector(with_json.url).execute(make_action()) == {"refund_id": "R-9"}
        assert Connector(empty.url).execute(make_action()) == {"status": 204}
    finally:
        with_json.close()
        empty.close()


# ---------------------------------------------------------------------------------------------
# retries


def test_a_500_is_retried_with_backoff_and_the_idempotency_key_is_the_action_id_every_time(
    backend,
):
    # Arrange: two 500s, then success
    backend.then(status(500, "boom"), status(500, "boom"), ok({"refund_id": "R-1"}))
    connector, action = Connector(backend.url), make_action()

    # Act
    result = connector.execute(action)

    # Assert: three requests, one key (the action id), growing waits between them
    assert result == {"refund_id": "R-1"}
    assert [r.headers["Idempotency-Key"] for r in backend.requests] == [str(action.pk)] * 3
    assert backend.effect_count == 1
    assert len(connector.sleeps) == 2
    assert 0.005 <= connector.sleeps[0] <= 0.01 and 0.01 <= connector.sleeps[1] <= 0.02
    # Each try is signed afresh, and each signature verifies.
    assert all(r.verifies(SECRET) for r in backend.requests)


def test_a_reset_connection_and_a_timeout_are_retried_on_an_idempotent_target(backend):
    # Arrange: the connection is reset, then the answer comes after the client's timeout
    backend.then(reset(), hang(1.0), ok({"refund_id": "R-2"}))
    connector = Connector(backend.url, timeout=0.3)

    # Act
    result = connector.execute(make_action())

    # Assert
    assert result == {"refund_id": "R-2"}
    assert len(backend.requests) == 3
    assert len(connector.sleeps) == 2


def test_the_backoff_is_exponential_capped_and_jittered():
    connector = HttpConnector(
        ConnectorConfig("refund.issue", "http://127.0.0.1:9", SECRET, backoff_base=1.0,
                        backoff_max=5.0)
    )  # fmt: skip

    waits = {tried: [connector.backoff(tried) for _ in range(200)] for tried in (1, 2, 3, 4, 8)}

    assert all(0.5 <= w <= 1.0 for w in waits[1])
    assert all(1.0 <= w <= 2.0 for w in waits[2])
    assert all(2.0 <= w <= 4.0 for w in waits[3])
    assert all(2.5 <= w <= 5.0 for w in waits[4] + waits[8])  # capped at backoff_max
    assert len(set(waits[3])) > 1  # jittered


def test_a_4xx_fails_at_once_with_the_response_text_and_no_retry(backend):
    backend.then(status(422, "order ORD-1001 is not refundable " + "x" * 2000))
    connector = Connector(backend.url)

    with pytest.raises(ExecutionFailed) as raised:
        connector.execute(make_action())

    assert type(raised.value) is ExecutionFailed
    assert raised.value.transient is False
    assert raised.value.code == "target_refused"
    assert "order ORD-1001 is not refundable" in raised.value.message
    assert raised.value.details["status"] == 422
    assert len(raised.value.details["response"]) == 500  # truncated
    assert len(backend.requests) == 1
    assert connector.sleeps == []


def test_running_out_of_tries_on_an_idempotent_target_is_a_transient_failure(backend):
    backend.then(status(503))
    connector = Connector(backend.url, max_tries=3)

    with pytest.raises(ExecutionFailed) as raised:
        connector.execute(make_action())

    assert type(raised.value) is ExecutionFailed  # not OutcomeUnknown: the key makes it safe
    assert raised.value.transient is True
    assert raised.value.code == "target_unavailable"
    assert raised.value.details["tries"] == 3
    assert len(backend.requests) == 3


# ---------------------------------------------------------------------------------------------
# ambiguity


def test_apply_then_timeout_on_a_non_idempotent_target_is_an_unknown_outcome_never_retried(
    backend,
):
    # Arrange: the target applies the refund, then answers too late
    backend.then(apply_then_hang(1.5), ok())
    connector = Connector(backend.url, idempotent=False, timeout=0.3)

    # Act
    with pytest.raises(OutcomeUnknown) as raised:
        connector.execute(make_action())

    # Assert: one request, one effect, no second try
    assert raised.value.code == "outcome_unknown"
    assert len(backend.requests) == 1
    assert backend.effect_count == 1
    assert connector.sleeps == []


def test_apply_then_timeout_on_an_idempotent_target_is_retried_and_takes_effect_once(backend):
    # Arrange
    backend.then(apply_then_hang(1.5), ok({"refund_id": "R-3"}))
    connector = Connector(backend.url, timeout=0.3)

    # Act
    result = connector.execute(make_action())

    # Assert: applied on both requests, but the target counts the one key once
    assert result == {"refund_id": "R-3"}
    assert len(backend.requests) == 2
    assert backend.applied_calls == 2
    assert backend.effect_count == 1


@pytest.mark.parametrize("reply", [status(500), reset()], ids=["5xx", "reset"])
def test_a_5xx_or_a_reset_after_sending_on_a_non_idempotent_target_is_an_unknown_outcome(
    backend, reply
):
    backend.then(reply, ok())
    connector = Connector(backend.url, idempotent=False)

    with pytest.raises(OutcomeUnknown):
        connector.execute(make_action())

    assert len(backend.requests) == 1


def test_a_refused_connection_is_retried_even_for_a_non_idempotent_target():
    # Nothing listens: nothing was sent, so trying again cannot apply anything twice.
    connector = Connector(refused_url(), idempotent=False, max_tries=3)

    with pytest.raises(ExecutionFailed) as raised:
        connector.execute(make_action())

    assert type(raised.value) is ExecutionFailed
    assert raised.value.transient is True
    assert raised.value.details["tries"] == 3
    assert len(connector.sleeps) == 2


def test_a_429_is_retried_even_for_a_non_idempotent_target(backend):
    backend.then(status(429, "slow down"), ok({"refund_id": "R-4"}))
    connector = Connector(backend.url, idempotent=False)

    assert connector.execute(make_action()) == {"refund_id": "R-4"}
    assert len(backend.requests) == 2


# ---------------------------------------------------------------------------------------------
# compensation


def test_compensate_posts_to_the_compensate_url_with_its_own_idempotency_key(backend):
    action = make_action()
    connector = Connector(backend.url + "/refunds", compensate_url=backend.url + "/reversals")

    result = connector.compensate(action)

    assert result == {"ok": True}
    assert connector.connector.compensable is True
    (received,) = backend.requests
    assert received.path == "/reversals"
    assert received.headers["Idempotency-Key"] == f"{action.pk}:compensate"
    assert received.json()["operation"] == "compensate"
    assert received.json()["result"] == {"refund_id": "R-1"}
    assert received.verifies(SECRET)


def test_without_a_compensate_url_the_action_is_not_compensable(backend):
    connector = Connector(backend.url)

    with pytest.raises(NotCompensable):
        connector.compensate(make_action())

    assert connector.connector.compensable is False
    assert backend.requests == []


# ---------------------------------------------------------------------------------------------
# configuration and registration


def test_connectors_load_from_json_text_or_a_file_and_the_secret_stays_out_of_reprs(
    tmp_path, monkeypatch
):
    entry = {"url": "https://backend.example/refunds", "secret": "abc", "idempotent": True,
             "timeout": 3, "max_tries": 2}  # fmt: skip
    config_file = tmp_path / "connectors.json"
    config_file.write_text(json.dumps({"refund.issue": entry}))
    monkeypatch.setenv("CANCEL_SECRET", "from-env")

    from_text = connector_configs(json.dumps({"refund.issue": entry}))
    from_file = connector_configs(str(config_file))
    from_env = connector_configs(
        {"order.cancel": {"url": "http://b/c", "secret_env": "CANCEL_SECRET"}}
    )

    assert from_text == from_file
    (config,) = from_text
    assert (config.url, config.secret, config.timeout, config.idempotent, config.max_tries) == (
        "https://backend.example/refunds", "abc", 3.0, True, 2,
    )  # fmt: skip
    assert from_env[0].secret == "from-env" and from_env[0].idempotent is False
    assert "abc" not in repr(config) and "abc" not in repr(HttpConnector(config))


@pytest.mark.parametrize(
    "raw",
    [
        '{"refund.issue": {"url": "ftp://x/y", "secret": "abc"}}',
        '{"refund.issue": {"url": "http://x/y"}}',
        '{"refund.issue": {"url": "http://x/y", "secret": "abc", "retries": 3}}',
        '{"refund.issue": {"url": "http://x/y", "secret": "abc", "max_tries": 0}}',
        '{"refund.issue": ',
        "/nonexistent/connectors.json",
    ],
    ids=["scheme", "no-secret", "unknown-key", "no-tries", "bad-json", "missing-file"],
)
def test_a_bad_connector_configuration_is_refused_without_echoing_it(raw):
    with pytest.raises(ImproperlyConfigured) as raised:
        connector_configs(raw)

    assert "abc" not in str(raised.value)


@pytest.mark.django_db
def test_a_configured_connector_replaces_the_sandbox_executor_and_executes_an_approved_action(
    backend, submit, supervisor, enqueued
):
    # Arrange: refunds go to the fake backend; one refund is approved
    backend.then(ok({"refund_id": "R-42", "status": "issued"}))
    raw = {"refund.issue": {"url": backend.url, "secret": SECRET, "idempotent": True}}
    with executors_swapped():
        assert register_configured(raw) == ["refund.issue"]
        assert isinstance(executor_for("refund.issue"), HttpConnector)
        action = submit(12000)
        # Without a compensate_url nothing undoes it, so the approval confirms that.
        services.action_approve(action_id=action.pk, by=supervisor, confirm_irreversible=True)

        # Act
        services.action_execute(action_id=action.pk)

    # Assert: the backend got the action, keyed by its id; the result is the backend's
    action.refresh_from_db()
    assert action.status == Status.SUCCEEDED
    assert action.result == {"refund_id": "R-42", "status": "issued"}
    (received,) = backend.requests
    assert received.headers["Idempotency-Key"] == str(action.pk)
    assert received.json()["params"]["order_id"] == "ORD-1001"
    assert not isinstance(executor_for("refund.issue"), HttpConnector)  # restored
