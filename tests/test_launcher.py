"""The run command's launcher: configured or embedded services, demo logins, start and stop."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import environ
import psutil
import psycopg
import pytest
import redis

from config import demo_logins, launcher
from tests.conftest import ROOT, free_port, wait_until


def _alive(pid: int) -> bool:
    # A zombie has stopped; it only waits for a parent (here often a PID 1 that reaps late).
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def data_root():
    """A directory the `embedded_postgres` system user can reach when the tests run as root.

    Not pytest's tmp_path: every pytest session that starts resets /tmp/pytest-of-<user> to 0700,
    which would lock that user out of a server another session is starting.
    """
    path = Path(tempfile.mkdtemp(prefix="countersign-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fail_if_started(data_dir: Path):
    raise AssertionError(f"an embedded server was started in {data_dir}")


def test_configured_services_are_used_and_no_embedded_server_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "embedded_postgres", _fail_if_started)
    monkeypatch.setattr(launcher, "embedded_redis", _fail_if_started)
    env = {"DATABASE_URL": "postgres://app@db.internal/cs", "REDIS_URL": "redis://cache:6379/2"}

    with contextlib.ExitStack() as stack:
        services = launcher.services_start(env, stack, var_dir=tmp_path)

    assert services == launcher.Services(
        database_url="postgres://app@db.internal/cs", redis_url="redis://cache:6379/2"
    )
    assert list(tmp_path.iterdir()) == []


def test_embedded_redis_answers_ping_keeps_its_data_in_the_directory_and_stops(tmp_path):
    with launcher.embedded_redis(tmp_path / "redis") as url:
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        assert Path(client.config_get("dir")["dir"]) == (tmp_path / "redis").resolve()
        client.close()

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_a_redis_left_running_by_a_killed_launcher_is_stopped_on_the_next_start(tmp_path):
    data_dir = tmp_path / "redis"
    killed_launcher = contextlib.ExitStack()  # never unwound while the next start runs
    leftover_url = killed_launcher.enter_context(launcher.embedded_redis(data_dir))

    with launcher.embedded_redis(data_dir) as url:
        assert redis.Redis.from_url(url).ping() is True
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(leftover_url, socket_connect_timeout=0.5).ping()

    killed_launcher.close()


def test_only_the_service_without_a_url_is_embedded(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "embedded_postgres", _fail_if_started)

    with contextlib.ExitStack() as stack:
        services = launcher.services_start(
            {"DATABASE_URL": "postgres://app@db.internal/cs"}, stack, var_dir=tmp_path
        )
        assert services.database_url == "postgres://app@db.internal/cs"
        assert redis.Redis.from_url(services.redis_url).ping() is True

    assert [p.name for p in tmp_path.iterdir()] == ["redis"]


def test_embedded_postgres_serves_a_countersign_database_that_django_settings_can_read(data_root):
    data_dir = data_root / "postgres"

    with launcher.embedded_postgres(data_dir) as url:
        with psycopg.connect(url) as conn:
            name = conn.execute("SELECT current_database()").fetchone()[0]
        postmaster_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        parsed = environ.Env.db_url_config(url)

    assert name == "countersign"
    assert parsed["NAME"] == "countersign"
    assert Path(parsed["OPTIONS"]["host"]).is_dir()  # the unix socket directory
    assert not _alive(postmaster_pid)
    assert not (data_dir / "postmaster.pid").exists()


def test_embedded_postgres_starts_again_on_its_existing_data(data_root):
    data_dir = data_root / "postgres"
    with launcher.embedded_postgres(data_dir) as url, psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (id int)")
        conn.commit()

    with launcher.embedded_postgres(data_dir) as url, psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 0


def test_process_env_points_the_procfile_at_the_services(tmp_path):
    services = launcher.Services(database_url="postgres://x/cs", redis_url="redis://r:1/0")

    env = launcher.process_env({"PATH": "/usr/bin"}, services, port=8123, var_dir=tmp_path)

    assert env["DATABASE_URL"] == "postgres://x/cs"
    assert env["REDIS_URL"] == "redis://r:1/0"
    assert env["PORT"] == "8123"
    assert env["COUNTERSIGN_VAR_DIR"] == str(tmp_path)
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]


def test_process_env_gives_the_web_processes_an_empty_metrics_directory(tmp_path):
    services = launcher.Services(database_url="postgres://x/cs", redis_url="redis://r:1/0")
    leftover = tmp_path / "prometheus" / "histogram_4242.db"
    leftover.parent.mkdir()
    leftover.write_bytes(b"an earlier run's figures")

    env = launcher.process_env({}, services, port=8123, var_dir=tmp_path)

    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "prometheus")
    assert list((tmp_path / "prometheus").iterdir()) == []


def test_demo_logins_keep_the_supervisor_and_issue_a_new_working_key_each_start(demo):
    from django.contrib.auth import get_user_model

    from agents.services import agent_for_key
    from approvals.demo import DEMO_QUEUES

    first = demo_logins.demo_logins_ensure()
    second = demo_logins.demo_logins_ensure()

    assert (second.username, second.password) == (
        "supervisor",
        demo_logins.DEMO_SUPERVISOR_PASSWORD,
    )
    assert get_user_model().objects.filter(username="supervisor").count() == 1
    user = get_user_model().objects.get(username="supervisor")
    assert sorted(user.approval_queues.values_list("name", flat=True)) == sorted(DEMO_QUEUES)
    assert first.api_key != second.api_key
    assert agent_for_key(raw_key=first.api_key).name == "support-bot"
    assert agent_for_key(raw_key=second.api_key).name == "support-bot"


def test_demo_logins_do_not_print_a_password_someone_changed(demo):
    from django.contrib.auth import get_user_model

    demo_logins.demo_logins_ensure()
    user = get_user_model().objects.get(username="supervisor")
    user.set_password("a-private-password-now")
    user.save()

    assert demo_logins.demo_logins_ensure().password is None


def test_demo_logins_give_each_demo_tier_one_handler_in_its_group(demo):
    from django.contrib.auth import get_user_model

    demo_logins.demo_logins_ensure()
    logins = demo_logins.demo_logins_ensure()

    assert [(h.username, h.password, h.tier_name) for h in logins.handlers] == [
        ("l1-lead", "countersign-demo", "L1 support leads"),
        ("l2-specialist", "countersign-demo", "L2 specialists"),
        ("finance", "countersign-demo", "Finance (billing escalations)"),
    ]
    for handler in logins.handlers:
        user = get_user_model().objects.get(username=handler.username)
        assert set(user.groups.values_list("name", flat=True)) == {"supervisor", handler.username}
        assert list(user.approval_queues.values_list("name", flat=True)) == ["Escalations"]
        assert user.check_password(demo_logins.DEMO_HANDLER_PASSWORD)


def test_the_banner_prints_the_handler_logins_right_below_the_supervisor_login():
    logins = demo_logins.DemoLogins(
        username="supervisor", password="countersign-demo", agent_name="support-bot",
        api_key="cs_key", handlers=(
            demo_logins.DemoHandler("l1-lead", "countersign-demo", "L1 support leads"),
            demo_logins.DemoHandler("finance", None, "Finance (billing escalations)"),
        ),
    )  # fmt: skip

    lines = demo_logins.banner("http://127.0.0.1:8000", logins).splitlines()

    at = lines.index("  Sign in as    supervisor / countersign-demo")
    assert lines[at + 1 : at + 3] == [
        '                l1-lead / countersign-demo   handler in tier "L1 support leads"',
        "                finance / (changed since it was created; not shown)"
        '   handler in tier "Finance (billing escalations)"',
    ]
    assert lines[at + 3].startswith("  Agent key     cs_key")


def test_demo_logins_give_qa_its_reviewers_lead_and_auditor(demo):
    from django.contrib.auth import get_user_model

    demo_logins.demo_logins_ensure()
    logins = demo_logins.demo_logins_ensure()

    assert [(q.username, q.password, q.role) for q in logins.qa] == [
        ("qa", "countersign-demo", "QA reviewer"),
        ("qa2", "countersign-demo", "QA reviewer"),
        ("qa-lead", "countersign-demo", "QA lead"),
        ("auditor", "countersign-demo", "Auditor"),
    ]
    for login, role in zip(logins.qa, ("qa_reviewer", "qa_reviewer", "qa_lead", "auditor")):
        user = get_user_model().objects.get(username=login.username)
        assert list(user.groups.values_list("name", flat=True)) == [role]


def test_the_banner_prints_the_qa_logins_below_the_handlers():
    from qa.demo import DemoQaLogin

    logins = demo_logins.DemoLogins(
        username="supervisor", password="countersign-demo", agent_name="support-bot",
        api_key="cs_key",
        handlers=(demo_logins.DemoHandler("l1-lead", "countersign-demo", "L1 support leads"),),
        qa=(DemoQaLogin("qa", "countersign-demo", "QA reviewer"),
            DemoQaLogin("auditor", None, "Auditor")),
    )  # fmt: skip

    lines = demo_logins.banner("http://127.0.0.1:8000", logins).splitlines()

    at = lines.index(
        '                l1-lead / countersign-demo   handler in tier "L1 support leads"'
    )
    assert lines[at + 1 : at + 3] == [
        "                qa / countersign-demo   QA reviewer (/qa/)",
        "                auditor / (changed since it was created; not shown)   Auditor (/qa/)",
    ]
    assert lines[at + 3].startswith("  Agent key     cs_key")


# ------------------------------------------------------------------------------------------------
# The whole run command, as a person starts it


def _read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed within {timeout}s:\n{''.join(lines)[-4000:]}")


def _http(method: str, url: str, *, key: str | None = None, body: dict | None = None):
    data = json.dumps(body).encode() if body else None
    request = urllib.request.Request(url, method=method, data=data)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Api-Key {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


@pytest.mark.slow
def test_run_command_serves_the_product_and_ctrl_c_stops_every_process(data_root):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(COUNTERSIGN_VAR_DIR=str(data_root / "var"), PYTHONUNBUFFERED="1")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.launcher", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = _read_until(proc, "Agent key", timeout=120)
        started = psutil.Process(proc.pid).children(recursive=True)
        postmaster_pid = int((data_root / "var/postgres/postmaster.pid").read_text().split()[0])
        key = lines[-1].split()[-1]
        base = f"http://127.0.0.1:{port}"

        assert any("Sign in as    supervisor / countersign-demo" in line for line in lines)
        assert any("l1-lead / countersign-demo" in line for line in lines)
        assert any("qa-lead / countersign-demo   QA lead" in line for line in lines)
        assert urllib.request.urlopen(f"{base}/accounts/login/", timeout=10).status == 200
        status, action = _http(
            "POST", f"{base}/api/v1/actions/", key=key, body=demo_logins.DEMO_SUBMISSION
        )
        assert status == 201
        detail = f"{base}/api/v1/actions/{action['id']}/"
        wait_until(lambda: _http("GET", detail, key=key)[1]["status"] == "succeeded", timeout=30)
        # The long-poll is served on the same base URL (by the front's ASGI side).
        status, waited = _http("GET", f"{detail}wait/?timeout=1", key=key)
        assert (status, waited["status"]) == (200, "succeeded")
        assert {p.name() for p in started} >= {"redis-server"}
        assert len(started) >= 4  # honcho, its processes, redis
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode == 130, output[-3000:]
    assert not _alive(postmaster_pid)
    assert [p for p in started if _alive(p.pid) and p.is_running()] == []
