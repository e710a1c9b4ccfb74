"""Feature runs: the clean frame of a cleaning run → customer and product features (artifacts)."""

from __future__ import annotations

import pandas as pd
from django.utils import timezone

from ecomsite.engine import clean_columns as cc
from ecomsite.models import CleaningRun
from ecomsite.services.artifacts import artifact_dir, frame_load, frame_save
from ecomsite.services.runs import ProgressReporter, run_claim, run_fail, run_succeed
from segments.engine.features import INPUT_COLUMNS, customer_features, product_features
from segments.models import FeatureRun

CUSTOMERS_FILE = "customers.parquet"
PRODUCTS_FILE = "products.parquet"


def feature_run_create(*, cleaning_run: CleaningRun) -> FeatureRun:
    return FeatureRun.objects.create(cleaning_run=cleaning_run)


def feature_run_execute(*, run_id: int, task_id: str = "") -> FeatureRun | None:
    """Compute features from the cleaning run's clean frame, as of its newest event.
    Idempotent: the artifacts are replaced wholesale."""
    run = run_claim(FeatureRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    report = ProgressReporter(run)
    started = timezone.now()
    try:
        report(0.05, "Reading the clean table", force=True)
        clean = frame_load(run.cleaning_run.artifact, columns=list(INPUT_COLUMNS))
        as_of = _as_of(clean)
        report(0.3, "Customer features", force=True)
        customers = customer_features(clean, as_of=as_of)
        report(0.7, "Product features", force=True)
        products = product_features(clean, as_of=as_of)
        folder = artifact_dir("features", run.pk)
        frame_save(customers, folder / CUSTOMERS_FILE, index=True)
        frame_save(products, folder / PRODUCTS_FILE, index=True)
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    run_succeed(
        run,
        message=f"{len(customers):,} customers, {len(products):,} products",
        as_of=as_of.to_pydatetime(),
        customers=len(customers),
        products=len(products),
        artifact_dir=str(folder),
        metrics={"seconds": round((timezone.now() - started).total_seconds(), 2)},
    )
    return run


def _as_of(clean: pd.DataFrame) -> pd.Timestamp:
    """Features are measured to just after the newest event (not today: a historical export
    would otherwise make every customer look lapsed)."""
    if clean.empty:
        return pd.Timestamp(timezone.now())
    return clean[cc.TIMESTAMP].max() + pd.Timedelta(seconds=1)


def customer_features_load(run: FeatureRun) -> pd.DataFrame:
    return frame_load(f"{run.artifact_dir}/{CUSTOMERS_FILE}")


def product_features_load(run: FeatureRun) -> pd.DataFrame:
    return frame_load(f"{run.artifact_dir}/{PRODUCTS_FILE}")
