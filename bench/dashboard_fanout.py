"""Section 2 of the dashboard bench: submit-to-screen, from submitter processes to live sockets.

`bench/dashboard.py` runs it (see its docstring); the submitters are that script started again
with `--_submitter`, which lands in `submitter_main` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import uvloop
from common import pct, ratio

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The script the submitter processes run: the bench's entry point, not this module.
SCRIPT = str(Path(__file__).with_name("dashboard.py"))
AGENT = "support-bot"


def django_setup() -> None:
    import django

    django.setup()


def refund(i: int, run: str) -> dict:
    # Over the 50.00 auto-approve limit and under the 500.00 escalation one: pending in Refunds.
    return {
        "order_id": f"ORD-{1001 + i % 15}",
        "amount": 5001 + (i * 7919) % 44999,
        "currency": "USD",
        "reason": f"bench {run} #{i}",
    }


def submitter_main(args) -> None:
    """One submitter process: submissions k, k + s, k + 2s ... of a shared schedule. Says it is
    ready, reads the wall-clock start from stdin, prints one JSON line per submission (action id,
    wall-clock time after commit), then a summary line."""
    django_setup()
    from agents.models import Agent
    from approvals.services import action_submit

    agent = Agent.objects.get(name=AGENT)
    total = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    out = sys.stdout
    late = 0

    client = None
    if args.submit_via == "http":
        import httpx

        client = httpx.Client(
            base_url=args.base, headers={"Authorization": f"Api-Key {args.key}"}, timeout=30
        )
    # one untimed submission: connections and caches warm
    action_submit(
        agent=agent, action_type="refund.issue", params=refund(args.offset, args.run + "w")
    )
    out.write(json.dumps({"ready": args.offset}) + "\n")
    out.flush()
    start = float(sys.stdin.readline())
    sent = 0
    cpu = time.process_time()
    for i in range(args.offset, total, args.submitters):
        due = start + i * interval
        now = time.time()
        if due > now:
            time.sleep(due - now)
        elif now - due > interval * args.submitters:
            late += 1  # more than one of this process's intervals behind schedule
        called = time.time()
        if client is None:
            result = action_submit(
                agent=agent, action_type="refund.issue", params=refund(i, args.run)
            )
            action_id, status = str(result.action.pk), result.action.status
        else:
            response = client.post(
                "/api/v1/actions/",
                json={"action_type": "refund.issue", "params": refund(i, args.run)},
            )
            body = response.json()
            action_id, status = body["id"], body["status"]
        out.write(json.dumps({"id": action_id, "t": called, "status": status}) + "\n")
        sent += 1
    cpu = time.process_time() - cpu
    out.write(json.dumps({"done": sent, "late": late, "cpu": cpu}) + "\n")
    out.flush()


# How every `action.changed` frame starts (`approvals.consumers`), the action id right after.
CHANGED_HEAD = b'{"type": "action.changed", "action_id": "'
ID_AT = len(CHANGED_HEAD)


async def dashboard_client(
    uri: str, origin: str, cookie: str, received: dict, ready, closes: list
) -> None:
    """One dashboard: records the first receipt time of each action id's `action.changed`.
    Like the page's script, it reconnects when the server closes the socket (and counts it)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    while True:
        async with connect(
            uri,
            origin=origin,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            max_size=2**22,
            ping_interval=None,
        ) as ws:
            if not ready.done():
                ready.set_result(True)
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    t = time.time()
                    data = json.loads(message)
                    if data.get("type") == "action.changed":
                        received.setdefault(data.get("action_id"), t)
        # Only the server ends a connection before the bench cancels this task.
        closes.append(ws.close_code)
        await asyncio.sleep(0.25)


