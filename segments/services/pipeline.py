"""The pipeline: clean → features → predict → segment → train, as a Celery chain of steps that
pass one run id. The predict step scores customers (segments/services/predictions.py) so rule
segments can use the scores; the train step's TrainingRun tunes, evaluates, precomputes and
promotes the recommenders (recommendations/services/training.py).

Each step creates (or resumes) its own run row and links it to the PipelineRun, so a retried
step redoes only itself; a failed step fails the pipeline and leaves the previous results as the
ones in use (selectors read the newest *succeeded* runs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from ecomsite.exceptions import DomainError
from ecomsite.models import BaseRun, RunStatus
from ecomsite.selectors.pipeline import events_data_version
from ecomsite.services.cleaning import cleaning_run_create, cleaning_run_execute
from ecomsite.services.runs import run_fail, run_succeed
from recommendations.services.training import training_run_create, training_run_execute
from segments.models import PipelineRun, PipelineTrigger

from .features import feature_run_create, feature_run_execute
from .predictions import prediction_run_create, prediction_run_execute
from .segmentation import segmentation_run_create, segmentation_run_execute

STEPS = ("clean", "features", "predict", "segment", "train")
# A pipeline that has not reported progress for this long is presumed dead (worker killed) and
# no longer blocks a new start.
STALE_AFTER = timedelta(hours=2)


class PipelineBusy(DomainError):
    status_code = 409


def pipeline_in_progress() -> PipelineRun | None:
    """A pending or running pipeline that reported progress recently."""
    return (
        PipelineRun.objects.filter(
            status__in=[RunStatus.PENDING, RunStatus.RUNNING],
            updated_at__gte=timezone.now() - STALE_AFTER,
        )
        .order_by("-pk")
        .first()
    )


def pipeline_last_completed() -> PipelineRun | None:
    return (
        PipelineRun.objects.filter(status=RunStatus.SUCCEEDED, skipped=False)
        .select_related("cleaning_run")
        .order_by("-finished_at", "-pk")
        .first()
    )


def pipeline_start(
    *,
    trigger: str,
    created_by: User | None = None,
    force: bool = False,
    sync: bool = False,
    until: str = STEPS[-1],
) -> PipelineRun:
    """Start a pipeline run, or record a skipped one when no event arrived since the last
    completed run (unless `force`). Async runs are enqueued after the transaction commits.
    `until` names the last step to run (e.g. "segment" refreshes segments without retraining).
    PipelineBusy while another pipeline is in progress (a double click starts one run)."""
    if until not in STEPS:
        raise ValueError(f"unknown pipeline step {until!r}; one of {', '.join(STEPS)}")
    steps = list(STEPS[: STEPS.index(until) + 1])
    busy = pipeline_in_progress()
    if busy is not None:
        raise PipelineBusy(f"Pipeline #{busy.pk} is still {busy.status}; wait for it to finish.")
    version = events_data_version()
    previous = pipeline_last_completed()
    if (
        not force
        and previous
        and previous.cleaning_run
        and previous.cleaning_run.data_version >= version
    ):
        now = timezone.now()
        return PipelineRun.objects.create(
            trigger=trigger,
            created_by=created_by,
            skipped=True,
            status=RunStatus.SUCCEEDED,
            progress=1.0,
            progress_message=f"Skipped: no new events since pipeline #{previous.pk}",
            params={"data_version": version},
            started_at=now,
            finished_at=now,
        )
    run = PipelineRun.objects.create(
        trigger=trigger,
        created_by=created_by,
        params={"data_version": version, "force": force, "steps": steps},
    )
    if sync:
        for step in steps:
            pipeline_step(pipeline_id=run.pk, step=step)
        run.refresh_from_db()
        return run
    from segments.tasks import pipeline_chain

    transaction.on_commit(lambda: pipeline_chain(run.pk, steps).apply_async())
    return run


def pipeline_step(*, pipeline_id: int, step: str, task_id: str = "") -> PipelineRun | None:
    """Run one step of a pipeline (idempotent). Returns None when the pipeline is finished."""
    pipeline = PipelineRun.objects.select_related(
        "cleaning_run", "feature_run", "prediction_run", "segmentation_run", "training_run"
    ).get(pk=pipeline_id)
    if pipeline.is_finished:
        return None
    if pipeline.status == RunStatus.PENDING:
        PipelineRun.objects.filter(pk=pipeline.pk, status=RunStatus.PENDING).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), task_id=task_id
        )
        pipeline.refresh_from_db()
    field, create, execute = _STEP_TABLE[step](pipeline)
    step_run: BaseRun | None = getattr(pipeline, field)
    if step_run is None:
        step_run = create()
        setattr(pipeline, field, step_run)
        pipeline.save(update_fields=[field, "updated_at"])
    if step_run.status != RunStatus.SUCCEEDED:
        try:
            execute(run_id=step_run.pk, task_id=task_id)
            step_run.refresh_from_db()
            if step_run.status != RunStatus.SUCCEEDED:
                raise RuntimeError(f"the {step} step's run #{step_run.pk} is {step_run.status}")
        except Exception as exc:
            run_fail(pipeline, error=f"{step} step failed: {exc}")
            raise
    steps = pipeline.params.get("steps") or list(STEPS)
    position = steps.index(step) + 1
    if position == len(steps):
        run_succeed(pipeline, message="Done")
    else:
        PipelineRun.objects.filter(pk=pipeline.pk).update(
            progress=position / len(steps),
            progress_message=f"{step} done",
            updated_at=timezone.now(),
        )
    return pipeline


StepSpec = tuple[str, Callable[[], BaseRun], Callable[..., object]]


def _clean(pipeline: PipelineRun) -> StepSpec:
    return (
        "cleaning_run",
        lambda: cleaning_run_create(up_to=pipeline.params.get("data_version")),
        cleaning_run_execute,
    )


def _features(pipeline: PipelineRun) -> StepSpec:
    assert pipeline.cleaning_run is not None
    cleaning = pipeline.cleaning_run
    return ("feature_run", lambda: feature_run_create(cleaning_run=cleaning), feature_run_execute)


def _predict(pipeline: PipelineRun) -> StepSpec:
    assert pipeline.feature_run is not None
    features = pipeline.feature_run
    return (
        "prediction_run",
        lambda: prediction_run_create(feature_run=features),
        prediction_run_execute,
    )


def _segment(pipeline: PipelineRun) -> StepSpec:
    assert pipeline.feature_run is not None
    features = pipeline.feature_run
    predictions = pipeline.prediction_run
    return (
        "segmentation_run",
        lambda: segmentation_run_create(feature_run=features, prediction_run=predictions),
        segmentation_run_execute,
    )


def _train(pipeline: PipelineRun) -> StepSpec:
    assert pipeline.cleaning_run is not None
    cleaning = pipeline.cleaning_run
    return (
        "training_run",
        lambda: training_run_create(cleaning, pipeline.created_by),
        training_run_execute,
    )


_STEP_TABLE: dict[str, Callable[[PipelineRun], StepSpec]] = {
    "clean": _clean,
    "features": _features,
    "predict": _predict,
    "segment": _segment,
    "train": _train,
}

__all__ = ["PipelineTrigger", "pipeline_start", "pipeline_step"]
