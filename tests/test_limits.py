"""Bounded input: the API's body cap under the test client and a live ASGI server, JSON depth,
agent strings, lists and context, websocket frames, CEL conditions (nesting refused when saved,
a time budget when evaluated) and policy simulations run by a worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from approvals.models import Action
from approvals.services import action_submit
from audit.services import Actor
from config.asgi import application
from config.errors import Code, InvalidInput
from policies import engine, services
from policies.models import ActionType, Mode, PolicyVersion, Rule
from policies.simulation_runs import RunStatus, simulation_run_get, simulation_start
from tests.clock import wait_for

SUBMIT = "/api/v1/actions/"
TWO_MB = 2 * 1024 * 1024
PARAMS = {"order_id": "ORD-1001", "amount": 3000, "currency": "USD", "reason": "r"}
NESTED = "params.items.all(i, params.items.exists(j, i == j))"


def submission(**overrides) -> dict:
    return {"action_type": "refund.issue", "params": PARAMS, **overrides}


def post_json(client, body: str):
    return client.post(SUBMIT, data=body, content_type="application/json")


# ------------------------------------------------------------------------------------ the body


@pytest.mark.django_db
def test_a_2_mb_body_is_refused_413_before_it_is_read(demo, agent):
    body = json.dumps(submission(context={"notes": "x" * TWO_MB}))

    response = post_json(agent.client(), body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == Code.BODY_TOO_LARGE
    assert response.json()["error"]["details"] == {"max_bytes": settings.API_MAX_BODY_BYTES}
    assert Action.objects.count() == 0


@pytest.mark.django_db
def test_the_body_cap_applies_to_every_api_path_even_unauthenticated(demo):
    response = Client().post(
        "/api/v1/actions/x/approve/", data="{" + " " * TWO_MB + "}", content_type="application/json"
    )

    assert response.status_code == 413


@pytest.mark.django_db
def test_a_body_within_the_cap_is_accepted(demo, agent):
    response = post_json(agent.client(), json.dumps(submission(context={"ticket": "T-1"})))

    assert response.status_code == 201


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"action_type": "refund.issue", "params": {}, "context": {"notes": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}}'


@pytest.mark.slow
def test_a_live_asgi_server_refuses_a_2_mb_body_with_413(live_server_url):
    body = json.dumps(submission(context={"notes": "x" * TWO_MB}))

    response = httpx.post(
        f"{live_server_url}{SUBMIT}",
        content=body,
        headers={"Content-Type": "application/json", "Authorization": "Api-Key nope"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == Code.BODY_TOO_LARGE


@pytest.mark.slow
def test_a_live_asgi_server_stops_reading_a_chunked_body_at_the_cap(live_server_url):
    # A generator is sent chunked, without a Content-Length: the cap counts what streams in.
    response = httpx.post(
        f"{live_server_url}{SUBMIT}",
        content=_chunks(TWO_MB),
        headers={"Content-Type": "application/json", "Authorization": "Api-Key nope"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == Code.BODY_TOO_LARGE


# ------------------------------------------------------------------------------- the JSON shape


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [settings.API_MAX_JSON_DEPTH + 1, 30_000])
def test_deeply_nested_json_is_refused_400_not_500(demo, agent, depth):
    body = '{"action_type": "refund.issue", "params": {}, "context": {"a": ' + "[" * depth
    body += "]" * depth + "}}"

    response = post_json(agent.client(), body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == Code.JSON_TOO_DEEP
    assert Action.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("params", {**PARAMS, "reason": "x" * 5000}, "characters"),
        ("context", {"note": "x" * 5000}, "characters"),
        ("context", {"k" * 5000: 1}, "characters"),
        ("params", {**PARAMS, "items": list(range(101))}, "items"),
        ("context", {f"key{n}": "x" * 1000 for n in range(20)}, "bytes"),
    ],
    ids=["long-param", "long-context-text", "long-key", "long-list", "big-context"],
)
def test_agent_input_over_its_caps_is_refused_400(demo, agent, field, value, says):
    response = agent.client().post(SUBMIT, submission(**{field: value}), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == Code.INVALID_INPUT
    assert says in error["details"]["fields"][field][0]
    assert Action.objects.count() == 0


# ---------------------------------------------------------------------------------- websockets


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frame_over_the_limit_closes_the_socket_as_a_policy_violation(
    supervisor,
):
    client = Client()
    await client.aforce_login(supervisor)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    ws = WebsocketCommunicator(
        application,
        "/ws/dashboard/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())],
    )
    connected, _ = await ws.connect(timeout=10)
    assert connected
    assert (await ws.receive_json_from(timeout=10))["type"] == "hello"

    await ws.send_to(text_data="x" * (settings.WS_MAX_MESSAGE_BYTES + 1))

    closed = await ws.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": 1008}
    await ws.wait()


# ----------------------------------------------------------------------------------------- CEL


@pytest.fixture
def admin(demo, make_supervisor):
    return make_supervisor("pat", role="policy_admin")


@pytest.mark.django_db
def test_a_rule_nesting_comprehensions_is_refused_when_saved_with_the_position(admin):
    actor = Actor.user(admin.pk)
    draft = services.policy_draft_create(actor=actor, based_on=1)
    spec = {"name": "nested", "action_type": "refund.issue", "mode": Mode.EXECUTE_GATED,
            "condition": NESTED}  # fmt: skip

    with pytest.raises(InvalidInput) as refused:
        services.policy_rule_add(number=draft.number, spec=spec, actor=actor)

    assert refused.value.code == Code.INVALID_CONDITION
    assert refused.value.details["position"] == "1:34"
    assert not draft.rules.filter(name="nested").exists()


@pytest.mark.django_db
def test_comprehensions_one_after_the_other_may_be_saved(admin):
    actor = Actor.user(admin.pk)
    draft = services.policy_draft_create(actor=actor, based_on=1)
    condition = "params.items.filter(i, i > 1).all(i, i < 9) && params.tags.exists(t, t == 'x')"
    spec = {"name": "flat", "action_type": "refund.issue", "mode": Mode.EXECUTE_GATED,
            "condition": condition}  # fmt: skip

    rule = services.policy_rule_add(number=draft.number, spec=spec, actor=actor)

    assert rule.condition == condition


class StepClock:
    """A monotonic clock that moves one millisecond each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += 0.001
        return self.now


