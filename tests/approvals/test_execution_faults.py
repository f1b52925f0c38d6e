"""At-least-once delivery, exactly-once effect, under real faults.

Real Celery worker processes (prefork, --concurrency=2) on a queue of their own, real Redis and
PostgreSQL. The sandbox refund ledger (one row per action id at most) counts effects. The sweeper
is the service the beat task calls, called here directly so the test controls when it runs; the
worker's lease is a few seconds (EXECUTION_LEASE_SECONDS) so a dead worker's lease expires fast.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery import Celery
from django.db.models import Count

from approvals import services
from approvals.models import Action, Status
from approvals.services import kernel
from audit.models import AuditEvent
from policies.models import Mode
from policies.services import action_type_upsert
from sandbox.models import Customer, Order, Payment, Refund
from tests.conftest import ROOT, _process_env, free_port, in_a_thread, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3
TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.ESCALATED, Status.NEEDS_RECONCILIATION}
REDIS_DOWN_SECONDS = float(os.environ.get("FAULT_REDIS_DOWN_SECONDS", "60"))


# ------------------------------------------------------------------------------------------------
# processes: the broker the test sends to, worker processes, a Redis of our own


@pytest.fixture
def fault_queue() -> str:
    return f"{os.environ.get('CELERY_QUEUE', 'countersign')}-faults-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def broker(fault_queue, monkeypatch) -> Callable[[str], Celery]:
    """use(url): the services enqueue on a Celery app with the project's settings, sending to
    `url` and to the test's own queue (so no other worker of the session takes its tasks)."""
    apps: list[Celery] = []

    def use(url: str) -> Celery:
        # Not the current app: `celery.current_app` would send every later test's tasks here.
        app = Celery("countersign-faults", set_as_current=False)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.broker_url = url
        app.conf.task_default_queue = fault_queue
        monkeypatch.setattr(kernel, "current_app", app)
        apps.append(app)
        return app

    yield use
    for app in apps:
        _forget_queue(app, fault_queue)


def _forget_queue(app: Celery, queue: str) -> None:
    """Leave nothing of the test's queue in a shared Redis: the queue, and the unacked messages
    of killed workers (any worker on that Redis would otherwise restore them later)."""
    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            client.delete(queue)
            for tag, raw in client.hscan_iter("unacked"):
                if json.loads(raw)[-1] == queue:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
    except Exception:  # the test's own Redis may be gone already
        pass


class Workers:
    """Worker processes started for one test, each in its own process group, stopped at the end."""

    def __init__(self, db_name: str, queue: str, logs: Path) -> None:
        self.db_name, self.queue, self.logs = db_name, queue, logs
        self.procs: list[subprocess.Popen] = []

    def start(self, broker_url: str, **env: str) -> subprocess.Popen:
        n = len(self.procs)
        log = self.logs / f"worker-{n}.log"
        environ = _process_env(self.db_name) | {
            "CELERY_BROKER_URL": broker_url,
            "CELERY_QUEUE": self.queue,
            "EXECUTION_LEASE_SECONDS": str(LEASE_SECONDS),
            "EXECUTION_RETRY_BASE_SECONDS": "0.2",
            "EXECUTION_RETRY_MAX_SECONDS": "1",
            # Other engineers share this PostgreSQL: keep each process's pool small.
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "2",
            **env,
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.approvals.fault_worker", "worker",
                 "--loglevel=INFO", "--concurrency=2", "-Q", self.queue, "-n", f"fault{n}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg takes parent and children
            )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.1)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def workers(transactional_db, test_database_name, fault_queue, tmp_path) -> Iterator[Workers]:
    # Depends on transactional_db so it is torn down (workers stopped) before the flush.
    pool = Workers(test_database_name, fault_queue, tmp_path)
    yield pool
    pool.stop_all()


