"""Benchmark the bulk event API (POST /api/v1/events/) through a real HTTP server.

What it measures
----------------
1. Sets up a fresh, throwaway database: a SQLite file in a temp directory by default, or, with
   ``--database-url postgres://user:pass@127.0.0.1:5432[/name]``, a new PostgreSQL database on that
   server (the named one, which must not exist yet, or ``bench_api_<pid>``), dropped at the end.
   Migrates it and creates a partner token with the events:write scope.
2. Starts a real HTTP server on 127.0.0.1 on a free port: gunicorn (``--workers 2 --threads 4``)
   when it is installed, otherwise ``manage.py runserver --noreload --nostatic`` (``--server``
   chooses). Throttling is lifted with API_THROTTLE_RATE=100000/min.
3. Builds all payloads before timing: clients x batches x 1000 unique synthetic events from
   ``ecomsite.engine.synthetic.generate_events`` (20,000 customers, 3,000 products), as JSON
   bodies ``{"events": [...]}``.
4. Phase "send": `--clients` processes (multiprocessing), released together by a barrier, each
   POST their `--batches` batches one after another (stdlib urllib, a new connection per request).
   events/s = accepted events / wall seconds (first request start to last response, over all
   clients); p50/p95/max = per-request latency.
5. Phase "resend": the same batches again, the same way. Every event should come back "duplicate";
   events/s = events sent / wall seconds.

The accepted / duplicate / rejected counts are summed from the responses and compared with what is
expected, and the events stored in the database are counted at the end; the script reports any
difference but never asserts (it is a measurement).

Run it
------
    . .venv/bin/activate
    python bench/bench_api.py                                   # SQLite, 4 clients x 10 batches
    python bench/bench_api.py --database-url postgres://ecomsite:ecomsite@127.0.0.1:5432
    python bench/bench_api.py --clients 2 --batches 5 --server runserver
    python bench/bench_api.py --server-log /tmp/server.log   # keep the server's log for a look

All traffic goes to 127.0.0.1 only. The server, the clients and the database are stopped / removed
at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BATCH_SIZE = 1000  # events per request (the API's maximum, settings.EVENTS_API_MAX_BATCH)
CUSTOMERS = 20_000
PRODUCTS = 3_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT = 300.0  # seconds per request
SERVER_START_TIMEOUT = 60.0
PHASE_TIMEOUT = 1800.0  # seconds for all clients of one phase
TOKEN_CODE = (
    "from ecomsite.services.tokens import partner_token_create; "
    "print(partner_token_create(name='bench', scopes=['events:write'])[1])"
)
COUNT_CODE = "from ecomsite.models import Event; print(Event.objects.count())"


def say(text: str = "") -> None:
    """Write a line of the report to stdout at once (the report is this script's output)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


# --- Database and server --------------------------------------------------------------------------


def server_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("REDIS_URL", "DJANGO_DEBUG", "DJANGO_SECURE"):
        env.pop(name, None)  # local-memory cache, no debug toolbar-ish overhead, plain HTTP
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "ecomsite.settings",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_THROTTLE_RATE": "100000/min",
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """Run a management command to completion; its stdout (raises with stderr on failure)."""
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr.strip()[-2000:]}")
    return done.stdout


def _postgres_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


