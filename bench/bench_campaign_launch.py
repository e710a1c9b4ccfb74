"""Benchmark a 100k-recipient campaign launch through a real Celery worker, killed mid-launch.

What it does
------------
1. A database: a fresh SQLite file in a temp directory (default), a kept one with
   ``--reuse PATH`` (built on first use, reused after: the build takes a minute or two), or
   with ``--database-url postgres://user:pass@127.0.0.1:5432`` a new PostgreSQL database there,
   dropped at the end. Migrated, then filled directly in the tables (as bench/bench_serving.py
   does: no import, no training): ``--customers`` customers (default 100,000) in 10 countries,
   every one consenting to email with an address; a succeeded segmentation run with one
   segment holding all of them (plus 10 RFM segments for the fallbacks); 3,000 products in 12
   categories; a served model with ``--top-n`` (10) precomputed recommendations per customer
   except for 10% who are new to the model (their products come from the fallback lists).
2. Celery: a worker (``--pool=solo``, as ./run.sh starts it) and beat (django-celery-beat's
   database scheduler) as separate processes, on the embedded filesystem broker in a private
   folder, or on Redis when REDIS_URL is set. The campaigns sweep (launch due campaigns, resume
   stalled launches) runs every ``--sweep-seconds`` (10) instead of every minute, and a launch
   is presumed dead after ``--stale-seconds`` (15) without progress instead of 10 minutes: the
   only settings changed, so the recovery shows within the run.
3. ``clean`` phase: an email campaign over the segment (10% control, 4 products each, outbox
   backend) launched through ``campaign_launch``; the time from the launch call to the launch
   run's success is the launch time.
4. ``kill`` phase: the same campaign again (a new one); when ``--kill-at`` (40%) of its
   recipients exist the worker gets SIGKILL; a new worker is started at once. The filesystem
   broker loses the killed worker's message (Redis would redeliver it after its visibility
   timeout, an hour by default), so the launch is resumed by the sweep once it is stale; the
   resumed attempt materialises the missing recipients, queues the missing messages and sends
   the queued ones.
5. For each phase: wall time, recipients / treatment / control / messages / sent counts, and the
   duplicate checks: recipients per (campaign, customer) and messages per recipient with
   GROUP BY ... HAVING COUNT(*) > 1 (must be 0), recipients == the audience size computed at
   launch, messages == sent == treatment, no message for a control recipient.

It prints figures and never asserts (a measurement). Every process it starts is stopped at the
end, also on error or Ctrl-C.

Run it
------
    . .venv/bin/activate
    python bench/bench_campaign_launch.py                       # SQLite, 100k customers
    python bench/bench_campaign_launch.py --reuse /tmp/campaign_bench.sqlite3
    python bench/bench_campaign_launch.py --database-url postgres://ecomsite:ecomsite@127.0.0.1:5432
    python bench/bench_campaign_launch.py --customers 20000 --phases kill
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_api's helpers

from bench_api import PYTHON, ROOT, fresh_database, manage, say, server_env  # noqa: E402

PRODUCTS = 3_000
CATEGORIES = 12
COUNTRIES = 10
RFM_SEGMENTS = 10
LIST_N = 50
NEW_CUSTOMER_SHARE = 0.10
INSERT_CHUNK = 50_000
SEGMENT_NAME = "Bench audience"
MARKER = "bench_campaign_launch"  # in the segment's description: the database is built


# --- Data -----------------------------------------------------------------------------------------


def build(customers: int, top_n: int, seed: int) -> None:
    """Fill the migrated, empty database Django is configured for (module docstring, step 1)."""
    from django.db import transaction
    from django.utils import timezone

    from ecomsite.models import CleaningRun, Customer, Product, RunStatus
    from ecomsite.services.bulk import analyze_tables, insert_ignoring_conflicts
    from recommendations.models import ModelRun, PopularList, Recommendation, TrainingRun
    from recommendations.services.registry import model_promote
    from segments.models import (
        FeatureRun,
        Segment,
        SegmentationRun,
        SegmentKind,
        SegmentMembership,
    )

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
                )
                for i in range(PRODUCTS)
            ),
            batch_size=2_000,
        )
        Customer.objects.bulk_create(
            (
                Customer(
                    external_id=f"B{i:06d}",
                    country=countries[i % COUNTRIES],
                    email_consent=True,
                    attributes={"email": f"b{i:06d}@example.com"},
                )
                for i in range(customers)
            ),
            batch_size=5_000,
        )
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    customer_ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))

    def insert(model: object, fields: tuple[str, ...], rows: list[tuple[object, ...]],
               key: tuple[str, ...]) -> None:  # fmt: skip
        for start in range(0, len(rows), INSERT_CHUNK):
            with transaction.atomic():
                insert_ignoring_conflicts(model, fields, rows[start : start + INSERT_CHUNK],  # type: ignore[arg-type]
                                          conflict=key)  # fmt: skip

    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED, finished_at=now)
    features = FeatureRun.objects.create(cleaning_run=cleaning, status=RunStatus.SUCCEEDED)
    segmentation = SegmentationRun.objects.create(
        feature_run=features, status=RunStatus.SUCCEEDED, finished_at=now
    )
    audience = Segment.objects.create(kind=SegmentKind.RULE, name=SEGMENT_NAME, description=MARKER)
    rfm = [
        Segment.objects.create(kind=SegmentKind.RFM, name=f"RFM {i + 1}")
        for i in range(RFM_SEGMENTS)
    ]
    fields = ("run", "segment", "customer", "created_at", "updated_at")
    key = ("run", "segment", "customer")
    insert(SegmentMembership, fields, [(segmentation.pk, audience.pk, pk, now, now)
                                       for pk in customer_ids], key)  # fmt: skip
    insert(SegmentMembership, fields, [(segmentation.pk, rfm[i % RFM_SEGMENTS].pk, pk, now, now)
                                       for i, pk in enumerate(customer_ids)], key)  # fmt: skip

    training = TrainingRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, finished_at=now
    )
    model = ModelRun.objects.create(
        training_run=training,
        cleaning_run=cleaning,
        algorithm="blend",
        status=RunStatus.SUCCEEDED,
        customers=customers,
        products=PRODUCTS,
    )
    reasons = ["you bought this before", "often bought with Product 12", "customers like you"]
    rows: list[tuple[object, ...]] = []
    fields = ("model_run", "customer", "rank", "product", "score", "reason")
    key = ("model_run", "customer", "rank")
    for pk in customer_ids:
        if rng.random() < NEW_CUSTOMER_SHARE:
            continue
        for rank, product in enumerate(rng.sample(product_ids, top_n), start=1):
            rows.append((model.pk, pk, rank, product, 1.0 / rank, rng.choice(reasons)))
        if len(rows) >= 200_000:
            insert(Recommendation, fields, rows, key)
            rows = []
    insert(Recommendation, fields, rows, key)
    scopes = ["all", "trending", *(f"country:{c}" for c in countries)]
    scopes += [f"segment:{s.pk}" for s in rfm]
    popular = [
        (model.pk, scope, rank, product, 1.0 / rank)
        for scope in scopes
        for rank, product in enumerate(rng.sample(product_ids, LIST_N), start=1)
    ]
    insert(PopularList, ("model_run", "scope", "rank", "product", "score"), popular,
           ("model_run", "scope", "rank"))  # fmt: skip
    ModelRun.objects.filter(pk=model.pk).update(precomputed=True)
    model.refresh_from_db()
    model_promote(model, reason=MARKER)
    analyze_tables(Customer, SegmentMembership, Recommendation, PopularList)


def built() -> bool:
    from segments.models import Segment

    return Segment.objects.filter(name=SEGMENT_NAME, description=MARKER).exists()


def shorten_sweep(seconds: int) -> None:
    """The campaigns sweep's beat entry every `seconds` instead of every minute."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.filter(task="campaigns.tasks.campaigns_due_process_task").update(
        interval=schedule, crontab=None, enabled=True, last_run_at=None
    )
    # Other beat entries (the nightly pipeline) stay out of the measurement.
    PeriodicTask.objects.exclude(task="campaigns.tasks.campaigns_due_process_task").update(
        enabled=False
    )