class OwnRedis:
    """A redis-server of the test's own on a spare port, never the shared one. No persistence:
    what the broker held is lost on a restart, which is the harder case (the database is the
    truth and the sweeper enqueues again whatever did not run)."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: _listening(self.port), timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


# ------------------------------------------------------------------------------------------------
# data: test action types that execute without a person, and an order to refund against

REFUND_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "integer", "minimum": 1},
        "currency": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["order_id", "amount", "currency"],
    "additionalProperties": False,
}
HTTP_SCHEMA = {
    "type": "object",
    "properties": {"url": {"type": "string"}},
    "required": ["url"],
    "additionalProperties": False,
}


@pytest.fixture
def catalog(demo):
    # Not refund.*: the demo's refund breaker would hold a burst of 200 for a person.
    action_type_upsert(key="test.refund", name="Test refund", params_schema=REFUND_SCHEMA,
                       default_mode=Mode.EXECUTE_LIMITED)  # fmt: skip
    for key in ("test.http_idempotent", "test.http_once"):
        action_type_upsert(key=key, name=key, params_schema=HTTP_SCHEMA,
                           default_mode=Mode.EXECUTE_LIMITED)  # fmt: skip
    customer = Customer.objects.create(external_id="CUS-900", name="Faults", email="f@example.com")
    order = Order.objects.create(order_id="ORD-9001", customer=customer, currency="USD",
                                 total_amount=10**9, shipping_address={})  # fmt: skip
    Payment.objects.create(order=order, amount=10**9, currency="USD")


def approve_refunds(agent, n: int) -> list[str]:
    """Submit n refunds the policy approves at once; each is enqueued on commit."""
    return [
        str(
            services.action_submit(
                agent=agent.agent, action_type="test.refund",
                params={"order_id": "ORD-9001", "amount": 100, "currency": "USD", "reason": "x"},
            ).action.pk
        )
        for _ in range(n)
    ]  # fmt: skip


def statuses(ids) -> Counter:
    return Counter(Action.objects.filter(pk__in=ids).values_list("status", flat=True))


def sweep_until_terminal(ids, timeout: float, older_than: float) -> Counter:
    """Run the sweeper every second, as beat would, until every action is finished; it enqueues
    what nothing happened to for `older_than` seconds (STALL_AFTER_SECONDS, shortened)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = statuses(ids)
        if sum(counts[s] for s in TERMINAL) == len(ids):
            return counts
        services.actions_requeue_stalled(older_than_seconds=older_than)
        time.sleep(1.0)
    raise AssertionError(f"not all terminal after {timeout}s: {statuses(ids)}")


def refunds_per_action(ids) -> Counter:
    rows = Refund.objects.filter(action_id__in=ids).values("action_id").annotate(n=Count("id"))
    return Counter({str(r["action_id"]): r["n"] for r in rows})


def audit_count(verb: str, ids) -> int:
    return AuditEvent.objects.filter(verb=verb, object_id__in=[str(i) for i in ids]).count()


# ------------------------------------------------------------------------------------------------
# (a) kill -9 of the worker mid-run


