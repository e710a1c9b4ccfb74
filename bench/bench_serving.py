"""Benchmark serving: GET /api/v1/customers/{id}/recommendations/ through a real HTTP server.

What it measures
----------------
1. Sets up a fresh, throwaway database (a SQLite file in a temp directory, or with
   ``--database-url postgres://user:pass@127.0.0.1:5432`` a new PostgreSQL database there, dropped
   at the end), migrates it and fills it with a served model made directly in the tables (no
   training: the serving path reads the same rows whoever wrote them): ``--customers`` customers
   (default 20,000) in 10 countries and 10 RFM segments, 3,000 products in 12 categories (5%
   inactive), ``--top-n`` (50) precomputed recommendations per customer except for 10% of the
   customers, who are new to the model (their answers come from the segment/country/trending/
   all-time fallback lists, 50 long each), 20 similar products per product; then promotes it.
2. Starts a private ``redis-server`` on a free port as the shared cache (``--cache redis``, the
   production setup; ``--cache locmem``: each worker's local memory) and, for each gunicorn
   configuration of ``--configs`` in turn, gunicorn on 127.0.0.1: ``WxT`` is W workers of T
   threads (T > 1: the gthread worker, keep-alive connections; T = 1: the sync worker, one
   request per connection, the workers taking connections from one accept queue). Throttling is
   left on, at a rate no bench reaches. Requests use a partner token with recommendations:read.
3. Per configuration, ``--rounds`` rounds (default 2) of these phases, each ``--seconds`` long:

   * ``ceiling``: GET /api/v1/products/{id}/, a trivial DRF retrieve (token auth, throttle, one
     indexed query): the most requests/s this server gives any API call;
   * ``hit``: recommendations (k=10) of 2,000 customers whose answers are in the cache (warmed
     before the first round);
   * ``miss``: recommendations of customers never asked for with that k (a new k each round and
     phase, so every answer is a cache miss: the customer, their rows and, for new customers,
     their segment and the fallbacks are read);
   * the peak of each, closed loop with ``--connections`` connections (wrk);
   * ``@70%``: open loop at 70% of that round's peak: requests are sent on a fixed schedule (evenly
     spaced) whatever the answers, and each latency is counted from the request's *scheduled*
     time, so queueing in the client, the kernel or the server shows (a closed loop hides it:
     a slow answer delays the next request instead of making it wait). This is the figure of
     the target: p99 under 25 ms at 70% of peak load;
   * ``1 conn``: ceiling and hit with one connection: a request's service time without queueing.

Clients
-------
Closed loops run ``wrk`` (a C load generator, one thread, a Lua script rotating the paths and
reporting percentiles) when it is installed, else the Python client below in closed-loop mode
(it needs more CPU per request, which the server then lacks, so peaks come out lower). Open loops
run a small asyncio client in this process: at most ``--open-connections`` requests in flight,
connections reused (gthread) or reopened (sync worker closes them); it also reports its own lag
(how late requests left against their schedule), so client-side delay is visible apart from the
server's. Client and server share the machine's CPUs; other work on the machine shows in the
figures, so the load average is printed before and after every phase.

Server times: gunicorn writes each request's time (microseconds, from reading the request to
writing the response) to an access log; the table shows its p50/p99 per phase beside the
client's (``--no-access-log`` leaves the log out).

Run it
------
    . .venv/bin/activate
    apt-get install wrk                                    # optional; see Clients
    python bench/bench_serving.py                          # SQLite, Redis cache
    python bench/bench_serving.py --database-url postgres://ecomsite:ecomsite@127.0.0.1:5432
    python bench/bench_serving.py --configs 2x4,4x1,3x1 --rounds 3 --seconds 10
    python bench/bench_serving.py --customers 5000 --seconds 5 --cache locmem --rounds 1

All traffic goes to 127.0.0.1. The server, Redis, the clients and the database are stopped or
removed at the end, also on error or Ctrl-C. It prints a report and never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_api's helpers

from bench_api import (  # noqa: E402
    PYTHON,
    ROOT,
    free_port,
    fresh_database,
    manage,
    percentile,
    say,
    server_env,
    stop_server,
    wait_until_up,
)

PRODUCTS = 3_000
CATEGORIES = 12
COUNTRIES = 10
SEGMENTS = 10
SIMILAR_N = 20
LIST_N = 50
NEW_CUSTOMER_SHARE = 0.10
INACTIVE_SHARE = 0.05
HIT_CUSTOMERS = 2_000
REQUEST_TIMEOUT = 30.0
LOAD_SHARE = 0.70
TARGET_P99_MS = 25.0
TARGET_SHARE = 0.5
# gunicorn workers signal they are alive by changing a file's mode after every request (and
# about once a second when idle); in its default directory, /tmp, that file may sit on a disk or
# overlay filesystem where the call can block behind the journal and stall the worker (with
# every request queued behind it). In memory (tmpfs) it cannot.
SHM = Path("/dev/shm")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- Data -----------------------------------------------------------------------------------------


def build_served_model(customers: int, top_n: int, seed: int) -> dict[str, object]:
    """Fill the (migrated, empty) database Django is configured for; returns what was made."""
    import django

    django.setup()
    from django.db import connections, transaction
    from django.utils import timezone

    from ecomsite.models import CleaningRun, Customer, Product, RunStatus
    from ecomsite.services.bulk import insert_ignoring_conflicts
    from ecomsite.services.tokens import partner_token_create
    from recommendations.models import (
        ModelRun,
        PopularList,
        Recommendation,
        SimilarProduct,
        TrainingRun,
    )
    from recommendations.services.registry import model_promote
    from segments.models import FeatureRun, Segment, SegmentationRun, SegmentKind

    rng = random.Random(seed)
    now = timezone.now()
    categories = [f"Category {i + 1}" for i in range(CATEGORIES)]
    countries = [f"Country {i + 1}" for i in range(COUNTRIES)]
    with transaction.atomic():
        Product.objects.bulk_create(
            (
                Product(
                    external_id=f"SKU{i:05d}",
                    title=f"Product {i}",
                    category=categories[i % CATEGORIES],
                    price=round(1 + (i % 97) * 0.5, 2),
                    is_active=rng.random() >= INACTIVE_SHARE,
                )
                for i in range(PRODUCTS)
            ),
            batch_size=2_000,
        )
        Customer.objects.bulk_create(
            (
                Customer(external_id=f"B{i:06d}", country=countries[i % COUNTRIES])
                for i in range(customers)
            ),
            batch_size=5_000,
        )
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    customer_ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))

    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED, finished_at=now)
    features = FeatureRun.objects.create(cleaning_run=cleaning, status=RunStatus.SUCCEEDED)
    segmentation = SegmentationRun.objects.create(
        feature_run=features, status=RunStatus.SUCCEEDED, finished_at=now
    )
    segments = [
        Segment.objects.create(kind=SegmentKind.RFM, name=f"Segment {i + 1}")
        for i in range(SEGMENTS)
    ]
    training = TrainingRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, finished_at=now
    )
    run = ModelRun.objects.create(
        training_run=training,
        cleaning_run=cleaning,
        algorithm="blend",
        status=RunStatus.SUCCEEDED,
        customers=customers,
        products=PRODUCTS,
    )

    def insert(model: Any, fields: tuple[str, ...], rows: Sequence[tuple[object, ...]],
               key: tuple[str, ...]) -> None:  # fmt: skip
        for start in range(0, len(rows), 50_000):
            with transaction.atomic():
                insert_ignoring_conflicts(model, fields, rows[start : start + 50_000], conflict=key)

    memberships = [
        (segmentation.pk, segments[i % SEGMENTS].pk, pk, now, now)
        for i, pk in enumerate(customer_ids)
    ]
    from segments.models import SegmentMembership

    insert(
        SegmentMembership,
        ("run", "segment", "customer", "created_at", "updated_at"),
        memberships,
        ("run", "segment", "customer"),
    )
    reasons = [
        "you buy this about every 30 days",
        "you bought this before",
        "often bought with Product 12",
        "popular in your segment",
        "customers like you bought this",
    ]
    rows: list[tuple[object, ...]] = []
    made = 0
    for pk in customer_ids:
        if rng.random() < NEW_CUSTOMER_SHARE:
            continue  # new to the model: fallbacks
        for rank, product in enumerate(rng.sample(product_ids, top_n), start=1):
            rows.append((run.pk, pk, rank, product, 1.0 / rank, rng.choice(reasons)))
        if len(rows) >= 200_000:
            insert(Recommendation, ("model_run", "customer", "rank", "product", "score",
                                    "reason"), rows, ("model_run", "customer", "rank"))  # fmt: skip
            made += len(rows)
            rows = []
    insert(Recommendation, ("model_run", "customer", "rank", "product", "score", "reason"), rows,
           ("model_run", "customer", "rank"))  # fmt: skip
    made += len(rows)
    similar = [
        (run.pk, product, rank, other, 1.0 / (rank + 1))
        for product in product_ids
        for rank, other in enumerate(rng.sample(product_ids, SIMILAR_N), start=1)
    ]
    insert(SimilarProduct, ("model_run", "product", "rank", "similar", "score"), similar,
           ("model_run", "product", "rank"))  # fmt: skip
    scopes = (
        ["all", "trending"]
        + [f"country:{c}" for c in countries]
        + [f"category:{c}" for c in categories]
        + [f"segment:{s.pk}" for s in segments]
    )
    popular = [
        (run.pk, scope, rank, product, 1.0 / rank)
        for scope in scopes
        for rank, product in enumerate(rng.sample(product_ids, LIST_N), start=1)
    ]
    insert(PopularList, ("model_run", "scope", "rank", "product", "score"), popular,
           ("model_run", "scope", "rank"))  # fmt: skip
    ModelRun.objects.filter(pk=run.pk).update(precomputed=True)
    run.refresh_from_db()
    model_promote(run, reason="bench_serving")
    _, token = partner_token_create(name="bench", scopes=["recommendations:read", "catalog:read"])
    figures = {
        "token": token,
        "customers": [f"B{i:06d}" for i in range(customers)],
        "products": [f"SKU{i:05d}" for i in range(PRODUCTS)],
        "recommendation_rows": made,
        "similar_rows": len(similar),
        "popular_rows": len(popular),
    }
    connections.close_all()
    return figures


# --- Server -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    workers: int
    threads: int

    @classmethod
    def parse(cls, text: str) -> Config:
        workers, _, threads = text.lower().partition("x")
        config = cls(int(workers), int(threads or 1))
        if config.workers < 1 or config.threads < 1:
            raise ValueError(f"bad configuration {text!r}: use WORKERSxTHREADS, e.g. 2x4")
        return config

    @property
    def label(self) -> str:
        kind = "gthread" if self.threads > 1 else "sync"
        return f"{self.workers}x{self.threads} ({kind})"


@contextlib.contextmanager
def running_gunicorn(
    env: dict[str, str], config: Config, log: Path, access_log: Path | None
) -> Iterator[tuple[int, int]]:
    """gunicorn on a free 127.0.0.1 port (threads > 1: the gthread worker, keep-alive; 1: the
    sync worker, a connection per request), logging each request's query string and time in
    microseconds to `access_log` when given; yields (port, the master's pid) once it answers."""
    from gunicorn import __version__

    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "ecomsite.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(config.workers), "--threads",
               str(config.threads), "--timeout", "60", "--graceful-timeout", "10"]  # fmt: skip
    if SHM.is_dir():  # as README's production command: see SHM
        command += ["--worker-tmp-dir", str(SHM)]
    if access_log is not None:
        command += ["--access-logfile", str(access_log), "--access-logformat", "%(q)s %(D)s"]
    say(
        f"Server: gunicorn {__version__} --workers {config.workers} --threads {config.threads} "
        f"({config.label}) on port {port}"
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}")
        yield port, proc.pid
    finally:
        stop_server(proc)


