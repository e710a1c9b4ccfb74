"""A small synthetic shop trained through the pipeline, for the training and export tests.

300 customers, 80 products, 6,000 events over 2024 (seed 1): about 110 customers buy, enough for
a 91-day held-out period and a 42-day validation period. Settings keep the round to a second or
two: one configuration per algorithm, top-10 lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecomsite.engine.synthetic import SyntheticParams
from ecomsite.models import RunStatus
from ecomsite.services.synthetic import synthetic_events_store
from segments.models import PipelineRun, PipelineTrigger
from segments.services.pipeline import pipeline_start

TOP_N = 10
EVERY_ALGORITHM = {
    "popularity",
    "repeat",
    "item_knn",
    "user_knn",
    "als",
    "bpr",
    "ease",
    "blend",
    "blend+trend",
}


def small_training_settings(settings: Any, tmp_path: Path) -> None:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.RECOMMENDER_ALGORITHMS = []
    settings.RECOMMENDER_MAX_TRIALS = 1
    settings.RECOMMENDER_BUDGET_SECONDS = 5.0
    settings.RECOMMENDER_HOLDOUT_DAYS = 91
    settings.RECOMMENDER_VALIDATION_DAYS = 42
    settings.RECOMMENDATIONS_TOP_N = TOP_N


def shop_events(*, seed: int = 1, events: int = 6_000, start: str = "2024-01-01") -> None:
    synthetic_events_store(
        params=SyntheticParams(
            customers=300, products=80, events=events, seed=seed, start=start, days=365
        )
    )


def trained_pipeline() -> PipelineRun:
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run
