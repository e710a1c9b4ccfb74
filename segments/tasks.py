"""Celery tasks of the pipeline: thin wrappers that take the pipeline run id."""

import logging

from celery import chain, shared_task
from celery.canvas import Signature

from segments.models import PipelineTrigger
from segments.services.pipeline import PipelineBusy, pipeline_start, pipeline_step

logger = logging.getLogger(__name__)

# A step on 10M events takes minutes; the hard limit only stops a runaway.
STEP_SOFT_LIMIT = 60 * 60
STEP_HARD_LIMIT = STEP_SOFT_LIMIT + 300
STEP_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "ignore_result": True,
    "soft_time_limit": STEP_SOFT_LIMIT,
    "time_limit": STEP_HARD_LIMIT,
}


@shared_task(**STEP_OPTIONS)
def pipeline_clean_task(self, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    pipeline_step(pipeline_id=pipeline_id, step="clean", task_id=self.request.id or "")


@shared_task(**STEP_OPTIONS)
def pipeline_features_task(self, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    pipeline_step(pipeline_id=pipeline_id, step="features", task_id=self.request.id or "")


@shared_task(**STEP_OPTIONS)
def pipeline_predict_task(self, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    """Predictive customer scores (lifetime value, churn risk, next order) with intervals."""
    pipeline_step(pipeline_id=pipeline_id, step="predict", task_id=self.request.id or "")


@shared_task(**STEP_OPTIONS)
def pipeline_segment_task(self, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    pipeline_step(pipeline_id=pipeline_id, step="segment", task_id=self.request.id or "")


@shared_task(**STEP_OPTIONS)
def pipeline_train_task(self, pipeline_id: int) -> None:  # type: ignore[no-untyped-def]
    """Train, evaluate, precompute and promote the recommenders (one TrainingRun)."""
    pipeline_step(pipeline_id=pipeline_id, step="train", task_id=self.request.id or "")


STEP_TASKS = {
    "clean": pipeline_clean_task,
    "features": pipeline_features_task,
    "predict": pipeline_predict_task,
    "segment": pipeline_segment_task,
    "train": pipeline_train_task,
}


def pipeline_chain(pipeline_id: int, steps: list[str] | None = None) -> Signature:
    return chain(*(STEP_TASKS[step].si(pipeline_id) for step in steps or STEP_TASKS))


@shared_task(ignore_result=True)
def pipeline_scheduled_task() -> None:
    """Beat's nightly entry: starts the pipeline unless no new events arrived or one is still
    in progress."""
    try:
        pipeline_start(trigger=PipelineTrigger.SCHEDULE)
    except PipelineBusy as exc:
        logger.info("scheduled pipeline not started: %s", exc)
