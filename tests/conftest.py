"""Shared fixtures: demo data, agents with keys, supervisors, and real server processes.

Everything runs against the PostgreSQL and Redis named by DATABASE_URL and REDIS_URL (default: the
local services on 127.0.0.1). Tests that start real processes (an ASGI server, a Celery worker)
point them at the test database, so those tests use `transactional_db` to commit their data.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.clock import frozen, wait_for

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR_PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session", autouse=True)
def audit_signing_key_file(tmp_path_factory) -> Path:
    """An audit signing key made for this session (never var/'s), and a checkpoint directory:
    in this process through settings, in the processes tests start (a worker) through the
    environment they inherit. Tests that write checkpoints in-process use `audit_checkpoint_dir`."""
    from audit.signing import signing_key_ensure

    folder = tmp_path_factory.mktemp("audit")
    values = {
        "AUDIT_SIGNING_KEY_FILE": str(folder / "signing-key.pem"),
        "AUDIT_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "AUDIT_SIGNING_KEY": "",
    }
    for name, value in values.items():
        os.environ[name] = value
        setattr(settings, name, value)
    signing_key_ensure()
    return folder / "signing-key.pem"


@pytest.fixture
def audit_checkpoint_dir(settings, tmp_path) -> Path:
    """A checkpoint directory of this test's own: checkpoints outlive the rows a test rolls back."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")
    return tmp_path / "audit-checkpoints"


@pytest.fixture
def demo(db):
    """The demo catalog: action types, demo policy, reason codes, roles, orders ORD-1001..1015."""
    from approvals.demo import demo_load

    demo_load()


def tier_spec(key: str = "l9-test", **overrides) -> dict:
    """Every field of an escalation tier: a 24/7 tier handled by the group of its own name."""
    return {
        "key": key, "name": f"Tier {key}", "handler_group": key, "handler_queue": "",
        "ack_sla_seconds": 900, "resolve_sla_seconds": 3600, "next_tier": "",
        "renotify_seconds": 3600, "time_zone": "UTC", "weekly_hours": {}, "holidays": [],
        "is_default": False, **overrides,
    }  # fmt: skip


@pytest.fixture
def make_tier(db):
    """make_tier(key, **fields): an escalation tier saved through the service."""
    from audit.services import Actor
    from policies.tiers import tier_save

    def make(key: str = "l9-test", **overrides):
        return tier_save(**tier_spec(key, **overrides), actor=Actor.system("test"))[0]

    return make


@dataclass
class AgentWithKey:
    agent: object
    key: str

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {self.key}")
        return client


@pytest.fixture
def make_agent(db):
    from agents.services import agent_create

    def make(name: str = "support-bot") -> AgentWithKey:
        issued = agent_create(name=name)
        return AgentWithKey(agent=issued.agent, key=issued.key)

    return make


@pytest.fixture
def agent(make_agent) -> AgentWithKey:
    return make_agent("support-bot")


@pytest.fixture
def make_supervisor(db):
    """make(username, role=..., queues=...): a person in `role` who works `queues` (by default
    every demo queue, so a test about something else sees every action it submits)."""
    from approvals.demo import DEMO_QUEUES, demo_queues_ensure
    from approvals.services import supervisor_create

    def make(username: str = "alice", role: str = "supervisor", queues=DEMO_QUEUES):
        demo_queues_ensure()
        return supervisor_create(
            username=username, password=SUPERVISOR_PASSWORD, role=role, queues=queues
        )

    return make


@pytest.fixture
def supervisor(make_supervisor):
    return make_supervisor("alice")


@pytest.fixture
def supervisor_client(supervisor) -> APIClient:
    """A browser-like session client that must send CSRF tokens, as the dashboard does."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(supervisor)
    return client


# ------------------------------------------------------------------------------------------------
# Real processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_env(db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db_name}"
    )
    env["REDIS_URL"] = settings.REDIS_URL
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def test_database_name(django_db_setup, django_db_blocker) -> str:
    from django.db import connection

    with django_db_blocker.unblock():
        return connection.settings_dict["NAME"]


def procfile_web_command() -> str:
    """The Procfile's `web` line (what `./run` starts), for a shell with PORT and WEB_HOST set."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    return line.split(":", 1)[1].strip()


@contextlib.contextmanager
def asgi_server(app: str, db_name: str, log: Path) -> Iterator[str]:
    """`app` ("module:attribute") under uvicorn with the front's options; yields its URL."""
    from config.front import UVICORN_CLI

    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app,
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *UVICORN_CLI],
            cwd=ROOT, env=_process_env(db_name), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextlib.contextmanager
