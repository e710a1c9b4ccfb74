"""Celery tasks of campaigns: thin wrappers that take a run id (or nothing) and call one service."""

import logging

from celery import shared_task

from campaigns.services.launch import campaign_launch_execute, campaigns_due_process

logger = logging.getLogger(__name__)

# A 100k-recipient launch takes about 30 s on SQLite (bench/bench_campaign_launch.py); an
# SMTP backend sends one message at a time and is the slow part. The hard limit stops a runaway;
# a killed attempt is resumed by the periodic sweep (and redelivered by Redis with late acks).
LAUNCH_SOFT_LIMIT = 2 * 60 * 60
LAUNCH_HARD_LIMIT = LAUNCH_SOFT_LIMIT + 300


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=LAUNCH_SOFT_LIMIT,
    time_limit=LAUNCH_HARD_LIMIT,
)
def campaign_launch_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    campaign_launch_execute(run_id=run_id, task_id=self.request.id or "")


@shared_task(ignore_result=True, soft_time_limit=10 * 60, time_limit=11 * 60)
def campaigns_due_process_task() -> None:
    """Beat's every-minute entry: launch scheduled campaigns whose time has come, queue stalled
    launches again, complete campaigns whose attribution window has ended."""
    report = campaigns_due_process()
    if report.launched or report.refused or report.resumed or report.completed:
        logger.info("campaigns due: %s", report)
