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
2. Starts gunicorn (``--workers 2 --threads 4`` as bench/bench_api.py, or ``--workers`` /
   ``--threads``) on 127.0.0.1 with a shared cache: a private ``redis-server`` on a free port
   when one is installed (``--cache redis``, the production setup), else each worker's local
   memory (``--cache locmem``).
   Throttling is lifted. Requests use a partner token with recommendations:read, keep-alive
   connections (one per client process) and stdlib http.client.
3. Phases (each request's latency is measured by the client, end to end):

   * ``ceiling``: GET /api/v1/products/{id}/, a trivial DRF retrieve (token auth, throttle, one
     indexed query), closed loop for ``--seconds`` with ``--clients`` connections: the most
     requests/s this server gives any API call;
   * ``miss peak``: every customer's recommendations once (k=10, so every answer is a cache
     miss: the customer, their rows and, for new customers, their segment and the fallbacks are
     read), closed loop;
   * ``hit peak``: the same requests again for ``--seconds`` (all answered from the cache),
     closed loop;
   * ``1 client``: the ceiling and the cached answer with one connection: the time a request
     takes without queueing;
   * ``hit @70%`` and ``miss @70%``: open loop at 70% of the measured peak of each (requests
     sent on a fixed schedule whatever the answers; latency counted from the scheduled time, so
     queueing shows). The miss run asks k=12, a new cache key for every customer.

   Closed-loop latencies show a saturated server (queueing); the 70% runs are the ones to read
   for latency under load. Client processes share the machine's CPUs with the server, and other
   work on the machine shows in the figures: the load average is printed before and after.

Run it
------
    . .venv/bin/activate
    python bench/bench_serving.py                         # SQLite, Redis cache if installed
    python bench/bench_serving.py --database-url postgres://ecomsite:ecomsite@127.0.0.1:5432
    python bench/bench_serving.py --customers 5000 --seconds 5 --cache locmem

All traffic goes to 127.0.0.1. The server, Redis, the clients and the database are stopped or
removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
REQUEST_TIMEOUT = 30.0
LOAD_SHARE = 0.70


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

    def insert(model: object, fields: tuple[str, ...], rows: list[tuple[object, ...]],
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


@contextlib.contextmanager
def running_gunicorn(
    env: dict[str, str], workers: int, threads: int, log: Path, access_log: Path
) -> Iterator[int]:
    """gunicorn on a free 127.0.0.1 port (threads > 1: the gthread worker, keep-alive; 1: the
    sync worker, a connection per request), logging each request's query string and time in
    microseconds to `access_log`; yields the port once it answers."""
    from gunicorn import __version__

    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "ecomsite.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
               str(threads), "--timeout", "60", "--graceful-timeout", "10", "--access-logfile",
               str(access_log), "--access-logformat", "%(q)s %(D)s"]  # fmt: skip
    say(f"Server: gunicorn {__version__} (--workers {workers} --threads {threads}) on port {port}")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}")
        yield port
    finally:
        stop_server(proc)


# --- Redis ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server on a free 127.0.0.1 port, no persistence; yields its URL."""
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
        yield f"redis://127.0.0.1:{port}/0"
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


# --- Clients --------------------------------------------------------------------------------------