# --- Redis ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    """A redis-server on a free 127.0.0.1 port, no persistence; yields its URL and pid."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _redis_ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- CPU accounting -------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (index 0 = state), or None when the
    process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds; 0 when it is gone."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _major_faults(pid: int) -> int:
    """Page faults of one process that had to read from disk (majflt); 0 when it is gone. On a
    machine that pages out idle memory (e.g. DAMON "pageout" schemes in a VM) every one is a
    stall of the request being served."""
    fields = _stat(pid)
    return 0 if fields is None else int(fields[9])


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs; /proc/stat, idle and iowait
    left out)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _database_processes(name: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving database `name` (its command line reads
    "postgres: USER NAME HOST(PORT) ..."), by pid."""
    found: dict[int, float] = {}
    marker = f" {name} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                text = cmdline.read()
        except OSError:
            continue
        if text.startswith(b"postgres: ") and marker in text:
            found[int(entry)] = _cpu_seconds(int(entry))
    return found


@dataclass(frozen=True)
class CpuSample:
    server: float  # gunicorn master and workers
    redis: float
    client: float  # this process plus finished children (wrk)
    machine: float  # every process on the machine
    database: float = 0.0  # PostgreSQL backends of the bench database (a difference only)
    backends: tuple[tuple[int, float], ...] = ()  # (pid, CPU seconds) when sampled
    faults: int = 0  # major page faults of gunicorn master and workers

    @classmethod
    def take(cls, server_pid: int, redis_pid: int | None, database: str | None) -> CpuSample:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        backends = _database_processes(database) if database else {}
        server = [server_pid, *_children(server_pid)]
        return cls(
            server=sum(_cpu_seconds(p) for p in server),
            faults=sum(_major_faults(p) for p in server),
            redis=_cpu_seconds(redis_pid) if redis_pid else 0.0,
            client=time.process_time() + children.ru_utime + children.ru_stime,
            machine=_machine_busy_seconds(),
            backends=tuple(backends.items()),
        )

    def __sub__(self, other: CpuSample) -> CpuSample:
        before = dict(other.backends)  # backends started meanwhile count from 0
        return CpuSample(
            self.server - other.server,
            self.redis - other.redis,
            self.client - other.client,
            self.machine - other.machine,
            sum(seconds - before.get(pid, 0.0) for pid, seconds in self.backends),
            faults=self.faults - other.faults,
        )

    @property
    def other(self) -> float:
        """CPU seconds used by everything else on the machine (other work: noise)."""
        ours = self.server + self.redis + self.client + self.database
        return max(0.0, self.machine - ours)


# --- Clients --------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    config: str
    round: int
    load: str  # "closed, N conn" or "open N/s"
    requests: int
    seconds: float
    latencies: list[float]  # seconds, sorted; closed loops by wrk: only the percentiles below
    errors: Counter[str] = field(default_factory=Counter)
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    lag_p99: float | None = None  # open loop: how late the client sent (p99, seconds)
    cpu: CpuSample | None = None  # CPU seconds used during the phase
    tag: str = ""
    server: list[float] = field(default_factory=list)  # gunicorn's own request times, seconds
    note: str = ""
    load_before: str = ""
    load_after: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_SCRIPT = r"""
-- wrk -s this.lua URL -- PATHS_FILE TOKEN: rotate through the paths; print a JSON summary.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Accept"] = "application/json"
  counter = (id or 0) * 7919
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[((counter - 1) % #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "p50": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def wrk_closed(
    port: int, token: str, paths: list[str], connections: int, seconds: float, work: Path
) -> tuple[int, float, Counter[str], tuple[float, float, float]]:
    """wrk closed loop: (requests, seconds, errors, (p50, p99, max) in seconds)."""
    script = work / "rotate.lua"
    if not script.exists():
        script.write_text(WRK_SCRIPT)
    listing = work / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", f"{int(REQUEST_TIMEOUT)}s", "-s", str(script),
               f"http://127.0.0.1:{port}", "--", str(listing), token]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    result = json.loads(line[4:])
    errors: Counter[str] = Counter()
    for name in ("status", "connect", "read", "write", "timeout"):
        if result[name]:
            errors[f"{name} errors" if name != "status" else "HTTP status >= 400"] += result[name]
    return (
        int(result["requests"]),
        result["duration_us"] / 1e6,
        errors,
        (result["p50"] / 1e6, result["p99"] / 1e6, result["max"] / 1e6),
    )


class HttpClient:
    """Minimal asyncio HTTP/1.1 GET client on 127.0.0.1: at most `limit` requests in flight,
    idle keep-alive connections reused, closed ones (Connection: close) reopened."""

    def __init__(self, port: int, token: str, limit: int) -> None:
        self.port = port
        self.headers = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n\r\n"
        ).encode()
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> int:
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._exchange(reader, writer, path)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    if getattr(exc, "partial", b""):
                        raise
                    # The server closed the idle keep-alive connection (gunicorn's keepalive
                    # timeout) before reading this request: send it again on a new one, as
                    # HTTP clients do.
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            return await self._exchange(reader, writer, path)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> int:
        """One request on this connection; the status. The connection goes back to the idle
        list when the server keeps it open, else it is closed."""
        keep = False
        try:
            writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.headers)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            status = int(head[9:12])
            length, keep = -1, True
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
            if length >= 0:
                await reader.readexactly(length)
            else:
                await reader.read()
                keep = False
            return status
        finally:
            if keep:
                self.idle.append((reader, writer))
            else:
                writer.close()

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _open_loop(
    client: HttpClient, paths: list[str], rate: float, seconds: float
) -> tuple[list[float], list[float], Counter[str], float]:
    loop = asyncio.get_running_loop()
    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    start = loop.time() + 0.05

    async def one(path: str, scheduled: float) -> None:
        lags.append(loop.time() - scheduled)
        try:
            status = await client.get(path)
            if status != 200:
                errors[f"HTTP {status}"] += 1
        except Exception as exc:  # a measurement: record and go on
            errors[type(exc).__name__] += 1
        latencies.append(loop.time() - scheduled)

    tasks = []
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[index % len(paths)], scheduled)))
    await asyncio.gather(*tasks)
    return latencies, lags, errors, loop.time() - start