def test_killing_the_worker_mid_run_loses_no_refund_and_applies_none_twice(
    catalog, agent, broker, workers, settings
):
    # Arrange: 200 approved refunds queued; a worker whose refund applies, then lingers 30 ms
    # before its outcome is recorded (the window where a crash leaves an applied, unrecorded one)
    broker(settings.CELERY_BROKER_URL)
    ids = approve_refunds(agent, 200)
    first = workers.start(settings.CELERY_BROKER_URL, FAULT_DELAY_BEFORE_MS="2",
                          FAULT_DELAY_AFTER_MS="30")  # fmt: skip

    # Act: SIGKILL the worker's whole process group a third of the way in, start another,
    # and sweep as beat would until every action is finished
    def a_third_done_and_one_applied_unrecorded() -> bool:
        # Kill inside the 30 ms window, not in the few ms between two attempts: otherwise the
        # kill strands nothing and the test proves nothing.
        executing = Action.objects.filter(pk__in=ids, status=Status.EXECUTING).values("pk")
        return (
            Refund.objects.filter(action_id__in=ids).count() >= 70
            and Refund.objects.filter(action_id__in=executing).exists()
        )

    # The kill races the 30 ms window on a loaded machine: when it lands between two attempts
    # (nothing stranded), start another lingering worker and try again, up to three times.
    for _ in range(3):
        wait_until(a_third_done_and_one_applied_unrecorded, timeout=60)
        workers.kill(first)
        stranded_ids = list(Action.objects.filter(pk__in=ids, status=Status.EXECUTING)
                            .values_list("pk", flat=True))  # fmt: skip
        stranded = len(stranded_ids)
        if stranded or statuses(ids)[Status.SUCCEEDED] > 150:
            break
        first = workers.start(settings.CELERY_BROKER_URL, FAULT_DELAY_BEFORE_MS="2",
                              FAULT_DELAY_AFTER_MS="30")  # fmt: skip
    # Those whose refund the dead worker had applied: their takeover must replay, not repeat.
    applied_unrecorded = Refund.objects.filter(action_id__in=stranded_ids).count()
    print(f"killed with {stranded} executing, {applied_unrecorded} of them already refunded")
    workers.start(settings.CELERY_BROKER_URL, FAULT_DELAY_BEFORE_MS="2", FAULT_DELAY_AFTER_MS="5")
    counts = sweep_until_terminal(ids, timeout=120, older_than=LEASE_SECONDS + 1)

    # Assert: every refund took effect exactly once; the killed attempts were taken over
    assert counts == Counter({Status.SUCCEEDED: 200})
    per_action = refunds_per_action(ids)
    assert (len(per_action), set(per_action.values())) == (200, {1})
    assert stranded >= 1, "the kill landed between attempts: nothing was stranded"
    assert audit_count("action.execution_recovered", ids) >= stranded
    assert Action.objects.filter(pk__in=ids, attempts__gte=2).count() >= stranded


# ------------------------------------------------------------------------------------------------
# (b) the broker is down while actions are approved


def test_actions_approved_while_redis_is_down_all_execute_once_after_it_returns(
    catalog, agent, broker, workers, own_redis
):
    # Arrange: a worker on our own Redis, which then stops
    broker(own_redis.url)
    workers.start(own_redis.url)
    own_redis.stop()

    # Act: 100 approvals while it is down (each enqueue fails and is swallowed, without hanging
    # the approval), a restart a minute later (empty: no persistence), then the sweeper
    down_since = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        approving = pool.submit(in_a_thread(lambda: approve_refunds(agent, 100)))
        try:
            ids = approving.result(timeout=100)
        except concurrent.futures.TimeoutError:
            raise AssertionError(
                "100 approvals did not finish within 100s with the broker down: an enqueue hangs"
            ) from None
    # The outage itself, not a wait for anything: the broker stays away for its full period.
    time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - down_since)))
    stuck = statuses(ids)
    own_redis.start()
    counts = sweep_until_terminal(ids, timeout=180, older_than=10)

    # Assert: nothing ran or was lost while the broker was away; afterwards, all exactly once
    assert stuck == Counter({Status.APPROVED: 100})
    assert counts == Counter({Status.SUCCEEDED: 100})
    per_action = refunds_per_action(ids)
    assert (len(per_action), set(per_action.values())) == (100, {1})


# ------------------------------------------------------------------------------------------------
# (c) a crash between commit and enqueue