def web_server(db_name: str, log: Path) -> Iterator[str]:
    """The Procfile's web line (the front, gunicorn behind it) on a free port; yields its URL."""
    port = free_port()
    env = _process_env(db_name)
    env.update(PORT=str(port), WEB_HOST="127.0.0.1", WEB_WORKERS=env.get("WEB_WORKERS", "2"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {procfile_web_command()}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def live_server_url(test_database_name, tmp_path_factory) -> Iterator[str]:
    """The whole web app (HTTP + websockets) as the run command serves it: the front on one port,
    gunicorn behind it."""
    log = tmp_path_factory.mktemp("web") / "web.log"
    with web_server(test_database_name, log) as url:
        yield url


@pytest.fixture(scope="session")
def celery_worker_process(test_database_name, tmp_path_factory) -> Iterator[subprocess.Popen]:
    """A real Celery worker (prefork, not eager) consuming the project's queue."""
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
             "--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=_process_env(test_database_name), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        _worker_running.set()
        yield proc
    finally:
        _worker_running.clear()
        _stop(proc)


_worker_running = threading.Event()


def _worker_is_busy() -> bool:
    import redis

    from approvals.models import Action, Status

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE) + broker.hlen("unacked")
    return bool(queued) or Action.objects.filter(status=Status.EXECUTING).exists()


def _flush_retrying_a_deadlock(original):
    """The flush after a transactional test, made safe against what still runs in the background.

    Once the session's Celery worker runs, it executes what any test enqueues: it is let finish
    first, since a worker transaction still open while the flush's TRUNCATE takes its locks can
    deadlock and leave the next test with this one's rows. A read still running elsewhere (the
    live server answering a page the browser still shows, a worker rendering the row of a change
    it committed) takes its locks one table at a time too and can deadlock with the flush, and
    PostgreSQL may pick the flush to abort. Such a read finishes in milliseconds: flush again.
    """

    def teardown(self, *args, **kwargs):
        from django.core.management.base import CommandError
        from django.db import OperationalError

        if _worker_running.is_set():
            deadline = time.monotonic() + 30
            while _worker_is_busy() and time.monotonic() < deadline:
                time.sleep(0.1)
        for attempt in range(5):
            try:
                with _audit_truncate_allowed():
                    return original(self, *args, **kwargs)
            except CommandError as exc:
                deadlock = isinstance(
                    exc.__cause__, OperationalError
                ) and "deadlock detected" in str(exc.__cause__)
                if not deadlock or attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    return teardown


def _audit_truncate_allowed():
    """The audit log refuses TRUNCATE (see `audit.models.AuditEvent`); the flush between
    transactional tests is the one TRUNCATE let through. `pgtrigger.ignore` sets a setting local
    to the flush's transaction that the guard reads: the tests connect as a superuser, who owns
    the tables and would pass any privilege, so the guard is what there is to pass. The app's own
    role has no TRUNCATE privilege at all (audit migration 0004), setting or not."""
    import pgtrigger

    return pgtrigger.ignore("audit.AuditEvent:audit_append_only")


def _login_with_second_factor(original):
    """A test client's `force_login` is a complete sign-in: someone whose role needs a second
    factor gets an authenticator app and the session counts as verified with it, as after the
    verification page. Tests of two-factor sign-in itself sign in through the pages."""

    def _login(self, user, backend=None):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from people.two_factor import second_factor_required

        original(self, user, backend)
        if second_factor_required(user):
            device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
            device = device or TOTPDevice.objects.create(user=user, name="test", confirmed=True)
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    return _login


def pytest_configure(config) -> None:
    from django.test import TransactionTestCase
    from django.test.client import ClientMixin

    TransactionTestCase._fixture_teardown = _flush_retrying_a_deadlock(
        TransactionTestCase._fixture_teardown
    )
    ClientMixin._login = _login_with_second_factor(ClientMixin._login)


def in_a_thread(fn):
    """`fn` made to run in another thread with its own database connection, closed after."""

    def run():
        from django.db import connection

        try:
            return fn()
        finally:
            connection.close()

    return run


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until `predicate()` is truthy; return its value or fail with the last one."""
    return wait_for(predicate, deadline=timeout, what="condition", interval=interval)


@pytest.fixture
def frozen_clock():
    """Time stands still (time-machine, `tick=False`) until the test moves it: `.shift(delta)`,
    `.move_to(moment)`. See `tests.clock`."""
    with frozen() as clock:
        yield clock