@contextlib.contextmanager
def fresh_database(url: str | None) -> Iterator[tuple[str, str]]:
    """Yield (DATABASE_URL, description) of a new empty database; remove it afterwards."""
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="bench_api_"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}", f"SQLite {sqlite3.sqlite_version}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise SystemExit(f"--database-url must be a postgres:// URL (SQLite is the default): {url}")
    if (parts.hostname or "") not in LOOPBACK:
        raise SystemExit(f"only a server on 127.0.0.1/localhost is benchmarked, not {url}")
    import psycopg

    name = parts.path.strip("/") or f"bench_api_{os.getpid()}"
    admin = _postgres_url(url, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        version = (conn.execute("SHOW server_version").fetchone() or ("?",))[0]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            raise SystemExit(f"database {name!r} already exists; name a new one (or none)")
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(url, name), f"PostgreSQL {version} (database {name})"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(kind: str, port: int) -> tuple[list[str], str]:
    if kind == "gunicorn":
        from gunicorn import __version__

        return (
            [
                PYTHON,
                "-m",
                "gunicorn",
                "ecomsite.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                str(int(REQUEST_TIMEOUT)),
                "--graceful-timeout",
                "10",
            ],  # fmt: skip
            f"gunicorn {__version__} (--workers 2 --threads 4)",
        )
    return (
        [
            PYTHON,
            str(ROOT / "manage.py"),
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--nostatic",
            "--skip-checks",
        ],  # fmt: skip
        "manage.py runserver --noreload --nostatic (threaded, one process)",
    )


@contextlib.contextmanager
def running_server(kind: str, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start the HTTP server; yield its base URL once it answers; stop it afterwards."""
    port = free_port()
    command, label = server_command(kind, port)
    base = f"http://127.0.0.1:{port}"
    say(f"Server: {label} on {base}")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_up(proc, base)
        yield base
    finally:
        stop_server(proc)


def wait_until_up(proc: subprocess.Popen[bytes], base: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} while starting")
        try:
            opener.open(f"{base}/api/v1/events/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # 401/403: it is up and answering
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT:.0f}s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (gunicorn stops its workers gracefully); then SIGKILL its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    # start_new_session made the server its own process group (pgid = its pid): take any
    # worker left behind along with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=10)


# --- Payloads and clients -------------------------------------------------------------------------


def build_bodies(total: int, seed: int) -> list[bytes]:
    """JSON request bodies of BATCH_SIZE unique synthetic events each (total events in all)."""
    if str(ROOT) not in sys.path:  # run as `python bench/bench_api.py`: make the app importable
        sys.path.insert(0, str(ROOT))
    from ecomsite.engine.synthetic import SyntheticParams, generate_events

    params = SyntheticParams(customers=CUSTOMERS, products=PRODUCTS, events=total, seed=seed)
    bodies: list[bytes] = []
    pending: list[dict[Any, object]] = []
    for frame in generate_events(params, chunk_size=50_000):
        frame = frame.drop(columns=["row_number", "source"])
        stamps = frame["timestamp"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        frame = frame.assign(timestamp=stamps).astype(object)
        frame = frame.where(frame.notna(), None)  # NaN price / missing customer -> JSON null
        pending.extend(frame.to_dict("records"))
        while len(pending) >= BATCH_SIZE:
            chunk, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            bodies.append(json.dumps({"events": chunk}).encode("utf-8"))
    if pending:
        bodies.append(json.dumps({"events": pending}).encode("utf-8"))
    return bodies


@dataclass
class ClientReport:
    client: int
    started: float
    finished: float
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def client(
    index: int, url: str, token: str, bodies: list[bytes], barrier: object, results: object
) -> None:
    """One client process: wait for the others, POST each body in turn, report to `results`."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    barrier.wait(timeout=120)  # type: ignore[attr-defined]
    report = ClientReport(client=index, started=time.monotonic(), finished=0.0)
    for body in bodies:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        start = time.monotonic()
        try:
            with opener.open(request, timeout=REQUEST_TIMEOUT) as response:
                answer = json.loads(response.read())
            report.accepted += int(answer["accepted"])
            report.duplicate += int(answer["duplicate"])
            report.rejected += int(answer["rejected"])
        except urllib.error.HTTPError as exc:
            report.errors.append(f"HTTP {exc.code}: {_error_summary(exc.read())}")
        except Exception as exc:  # a measurement: record and go on
            report.errors.append(f"{type(exc).__name__}: {exc}")
        report.latencies.append(time.monotonic() - start)
    report.finished = time.monotonic()
    results.put(report)  # type: ignore[attr-defined]


def _error_summary(body: bytes) -> str:
    """A short description of an error response: JSON as is, an HTML page by its <title>."""
    text = body.decode("utf-8", "replace")
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    if title:
        return f"HTML page {title.group(1).strip()!r}"
    return text[:200]


@dataclass
class Phase:
    name: str
    requests: int
    events: int
    wall: float
    latencies: list[float]
    accepted: int
    duplicate: int
    rejected: int
    errors: list[str]


def run_phase(name: str, url: str, token: str, per_client: list[list[bytes]]) -> Phase:
    ctx = mp.get_context("fork")  # children inherit the pre-built bodies without pickling
    barrier = ctx.Barrier(len(per_client))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=client, args=(i, url, token, bodies, barrier, results), daemon=True)
        for i, bodies in enumerate(per_client)
    ]
    reports: list[ClientReport] = []
    try:
        for proc in procs:
            proc.start()
        deadline = time.monotonic() + PHASE_TIMEOUT
        while len(reports) < len(procs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                reports.append(results.get(timeout=min(remaining, 5.0)))
            except Exception:  # queue.Empty: check that the clients are still alive
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
        for proc in procs:
            proc.join(timeout=10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
    errors = [e for r in reports for e in r.errors]
    if len(reports) < len(procs):
        errors.append(f"{len(procs) - len(reports)} client(s) did not report (crashed or timeout)")
    wall = max(r.finished for r in reports) - min(r.started for r in reports) if reports else 0.0
    return Phase(
        name=name,
        requests=sum(len(b) for b in per_client),
        events=sum(len(json.loads(body)["events"]) for b in per_client for body in b),
        wall=wall,
        latencies=sorted(t for r in reports for t in r.latencies),
        accepted=sum(r.accepted for r in reports),
        duplicate=sum(r.duplicate for r in reports),
        rejected=sum(r.rejected for r in reports),
        errors=errors,
    )


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(q) - 1]


# --- Report ---------------------------------------------------------------------------------------


def print_table(phases: list[Phase]) -> None:
    headers = ["phase", "requests", "events", "accepted", "duplicate", "rejected", "errors",
               "wall s", "events/s", "p50 ms", "p95 ms", "max ms"]  # fmt: skip
    rows = []
    for p in phases:
        counted = p.accepted if p.name == "send" else p.events
        rows.append(
            [
                p.name,
                f"{p.requests:,}",
                f"{p.events:,}",
                f"{p.accepted:,}",
                f"{p.duplicate:,}",
                f"{p.rejected:,}",
                f"{len(p.errors):,}",
                f"{p.wall:.2f}",
                f"{counted / p.wall:,.0f}" if p.wall else "-",
                f"{percentile(p.latencies, 50) * 1000:,.0f}",
                f"{percentile(p.latencies, 95) * 1000:,.0f}",
                f"{max(p.latencies, default=float('nan')) * 1000:,.0f}",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say()
    say(line(headers))
    say("-+-".join("-" * w for w in widths))
    for r in rows:
        say(line(r))
    say()
    say("events/s: send = accepted events / wall s; resend = events sent / wall s.")
    say("wall s = first request start to last response over all clients; latency per request.")


def check(label: str, got: int, expected: int) -> None:
    verdict = "as expected" if got == expected else f"DIFFERS by {got - expected:+,}"
    say(f"  {label:<34} {got:>10,}  (expected {expected:,}: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument(
        "--batches", type=int, default=10, help="batches of 1000 per client (default 10)"
    )
    parser.add_argument(
        "--database-url",
        help="postgres://user:pass@127.0.0.1:5432[/new_name]: benchmark on a fresh PostgreSQL "
        "database there (default: a fresh SQLite file)",
    )
    has_gunicorn = importlib.util.find_spec("gunicorn") is not None
    parser.add_argument(
        "--server",
        choices=["gunicorn", "runserver"],
        default="gunicorn" if has_gunicorn else "runserver",
        help="HTTP server (default: gunicorn when installed)",
    )
    parser.add_argument("--seed", type=int, default=2, help="synthetic data seed (default 2)")
    parser.add_argument(
        "--server-log", type=Path, help="also save the server's full log (stdout + stderr) here"
    )
    args = parser.parse_args()
    if args.clients < 1 or args.batches < 1:
        parser.error("--clients and --batches must be at least 1")
    if args.server == "gunicorn" and not has_gunicorn:
        parser.error("gunicorn is not installed")

    total = args.clients * args.batches * BATCH_SIZE
    say("bench_api: POST /api/v1/events/")
    say(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    say(f"{args.clients} clients x {args.batches} batches x {BATCH_SIZE} events = {total:,}")
    started = time.monotonic()
    bodies = build_bodies(total, args.seed)
    mib = sum(len(b) for b in bodies) / 2**20
    say(f"Payloads: {len(bodies)} bodies, {mib:.1f} MiB JSON, {time.monotonic() - started:.1f}s")
    per_client = [bodies[i * args.batches : (i + 1) * args.batches] for i in range(args.clients)]

    phases: list[Phase] = []
    stored: int | None = None
    server_log = ""
    log_dir = Path(tempfile.mkdtemp(prefix="bench_api_log_"))
    try:
        with fresh_database(args.database_url) as (database_url, description):
            say(f"Database: {description}")
            env = server_env(database_url)
            manage(env, "migrate", "--noinput", "-v0")
            token = manage(env, "shell", "-c", TOKEN_CODE).strip().splitlines()[-1]
            if not re.fullmatch(r"\S+", token):
                raise RuntimeError(f"unexpected token output: {token!r}")
            log_path = log_dir / "server.log"
            try:
                with running_server(args.server, env, log_path) as base:
                    url = f"{base}/api/v1/events/"
                    for name in ("send", "resend"):
                        say(f"Phase {name} ...")
                        phase = run_phase(name, url, token, per_client)
                        phases.append(phase)
                        say(
                            f"  {phase.wall:.2f}s, {phase.accepted:,} accepted, "
                            f"{phase.duplicate:,} duplicate, {phase.rejected:,} rejected, "
                            f"{len(phase.errors)} errors"
                        )
                        for error, count in Counter(phase.errors).most_common(5):
                            say(f"    {count} x {error}")
            finally:
                server_log = log_path.read_text("utf-8", "replace") if log_path.exists() else ""
                if args.server_log:
                    args.server_log.write_text(server_log, "utf-8")
            stored = int(manage(env, "shell", "-c", COUNT_CODE).strip().splitlines()[-1])
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)

    if phases:
        print_table(phases)
        say()
        say("Counts from the responses:")
        send = phases[0]
        check("send: accepted", send.accepted, total)
        check("send: duplicate + rejected", send.duplicate + send.rejected, 0)
        if len(phases) > 1:
            resend = phases[1]
            check("resend: duplicate", resend.duplicate, total)
            check("resend: accepted + rejected", resend.accepted + resend.rejected, 0)
        if stored is not None:
            check("events stored in the database", stored, total)
        if any(p.errors for p in phases) and server_log:
            say("\nServer errors (exception lines of the server log, counted):")
            found = Counter(
                text.strip()
                for text in server_log.splitlines()
                if re.match(r"\s*[\w.]+(Error|Exception)\b", text)
            )
            for text, count in found.most_common(10):
                say(f"  {count} x {text}")
            say("Server log (last lines):")
            for text in server_log.strip().splitlines()[-12:]:
                say(f"  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
