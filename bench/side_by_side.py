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
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import drop_database
from side_by_side_systems import (
    Round,
    System,
    asgi_only_system,
    baseline_system,
    countersign_env,
    peer_systems,
    production_system,
    run_system,
    stop_group,
)

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
            peer_lua = lua_script(work, PEER_BODY, "peer.lua")
            starters.append(("peer", lambda: peer_systems(args, base_env, work, peer_lua)))
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
                stop_group(proc)
        if not args.keep_db:
            for name in databases:
                drop_database(args.server, name)


if __name__ == "__main__":
    main()
