"""Benchmark `manage.py import_events`: wall time, rows/s, peak RSS, and idempotent re-import.

What it measures
----------------
For each dataset x database it creates a fresh, throwaway database, migrates it (not timed), then
runs ``python manage.py import_events FILE --format F --no-progress`` twice as child processes:

* the first run: wall seconds (process start to exit, Django start-up included), the seconds the
  command reports for the import itself, rows/s (rows read / wall seconds), the peak RSS of the
  import process, and accepted / duplicate / rejected counts parsed from the command's line
  "N rows read = A accepted + D duplicate + R rejected";
* the second run of the same file on the same database (re-import): its wall seconds, peak RSS
  and counts. Imports are keyed by idempotency key, so it should add 0 rows.

Peak RSS is per run: each import is its own child process, reaped with ``os.wait4``, whose rusage
``ru_maxrss`` is that child's own high-water mark (not the maximum over all children so far).

Datasets: ``real`` = data/online_retail_2010-12_2011-08.csv.gz (Online Retail format);
``synthetic`` = 1,000,000 generated events in the generic CSV format, written once to
var/bench/synthetic_1m_c20000_p3000_s1.csv.gz by ``manage.py generate_demo_data`` (reused after).

Databases: SQLite (a fresh file in a temp directory) and PostgreSQL (a fresh database
``bench_import_<pid>_<n>`` created on the server of ``--postgres`` / $BENCH_POSTGRES_URL, default
postgres://ecomsite:ecomsite@127.0.0.1:5432, dropped afterwards; skipped with a note when the
server cannot be reached). Only loopback servers are accepted.

Run it
------
    . .venv/bin/activate
    python bench/bench_import.py                    # both datasets, SQLite and PostgreSQL
    python bench/bench_import.py --skip-postgres    # SQLite only
    python bench/bench_import.py --only real --postgres postgres://u:p@127.0.0.1:5432

It prints a results table; it never asserts. Every database and child process it creates is removed
or stopped at the end, also on error or Ctrl-C. The default SQLite file db.sqlite3 is never used:
every child gets DATABASE_URL pointing at the throwaway database.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REAL_FILE = ROOT / "data" / "online_retail_2010-12_2011-08.csv.gz"
SYNTHETIC_DIR = ROOT / "var" / "bench"
SYNTHETIC_EVENTS = 1_000_000
SYNTHETIC_CUSTOMERS = 20_000
SYNTHETIC_PRODUCTS = 3_000
SYNTHETIC_SEED = 1
SYNTHETIC_FILE = SYNTHETIC_DIR / (
    f"synthetic_1m_c{SYNTHETIC_CUSTOMERS}_p{SYNTHETIC_PRODUCTS}_s{SYNTHETIC_SEED}.csv.gz"
)
DEFAULT_POSTGRES = "postgres://ecomsite:ecomsite@127.0.0.1:5432"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SUMMARY = re.compile(
    r"Import #(?P<id>\d+) \((?P<format>[^)]*)\) in (?P<seconds>[\d.]+)s: "
    r"(?P<read>[\d,]+) rows read = (?P<accepted>[\d,]+) accepted "
    r"\+ (?P<duplicate>[\d,]+) duplicate \+ (?P<rejected>[\d,]+) rejected"
)


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
class ImportResult:
    ok: bool
    wall_seconds: float
    command_seconds: float
    peak_rss_mib: float
    read: int
    accepted: int
    duplicate: int
    rejected: int
    error: str = ""


@dataclass
class Case:
    dataset: str
    database: str
    first: ImportResult | None = None
    second: ImportResult | None = None
    note: str = ""


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


def child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "ecomsite.settings",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    env.pop("REDIS_URL", None)  # an import needs no broker or cache server
    return env


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


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


@contextlib.contextmanager
def fresh_database(kind: str, name: str, postgres_base: str) -> Iterator[str]:
    """Yield the DATABASE_URL of a new empty database; remove it afterwards."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"{name}_"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    import psycopg

    admin = postgres_admin_url(postgres_base, "postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_admin_url(postgres_base, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- The benchmark --------------------------------------------------------------------------------


def ensure_synthetic(timeout: float) -> None:
    if SYNTHETIC_FILE.is_file():
        say(f"Synthetic file: {SYNTHETIC_FILE.relative_to(ROOT)} (already there, reused)")
        return
    SYNTHETIC_DIR.mkdir(parents=True, exist_ok=True)
    partial = SYNTHETIC_DIR / f".partial-{os.getpid()}-{SYNTHETIC_FILE.name}"
    say(f"Generating {SYNTHETIC_EVENTS:,} events into {SYNTHETIC_FILE.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory(prefix="bench_gen_") as folder:
        # generate_demo_data --output writes only the file; the throwaway URL keeps Django
        # away from db.sqlite3 all the same.
        env = child_env(f"sqlite:///{Path(folder) / 'unused.sqlite3'}")
        try:
            result = run_child(
                manage(
                    "generate_demo_data",
                    "--events",
                    str(SYNTHETIC_EVENTS),
                    "--customers",
                    str(SYNTHETIC_CUSTOMERS),
                    "--products",
                    str(SYNTHETIC_PRODUCTS),
                    "--seed",
                    str(SYNTHETIC_SEED),
                    "--output",
                    str(partial),
                    "--no-progress",
                ),  # fmt: skip
                env=env,
                timeout=timeout,
            )
            if result.returncode != 0:
                raise RuntimeError(f"generate_demo_data failed:\n{tail(result.stderr)}")
            partial.replace(SYNTHETIC_FILE)
        finally:
            partial.unlink(missing_ok=True)
    say(f"  generated in {result.seconds:.1f}s, peak RSS {result.peak_rss_mib:.0f} MiB")


def run_import(path: Path, file_format: str, database_url: str, timeout: float) -> ImportResult:
    env = child_env(database_url)
    result = run_child(
        manage("import_events", str(path), "--format", file_format, "--no-progress"),
        env=env,
        timeout=timeout,
    )
    match = SUMMARY.search(result.stdout)
    if result.returncode != 0 or match is None:
        return ImportResult(
            ok=False,
            wall_seconds=result.seconds,
            command_seconds=0.0,
            peak_rss_mib=result.peak_rss_mib,
            read=0,
            accepted=0,
            duplicate=0,
            rejected=0,
            error=f"exit {result.returncode}\n{tail(result.stdout)}\n{tail(result.stderr)}",
        )

    def number(name: str) -> int:
        return int(match.group(name).replace(",", ""))

    return ImportResult(
        ok=True,
        wall_seconds=result.seconds,
        command_seconds=float(match.group("seconds")),
        peak_rss_mib=result.peak_rss_mib,
        read=number("read"),
        accepted=number("accepted"),
        duplicate=number("duplicate"),
        rejected=number("rejected"),
    )


def run_case(
    case: Case, path: Path, file_format: str, postgres_base: str, timeout: float, index: int
) -> None:
    name = f"bench_import_{os.getpid()}_{index}"
    say(f"\n[{case.dataset} / {case.database}] fresh database, migrating ...")
    with fresh_database(case.database, name, postgres_base) as url:
        migrated = run_child(manage("migrate", "--noinput", "-v0"), env=child_env(url), timeout=600)
        if migrated.returncode != 0:
            case.note = f"migrate failed: {tail(migrated.stderr, 3)}"
            say(f"  {case.note}")
            return
        say(f"  migrated in {migrated.seconds:.1f}s; importing {path.name} ...")
        case.first = run_import(path, file_format, url, timeout)
        report_run("import", case.first)
        say("  importing the same file again ...")
        case.second = run_import(path, file_format, url, timeout)
        report_run("re-import", case.second)


def report_run(label: str, r: ImportResult) -> None:
    if not r.ok:
        say(f"  {label} FAILED after {r.wall_seconds:.1f}s:\n{r.error}")
        return
    say(
        f"  {label}: {r.wall_seconds:.1f}s wall ({r.command_seconds:.1f}s in the command), "
        f"{r.read:,} rows = {r.accepted:,} accepted + {r.duplicate:,} duplicate "
        f"+ {r.rejected:,} rejected, peak RSS {r.peak_rss_mib:.0f} MiB"
    )


def print_table(cases: list[Case]) -> None:
    headers = [
        "dataset",
        "database",
        "rows",
        "seconds",
        "rows/s",
        "peak RSS MiB",
        "acc / dup / rej",
        "cmd s",
        "re-import s",
        "re-import acc / dup / rej",
        "re-import RSS MiB",
    ]
    rows = []
    for case in cases:
        first, second = case.first, case.second
        if first is None or not first.ok:
            reason = case.note or "import failed (see above)"
            rows.append([case.dataset, case.database, reason] + [""] * (len(headers) - 3))
            continue
        cells = [
            case.dataset,
            case.database,
            f"{first.read:,}",
            f"{first.wall_seconds:.1f}",
            f"{first.read / first.wall_seconds:,.0f}",
            f"{first.peak_rss_mib:.0f}",
            f"{first.accepted:,} / {first.duplicate:,} / {first.rejected:,}",
            f"{first.command_seconds:.1f}",
        ]
        if second is not None and second.ok:
            cells += [
                f"{second.wall_seconds:.1f}",
                f"{second.accepted:,} / {second.duplicate:,} / {second.rejected:,}",
                f"{second.peak_rss_mib:.0f}",
            ]
        else:
            cells += ["failed", "", ""]
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric = {2, 3, 4, 5, 7, 8, 10}

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say("\n" + line(headers))
    say("-+-".join("-" * w for w in widths))
    for r in rows:
        say(line(r))
    say()
    say("seconds = wall time of the import process (Django start-up included)")
    say("rows/s  = rows read / seconds; peak RSS = the import process's own ru_maxrss")
    say("cmd s   = the import's own duration as the command reports it")
    say("acc / dup / rej = accepted / duplicate / rejected rows")
    say("A re-import of the same file should add 0 rows (all duplicate, or rejected as before).")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["real", "synthetic"], help="one dataset only")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        metavar="URL-BASE",
        help="PostgreSQL server (and role) to create throwaway databases on "
        "(default: $BENCH_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds allowed per import (default 3600)"
    )
    args = parser.parse_args()

    say("bench_import: manage.py import_events")
    say(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    databases = ["sqlite"]
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

    datasets: list[tuple[str, Path, str]] = []
    if args.only in (None, "real"):
        datasets.append(("real (Online Retail)", REAL_FILE, "online-retail"))
    if args.only in (None, "synthetic"):
        datasets.append(("synthetic 1M", SYNTHETIC_FILE, "csv"))

    cases: list[Case] = []
    try:
        if args.only in (None, "synthetic"):
            ensure_synthetic(args.timeout)
        for dataset, path, file_format in datasets:
            mib = path.stat().st_size / 2**20
            say(f"\nDataset {dataset}: {path.relative_to(ROOT)} ({mib:.1f} MiB, {file_format})")
            for database in databases:
                case = Case(dataset=dataset, database=database)
                cases.append(case)
                try:
                    run_case(case, path, file_format, args.postgres, args.timeout, len(cases))
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