async def start_submitters(args, base: str, key: str, run: str, procs: list) -> None:
    """Start the submitter processes into `procs` (so the caller can always stop them) and wait
    until each is set up and warm, waiting on stdin for the start time."""
    options = {
        "--rate": args.rate, "--seconds": args.seconds, "--run": run,
        "--submit-via": args.submit_via, "--base": base, "--key": key,
        "--submitters": args.submitters,
    }  # fmt: skip
    argv = [item for option, value in options.items() for item in (option, str(value))]
    for k in range(args.submitters):
        proc = await asyncio.create_subprocess_exec(
            PYTHON, SCRIPT, "--_submitter", *argv, "--offset", str(k),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ}, cwd=ROOT,
        )  # fmt: skip
        procs.append(proc)
    for proc in procs:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if not line or "ready" not in json.loads(line):
            raise SystemExit("a submitter did not get ready")


async def run_fanout(
    args, base: str, cookie: str, key: str, dashboards: int, run: str, server_pid: int
) -> dict:
    port = base.rsplit(":", 1)[1]
    uri, origin = f"ws://127.0.0.1:{port}/ws/dashboard/", f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    received: list[dict] = [{} for _ in range(dashboards)]
    closes: list[int | None] = []
    readies = [loop.create_future() for _ in range(dashboards)]
    clients: list[asyncio.Task] = []
    submitters: list[asyncio.subprocess.Process] = []
    submitted: dict[str, float] = {}
    statuses: dict[str, int] = {}
    late = 0
    submit_cpu = 0.0
    start = 0.0
    try:
        await start_submitters(args, base, key, run, submitters)
        clients = [
            asyncio.create_task(
                dashboard_client(uri, origin, cookie, received[i], readies[i], closes)
            )
            for i in range(dashboards)
        ]
        await asyncio.wait(
            [asyncio.gather(*readies), *clients], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        for task in clients:
            if task.done():
                task.result()  # a client that failed to connect raises here
        if not all(ready.done() for ready in readies):
            raise SystemExit("dashboards did not connect within 30 s")
        await asyncio.sleep(0.5)  # every consumer has joined its groups and sent `hello`
        # One shared schedule: submission i is due at start + i / rate, whichever process sends it.
        start = time.time() + 0.2
        cpu_before = cpu_split(server_pid)
        for proc in submitters:
            proc.stdin.write(f"{start!r}\n".encode())
            await proc.stdin.drain()

        async def read(proc) -> None:
            nonlocal late, submit_cpu
            async for line in proc.stdout:
                record = json.loads(line)
                if "done" in record:
                    late += record["late"]
                    submit_cpu += record["cpu"]
                else:
                    submitted[record["id"]] = record["t"]
                    statuses[record["status"]] = statuses.get(record["status"], 0) + 1
            await proc.wait()
            if proc.returncode != 0:
                raise SystemExit(f"a submitter failed with exit code {proc.returncode}")

        await asyncio.gather(*(read(proc) for proc in submitters))
        # Give the last submissions the full deadline to arrive.
        await asyncio.sleep(args.deadline)
        cpu_after = cpu_split(server_pid)
    finally:
        for proc in submitters:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    latencies: list[float] = []
    missed = 0
    arrived_at_all = 0
    last_arrival = max((t for seen in received for t in seen.values()), default=start)
    for seen in received:
        for action_id, called in submitted.items():
            arrived = seen.get(action_id)
            arrived_at_all += arrived is not None
            if arrived is None or arrived - called > args.deadline:
                missed += 1
            else:
                latencies.append((arrived - called) * 1000)
    return {
        "dashboards": dashboards,
        "submitted": len(submitted),
        # from the first scheduled submission to the last commit
        "rate": len(submitted) / (max(submitted.values()) - start) if submitted else 0.0,
        "received": arrived_at_all,
        # pairs delivered per second, from the first scheduled submission to the last arrival
        "delivered": arrived_at_all / (last_arrival - start) if last_arrival > start else 0.0,
        "closed": len(closes),
        "late": late,
        "statuses": statuses,
        "latencies": latencies,
        "missed": missed,
        "expected": len(submitted) * dashboards,
        "cpu": _cpu_per_role(cpu_before, cpu_after, submit_cpu),
    }


def _cpu_per_role(before: dict, after: dict, submitters: float) -> dict[str, float]:
    cpu = {k: after[k] - before[k] for k in after}
    # Submitters count from their start signal to their last submission (not their set-up); the
    # rest is PostgreSQL, Redis, the kernel and the bench's own bookkeeping.
    cpu["submitters"] = submitters
    cpu["the rest"] = cpu.pop("machine") - cpu["server"] - cpu["clients"] - submitters
    return cpu


def _cpu_of(match) -> float:
    """User + system CPU seconds of the live processes `match(pid, ppid, name)` picks."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        # after the command: state, ppid, ... utime is field 14 and stime 15 of the whole line
        if match(int(entry.name), int(fields[1]), name):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


ROLES = ("server", "submitters", "clients", "the rest")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (/proc/stat: all but idle and
    iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (and its workers), of this process (the dashboard
    clients, when nothing else runs in it) and of the whole machine."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "server": _cpu_of(lambda pid, ppid, _: server_pid in (pid, ppid)),
        "clients": me.ru_utime + me.ru_stime,
        "machine": machine_busy_seconds(),
    }


def bench_fanout(args, base: str, cookie: str, key: str, server_pid: int) -> None:
    print(
        f"\n2. submit-to-screen: {args.rate}/s for {args.seconds} s via "
        f"{'action_submit' if args.submit_via == 'service' else 'HTTP POST'} from "
        f"{args.submitters} submitter process(es)"
        f", deadline {args.deadline} s per pair",
        flush=True,
    )
    results = []
    for dashboards in (1, args.dashboards):
        run = f"{time.time_ns()}"
        # uvloop, as the server runs on: the clients' share of the two cores stays small.
        result = asyncio.run(
            run_fanout(args, base, cookie, key, dashboards, run, server_pid),
            loop_factory=uvloop.new_event_loop,
        )
        results.append(result)
        print(f"   {dashboards} dashboard(s) done", flush=True)
    print(
        f"\n{'dashboards':>10} {'submitted':>9} {'rate/s':>7} {'late':>5} {'pairs':>7} "
        f"{'arrived':>7} {'recv/s':>7} {'missed':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'closed':>6}   statuses"
    )
    for r in results:
        lat = r["latencies"] or [float("nan")]
        codes = ",".join(f"{k}x{v}" for k, v in sorted(r["statuses"].items()))
        print(
            f"{r['dashboards']:>10} {r['submitted']:>9} {r['rate']:>7.1f} {r['late']:>5} "
            f"{r['expected']:>7} {r['received']:>7} {r['delivered']:>7.0f} {r['missed']:>7} "
            f"{pct(lat, 50):>8.1f} {pct(lat, 95):>8.1f} {pct(lat, 99):>8.1f} {max(lat):>8.1f} "
            f"{r['closed']:>6}   {codes}"
        )
    print(f"\n{'CPU ms per submission':>22} " + " ".join(f"{k:>10}" for k in ROLES) + "      total")
    for r in results:
        per = {k: r["cpu"][k] * 1000 / max(1, r["submitted"]) for k in ROLES}
        print(
            f"{r['dashboards']:>11} dashboard(s) "
            + " ".join(f"{per[k]:>10.2f}" for k in ROLES)
            + f" {sum(per.values()):>10.2f}"
        )
    one, many = results
    if one["latencies"] and many["latencies"]:
        print(
            f"\n{many['dashboards']} dashboards vs 1: p50 "
            f"{ratio(pct(many['latencies'], 50), pct(one['latencies'], 50))}, p99 "
            f"{ratio(pct(many['latencies'], 99), pct(one['latencies'], 99))}; goal p99 < 100 ms "
            f"with {many['dashboards']}: {pct(many['latencies'], 99):.1f} ms, "
            f"{many['missed']} of {many['expected']} pairs missed"
        )
    print(
        "   ('late': submissions started more than one interval behind schedule; 'arrived': "
        "pairs received at all, 'recv/s' of them per second until the last; 'missed': not within "
        "the deadline; 'closed': connections the server closed during the phase, each reconnected "
        "after 0.25 s; CPU: from the start signal to the end of the deadline wait, per submission, "
        f"on a machine of {os.cpu_count()} cores, so {os.cpu_count() * 1000 / args.rate:.0f} ms "
        "per submission in all is the whole machine)"
    )