async def _closed_loop(
    client: HttpClient, paths: list[str], connections: int, seconds: float | None
) -> tuple[list[float], Counter[str], float]:
    """`connections` loops sending their next request when the last is answered; for `seconds`,
    or (None) until every path was asked once."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = loop.time()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while True:
            if seconds is None and next_index >= len(paths):
                return
            if seconds is not None and loop.time() - start >= seconds:
                return
            path = paths[next_index % len(paths)]
            next_index += 1
            sent = loop.time()
            try:
                status = await client.get(path)
                if status != 200:
                    errors[f"HTTP {status}"] += 1
            except Exception as exc:  # a measurement: record and go on
                errors[type(exc).__name__] += 1
            latencies.append(loop.time() - sent)

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors, loop.time() - start


def open_loop(
    port: int, token: str, paths: list[str], rate: float, seconds: float, limit: int
) -> tuple[list[float], list[float], Counter[str], float]:
    async def run() -> tuple[list[float], list[float], Counter[str], float]:
        client = HttpClient(port, token, limit)
        try:
            return await _open_loop(client, paths, rate, seconds)
        finally:
            client.close()

    return asyncio.run(run())


def closed_loop(
    port: int, token: str, paths: list[str], connections: int, seconds: float | None
) -> tuple[list[float], Counter[str], float]:
    async def run() -> tuple[list[float], Counter[str], float]:
        client = HttpClient(port, token, connections)
        try:
            return await _closed_loop(client, paths, connections, seconds)
        finally:
            client.close()

    return asyncio.run(run())


# --- Phases ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    port: int
    token: str
    config: str
    round: int
    connections: int
    open_connections: int
    seconds: float
    use_wrk: bool
    work: Path
    server_pid: int
    redis_pid: int | None
    database: str | None  # PostgreSQL database name (its backends' CPU is counted)
    phases: list[Phase] = field(default_factory=list)

    def _tagged(self, paths: list[str]) -> tuple[str, list[str]]:
        """Every URL carries ``bench=<tag>`` (ignored by the views and the cache keys) so the
        server's access log can be split by phase."""
        tag = f"p{len(self.phases) + 1}-r{self.round}-{self.config.split(' ')[0]}"
        return tag, [f"{p}{'&' if '?' in p else '?'}bench={tag}" for p in paths]

    def closed(
        self, name: str, paths: list[str], connections: int | None = None, fresh: bool = False
    ) -> Phase:
        """A closed-loop phase over `paths` (rotating); fresh: every path must be asked at most
        once (cache misses), so say when the phase ran out of them."""
        connections = connections or self.connections
        tag, tagged = self._tagged(paths)
        before = load_average()
        cpu = CpuSample.take(self.server_pid, self.redis_pid, self.database)
        if self.use_wrk:
            requests, seconds, errors, (p50, p99, top) = wrk_closed(
                self.port, self.token, tagged, connections, self.seconds, self.work
            )
            latencies: list[float] = []
        else:
            latencies, errors, seconds = closed_loop(
                self.port, self.token, tagged, connections, self.seconds
            )
            latencies.sort()
            requests = len(latencies)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            top = max(latencies, default=float("nan"))
        phase = Phase(
            name=name,
            config=self.config,
            round=self.round,
            load=f"closed, {connections} conn",
            requests=requests,
            seconds=seconds,
            latencies=latencies,
            errors=errors,
            p50=p50,
            p99=p99,
            max=top,
            tag=tag,
            load_before=before,
            load_after=load_average(),
            cpu=CpuSample.take(self.server_pid, self.redis_pid, self.database) - cpu,
        )
        if fresh and requests > len(paths):
            phase.note = f"asked {requests:,} of {len(paths):,} paths: later ones repeated"
        return self._done(phase)

    def open(self, name: str, paths: list[str], rate: float, fresh: bool = False) -> Phase:
        tag, tagged = self._tagged(paths)
        before = load_average()
        cpu = CpuSample.take(self.server_pid, self.redis_pid, self.database)
        latencies, lags, errors, seconds = open_loop(
            self.port, self.token, tagged, rate, self.seconds, self.open_connections
        )
        latencies.sort()
        lags.sort()
        phase = Phase(
            name=name,
            config=self.config,
            round=self.round,
            load=f"open {rate:,.0f}/s",
            requests=len(latencies),
            seconds=seconds,
            latencies=latencies,
            errors=errors,
            p50=percentile(latencies, 50),
            p99=percentile(latencies, 99),
            max=max(latencies, default=float("nan")),
            lag_p99=percentile(lags, 99),
            tag=tag,
            load_before=before,
            load_after=load_average(),
            cpu=CpuSample.take(self.server_pid, self.redis_pid, self.database) - cpu,
        )
        if fresh and len(latencies) > len(paths):
            phase.note = f"asked {len(latencies):,} of {len(paths):,} paths: later ones repeated"
        return self._done(phase)

    def _done(self, phase: Phase) -> Phase:
        self.phases.append(phase)
        lag = "" if phase.lag_p99 is None else f", client lag p99 {phase.lag_p99 * 1000:.1f} ms"
        errors = sum(phase.errors.values())
        say(
            f"  {phase.name:<16} {phase.load:<16} {phase.requests:>7,} req in "
            f"{phase.seconds:4.1f}s = {phase.rate:6,.0f}/s; p50 {phase.p50 * 1000:6.1f} ms, "
            f"p99 {phase.p99 * 1000:6.1f} ms, max {phase.max * 1000:6.1f} ms{lag}; "
            f"CPU ms/request server {_per(phase, 'server')}, redis {_per(phase, 'redis')}, "
            f"client {_per(phase, 'client')}, database {_per(phase, 'database')}; "
            f"other work {_other(phase)} CPUs; server major page faults "
            f"{'-' if phase.cpu is None else phase.cpu.faults}; {errors} errors; "
            f"load {phase.load_before} → {phase.load_after}"
        )
        for error, count in phase.errors.most_common(3):
            say(f"      {count} x {error}")
        if phase.note:
            say(f"      note: {phase.note}")
        return phase


