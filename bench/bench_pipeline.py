"""Benchmark the data pipeline clean → features → segment: wall time, peak RSS, where time goes.

What it measures
----------------
For each size x database it makes a fresh, throwaway database holding N synthetic events exactly
as the import leaves them (see "Setup"), then runs the pipeline once, in-process and synchronous,
as a child process: ``python bench/bench_pipeline.py --child-pipeline RESULT.json``, which sets up
Django and calls ``manage.py run_pipeline --sync --force --until segment`` (``call_command``), the
same code path as the CLI. The train step (recommenders) is left out: bench/bench_recommenders.py
times it. Reported per run:

* wall seconds of the child (process start to exit: interpreter and Django start-up included) and
  its peak RSS (the child is reaped with ``os.wait4``; its rusage ``ru_maxrss`` is that child's own
  high-water mark, not the maximum over all children so far);
* the seconds each step's run row records (``CleaningRun`` / ``FeatureRun`` / ``SegmentationRun``
  ``metrics["seconds"]``);
* a finer breakdown from timing probes: the child wraps, before running, the functions each step
  calls by module attribute (reading the raw events, the cleaning rules and their main rules,
  writing / reading Parquet, customer and product features, RFM, clustering, rule segments,
  storing the members and the INSERT inside it) and records each call's seconds and the process's
  peak RSS after it, so the step that sets the peak is visible. The probes only time; they do not
  change what the pipeline does. "other" = step seconds minus its probed parts (run rows,
  progress writes, segment rows).

The target on the reference machine (2 cores, 24 GiB) is 10M events cleaned, featured and
segmented in under 5 minutes (wall) with peak RSS under 6 GiB; the script prints whether each 10M
run met it. It never asserts.

Setup (not timed)
-----------------
Sizes and generator parameters (``manage.py generate_demo_data``, seed 1, 365 days from
2024-01-01, 12 categories; customers and products scale with the events like a growing shop):

====  ===========  =========  ========
size  events       customers  products
====  ===========  =========  ========
100k  100,000      2,000      500       (the generator's defaults)
1m    1,000,000    20,000     3,000
10m   10,000,000   200,000    20,000
====  ===========  =========  ========

The events are written by ``generate_demo_data`` straight into a freshly migrated database through
the import path (``events_store``: Event, Customer and Product rows, an ImportBatch, ANALYZE on
PostgreSQL, customers' first/last seen), so the tables hold what an import of the same events
holds. That takes about 500-600 s at 10M, so a loaded database is cached and reused:

* SQLite: the loaded file ``var/bench/bench_pipeline_<size>_c<customers>_p<products>_s1_<hash>
  .sqlite3``, copied into a temp directory for every run;
* PostgreSQL: a template database ``bench_pipeline_tpl_<same key>`` on the server, loaded, then
  ``VACUUM (ANALYZE)`` (the state after autovacuum has caught up with the import, and the same for
  every run), copied for every run with ``CREATE DATABASE bench_pipeline_<pid>_<n> TEMPLATE ...``.

``<hash>`` covers the generator (ecomsite/engine/synthetic.py) and ecomsite's migrations, so a
change to either builds a new cache. Every copy is migrated again (a no-op unless another app has
gained migrations since). The setup line of each run says whether the cache was built (and how
long it took) or reused, and how long the copy took. Remove the caches with
``python bench/bench_pipeline.py --clear-cache`` (deletes var/bench/bench_pipeline_*.sqlite3 and
drops every bench_pipeline_tpl_* database on the server), or by hand.

Databases: SQLite (a copy in a temp directory) and PostgreSQL (on the server of ``--postgres`` /
$BENCH_POSTGRES_URL, default postgres://ecomsite:ecomsite@127.0.0.1:5432; skipped with a note when
it cannot be reached). Only loopback servers are accepted. Each child also gets its own temp
ECOMSITE_VAR_DIR, so the Parquet artifacts never land in var/artifacts.

Run it
------
    . .venv/bin/activate
    python bench/bench_pipeline.py                          # 100k, 1m, 10m on SQLite and PostgreSQL
    python bench/bench_pipeline.py --sizes 100k,1m --skip-postgres
    python bench/bench_pipeline.py --sizes 10m --skip-sqlite --postgres postgres://u:p@127.0.0.1:5432
    python bench/bench_pipeline.py --sizes 10m --setup-only  # build the caches, run nothing
    python bench/bench_pipeline.py --clear-cache             # remove the caches and exit

It prints a results table; it never asserts. Every throwaway database, temp directory and child
process it creates is removed or stopped at the end, also on error or Ctrl-C (a cache being built
is discarded). The default SQLite file db.sqlite3 is never used: every child gets DATABASE_URL
pointing at the throwaway database.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CACHE_DIR = ROOT / "var" / "bench"
DEFAULT_POSTGRES = "postgres://ecomsite:ecomsite@127.0.0.1:5432"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SEED = 1
TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 300.0
TARGET_RSS_MIB = 6 * 1024.0
MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Size:
    label: str
    events: int
    customers: int
    products: int

    @property
    def key(self) -> str:
        return f"{self.label}_c{self.customers}_p{self.products}_s{SEED}_{_source_hash()}"


SIZES = {
    size.label: size
    for size in (
        Size("100k", 100_000, 2_000, 500),
        Size("1m", 1_000_000, 20_000, 3_000),
        Size("10m", 10_000_000, 200_000, 20_000),
    )
}


@functools.cache
def _source_hash() -> str:
    """8 hex digits over what decides the loaded data: the generator and ecomsite's schema."""
    digest = hashlib.sha256()
    files = [ROOT / "ecomsite" / "engine" / "synthetic.py"]
    files += sorted((ROOT / "ecomsite" / "migrations").glob("*.py"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def say(text: str = "") -> None:
    """Write a line of the report to stdout at once (the report is this script's output)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


# Child processes still running; stopped by stop_children() whatever happens.
_children: list[subprocess.Popen[bytes]] = []


@dataclass
class ChildResult:
    returncode: int
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str


@dataclass
class Case:
    size: Size
    database: str
    setup: str = ""
    wall_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.result) and not self.note


def run_child(args: list[str], *, env: dict[str, str], timeout: float) -> ChildResult:
    """Run a child to completion; its wall time and its own peak RSS (os.wait4 rusage)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
        _children.append(proc)
        try:
            deadline = start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            _children.remove(proc)
            if proc.returncode is None:
                _stop(proc)
        out.seek(0)
        err.seek(0)
        return ChildResult(
            returncode=proc.returncode,
            seconds=seconds,
            peak_rss_mib=usage.ru_maxrss / 1024.0,  # Linux: kilobytes
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def stop_children() -> None:
    for proc in list(_children):
        _stop(proc)
        _children.remove(proc)


def child_env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "ecomsite.settings",
            "ECOMSITE_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    env.pop("REDIS_URL", None)  # a --sync pipeline needs no broker or cache server
    env.pop("ARTIFACTS_DIR", None)  # artifacts go under the child's own ECOMSITE_VAR_DIR
    return env


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def checked(result: ChildResult, what: str) -> ChildResult:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{tail(result.stderr)}")
    return result


# --- Databases ------------------------------------------------------------------------------------


def postgres_admin_url(base: str, database: str) -> str:
    parts = urlsplit(base)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"not a postgres:// URL: {base}")
    if (parts.hostname or "") not in LOOPBACK:
        raise ValueError(f"only a server on 127.0.0.1/localhost is benchmarked, not {base}")
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def postgres_check(base: str) -> str:
    """The server's version, or raise with the reason it cannot be used."""
    import psycopg

    with psycopg.connect(postgres_admin_url(base, "postgres"), connect_timeout=5) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def postgres_admin(base: str, *statements: str) -> list[Any]:
    """Run statements outside a transaction on the server's "postgres" database; the rows of
    the last one (if it returns any)."""
    import psycopg

    rows: list[Any] = []
    with psycopg.connect(
        postgres_admin_url(base, "postgres"), autocommit=True, connect_timeout=5
    ) as conn:
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
    return rows


def postgres_exists(base: str, name: str) -> bool:
    return bool(postgres_admin(base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


def generate_into(size: Size, url: str, var_dir: Path, timeout: float) -> tuple[float, float]:
    """Migrate the empty database at `url` and load the size's events through the import path.
    Returns (migrate seconds, generate seconds)."""
    env = child_env(url, var_dir)
    migrated = checked(run_child(manage("migrate", "--noinput", "-v0"), env=env, timeout=600),
                       "migrate")  # fmt: skip
    say(f"  migrated in {migrated.seconds:.1f}s; generating {size.events:,} events ...")
    generated = checked(
        run_child(
            manage(
                "generate_demo_data",
                "--events",
                str(size.events),
                "--customers",
                str(size.customers),
                "--products",
                str(size.products),
                "--seed",
                str(SEED),
                "--no-progress",
            ),  # fmt: skip
            env=env,
            timeout=timeout,
        ),
        "generate_demo_data",
    )
    say(f"  {tail(generated.stdout, 1)}")
    say(f"  generated in {generated.seconds:.1f}s, peak RSS {generated.peak_rss_mib:.0f} MiB")
    return migrated.seconds, generated.seconds


def sqlite_cache(size: Size, timeout: float) -> tuple[Path, str]:
    """The cached loaded SQLite file of `size` (built if missing) and a note on its setup."""
    path = CACHE_DIR / f"bench_pipeline_{size.key}.sqlite3"
    if path.is_file():
        mib = path.stat().st_size / MIB
        return path, f"cache reused ({path.relative_to(ROOT)}, {mib:,.0f} MiB)"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    say(f"  building the cache {path.relative_to(ROOT)}")
    folder = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=CACHE_DIR))
    try:
        db = folder / "bench.sqlite3"
        started = time.perf_counter()
        generate_into(size, f"sqlite:///{db}", folder / "var", timeout)
        for suffix in ("-wal", "-shm"):  # the last connection's close checkpoints the WAL
            if Path(f"{db}{suffix}").exists() and Path(f"{db}{suffix}").stat().st_size:
                raise RuntimeError(f"{db}{suffix} left behind; the copy would be incomplete")
        os.replace(db, path)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return path, f"cache built in {seconds:.0f}s ({path.stat().st_size / MIB:,.0f} MiB)"


def postgres_template(size: Size, base: str, timeout: float) -> tuple[str, str]:
    """The template database holding `size` loaded (built if missing) and a note on its setup."""
    name = f"bench_pipeline_tpl_{size.key}"
    assert len(name) <= 63, name  # PostgreSQL truncates longer identifiers
    if postgres_exists(base, name):
        return name, f"template reused ({name})"
    partial = f"bench_pipeline_partial_{os.getpid()}_{size.label}"
    say(f"  building the template database {name}")
    folder = Path(tempfile.mkdtemp(prefix="bench_pipeline_var_"))
    postgres_admin(base, f'DROP DATABASE IF EXISTS "{partial}"', f'CREATE DATABASE "{partial}"')
    try:
        started = time.perf_counter()
        generate_into(size, postgres_admin_url(base, partial), folder, timeout)
        import psycopg

        with psycopg.connect(postgres_admin_url(base, partial), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        postgres_admin(base, f'ALTER DATABASE "{partial}" RENAME TO "{name}"')
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        postgres_admin(base, f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)')
    return name, f"template built in {seconds:.0f}s"


@contextlib.contextmanager
def loaded_database(
    case: Case, name: str, postgres_base: str, timeout: float
) -> Iterator[tuple[str, Path]]:
    """Yield (DATABASE_URL, var dir) of a throwaway copy of the size's loaded database."""
    folder = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    try:
        if case.database == "sqlite":
            cached, note = sqlite_cache(case.size, timeout)
            started = time.perf_counter()
            db = folder / "bench.sqlite3"
            shutil.copyfile(cached, db)
            case.setup = f"{note}; copied in {time.perf_counter() - started:.1f}s"
            yield f"sqlite:///{db}", folder / "var"
            return
        template, note = postgres_template(case.size, postgres_base, timeout)
        started = time.perf_counter()
        postgres_admin(
            postgres_base,
            f'DROP DATABASE IF EXISTS "{name}"',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY',
        )
        case.setup = f"{note}; copied in {time.perf_counter() - started:.1f}s"
        try:
            yield postgres_admin_url(postgres_base, name), folder / "var"
        finally:
            postgres_admin(postgres_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clear_cache(postgres_base: str, use_postgres: bool) -> None:
    for path in sorted(CACHE_DIR.glob("bench_pipeline_*.sqlite3")):
        path.unlink()
        say(f"removed {path.relative_to(ROOT)}")
    for path in sorted(CACHE_DIR.glob(".partial-*")):
        shutil.rmtree(path, ignore_errors=True)
    if not use_postgres:
        return
    rows = postgres_admin(
        postgres_base,
        "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_pipeline\\_tpl\\_%'",
    )
    for (name,) in rows:
        postgres_admin(postgres_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"dropped database {name}")


# --- The child: one instrumented pipeline run -----------------------------------------------------

# (module, attribute, label) of the functions the child times. The three step executors are
# patched where the pipeline looks them up, so every other probe nests under its step.
PROBES = (
    ("segments.services.pipeline", "cleaning_run_execute", "clean"),
    ("segments.services.pipeline", "feature_run_execute", "features"),
    ("segments.services.pipeline", "segmentation_run_execute", "segment"),
    ("ecomsite.services.cleaning", "events_raw_frame", "read raw events"),
    ("ecomsite.services.cleaning", "clean_events", "cleaning rules"),
    ("ecomsite.engine.cleaning", "_sorted_by_event_id", "sort by event id"),
    ("ecomsite.engine.cleaning", "flag_duplicates", "duplicates"),
    ("ecomsite.engine.cleaning", "flag_non_product", "non-product codes"),
    ("ecomsite.engine.cleaning", "match_returns", "returns (LIFO)"),
    ("ecomsite.engine.cleaning", "flag_outliers", "outliers"),
    ("ecomsite.engine.cleaning", "_examples", "report examples"),
    ("ecomsite.services.cleaning", "frame_save", "write Parquet"),
    ("segments.services.features", "frame_load", "read Parquet"),
    ("segments.services.features", "customer_features", "customer features"),
    ("segments.services.features", "product_features", "product features"),
    ("segments.services.features", "frame_save", "write Parquet"),
    ("segments.services.segmentation", "customer_features_load", "read features"),
    ("segments.services.segmentation", "rfm_scores", "RFM"),
    ("segments.services.segmentation", "cluster_customers", "clustering"),
    ("segments.services.segmentation", "_rule_segments", "rule segments"),
    ("segments.services.segmentation", "memberships_store", "store members"),
    ("segments.services.segmentation", "insert_ignoring_conflicts", "INSERT"),
)
STEPS = ("clean", "features", "segment")


def _rss_now_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def _install_probes(records: list[dict[str, Any]]) -> None:
    import importlib

    depth = 0

    def probe(label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            record: dict[str, Any] = {"label": label, "depth": depth}
            records.append(record)  # in call order, so nested calls follow their parent
            depth += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                depth -= 1
                record["seconds"] = time.perf_counter() - started
                record["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
                record["rss_mib"] = _rss_now_mib()

        return timed

    for module_name, attribute, label in PROBES:
        module = importlib.import_module(module_name)
        setattr(module, attribute, probe(label, getattr(module, attribute)))


def child_pipeline(result_path: Path) -> int:
    """Child mode: run the pipeline once with timing probes; write RESULT.json."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsite.settings")
    import io

    import django

    django.setup()
    from django.core.management import call_command

    records: list[dict[str, Any]] = []
    _install_probes(records)
    result: dict[str, Any] = {"startup_seconds": time.perf_counter() - started, "probes": records}
    pipeline_started = time.perf_counter()
    try:
        call_command(
            "run_pipeline", "--sync", "--force", "--until", "segment", stdout=io.StringIO()
        )
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["pipeline_seconds"] = time.perf_counter() - pipeline_started
    with contextlib.suppress(Exception):  # a failed run still reports what it has
        result.update(_run_rows())
    result_path.write_text(json.dumps(result))
    return 1 if "error" in result else 0


def _run_rows() -> dict[str, Any]:
    from ecomsite.models import Customer, Event, Product
    from segments.models import PipelineRun, SegmentMembership

    run = PipelineRun.objects.select_related(
        "cleaning_run", "feature_run", "segmentation_run"
    ).latest("pk")
    steps = {}
    for name, step in (
        ("clean", run.cleaning_run),
        ("features", run.feature_run),
        ("segment", run.segmentation_run),
    ):
        if step is not None:
            steps[name] = {"status": step.status, "seconds": step.metrics.get("seconds")}
    data: dict[str, Any] = {
        "status": run.status,
        "steps": steps,
        "events": Event.objects.count(),
        "customers": Customer.objects.count(),
        "products": Product.objects.count(),
    }
    if run.cleaning_run is not None:
        data["usable"] = run.cleaning_run.report.get("after", {}).get("rows")
    if run.feature_run is not None:
        data["featured_customers"] = run.feature_run.customers
        data["featured_products"] = run.feature_run.products
    if run.segmentation_run is not None:
        data["k"] = run.segmentation_run.metrics.get("k")
        data["segments"] = len(run.segmentation_run.metrics.get("sizes", {}))
        data["members"] = SegmentMembership.objects.filter(run=run.segmentation_run).count()
    return data


# --- The benchmark --------------------------------------------------------------------------------


def run_case(case: Case, postgres_base: str, timeout: float, index: int) -> None:
    name = f"bench_pipeline_{os.getpid()}_{index}"
    say(f"\n[{case.size.label} / {case.database}] preparing a loaded database ...")
    with loaded_database(case, name, postgres_base, timeout) as (url, var_dir):
        say(f"  {case.setup}")
        env = child_env(url, var_dir)
        checked(run_child(manage("migrate", "--noinput", "-v0"), env=env, timeout=600), "migrate")
        say("  running the pipeline ...")
        with tempfile.TemporaryDirectory(prefix="bench_pipeline_result_") as folder:
            result_file = Path(folder) / "result.json"
            child = run_child(
                [PYTHON, str(Path(__file__).resolve()), "--child-pipeline", str(result_file)],
                env=env,
                timeout=timeout,
            )
            case.wall_seconds, case.peak_rss_mib = child.seconds, child.peak_rss_mib
            if result_file.is_file():
                case.result = json.loads(result_file.read_text())
        if child.returncode != 0 or "error" in case.result or not case.result:
            case.note = case.result.get("error") or f"exit {child.returncode}"
            say(f"  pipeline FAILED after {child.seconds:.1f}s: {case.note}\n{tail(child.stderr)}")
            return
        report_case(case)


def _probe_totals(
    probes: list[dict[str, Any]], step: str
) -> list[tuple[int, str, int, float, float, float]]:
    """(depth, label, calls, seconds, peak MiB after, RSS MiB after) per label nested in `step`,
    in call order; depth 1 = called by the step itself."""
    totals: dict[tuple[int, str], list[Any]] = {}
    inside = False
    for record in probes:
        if record["depth"] == 0:
            inside = record["label"] == step
            continue
        if not inside or "seconds" not in record:
            continue
        entry = totals.setdefault((record["depth"], record["label"]), [0, 0.0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += record["seconds"]
        entry[2] = max(entry[2], record["peak_mib"])
        entry[3] = record["rss_mib"]
    return [(depth, label, *values) for (depth, label), values in totals.items()]


def _step_seconds(case: Case, step: str) -> float:
    """The seconds the step's run row records."""
    return float(case.result.get("steps", {}).get(step, {}).get("seconds") or 0.0)


def _part_seconds(case: Case, step: str, label: str) -> float:
    """Seconds of the probed part `label` called directly by `step`."""
    parts = _probe_totals(case.result.get("probes", []), step)
    return sum(seconds for depth, name, _, seconds, _, _ in parts if depth == 1 and name == label)


def report_case(case: Case) -> None:
    r = case.result
    say(
        f"  {r['events']:,} events, {r['customers']:,} customers, {r['products']:,} products; "
        f"{r.get('usable', 0):,} usable after cleaning; features for "
        f"{r.get('featured_customers', 0):,} customers / {r.get('featured_products', 0):,} "
        f"products; {r.get('segments', 0)} segments (k={r.get('k')}), "
        f"{r.get('members', 0):,} memberships"
    )
    steps = sum(_step_seconds(case, step) for step in STEPS)
    say(
        f"  wall {case.wall_seconds:.1f}s = start-up {r['startup_seconds']:.1f}s + pipeline "
        f"{r['pipeline_seconds']:.1f}s (steps {steps:.1f}s by their run rows) + exit; "
        f"peak RSS {case.peak_rss_mib:,.0f} MiB"
    )
    say(f"  {'part':<30} {'calls':>5} {'seconds':>8} {'peak MiB':>9} {'RSS MiB':>8}  (after it)")
    probes = r.get("probes", [])
    for step in STEPS:
        step_probe = [p for p in probes if p["depth"] == 0 and p["label"] == step]
        peak = max((p.get("peak_mib", 0.0) for p in step_probe), default=0.0)
        rss = step_probe[-1].get("rss_mib", 0.0) if step_probe else 0.0
        say(
            f"  {step + ' (run row seconds)':<30} {'':>5} {_step_seconds(case, step):>8.1f} "
            f"{peak:>9,.0f} {rss:>8,.0f}"
        )
        parts = _probe_totals(probes, step)
        for depth, label, calls, seconds, peak, rss in parts:
            name = "  " * depth + label
            say(f"  {name:<30} {calls:>5} {seconds:>8.1f} {peak:>9,.0f} {rss:>8,.0f}")
        probed = sum(part[3] for part in parts if part[0] == 1)
        other = _step_seconds(case, step) - probed
        say(f"  {'  other (run rows, progress)':<30} {'':>5} {other:>8.1f}")


def print_table(cases: list[Case]) -> None:
    headers = [
        "size",
        "database",
        "events",
        "wall s",
        "peak RSS MiB",
        "clean s",
        "read",
        "rules",
        "write",
        "features s",
        "segment s",
        "RFM",
        "clusters",
        "members",
        "start-up s",
        "target",
    ]
    rows = []
    for case in cases:
        if not case.ok:
            reason = case.note or "not run"
            rows.append([case.size.label, case.database, reason] + [""] * (len(headers) - 3))
            continue
        r = case.result
        target = ""
        if case.size.events >= TARGET_EVENTS:
            met = case.wall_seconds < TARGET_SECONDS and case.peak_rss_mib < TARGET_RSS_MIB
            target = "met" if met else "MISSED"
        rows.append(
            [
                case.size.label,
                case.database,
                f"{r['events']:,}",
                f"{case.wall_seconds:.1f}",
                f"{case.peak_rss_mib:,.0f}",
                f"{_step_seconds(case, 'clean'):.1f}",
                f"{_part_seconds(case, 'clean', 'read raw events'):.1f}",
                f"{_part_seconds(case, 'clean', 'cleaning rules'):.1f}",
                f"{_part_seconds(case, 'clean', 'write Parquet'):.1f}",
                f"{_step_seconds(case, 'features'):.1f}",
                f"{_step_seconds(case, 'segment'):.1f}",
                f"{_part_seconds(case, 'segment', 'RFM'):.1f}",
                f"{_part_seconds(case, 'segment', 'clustering'):.1f}",
                f"{_part_seconds(case, 'segment', 'store members'):.1f}",
                f"{r['startup_seconds']:.1f}",
                target,
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.ljust(w) if i in (0, 1, 15) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say("\n" + line(headers))
    say("-+-".join("-" * w for w in widths))
    for r in rows:
        say(line(r))
    say()
    say("wall s       = wall time of the pipeline process (interpreter, Django start-up included)")
    say("peak RSS     = the pipeline process's own ru_maxrss")
    say("clean/features/segment s = the seconds each step's run row records (metrics.seconds)")
    say("read/rules/write = reading raw events, the cleaning rules, writing the clean Parquet")
    say("RFM/clusters/members = RFM scores, clustering (k by silhouette + final fit), storing")
    say("               the memberships; start-up s = process start to Django ready")
    say(f"target       = {TARGET_EVENTS:,} events in < {TARGET_SECONDS:.0f} s wall and "
        f"< {TARGET_RSS_MIB / 1024:.0f} GiB peak RSS")  # fmt: skip
    say("Setup per run:")
    for case in cases:
        say(f"  {case.size.label} / {case.database}: {case.setup or case.note or 'not run'}")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child-pipeline":
        return child_pipeline(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(SIZES),
        help=f"comma-separated sizes out of {', '.join(SIZES)} (default: all)",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        metavar="URL-BASE",
        help="PostgreSQL server (and role) to create throwaway databases on "
        "(default: $BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds allowed per pipeline run and per cache build (default 3600)",
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="build the cached databases, run nothing"
    )
    parser.add_argument(
        "--clear-cache", action="store_true", help="remove the cached databases and exit"
    )
    args = parser.parse_args()
    try:
        sizes = [SIZES[label.strip().lower()] for label in args.sizes.split(",") if label.strip()]
    except KeyError as exc:
        parser.error(f"unknown size {exc}; choose from {', '.join(SIZES)}")

    say("bench_pipeline: manage.py run_pipeline --sync --force (clean → features → segment)")
    say(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB, "  # noqa: E501
        f"{platform.platform()}"
    )
    databases = [] if args.skip_sqlite else ["sqlite"]
    if args.skip_postgres:
        say("PostgreSQL: skipped (--skip-postgres)")
    else:
        try:
            version = postgres_check(args.postgres)
        except Exception as exc:  # any failure to connect means: skip PostgreSQL
            say(f"PostgreSQL: skipped, cannot use {args.postgres}: {exc}".strip())
        else:
            say(f"PostgreSQL {version} at {args.postgres}")
            databases.append("postgres")
    if args.clear_cache:
        clear_cache(args.postgres, "postgres" in databases)
        return 0
    for size in sizes:
        say(
            f"Size {size.label}: {size.events:,} events, {size.customers:,} customers, "
            f"{size.products:,} products (generate_demo_data --seed {SEED}, 365 days, "
            f"12 categories); cache key {size.key}"
        )

    cases: list[Case] = []
    try:
        for size in sizes:
            for database in databases:
                case = Case(size=size, database=database)
                cases.append(case)
                try:
                    if args.setup_only:
                        say(f"\n[{size.label} / {database}] cache ...")
                        if database == "sqlite":
                            case.setup = sqlite_cache(size, args.timeout)[1]
                        else:
                            case.setup = postgres_template(size, args.postgres, args.timeout)[1]
                        case.note = "setup only"
                        say(f"  {case.setup}")
                    else:
                        run_case(case, args.postgres, args.timeout, len(cases))
                except Exception as exc:
                    case.note = f"error: {type(exc).__name__}: {exc}"
                    say(f"  {case.note}")
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        stop_children()
    print_table(cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