@dataclass
class ClientReport:
    started: float
    finished: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def client(port: int, token: str, paths: list[str], mode: str, rate: float, seconds: float,
           barrier: object, results: object) -> None:  # fmt: skip
    """One client process on one keep-alive connection. mode "once": each path once, as fast as
    answered; "loop": cycle the paths for `seconds`; "rate": one request every 1/rate seconds
    for `seconds` (latency from the scheduled send time)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    conn = _connection(port)
    barrier.wait(timeout=120)  # type: ignore[attr-defined]
    report = ClientReport(started=time.monotonic(), finished=0.0)
    deadline = report.started + seconds
    interval = 1.0 / rate if rate > 0 else 0.0
    if mode == "rate":
        time.sleep(random.random() * interval)  # spread the clients' phases
    start = time.monotonic()
    index = 0
    while True:
        if mode == "once" and index >= len(paths):
            break
        if mode != "once" and time.monotonic() >= deadline:
            break
        path = paths[index % len(paths)]
        scheduled = start + index * interval if mode == "rate" else time.monotonic()
        if mode == "rate":
            if scheduled >= deadline:
                break
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        index += 1
        try:
            status = _get(conn, path, headers)
            report.statuses[status] += 1
            if status != 200:
                report.errors.append(f"HTTP {status}")
        except Exception as exc:  # a measurement: record, reconnect, go on
            report.errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = _connection(port)
        report.latencies.append(time.monotonic() - scheduled)
    report.finished = time.monotonic()
    conn.close()
    results.put(report)  # type: ignore[attr-defined]


@dataclass
class Phase:
    name: str
    mode: str
    requests: int
    wall: float
    latencies: list[float]
    errors: list[str]
    target_rate: float | None = None
    tag: str = ""
    server: list[float] = field(default_factory=list)  # gunicorn's own request times, seconds

    @property
    def rate(self) -> float:
        return self.requests / self.wall if self.wall else 0.0


_tags = iter(range(1, 1_000))


def run_phase(name: str, port: int, token: str, per_client: list[list[str]], *, mode: str,
              seconds: float = 0.0, rate: float = 0.0) -> Phase:  # fmt: skip
    """Run the clients; every URL carries ``bench=<tag>`` (ignored by the views and the cache
    keys) so the server's access log can be split by phase."""
    tag = f"p{next(_tags)}"
    per_client = [
        [f"{path}{'&' if '?' in path else '?'}bench={tag}" for path in paths]
        for paths in per_client
    ]
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(per_client))
    results = ctx.Queue()
    per_rate = rate / len(per_client) if rate else 0.0
    procs = [
        ctx.Process(
            target=client,
            args=(port, token, paths, mode, per_rate, seconds, barrier, results),
            daemon=True,
        )
        for paths in per_client
    ]
    reports: list[ClientReport] = []
    try:
        for proc in procs:
            proc.start()
        deadline = time.monotonic() + max(seconds, 0) + 600
        while len(reports) < len(procs) and time.monotonic() < deadline:
            try:
                reports.append(results.get(timeout=5.0))
            except Exception:
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
        errors.append(f"{len(procs) - len(reports)} client(s) did not report")
    wall = max(r.finished for r in reports) - min(r.started for r in reports) if reports else 0.0
    phase = Phase(
        name=name,
        mode=mode,
        requests=sum(len(r.latencies) for r in reports),
        wall=wall,
        latencies=sorted(t for r in reports for t in r.latencies),
        errors=errors,
        target_rate=rate or None,
        tag=tag,
    )
    ms = [percentile(phase.latencies, q) * 1000 for q in (50, 95, 99)]
    say(
        f"  {phase.requests:,} requests in {phase.wall:.1f}s = {phase.rate:,.0f}/s; "
        f"p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms; {len(errors)} errors"
    )
    for error, count in Counter(errors).most_common(3):
        say(f"    {count} x {error}")
    return phase


def server_times(phases: list[Phase], access_log: Path) -> None:
    """Each phase's request times as gunicorn measured them (from the access log, written once
    the server has stopped): the part of the latency spent in the server process."""
    by_tag: dict[str, list[float]] = {}
    if access_log.exists():
        for line in access_log.read_text("utf-8", "replace").splitlines():
            query, _, micros = line.rpartition(" ")
            tag = query.rpartition("bench=")[2].split("&")[0]
            if tag and micros.isdigit():
                by_tag.setdefault(tag, []).append(int(micros) / 1e6)
    for phase in phases:
        phase.server = sorted(by_tag.get(phase.tag, []))


def split(paths: list[str], clients: int) -> list[list[str]]:
    return [paths[i::clients] for i in range(clients)]


# --- Report ---------------------------------------------------------------------------------------


