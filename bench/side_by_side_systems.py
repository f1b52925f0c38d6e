"""The systems bench/side_by_side.py drives: how each is started, its processes and its rounds."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml
from baseline.schema import tables_ensure
from common import fresh_database

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_answering(proc: subprocess.Popen, port: int, path: str, timeout: float = 90) -> None:
    """Until an HTTP request to the server gets any answer but 502 (the front's "not yet")."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited during startup: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                head = sock.recv(64)
            if head.startswith(b"HTTP/1.1") and b" 502 " not in head[:16]:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on {port} did not answer within {timeout:.0f} s")


@dataclass
class Round:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    cpu_seconds: float


@dataclass
class System:
    key: str  # bare, prod, run, peer-single, peer-uvicorn2
    name: str
    port: int
    headers: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    path: str = "/api/v1/actions/"
    lua: Path | None = None  # the Countersign body's script unless set

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    times = p.cpu_times()
                    total += times.user + times.system
            except psutil.Error:
                continue
        return total

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.rounds)

    @property
    def rps(self) -> float:
        return statistics.median(r.requests / r.seconds for r in self.rounds)

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * sum(r.cpu_seconds for r in self.rounds) / sum(r.requests for r in self.rounds)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def compose_command(service: str) -> list[str]:
    """docker-compose.yml's command of `service` (the production shape's processes)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return list(compose["services"][service]["command"])


def compose_environment(service: str) -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    own = compose["services"][service].get("environment", {})
    return {k: str(v) for k, v in own.items() if k.startswith("DB_POOL_")}


def with_bind(command: list[str], option: str, value: str) -> list[str]:
    kept = [word for word in command if not word.startswith(f"{option}=")]
    return [*kept, f"{option}={value}"]


def start(command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def baseline_system(args, base_env: dict[str, str], logs: Path) -> System:
    name = f"{args.database}_bare"
    fresh_database(args.server, name)
    tables_ensure(f"{args.server}/{name}")
    env = {**base_env, "BASELINE_DB_NAME": name, "PYTHONPATH": str(BENCH),
           **compose_environment("web")}  # fmt: skip
    env.pop("DJANGO_SETTINGS_MODULE", None)
    port = free_port()
    web = compose_command("web")
    options = [w for w in web[2:] if not w.startswith(("--bind", "--access-logfile"))]
    command = [PYTHON, "-m", "gunicorn", "baseline.wsgi:application", f"--bind=127.0.0.1:{port}",
               *options, "--access-logfile=-"]  # fmt: skip
    proc = start(command, env=env, cwd=BENCH, log=logs / "bare.log")
    system = System("bare", "bare (DRF 2-row insert, gunicorn)", port, JSON, [proc])
    wait_answering(proc, port, "/")
    return system


def countersign_env(args, base_env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The environment of Countersign's servers and a fresh database with the demo and an agent."""
    name = f"{args.database}_cs"
    env = {
        **base_env,
        "DATABASE_URL": f"{args.server.replace('postgresql://', 'postgres://')}/{name}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "API_RATE_LIMIT": "",  # the bench measures the server, not the per-key rate limit
        "CELERY_QUEUE": "countersign-side-by-side",  # never feed another run's worker
        "CHANNEL_PREFIX": "countersign-side-by-side",
        "LOG_LEVEL": "WARNING",
    }
    fresh_database(args.server, name)
    manage(env, "migrate", "--noinput")
    manage(env, "load_demo")
    key = manage(env, "create_agent", "side-by-side-bot").strip().splitlines()[-1]
    return env, key


def production_system(env: dict[str, str], key: str, logs: Path) -> System:
    port, ws_port = free_port(), free_port()
    web = with_bind(compose_command("web"), "--bind", f"127.0.0.1:{port}")
    ws = compose_command("ws")
    ws = [w for w in ws if not w.startswith(("--host", "--port"))]
    ws += ["--host=127.0.0.1", f"--port={ws_port}"]
    web_env = {**env, **compose_environment("web"), "TRUSTED_PROXY_COUNT": "0"}
    procs = [
        start([PYTHON, "-m", *web], env=web_env, cwd=ROOT, log=logs / "prod-web.log"),
        start([PYTHON, "-m", *ws], env=env, cwd=ROOT, log=logs / "prod-ws.log"),
    ]
    system = System("prod", "prod (gunicorn 4 sync + ws uvicorn)", port, _auth(key), procs)
    wait_answering(procs[0], port, "/accounts/login/")
    return system


