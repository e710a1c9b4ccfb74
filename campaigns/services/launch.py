"""The launch: materialise a running campaign's recipients in batches, each with their top-k
products, and hand the treatment group's messages to the delivery backend (an ad audience is
written as CSV instead). Also the periodic sweep that launches scheduled campaigns, resumes
stalled launches and completes campaigns whose attribution window has ended.

Why a retried, redelivered or concurrent launch never duplicates anything:

* the run is claimed with a conditional update (ecomsite/services/runs.py run_claim), and
  between batches the task checks it still owns the run, so a superseded attempt stops;
* the audience is recomputed on the segmentation run and the launch time recorded at launch
  with the stored control seed, so every attempt materialises the same customers in the same
  groups; customers that already have a row are skipped;
* rows go in with INSERT ... ON CONFLICT DO NOTHING under the unique constraints (one recipient
  per campaign and customer, one message per recipient);
* a message is sent only by whoever moved it from queued to sent (services/delivery.py).

So a crash anywhere leaves a state the next attempt completes: it materialises the missing
recipients, queues the missing messages and delivers the queued ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignRunKind,
    CampaignStatus,
    Channel,
    OutboxMessage,
    OutboxStatus,
    RecipientGroup,
)
from campaigns.selectors import (
    ContentReader,
    campaign_audience,
    campaigns_due,
    content_reader,
    stored_products,
)
from campaigns.services.campaigns import (
    SYSTEM,
    campaign_complete,
    campaign_launch,
    campaign_unschedule,
)
from campaigns.services.delivery import (
    DeliveryBackend,
    DeliveryReport,
    ad_audience_path,
    ad_audience_write,
    delivery_backend,
    messages_deliver,
    messages_queue,
    recipients_sent_at_repair,
)
from ecomsite.exceptions import DomainError
from ecomsite.models import Customer, RunStatus
from ecomsite.services.runs import ProgressReporter, run_claim, run_fail, run_succeed

logger = logging.getLogger(__name__)

# Recipients per batch: 1,000 rows keep every statement (IN lists of customer ids, the insert,
# the model rows of the batch: about k x 2 x 1,000) far below SQLite's 32,766 bound parameters
# and a few MB of memory, a crash costs at most one batch's work, and progress (the liveness
# signal the sweep reads) is written every ~0.3 s: bench/bench_campaign_launch.py launches 100k
# recipients in about 30 s on SQLite, i.e. 100 batches.
BATCH_SIZE = 1_000
# A launch that has not reported progress for this long is presumed dead (its worker killed):
# the periodic sweep queues it again. Progress is written at least every batch (a second or so).
STALE_SECONDS_DEFAULT = 600


class LaunchStopped(Exception):
    """The attempt must stop: another attempt took the run over, or the campaign was cancelled."""

    def __init__(self, reason: str, *, cancelled: bool = False) -> None:
        super().__init__(reason)
        self.cancelled = cancelled


@dataclass
class _Counters:
    batches: int = 0
    materialised: int = 0
    queued: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


def campaign_launch_execute(*, run_id: int, task_id: str = "") -> CampaignRun | None:
    """Execute a launch run (idempotent; module docstring). Returns None when the run is finished
    or another attempt owns it."""
    run = run_claim(CampaignRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    if run.kind != CampaignRunKind.LAUNCH:
        run_fail(run, error=f"run #{run.pk} is not a launch")
        return run
    try:
        _launch(run, task_id=task_id)
    except LaunchStopped as stop:
        if stop.cancelled:
            run_fail(run, error=str(stop))
        else:
            logger.info("launch run #%s: %s", run.pk, stop)
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    return run


def _check(run: CampaignRun, task_id: str) -> None:
    status, owner, campaign_status = (
        CampaignRun.objects.filter(pk=run.pk)
        .values_list("status", "task_id", "campaign__status")
        .get()
    )
    if status != RunStatus.RUNNING or owner != task_id:
        raise LaunchStopped(f"superseded by task {owner or '(none)'} ({status})")
    if campaign_status == CampaignStatus.CANCELLED:
        raise LaunchStopped("The campaign was cancelled during its launch.", cancelled=True)


def _launch(run: CampaignRun, *, task_id: str) -> None:
    started = time.monotonic()
    campaign = Campaign.objects.select_related("segmentation_run").get(pk=run.campaign_id)
    _check(run, task_id)
    report = ProgressReporter(run)
    report(0.0, "Computing the audience", force=True)
    audience = campaign_audience(campaign)
    groups: dict[int, str] = dict.fromkeys(audience.treatment_ids, RecipientGroup.TREATMENT.value)
    groups.update(dict.fromkeys(audience.control_ids, RecipientGroup.CONTROL.value))
    existing = set(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", flat=True)
    )
    todo = sorted(pk for pk in groups if pk not in existing)
    reader = (
        content_reader(
            campaign,
            model_id=campaign.model_run_id,
            segmentation_run_id=campaign.segmentation_run_id,
        )
        if campaign.model_run_id
        else None
    )
    ad_audience = campaign.channel == Channel.AD_AUDIENCE
    backend = None if ad_audience else delivery_backend(campaign.channel)
    counters = _Counters()
    total = max(len(todo), 1)
    for start in range(0, len(todo), BATCH_SIZE):
        _check(run, task_id)
        batch = todo[start : start + BATCH_SIZE]
        _materialise(campaign, batch, groups, reader, backend, counters)
        done = start + len(batch)
        report(
            0.9 * done / total,
            f"{len(existing) + done:,} of {len(groups):,} recipients; "
            f"{counters.delivery.sent:,} messages sent",
        )

    # Sweeps: what an earlier attempt left half done (nothing in an uninterrupted launch).
    _check(run, task_id)
    artifact = ""
    if backend is not None:
        report(0.9, "Sending what is still queued", force=True)
        counters.queued += messages_queue(campaign=campaign)
        counters.delivery += _deliver_queued(campaign, backend, run=run, task_id=task_id)
        recipients_sent_at_repair(campaign=campaign)
    else:
        report(0.95, "Writing the ad audience", force=True)
        path = ad_audience_path(campaign)
        ad_audience_write(campaign=campaign, path=path)
        now = timezone.now()
        CampaignRecipient.objects.filter(
            campaign=campaign, group=RecipientGroup.TREATMENT, sent_at__isnull=True
        ).update(sent_at=now, updated_at=now)
        artifact = str(path)
    run_succeed(
        run,
        message="Launched",
        artifact=artifact,
        metrics=_metrics(campaign, audience_size=audience.size, counters=counters, backend=backend)
        | {
            "seconds": round(time.monotonic() - started, 3),
            "materialised_now": counters.materialised,
            "already_there": len(existing),
            "batches": counters.batches,
        },
    )


def _materialise(
    campaign: Campaign,
    batch: Sequence[int],
    groups: dict[int, str],
    reader: ContentReader | None,
    backend: DeliveryBackend | None,
    counters: _Counters,
) -> None:
    """One batch: recipients with their products, then the treatment group's messages queued
    and delivered."""
    countries = dict(Customer.objects.filter(pk__in=batch).values_list("pk", "country"))
    products = reader.read([(pk, countries.get(pk, "")) for pk in batch]) if reader else {}
    rows = [
        CampaignRecipient(
            campaign=campaign,
            customer_id=pk,
            group=groups[pk],
            products=stored_products(products.get(pk, [])),
        )
        for pk in batch
        if pk in countries  # a customer deleted since the audience was computed
    ]
    CampaignRecipient.objects.bulk_create(rows, batch_size=BATCH_SIZE, ignore_conflicts=True)
    counters.batches += 1
    counters.materialised += len(rows)
    if backend is None:
        return
    treated = CampaignRecipient.objects.filter(
        campaign=campaign, customer_id__in=list(batch), group=RecipientGroup.TREATMENT
    ).values_list("pk", flat=True)
    recipient_ids = list(treated)
    counters.queued += messages_queue(campaign=campaign, recipient_ids=recipient_ids)
    queued = OutboxMessage.objects.filter(
        recipient_id__in=recipient_ids, status=OutboxStatus.QUEUED
    ).values_list("pk", flat=True)
    counters.delivery += messages_deliver(message_ids=list(queued), backend=backend)


def _deliver_queued(
    campaign: Campaign, backend: DeliveryBackend, *, run: CampaignRun, task_id: str
) -> DeliveryReport:
    total = DeliveryReport()
    last = 0
    while True:
        ids = list(
            OutboxMessage.objects.filter(
                recipient__campaign=campaign, status=OutboxStatus.QUEUED, pk__gt=last
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            return total
        _check(run, task_id)
        last = ids[-1]
        total += messages_deliver(message_ids=ids, backend=backend)


def _metrics(
    campaign: Campaign,
    *,
    audience_size: int,
    counters: _Counters,
    backend: DeliveryBackend | None,
) -> dict[str, object]:
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    messages = OutboxMessage.objects.filter(recipient__campaign=campaign)
    return {
        "audience": audience_size,
        "recipients": recipients.count(),
        "treatment": recipients.filter(group=RecipientGroup.TREATMENT).count(),
        "control": recipients.filter(group=RecipientGroup.CONTROL).count(),
        "messages": messages.count(),
        "sent": messages.filter(status=OutboxStatus.SENT).count(),
        "failed": messages.filter(status=OutboxStatus.FAILED).count(),
        "backend": backend.name if backend else "ad_audience_csv",
        "sent_now": counters.delivery.sent,
        "failed_now": counters.delivery.failed,
    }


# -- the periodic sweep -------------------------------------------------------------------------


@dataclass
class DueReport:
    launched: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)


def stale_after(seconds: int | None = None) -> timedelta:
    if seconds is None:
        seconds = getattr(settings, "CAMPAIGN_LAUNCH_STALE_SECONDS", STALE_SECONDS_DEFAULT)
    return timedelta(seconds=seconds)


def campaigns_due_process(
    *, now: datetime | None = None, stale_seconds: int | None = None
) -> DueReport:
    """Beat's every-minute sweep:

    a. launch scheduled campaigns whose time has come (one whose launch is refused, e.g. its
       audience is now empty, goes back to draft with the reason in its audit log);
    b. queue again launch runs that stalled (no progress for CAMPAIGN_LAUNCH_STALE_SECONDS: the
       worker died, or the embedded broker lost the message with it);
    c. complete running campaigns whose launch succeeded and whose attribution window has ended
       (final results computed, status completed)."""
    now = now or timezone.now()
    report = DueReport()
    for campaign in campaigns_due(now=now):
        try:
            campaign_launch(campaign=campaign, user=None)
            report.launched.append(campaign.pk)
        except DomainError as exc:
            logger.warning("scheduled campaign #%s not launched: %s", campaign.pk, exc)
            campaign_unschedule(campaign=campaign, user=None, reason=f"Not launched: {exc}")
            report.refused.append(campaign.pk)
    report.resumed = launch_runs_resume_stalled(now=now, stale_seconds=stale_seconds)
    for campaign in Campaign.objects.filter(
        status=CampaignStatus.RUNNING,
        runs__kind=CampaignRunKind.LAUNCH,
        runs__status=RunStatus.SUCCEEDED,
    ).distinct():
        launched = campaign.launched_at
        if launched is None or launched + timedelta(days=campaign.attribution_days) > now:
            continue
        try:
            campaign_complete(campaign=campaign, user=None)
            report.completed.append(campaign.pk)
        except Exception:  # one campaign's results must not stop the others
            logger.exception("campaign #%s: results failed", campaign.pk)
    return report


def launch_runs_resume_stalled(
    *, now: datetime | None = None, stale_seconds: int | None = None
) -> list[int]:
    """Queue again the launch runs of running campaigns that have been pending or running
    without progress for longer than `stale_seconds` (default: CAMPAIGN_LAUNCH_STALE_SECONDS).
    The attempt that is still alive, if any,
    notices at its next batch that it no longer owns the run and stops."""
    from campaigns.tasks import campaign_launch_task

    now = now or timezone.now()
    resumed: list[int] = []
    stalled = CampaignRun.objects.filter(
        kind=CampaignRunKind.LAUNCH,
        status__in=[RunStatus.PENDING, RunStatus.RUNNING],
        campaign__status=CampaignStatus.RUNNING,
        updated_at__lt=now - stale_after(stale_seconds),
    ).values_list("pk", "updated_at")
    for pk, seen in list(stalled):
        with transaction.atomic():
            # Matches only if nobody touched the run since we looked (no double resume).
            taken = CampaignRun.objects.filter(pk=pk, updated_at=seen).update(
                status=RunStatus.PENDING,
                task_id="",
                progress_message="Resumed after stalling",
                updated_at=now,
            )
            if taken:
                campaign_launch_task.delay_on_commit(pk)
                resumed.append(pk)
    if resumed:
        logger.warning("resumed stalled campaign launch runs %s (%s)", resumed, SYSTEM)
    return resumed