# --- Celery processes -----------------------------------------------------------------------------


class Celery:
    """A worker and beat as child processes in their own session (stopped by their ids)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.worker: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None
        self.workers_started = 0

    def _start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        handle = (self.log_dir / log).open("ab")
        return subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "ecomsite", *args],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self) -> None:
        self.workers_started += 1
        self.worker = self._start(
            [
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench{self.workers_started}@%h",
            ],  # fmt: skip
            "worker.log",
        )

    def start_beat(self) -> None:
        schedule = self.log_dir / "beat-schedule"
        self.beat = self._start(
            [
                "beat",
                "--loglevel=INFO",
                "-S",
                "django_celery_beat.schedulers:DatabaseScheduler",
                f"--schedule={schedule}",
                "--pidfile=",
            ],  # fmt: skip
            "beat.log",
        )

    def kill_worker(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=30)

    def stop(self) -> None:
        for process in (self.worker, self.beat):
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextlib.contextmanager
def celery_processes(env: dict[str, str], log_dir: Path) -> Iterator[Celery]:
    celery = Celery(env, log_dir)
    try:
        yield celery
    finally:
        celery.stop()


# --- Phases ---------------------------------------------------------------------------------------


def new_campaign(name: str) -> object:
    from campaigns.services.campaigns import campaign_create
    from segments.models import Segment

    segment = Segment.objects.get(name=SEGMENT_NAME)
    return campaign_create(
        user=None,
        data={
            "name": name,
            "subject": "New in for you",
            "message": "Picked for you:",
            "include_segments": [segment.pk],
            "control_share": 0.1,
            "content_k": 4,
        },
    )


def counts(campaign_id: int) -> dict[str, int]:
    from django.db import connection

    from campaigns.models import CampaignRecipient, OutboxMessage

    recipients = CampaignRecipient.objects.filter(campaign_id=campaign_id)
    messages = OutboxMessage.objects.filter(recipient__campaign_id=campaign_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT customer_id FROM campaigns_campaignrecipient "
            "WHERE campaign_id = %s GROUP BY customer_id HAVING COUNT(*) > 1) d",
            [campaign_id],
        )
        duplicate_recipients = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT m.recipient_id FROM campaigns_outboxmessage m "
            "JOIN campaigns_campaignrecipient r ON r.id = m.recipient_id WHERE r.campaign_id = %s "
            "GROUP BY m.recipient_id HAVING COUNT(*) > 1) d",
            [campaign_id],
        )
        duplicate_messages = cursor.fetchone()[0]
    return {
        "recipients": recipients.count(),
        "treatment": recipients.filter(group="treatment").count(),
        "control": recipients.filter(group="control").count(),
        "messages": messages.count(),
        "sent": messages.filter(status="sent").count(),
        "failed": messages.filter(status="failed").count(),
        "control_messages": messages.filter(recipient__group="control").count(),
        "recipients_sent": recipients.filter(sent_at__isnull=False).count(),
        "duplicate_recipients": duplicate_recipients,
        "duplicate_messages": duplicate_messages,
    }


def run_phase(celery: Celery, *, name: str, kill_at: float | None, timeout: float) -> None:
    from campaigns.models import CampaignRecipient, CampaignRun
    from campaigns.services.campaigns import campaign_launch

    campaign = new_campaign(f"Bench {name}")
    started = time.monotonic()
    run = campaign_launch(campaign=campaign, user=None)  # type: ignore[arg-type]
    audience = int(run.params["audience"])
    say(
        f"[{name}] launched campaign #{campaign.pk}: audience {audience:,} "  # type: ignore[attr-defined]
        f"({run.params['treatment']:,} treatment, {run.params['control']:,} control)"
    )
    killed_at = restarted_at = None
    claims: list[tuple[float, str]] = []
    deadline = started + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.started_at and (not claims or claims[-1][1] != run.task_id) and run.task_id:
            claims.append((time.monotonic() - started, run.task_id))
        if run.status in ("succeeded", "failed"):
            break
        if kill_at is not None and killed_at is None:
            made = CampaignRecipient.objects.filter(campaign=campaign).count()
            if made >= kill_at * audience:
                celery.kill_worker()
                killed_at = time.monotonic() - started
                at_kill = counts(campaign.pk)  # type: ignore[attr-defined]
                say(
                    f"[{name}] SIGKILL to the worker at {killed_at:.1f}s: "
                    f"{at_kill['recipients']:,} recipients, {at_kill['messages']:,} messages, "
                    f"{at_kill['sent']:,} sent"
                )
                celery.start_worker()
                restarted_at = time.monotonic() - started
                say(f"[{name}] new worker started at {restarted_at:.1f}s")
        time.sleep(0.2)
    wall = time.monotonic() - started
    run = CampaignRun.objects.get(pk=run.pk)
    if run.status != "succeeded":
        say(f"[{name}] NOT FINISHED after {wall:.0f}s: {run.status} {run.error[:300]}")
    figures = counts(campaign.pk)  # type: ignore[attr-defined]
    say(f"[{name}] launch run {run.status} in {wall:.1f}s (launch call to success)")
    for at, task in claims:
        say(f"[{name}]   claimed at {at:.1f}s by task {task}")
    if run.metrics:
        say(
            f"[{name}]   last attempt: {run.metrics.get('seconds')}s, materialised "
            f"{run.metrics.get('materialised_now'):,} (already there "
            f"{run.metrics.get('already_there'):,}), sent {run.metrics.get('sent_now'):,}"
        )
        say(f"[{name}]   throughput: {audience / wall:,.0f} recipients/s over the whole launch")
    say(
        f"[{name}] recipients {figures['recipients']:,} (treatment {figures['treatment']:,}, "
        f"control {figures['control']:,}); messages {figures['messages']:,}, sent "
        f"{figures['sent']:,}, failed {figures['failed']:,}"
    )
    say(
        f"[{name}] duplicates: recipients per customer > 1: {figures['duplicate_recipients']}, "
        f"messages per recipient > 1: {figures['duplicate_messages']}"
    )
    checks = {
        "recipients == audience": figures["recipients"] == audience,
        "messages == treatment": figures["messages"] == figures["treatment"],
        "sent == treatment": figures["sent"] == figures["treatment"],
        "no message to control": figures["control_messages"] == 0,
        "treated recipients marked sent": figures["recipients_sent"] == figures["treatment"],
        "no duplicates": figures["duplicate_recipients"] == figures["duplicate_messages"] == 0,
    }
    say(f"[{name}] " + "; ".join(f"{k}: {'yes' if ok else 'NO'}" for k, ok in checks.items()))


# --- Main -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    if args.reuse:
        path = Path(args.reuse).resolve()
        yield f"sqlite:///{path}", f"SQLite file {path} (kept)"
        return
    with fresh_database(args.database_url) as found:
        yield found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--top-n", type=int, default=10, help="model rows per customer")
    parser.add_argument("--database-url", help="postgres://user:pass@127.0.0.1:5432[/new_name]")
    parser.add_argument("--reuse", help="a SQLite file to build once and reuse")
    parser.add_argument("--phases", default="clean,kill", help="clean,kill (default both)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of recipients")
    parser.add_argument("--sweep-seconds", type=int, default=10)
    parser.add_argument("--stale-seconds", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per phase (seconds)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.reuse and args.database_url:
        parser.error("--reuse is for SQLite; --database-url makes a fresh PostgreSQL database")
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]

    say("bench_campaign_launch: a campaign launch through a real Celery worker")
    say(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    say(f"Load average before: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bench_campaign_"))
    try:
        with contextlib.ExitStack() as stack:
            database_url, description = stack.enter_context(database(args))
            say(f"Database: {description}")
            env = server_env(database_url)
            redis_url = os.environ.get("REDIS_URL", "")
            if redis_url:
                env["REDIS_URL"] = redis_url
            env.update(
                {
                    "ECOMSITE_VAR_DIR": str(work / "var"),  # private broker folder, artifacts
                    "CAMPAIGN_LAUNCH_STALE_SECONDS": str(args.stale_seconds),
                    "DJANGO_LOG_LEVEL": "INFO",
                }
            )
            say(
                "Broker: "
                + (f"Redis ({redis_url})" if redis_url else f"filesystem under {work / 'var'}")
            )
            manage(env, "migrate", "--noinput", "-v0")
            os.environ.update(env)
            if not redis_url:
                os.environ.pop("REDIS_URL", None)
            sys.path.insert(0, str(ROOT))
            import django

            django.setup()
            if built():
                say("Data: reused")
            else:
                started = time.monotonic()
                build(args.customers, args.top_n, args.seed)
                say(
                    f"Data: {args.customers:,} consenting customers in one segment, "
                    f"{args.top_n} recommendations each for {1 - NEW_CUSTOMER_SHARE:.0%} of them "
                    f"(built in {time.monotonic() - started:.0f}s)"
                )
            shorten_sweep(args.sweep_seconds)
            say(
                f"Sweep every {args.sweep_seconds}s, launches stale after {args.stale_seconds}s "
                "without progress"
            )
            from django.db import connections

            connections.close_all()
            log_dir = work / "logs"
            log_dir.mkdir()
            celery = stack.enter_context(celery_processes(env, log_dir))
            celery.start_worker()
            celery.start_beat()
            for phase in phases:
                run_phase(
                    celery,
                    name=phase,
                    kill_at=args.kill_at if phase == "kill" else None,
                    timeout=args.timeout,
                )
                connections.close_all()
            say(f"Load average after: {os.getloadavg()}")
            celery.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
