"""Submit throughput side by side: Countersign's two serving shapes, a bare DRF insert, the peer.

    .venv/bin/python bench/side_by_side.py [--duration 20] [--rounds 3] [--peer-python PATH]

Every system gets the same load from `wrk -t2 -c16 --latency` (Debian package `wrk`) for
`--duration` seconds a round, rounds interleaved (A B C A B C ...), with the same ~1 KB JSON body:
a 120.00 refund, over the demo's 50.00 limit, so it lands pending (no Celery work follows). A Lua
script gives every request a fresh Idempotency-Key (thread id + random prefix + counter) and counts
non-2xx answers. Systems, all on 127.0.0.1, each with a fresh database (bench/common.py):

- bare: bench/baseline/ (DRF APIView inserting two rows in one transaction from the body) under
  gunicorn with the worker count and class of docker-compose's `web` (4 sync workers).
- prod: Countersign's production shape: docker-compose's `web` command (gunicorn config.wsgi,
  4 sync workers, access log) and its `ws` uvicorn beside it. nginx only routes by path in that
  shape; the submit goes to gunicorn, so the load is sent to gunicorn directly (no nginx here).
- run: exactly what `./run`'s Procfile `web` line starts, on one port (config/front.py: the
  front in uvicorn, gunicorn behind it on a unix socket, WEB_WORKERS sync workers).
- run-asgi (only with `--only ...,run-asgi`): `./run`'s earlier web line, one uvicorn process
  serving everything through config.asgi, for a ratio of the two shapes in the same run.
- peer-single / peer-uvicorn2: awaithumans 0.1.x (PyPI) from `--peer-python`, a Python where its
  server is installed, never the project's environment:

      python3 -m venv /tmp/peer-venv
      /tmp/peer-venv/bin/pip install 'awaithumans[server]' 'psycopg[binary]'  # psycopg: alembic
      .venv/bin/python bench/side_by_side.py --peer-python /tmp/peer-venv/bin/python

  It runs as `awaithumans serve --host 127.0.0.1 --port P` (its own single process) and as
  `uvicorn awaithumans.server.app:create_app --factory --workers 2`, on a fresh PostgreSQL
  database (AWAITHUMANS_DATABASE_URL; its start-up migrates it), with a generated
  AWAITHUMANS_PAYLOAD_KEY and AWAITHUMANS_ADMIN_API_TOKEN (sent as x-admin-token); the load is
  POST /api/tasks with the same refund as the task's payload. Without `--peer-python` (or
  without the package there) it is skipped with a printed line.

The API rate limit is off for every server started here (API_RATE_LIMIT=""). Countersign's
settings are the local profile (PRODUCTION off: no TLS here), the same for both of its shapes.

After the rounds, when prod and run both ran: one round of GET /accounts/login/ (a light page)
on each (and on run-asgi), whose CPU per request differs by what the front's relay costs (and
what Django under ASGI costs).

Printed per system: req/s, p50 and p99 (wrk's --latency, median over rounds), non-2xx (should be
0), and CPU per request: the user+system CPU time of the system's server processes (from psutil,
children included; PostgreSQL's not) over the round divided by the requests. Then the ratios the
performance goals name. Figures only; nothing here passes or fails on speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml
from baseline.schema import tables_ensure
from common import drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
WRK = shutil.which("wrk") or "/usr/bin/wrk"

PARAMS = {"order_id": "ORD-1001", "amount": 12000, "currency": "USD", "reason": "damaged item"}
CONTEXT = {
    "ticket": "T-48213",
    "customer_tier": "gold",
    "channel": "chat",
    "summary": "The customer reports the parcel arrived crushed and the blender inside does not "
    "start. " * 8,
}
BODY = json.dumps({"action_type": "refund.issue", "params": PARAMS, "context": CONTEXT})
# The same refund as a task of the peer's: its idempotency key goes in the body.
PEER_BODY = json.dumps(
    {
        "task": "Refund 120.00 USD on ORD-1001",
        "payload": {"action_type": "refund.issue", "params": PARAMS, "context": CONTEXT},
        "payload_schema": {},
        "response_schema": {},
        "timeout_seconds": 3600,
        "idempotency_key": "__KEY__",
    }
)

LUA = r"""
local threads = {}
local counter = 0
local prefix = ""
non2xx = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("%d-%d-%d", os.time(), tid, math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  local key = prefix .. "-" .. counter
  headers["Idempotency-Key"] = key
  -- A body that carries its idempotency key (the peer's) names the place with __KEY__.
  return wrk.format(wrk.method, nil, headers, (string.gsub(wrk.body, "__KEY__", key)))
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("non2xx") end
  io.write(string.format("NON2XX %d\n", total))
end
"""


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


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_round(system: System, lua: Path, duration: int, connections: int, threads: int) -> Round:
    url = f"http://127.0.0.1:{system.port}{system.path}"
    lua = system.lua or lua
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
               "--timeout", "10s", "-s", str(lua), url]  # fmt: skip
    for name, value in system.headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    before = system.cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = system.cpu_seconds() - before
    out = done.stdout
    if done.returncode != 0 or "requests in" not in out or "99%" not in out:
        raise SystemExit(f"wrk failed against {system.name}:\n{out}\n{done.stderr}")
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out)
    requests = int(total.group(1))
    seconds = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)[ \t]*$", out, re.MULTILINE))
    return Round(
        requests=requests,
        seconds=seconds,
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        non2xx=int(re.search(r"NON2XX (\d+)", out).group(1)),
        cpu_seconds=cpu,
    )


def lua_script(
    directory: Path, body: str = BODY, name: str = "submit.lua", method: str = "POST"
) -> Path:
    path = directory / name
    escaped = body.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'wrk.method = "{method}"\nwrk.body = "{escaped}"\n' + LUA)
    return path


def relay_cost(systems: list[System], work: Path, args) -> None:
    """The front's own CPU per request: a light page (the sign-in form) from the production
    shape's gunicorn directly and from `./run`'s port (front + gunicorn), same workers; and
    from the earlier one-uvicorn shape when it ran (what Django under ASGI costs per request)."""
    by = {s.key: s for s in systems}
    if not {"prod", "run"} <= by.keys():
        return
    lua = lua_script(work, "", "page.lua", method="GET")
    print()
    cpu = {}
    for key in [k for k in ("prod", "run", "run-asgi") if k in by]:
        system = by[key]
        page = System(key, system.name, system.port, {}, system.procs, path="/accounts/login/")
        result = wrk_round(page, lua, args.duration, args.connections, args.threads)
        cpu[key] = 1000 * result.cpu_seconds / result.requests
        print(f"GET /accounts/login/ {system.name:<38} {result.requests / result.seconds:>7.0f} "
              f"req/s  CPU {cpu[key]:.2f} ms/req  non-2xx {result.non2xx}")  # fmt: skip
    print(f"the front's relay costs about {cpu['run'] - cpu['prod']:.2f} ms of CPU per request")
    if "run-asgi" in cpu:
        print(f"one uvicorn for everything costs {cpu['run-asgi'] - cpu['run']:+.2f} ms of CPU per "
              "request against the front + gunicorn")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the systems


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


def peer_systems(args, base_env: dict[str, str], logs: Path) -> list[System]:
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
    return peer_start(args, base_env, logs)


def peer_start(args, base_env: dict[str, str], logs: Path) -> list[System]:
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
    lua = lua_script(logs, PEER_BODY, "peer.lua")
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


# ---------------------------------------------------------------------------------------------


def report(systems: list[System], args) -> None:
    print()
    print(
        f"{'system':<38} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'CPU ms/req':>11}"
    )
    for s in systems:
        print(f"{s.name:<38} {s.rps:>7.0f} {s.median('p50_ms'):>7.1f} {s.median('p99_ms'):>7.1f} "
              f"{sum(r.non2xx for r in s.rounds):>8} {s.cpu_ms_per_request:>11.2f}")  # fmt: skip
    for s in systems:
        bad = sum(r.non2xx for r in s.rounds)
        if bad:
            print(f"WARNING: {s.name} answered {bad} requests with a non-2xx status "
                  f"(see the logs in {args.logs}); its figures do not count")  # fmt: skip
    by = {s.key: s for s in systems}
    print()

    def line(label: str, a: str, b: str, goal: float) -> None:
        if a in by and b in by:
            value = by[a].rps / by[b].rps
            print(f"{label:<44} x{value:.2f}   (goal >= x{goal})")
        else:
            print(f"{label:<44} n/a ({b if b not in by else a} not measured)")

    line("prod / bare", "prod", "bare", 0.6)
    peers = [s for s in systems if s.key.startswith("peer")]
    if peers:
        best = max(peers, key=lambda s: s.rps)
        by["peer-best"] = best
    line("prod / peer best", "prod", "peer-best", 1.3)
    line("run / peer single process", "run", "peer-single", 1.5)
    if "run" in by and "run-asgi" in by:
        value = by["run"].rps / by["run-asgi"].rps
        print(f"{'run / run before (one uvicorn)':<44} x{value:.2f}")
    if "prod" in by:
        print(f"{'prod p99':<44} {by['prod'].median('p99_ms'):.1f} ms   (goal < 60 ms)")
    print(f"\nwrk -t{args.threads} -c{args.connections}, {args.rounds} interleaved rounds of "
          f"{args.duration} s, cpus={os.cpu_count()}; machine shared with other work: ratios, "
          "not absolute figures, carry over")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", default="bare,prod,run,peer",
                        help="comma-separated systems: bare,prod,run,run-asgi,peer")  # fmt: skip
    parser.add_argument("--peer-python", default=None)
    parser.add_argument(
        "--server", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="side_by_side")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian package wrk)")
    only = set(args.only.split(","))

    work = Path(tempfile.mkdtemp(prefix="side-by-side-"))
    args.logs = work
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1", "DEBUG": "0"}
    lua = lua_script(work)
    systems: list[System] = []
    starters: list[tuple[str, Callable[[], list[System]]]] = []
    databases = [f"{args.database}_{suffix}" for suffix in ("bare", "cs", "peer")]
    try:
        print(f"preparing databases and servers (logs in {work}) ...", flush=True)
        if "bare" in only:
            starters.append(("bare", lambda: [baseline_system(args, base_env, work)]))
        if only & {"prod", "run", "run-asgi"}:
            env, key = countersign_env(args, base_env)
            if "prod" in only:
                starters.append(("prod", lambda: [production_system(env, key, work)]))
            if "run" in only:
                starters.append(("run", lambda: [run_system(env, key, work)]))
            if "run-asgi" in only:
                starters.append(("run-asgi", lambda: [asgi_only_system(env, key, work)]))
        if "peer" in only:
            starters.append(("peer", lambda: peer_systems(args, base_env, work)))
        for _, starter in starters:
            systems.extend(starter())
        # One short warm-up each (connections, imports, pools), not counted.
        for system in systems:
            wrk_round(system, lua, 2, args.connections, args.threads)
        for number in range(1, args.rounds + 1):
            for system in systems:
                result = wrk_round(system, lua, args.duration, args.connections, args.threads)
                system.rounds.append(result)
                rps = result.requests / result.seconds
                latency = f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms"
                print(f"round {number} {system.name:<38} {rps:>7.0f} req/s {latency}", flush=True)
        report(systems, args)
        relay_cost(systems, work, args)
    finally:
        for system in systems:
            for proc in system.procs:
                _stop_group(proc)
        if not args.keep_db:
            for name in databases:
                drop_database(args.server, name)


def _stop_group(proc: subprocess.Popen) -> None:
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


if __name__ == "__main__":
    main()