def run_system(env: dict[str, str], key: str, logs: Path) -> System:
    """The Procfile's web line, as honcho runs it for `./run` (PORT set, a shell expands it)."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    port = free_port()
    path = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])
    run_env = {**env, "PORT": str(port), "WEB_HOST": "127.0.0.1", "PATH": path}
    proc = start(["/bin/sh", "-c", line.split(":", 1)[1].strip()], env=run_env, cwd=ROOT,
                 log=logs / "run.log")  # fmt: skip
    system = System("run", "run (./run's Procfile web line)", port, _auth(key), [proc])
    wait_answering(proc, port, "/accounts/login/")
    return system


JSON = {"Content-Type": "application/json"}


# `./run`'s web line before it served the API from gunicorn: one uvicorn process for everything.
ASGI_ONLY_WEB = (
    "uvicorn config.asgi:application --host 127.0.0.1 --port {port} --timeout-graceful-shutdown 3 "
    "--ws-per-message-deflate false --ws-max-size 65536"
)


def asgi_only_system(env: dict[str, str], key: str, logs: Path) -> System:
    """The earlier `./run` shape, for a ratio in the same run (`--only ...,run-asgi`)."""
    port = free_port()
    command = [PYTHON, "-m", *ASGI_ONLY_WEB.format(port=port).split()]
    proc = start(command, env=env, cwd=ROOT, log=logs / "run-asgi.log")
    system = System("run-asgi", "run before (one uvicorn, config.asgi)", port, _auth(key), [proc])
    wait_answering(proc, port, "/accounts/login/")
    return system


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}", **JSON}


def peer_systems(args, base_env: dict[str, str], logs: Path, lua: Path) -> list[System]:
    """awaithumans, when `--peer-python` has it; its own process, then uvicorn with 2 workers.

    How it is started is read from the installed package (see PEER_NOTES below); nothing is
    fetched from the network here.
    """
    if not args.peer_python:
        print("peer: skipped (no --peer-python given)")
        return []
    probe = [args.peer_python, "-c", "import awaithumans.server.app"]
    check = subprocess.run(probe, capture_output=True, text=True, check=False)
    if check.returncode != 0:
        print(f"peer: skipped (awaithumans[server] not importable by {args.peer_python})")
        return []
    return peer_start(args, base_env, logs, lua)


def peer_start(args, base_env: dict[str, str], logs: Path, lua: Path) -> list[System]:
    """awaithumans with PostgreSQL: `awaithumans serve` (its own single uvicorn process), then
    the same app under `uvicorn --workers 2`. Tasks are created by POST /api/tasks with the
    admin token (x-admin-token), the refund as the task's payload, a fresh idempotency_key in
    the body. Its schema is made by its own start-up (init_db), by the single process first."""
    import secrets

    name = f"{args.database}_peer"
    fresh_database(args.server, name)
    token = secrets.token_urlsafe(24)
    env = {
        **{k: v for k, v in base_env.items() if not k.startswith("DJANGO")},
        "AWAITHUMANS_DATABASE_URL": f"{args.server}/{name}",
        "AWAITHUMANS_PAYLOAD_KEY": secrets.token_urlsafe(32),
        "AWAITHUMANS_ADMIN_API_TOKEN": token,
        "AWAITHUMANS_PUBLIC_URL": "http://127.0.0.1",
        "AWAITHUMANS_LOG_LEVEL": "WARNING",
    }
    headers = {"x-admin-token": token, **JSON}
    bin_dir = Path(args.peer_python).parent
    single_port, multi_port = free_port(), free_port()
    single = start([str(bin_dir / "awaithumans"), "serve", "--host", "127.0.0.1",
                    "--port", str(single_port), "--log-level", "warning"],
                   env=env, cwd=logs, log=logs / "peer-single.log")  # fmt: skip
    systems = [System("peer-single", "peer (awaithumans serve, 1 process)", single_port, headers,
                      [single], path="/api/tasks", lua=lua)]  # fmt: skip
    wait_answering(single, single_port, "/api/health")
    multi = start([args.peer_python, "-m", "uvicorn", "awaithumans.server.app:create_app",
                   "--factory", "--workers", "2", "--host", "127.0.0.1", "--port", str(multi_port),
                   "--log-level", "warning"],
                  env=env, cwd=logs, log=logs / "peer-uvicorn2.log")  # fmt: skip
    systems.append(System("peer-uvicorn2", "peer (uvicorn --workers 2)", multi_port, headers,
                          [multi], path="/api/tasks", lua=lua))  # fmt: skip
    wait_answering(multi, multi_port, "/api/health")
    return systems


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a server and its children (each was started in a session of its own)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=5)