def _per(phase: Phase, part: str) -> str:
    """CPU milliseconds per request of one part (server, redis, client) during a phase."""
    if phase.cpu is None or not phase.requests:
        return "-"
    return f"{getattr(phase.cpu, part) / phase.requests * 1000:.2f}"


def _other(phase: Phase) -> str:
    """CPUs kept busy by other work on the machine during the phase (mean)."""
    if phase.cpu is None or not phase.seconds:
        return "-"
    return f"{phase.cpu.other / phase.seconds:.2f}"


def server_times(phases: list[Phase], access_log: Path) -> None:
    """Each phase's request times as gunicorn measured them (from the access log, complete
    once the server has stopped): the part of the latency spent in the server process."""
    by_tag: dict[str, list[float]] = {}
    if access_log.exists():
        for line in access_log.read_text("utf-8", "replace").splitlines():
            query, _, micros = line.rpartition(" ")
            tag = query.rpartition("bench=")[2].split("&")[0]
            if tag and micros.isdigit():
                by_tag.setdefault(tag, []).append(int(micros) / 1e6)
    for phase in phases:
        phase.server = sorted(by_tag.get(phase.tag, []))


def run_config(
    env: dict[str, str],
    config: Config,
    args: argparse.Namespace,
    token: str,
    lists: dict[str, list[str]],
    misses: Iterator[int],
    log_dir: Path,
    use_wrk: bool,
    redis_pid: int | None,
    database: str | None,
) -> list[Phase]:
    """Every round's phases on one gunicorn configuration (module docstring). misses: the k of
    each miss phase, never used before (the cache outlives a configuration)."""
    name = f"{config.workers}x{config.threads}"
    access_log = None if args.no_access_log else log_dir / f"access-{name}.log"
    phases: list[Phase] = []
    server = running_gunicorn(env, config, log_dir / f"server-{name}.log", access_log)
    with server as (port, server_pid):
        say(f"  warm-up: {len(lists['hit']):,} answers into the cache; load {load_average()}")
        closed_loop(port, token, lists["products"][:500], 4, None)
        _, errors, seconds = closed_loop(port, token, lists["hit"], 4, None)
        say(f"  warmed in {seconds:.1f}s ({sum(errors.values())} errors)")
        for number in range(1, args.rounds + 1):
            bench = Bench(port, token, config.label, number, args.connections,
                          args.open_connections, args.seconds, use_wrk, log_dir, server_pid,
                          redis_pid, database)  # fmt: skip
            say(f"Round {number} ({config.label}):")
            ceiling = bench.closed("ceiling", lists["products"])
            bench.open("ceiling @70%", lists["products"], LOAD_SHARE * ceiling.rate)
            hit = bench.closed("hit", lists["hit"])
            bench.open("hit @70%", lists["hit"], LOAD_SHARE * hit.rate)
            miss = bench.closed("miss", _paths(lists["miss"], next(misses)), fresh=True)
            rate = LOAD_SHARE * miss.rate
            bench.open("miss @70%", _paths(lists["miss"], next(misses)), rate, fresh=True)
            bench.closed("ceiling, 1 conn", lists["products"], connections=1)
            bench.closed("hit, 1 conn", lists["hit"], connections=1)
            phases += bench.phases
    if access_log is not None:
        server_times(phases, access_log)
    return phases


