"""Celery tasks of the recommenders: thin wrappers that take a run id and call one service."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from ecomsite.exceptions import DomainError
from recommendations.models import ModelRun
from recommendations.services.precompute import model_run_promote_by_hand
from recommendations.services.training import training_run_execute, training_run_start

logger = logging.getLogger(__name__)

# A training round on the demo data takes minutes (tuning budgets are per algorithm, see
# RECOMMENDER_BUDGET_SECONDS); the hard limit only stops a runaway.
TRAINING_SOFT_LIMIT = 60 * 60
TRAINING_HARD_LIMIT = TRAINING_SOFT_LIMIT + 300
# A deep round fits each Keras model several times (search, held-out refit, refit on all data).
DEEP_TRAINING_SOFT_LIMIT = 4 * 60 * 60
# Precomputing top-N for every customer: seconds on the demo data, minutes on millions of rows.
PROMOTE_SOFT_LIMIT = 30 * 60
PROMOTE_HARD_LIMIT = PROMOTE_SOFT_LIMIT + 120


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=TRAINING_SOFT_LIMIT,
    time_limit=TRAINING_HARD_LIMIT,
)
def training_run_execute_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    training_run_execute(run_id, task_id=self.request.id or "")


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=DEEP_TRAINING_SOFT_LIMIT,
    time_limit=DEEP_TRAINING_SOFT_LIMIT + 300,
)
def deep_training_run_execute_task(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """A deep-model round: the same service, a longer limit (several Keras fits per model)."""
    training_run_execute(run_id, task_id=self.request.id or "")


@shared_task(ignore_result=True)
def deep_training_scheduled_task() -> None:
    """The weekly beat entry: a deep round on the newest cleaned data, unless a round is
    already running or nothing has been cleaned yet (then it says so in the log)."""
    try:
        run = training_run_start(deep=True)
    except DomainError as exc:
        logger.info("weekly deep training skipped: %s", exc)
    else:
        logger.info("weekly deep training #%s queued", run.pk)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=PROMOTE_SOFT_LIMIT,
    time_limit=PROMOTE_HARD_LIMIT,
)
def model_run_promote_task(  # type: ignore[no-untyped-def]
    self, model_run_id: int, user_id: int | None = None
) -> None:
    """Precompute a model run's rows (when pruned), then make it the serving model."""
    run = ModelRun.objects.get(pk=model_run_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    model_run_promote_by_hand(run, created_by=user)