def print_table(phases: list[Phase], ceiling: Phase) -> None:
    headers = ["phase", "load", "requests", "errors", "req/s", "of ceiling", "p50 ms", "p95 ms",
               "p99 ms", "max ms", "server p50", "server p99"]  # fmt: skip
    rows = []
    for p in phases:
        load = "closed" if p.target_rate is None else f"{p.target_rate:,.0f}/s"
        rows.append(
            [
                p.name,
                load,
                f"{p.requests:,}",
                f"{len(p.errors):,}",
                f"{p.rate:,.0f}",
                f"{p.rate / ceiling.rate:.0%}" if ceiling.rate else "-",
                *(f"{percentile(p.latencies, q) * 1000:,.1f}" for q in (50, 95, 99)),
                f"{max(p.latencies, default=float('nan')) * 1000:,.1f}",
                *(f"{percentile(p.server, q) * 1000:,.1f}" for q in (50, 99)),
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
    say("closed: each client sends its next request when the last is answered (peak rate).")
    say("N/s: open loop at that rate; latency from each request's scheduled send time.")
    say("p50..max: measured by the clients; server p50/p99: gunicorn's own time per request")
    say("(from reading the request to writing the response), without queueing for a worker.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--top-n", type=int, default=50, help="rows per customer (default 50)")
    parser.add_argument("--clients", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per timed phase")
    parser.add_argument("--database-url", help="postgres://user:pass@127.0.0.1:5432[/new_name]")
    has_redis = shutil.which("redis-server") is not None
    parser.add_argument(
        "--cache", choices=["redis", "locmem"], default="redis" if has_redis else "locmem"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per worker (default 4, as bench_api)"
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if args.cache == "redis" and not has_redis:
        parser.error("redis-server is not installed")

    say("bench_serving: GET /api/v1/customers/{id}/recommendations/")
    say(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    say(f"Load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    phases: list[Phase] = []
    log_dir = Path(tempfile.mkdtemp(prefix="bench_serving_log_"))
    try:
        with contextlib.ExitStack() as stack:
            database_url, description = stack.enter_context(fresh_database(args.database_url))
            say(f"Database: {description}")
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
            if args.cache == "redis":
                redis_url = stack.enter_context(private_redis())
                env["REDIS_URL"] = redis_url
                say(f"Cache: Redis (private redis-server, {redis_url})")
            else:
                say("Cache: local memory of each gunicorn worker")
            env["API_THROTTLE_RATE"] = "100000000/min"
            access_log = log_dir / "access.log"
            port = stack.enter_context(
                running_gunicorn(
                    env, args.workers, args.threads, log_dir / "server.log", access_log
                )
            )
            token = str(made["token"])
            customers = list(made["customers"])  # type: ignore[call-overload]
            random.Random(args.seed).shuffle(customers)
            products = list(made["products"])  # type: ignore[call-overload]
            recs = [f"/api/v1/customers/{c}/recommendations/?k=10" for c in customers]
            recs12 = [f"/api/v1/customers/{c}/recommendations/?k=12" for c in customers]
            trivial = [f"/api/v1/products/{p}/" for p in products]
            n = args.clients

            say("Warm-up ...")
            run_phase("warm-up", port, token, split(trivial[:400], n), mode="once")
            say(f"Phase ceiling: GET /api/v1/products/{{id}}/, closed loop {args.seconds:.0f}s")
            ceiling = run_phase("ceiling (products/{id})", port, token, split(trivial, n),
                                mode="loop", seconds=args.seconds)  # fmt: skip
            phases.append(ceiling)
            say("Phase ceiling, one client: its service time without queueing")
            phases.append(
                run_phase(
                    "ceiling, 1 client",
                    port,
                    token,
                    [trivial],
                    mode="loop",
                    seconds=args.seconds / 2,
                )  # fmt: skip
            )
            say("Phase miss peak: every customer once (k=10), closed loop")
            miss = run_phase("recommendations, miss", port, token, split(recs, n), mode="once")
            phases.append(miss)
            say(f"Phase hit peak: the same again, closed loop {args.seconds:.0f}s")
            hit = run_phase("recommendations, hit", port, token, split(recs, n), mode="loop",
                            seconds=args.seconds)  # fmt: skip
            phases.append(hit)
            say("Phase hit, one client: its service time without queueing")
            phases.append(
                run_phase(
                    "recommendations, hit, 1 client",
                    port,
                    token,
                    [recs],
                    mode="loop",
                    seconds=args.seconds / 2,
                )  # fmt: skip
            )
            rate = LOAD_SHARE * hit.rate
            say(f"Phase hit @70%: {rate:,.0f}/s for {args.seconds:.0f}s")
            phases.append(
                run_phase(
                    "recommendations, hit @70%",
                    port,
                    token,
                    split(recs, n),
                    mode="rate",
                    seconds=args.seconds,
                    rate=rate,
                )  # fmt: skip
            )
            rate = LOAD_SHARE * miss.rate
            seconds = min(args.seconds, 0.95 * len(recs12) / max(rate, 1.0))
            say(f"Phase miss @70%: {rate:,.0f}/s for {seconds:.0f}s (k=12: new cache keys)")
            phases.append(
                run_phase(
                    "recommendations, miss @70%",
                    port,
                    token,
                    split(recs12, n),
                    mode="rate",
                    seconds=seconds,
                    rate=rate,
                )  # fmt: skip
            )
        server_times(phases, access_log)
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    say(f"Load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if phases:
        print_table(phases, phases[0])
        hit = next((p for p in phases if p.name == "recommendations, hit"), None)
        if hit is not None and phases[0].rate:
            say(f"Recommendations (cached) reach {hit.rate / phases[0].rate:.0%} of the ceiling.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