@pytest.mark.django_db
def test_a_slow_condition_is_stopped_by_its_time_budget_and_holds_the_action_for_a_human(
    demo, monkeypatch, settings
):
    # Arrange: a permissive rule whose condition (stored before nesting was refused) costs
    # 150**3 steps; the budget is 20 ms of a clock that moves 1 ms per read.
    settings.CEL_TIME_BUDGET_MS = 20
    clock = StepClock()
    monkeypatch.setattr(engine, "monotonic", clock)
    rule = Rule(
        pk=1, name="slow", action_type="refund.issue", mode=Mode.EXECUTE_LIMITED, position=1,
        condition="params.xs.all(a, params.xs.all(b, params.xs.all(c, a + b + c >= 0)))",
    )  # fmt: skip
    policy = engine.CompiledPolicy(PolicyVersion(pk=1, number=1), [rule])

    # Act
    decision = engine.decide(
        policy=policy,
        action_type=ActionType.objects.get(key="refund.issue"),
        agent_name="support-bot",
        params={"xs": list(range(150))},
        context={},
    )

    # Assert: failed closed (held for a person), and stopped long before its 3.4 million steps
    assert decision.mode == Mode.EXECUTE_GATED
    assert decision.rule_name == "slow"
    assert "ConditionOutOfTime: ran past its budget of 20 ms" in decision.explanation
    assert clock.reads < 100


@pytest.mark.django_db
def test_a_condition_within_its_budget_decides_as_usual(demo, monkeypatch):
    monkeypatch.setattr(engine, "monotonic", StepClock())
    rule = Rule(pk=1, name="small", action_type="refund.issue", mode=Mode.EXECUTE_LIMITED,
                position=1, condition="params.xs.all(a, a >= 0)")  # fmt: skip
    policy = engine.CompiledPolicy(PolicyVersion(pk=1, number=1), [rule])

    decision = engine.decide(
        policy=policy,
        action_type=ActionType.objects.get(key="refund.issue"),
        agent_name="support-bot",
        params={"xs": list(range(100))},
        context={},
    )

    assert (decision.mode, decision.rule_name) == (Mode.EXECUTE_LIMITED, "small")


# ---------------------------------------------------------------------------------- simulation


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_simulation_runs_in_a_real_worker_and_reports_its_progress(
    demo, agent, celery_worker_process
):
    # Arrange
    for amount in (1000, 2000, 3000):
        action_submit(agent=agent.agent, action_type="refund.issue",
                      params={**PARAMS, "amount": amount})  # fmt: skip
    version = PolicyVersion.objects.get(number=1)

    # Act
    started = simulation_start(version=version, days=7)
    run = wait_for(
        lambda: (found := simulation_run_get(run_id=started.id)).finished and found,
        what="the worker finished the simulation",
    )

    # Assert
    assert started.status == RunStatus.QUEUED
    assert run.status == RunStatus.DONE
    assert (run.done, run.total, run.percent) == (3, 3, 100)
    assert run.report.replayed == 3