def test_an_approval_whose_enqueue_never_happened_is_dispatched_by_the_sweeper(
    catalog, agent, broker, workers, settings, monkeypatch, frozen_clock
):
    # Arrange: an approval whose process dies right after the commit: the enqueue never runs
    broker(settings.CELERY_BROKER_URL)
    workers.start(settings.CELERY_BROKER_URL)
    with monkeypatch.context() as crash:
        # The process dies right after the commit: the on-commit enqueue never runs.
        crash.setattr(kernel, "_send", lambda *args, **kwargs: None)
        [action_id] = approve_refunds(agent, 1)
    assert statuses([action_id]) == Counter({Status.APPROVED: 1})
    assert services.actions_requeue_stalled(older_than_seconds=60) == 0  # not stalled yet

    # Act: a minute later the sweeper runs
    frozen_clock.shift(61)
    swept = services.actions_requeue_stalled(older_than_seconds=60)
    action = wait_until(
        lambda: Action.objects.filter(pk=action_id, status=Status.SUCCEEDED).first(), timeout=20
    )

    assert (swept, action.attempts) == (1, 1)
    assert Refund.objects.filter(action_id=action_id).count() == 1


# ------------------------------------------------------------------------------------------------
# (d) the target misbehaves: times out after applying, answers 500, resets the connection


class Target:
    """A tiny HTTP target on 127.0.0.1. `script[path]` lists what each request gets, in order
    (then "ok" forever): "ok", "500", "422", "timeout" or "reset"; every behaviour but "422"
    applies the request first. `effects[key]` counts applications: an idempotent path applies
    once per Idempotency-Key, a path starting /once/ applies every request it gets."""

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.effects: Counter = Counter()
        self.requests: Counter = Counter()
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                key = self.headers["Idempotency-Key"]
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with target.lock:
                    target.requests[(self.path, key)] += 1
                    steps = target.script.get(self.path, [])
                    step = steps.pop(0) if steps else "ok"
                    if step != "422" and (
                        self.path.startswith("/once/") or not target.effects[key]
                    ):
                        target.effects[key] += 1
                if step == "timeout":
                    time.sleep(1.5)  # the client gives up after 0.5 s
                elif step == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return  # closing with linger 0 sends a RST instead of an answer
                status = {"500": 500, "422": 422}.get(step, 200)
                body = json.dumps({"applied": status == 200, "key": key}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.server.shutdown()
    server.server.server_close()


def submit_call(agent, action_type: str, url: str) -> str:
    return str(
        services.action_submit(agent=agent.agent, action_type=action_type, params={"url": url})
        .action.pk
    )  # fmt: skip


def test_a_misbehaving_target_is_retried_when_idempotent_reconciled_when_not_refused_at_once(
    catalog, agent, broker, workers, settings, target
):
    # Arrange: the idempotent target applies the first call, then answers it 500; applies and
    # times out; applies and resets; then answers. The other target is not idempotent.
    target.script = {"/flaky": ["500", "timeout", "reset"], "/once/slow": ["timeout"],
                     "/refuse": ["422"]}  # fmt: skip
    broker(settings.CELERY_BROKER_URL)
    workers.start(settings.CELERY_BROKER_URL)

    # Act
    flaky = submit_call(agent, "test.http_idempotent", f"{target.url}/flaky")
    ambiguous = submit_call(agent, "test.http_once", f"{target.url}/once/slow")
    refused = submit_call(agent, "test.http_idempotent", f"{target.url}/refuse")
    sweep_until_terminal([flaky, ambiguous, refused], timeout=60, older_than=30)

    # Assert: retried to success with one effect; left to a person after one call; refused once
    rows = {str(a.pk): a for a in Action.objects.filter(pk__in=[flaky, ambiguous, refused])}
    assert (rows[flaky].status, rows[flaky].attempts) == (Status.SUCCEEDED, 4)
    assert (target.requests[("/flaky", flaky)], target.effects[flaky]) == (4, 1)
    assert rows[flaky].result == {"applied": True, "key": flaky}
    assert audit_count("action.retry_scheduled", [flaky]) == 3

    assert (rows[ambiguous].status, rows[ambiguous].attempts) == (Status.NEEDS_RECONCILIATION, 1)
    assert rows[ambiguous].error["code"] == "target_timeout"
    assert target.requests[("/once/slow", ambiguous)] == 1

    assert (rows[refused].status, rows[refused].attempts) == (Status.FAILED, 1)
    assert rows[refused].error["code"] == "target_refused"
    assert target.effects[refused] == 0