def _paths(customers: list[str], k: int) -> list[str]:
    return [f"/api/v1/customers/{c}/recommendations/?k={k}" for c in customers]


# --- Report ---------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 1000:,.1f}"


def print_table(phases: list[Phase]) -> None:
    headers = ["config", "round", "phase", "load", "requests", "errors", "req/s", "of ceiling",
               "p50 ms", "p99 ms", "max ms", "lag p99", "server p50", "server p99",
               "CPU server", "redis", "client", "db", "other CPUs"]  # fmt: skip
    ceilings = {(p.config, p.round): p.rate for p in phases if p.name == "ceiling"}
    rows = []
    for p in phases:
        ceiling = ceilings.get((p.config, p.round), 0.0)
        rows.append(
            [
                p.config,
                str(p.round),
                p.name,
                p.load,
                f"{p.requests:,}",
                f"{sum(p.errors.values()):,}",
                f"{p.rate:,.0f}",
                f"{p.rate / ceiling:.0%}" if ceiling else "-",
                _ms(p.p50),
                _ms(p.p99),
                _ms(p.max),
                _ms(p.lag_p99),
                _ms(percentile(p.server, 50)) if p.server else "-",
                _ms(percentile(p.server, 99)) if p.server else "-",
                _per(p, "server"),
                _per(p, "redis"),
                _per(p, "client"),
                _per(p, "database"),
                _other(p),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.ljust(w) if i < 4 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say()
    say(line(headers))
    say("-+-".join("-" * w for w in widths))
    for r in rows:
        say(line(r))
    say()
    say("closed, N conn: N connections, each sending its next request when the last is answered")
    say("(the peak rate). open N/s: requests on a fixed schedule at 70% of the round's peak of the")
    say("same requests; latency from each request's scheduled time; lag p99: how late the client")
    say("itself sent them. server p50/p99: gunicorn's own time per request (from reading it to")
    say("writing the answer), without the wait for a worker. CPU server / redis / client: CPU")
    say("milliseconds per request used by gunicorn (master and workers), redis-server, the")
    say("client (wrk or this process) and PostgreSQL's backends (db; SQLite runs inside the")
    say("server) during the phase: unlike latencies, barely moved by other")
    say("work on the machine; 2 CPUs / their sum bounds the peak. other CPUs: how many CPUs")
    say("everything else on the machine kept busy meanwhile (/proc/stat): the phase's noise.")


def print_verdict(phases: list[Phase]) -> None:
    """Per configuration and round: the target's two figures."""
    say()
    say(
        f"Target: recommendations (cached) at least {TARGET_SHARE:.0%} of the ceiling; p99 under "
        f"{TARGET_P99_MS:.0f} ms at {LOAD_SHARE:.0%} of peak load."
    )
    by_key = {(p.config, p.round, p.name): p for p in phases}
    for config, number in sorted({(p.config, p.round) for p in phases}):
        ceiling = by_key.get((config, number, "ceiling"))
        hit = by_key.get((config, number, "hit"))
        if ceiling is None or hit is None or not ceiling.rate:
            continue
        share = hit.rate / ceiling.rate
        parts = [f"hit peak {hit.rate:,.0f}/s = {share:.0%} of {ceiling.rate:,.0f}/s"]
        for name in ("hit @70%", "miss @70%", "ceiling @70%"):
            phase = by_key.get((config, number, name))
            if phase is not None:
                met = "met" if phase.p99 * 1000 < TARGET_P99_MS else "NOT met"
                parts.append(
                    f"{name} p99 {phase.p99 * 1000:.1f} ms ({met}; other work {_other(phase)} "
                    f"CPUs; {'-' if phase.cpu is None else phase.cpu.faults} major page faults)"
                )
        say(f"  {config}, round {number}: " + "; ".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--top-n", type=int, default=50, help="rows per customer (default 50)")
    parser.add_argument(
        "--configs",
        default="4x1,2x4",
        help="gunicorn WORKERSxTHREADS to compare, comma-separated (default 4x1,2x4: the README's "
        "production command, 4 sync workers, and 2 workers of 4 threads as bench_api.py)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds per configuration")
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument(
        "--connections", type=int, default=16, help="closed-loop connections (default 16)"
    )
    parser.add_argument(
        "--open-connections",
        type=int,
        default=64,
        help="open loop: most requests in flight (default 64)",
    )
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="closed-loop client: wrk when installed (auto), or the asyncio one",
    )
    parser.add_argument("--database-url", help="postgres://user:pass@127.0.0.1:5432[/new_name]")
    has_redis = shutil.which("redis-server") is not None
    parser.add_argument(
        "--cache", choices=["redis", "locmem"], default="redis" if has_redis else "locmem"
    )
    parser.add_argument("--no-access-log", action="store_true", help="no gunicorn access log")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if args.cache == "redis" and not has_redis:
        parser.error("redis-server is not installed")
    try:
        configs = [Config.parse(text) for text in args.configs.split(",") if text.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    has_wrk = shutil.which("wrk") is not None
    if args.client == "wrk" and not has_wrk:
        parser.error("wrk is not installed (apt-get install wrk)")
    use_wrk = has_wrk and args.client != "python"

    say("bench_serving: GET /api/v1/customers/{id}/recommendations/")
    say(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    say(
        "Closed-loop client: "
        + (_wrk_version() if use_wrk else "asyncio (this process; wrk not used)")
        + "; open loop: asyncio (this process)"
    )
    say(f"Load average before: {load_average()}")
    phases: list[Phase] = []
    # In memory where possible: each request's access-log line is a write to this directory.
    log_dir = Path(tempfile.mkdtemp(prefix="bench_serving_log_", dir=SHM if SHM.is_dir() else None))
    try:
        with contextlib.ExitStack() as stack:
            database_url, description = stack.enter_context(fresh_database(args.database_url))
            say(f"Database: {description}")
            database = (
                urlsplit(database_url).path.strip("/")
                if database_url.startswith("postgres")
                else None
            )
            env = server_env(database_url)
            manage(env, "migrate", "--noinput", "-v0")
            started = time.monotonic()
            os.environ.update({"DATABASE_URL": database_url,
                               "DJANGO_SETTINGS_MODULE": "ecomsite.settings"})  # fmt: skip
            os.environ.pop("REDIS_URL", None)
            sys.path.insert(0, str(ROOT))
            made = build_served_model(args.customers, args.top_n, args.seed)
            say(
                f"Served model: {args.customers:,} customers ({NEW_CUSTOMER_SHARE:.0%} new to the "
                f"model), {made['recommendation_rows']:,} recommendations, "
                f"{made['similar_rows']:,} similar, {made['popular_rows']:,} fallback rows "
                f"({time.monotonic() - started:.0f}s)"
            )
            redis_pid: int | None = None
            if args.cache == "redis":
                redis_url, redis_pid = stack.enter_context(private_redis())
                env["REDIS_URL"] = redis_url
                say(f"Cache: Redis (private redis-server, {redis_url})")
            else:
                say("Cache: local memory of each gunicorn worker (a hit needs the same worker)")
            env["API_THROTTLE_RATE"] = "100000000/min"
            token = str(made["token"])
            customers = list(made["customers"])  # type: ignore[call-overload]
            random.Random(args.seed).shuffle(customers)
            hit_customers = customers[:HIT_CUSTOMERS]
            lists = {
                "products": [f"/api/v1/products/{p}/" for p in made["products"]],  # type: ignore[attr-defined]
                "hit": _paths(hit_customers, 10),
                "miss": customers[HIT_CUSTOMERS:],
            }
            misses = iter(range(11, 101))
            for config in configs:
                phases += run_config(
                    env, config, args, token, lists, misses, log_dir, use_wrk, redis_pid, database
                )
    except KeyboardInterrupt:
        say("\ninterrupted")
    except StopIteration:
        say("\nout of fresh k values for miss phases: use fewer configurations or rounds")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    say(f"Load average after: {load_average()}")
    if phases:
        print_table(phases)
        print_verdict(phases)
    return 0


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return (first[0] if first else "wrk") + " (one thread)"


if __name__ == "__main__":
    sys.exit(main())
