"""Prediction runs: the purchases of a feature run's clean table → predictive customer scores
(segments/engine/predictive.py), stored per customer (CustomerScore), as an artifact joined to the
features for rule segments, and with a backtest of the same model on an earlier cut in metrics."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecomsite.engine import clean_columns as cc
from ecomsite.services.artifacts import artifact_dir, frame_load, frame_save
from ecomsite.services.bulk import insert_ignoring_conflicts
from ecomsite.services.runs import ProgressReporter, run_claim, run_fail, run_succeed
from segments.engine import predictive
from segments.models import CustomerScore, FeatureRun, PredictionRun

SCORES_FILE = "scores.parquet"
# The scores joined to the customer features (rule segments, profiles): column names there.
SCORE_FEATURES = (
    "clv",
    "expected_orders",
    "churn_risk",
    "p_alive",
    "expected_order_value",
    "next_order_days",
)
# Every score with an 80% parameter interval (``_lo``/``_hi``), in display order.
INTERVAL_SCORES = (
    "expected_orders",
    "clv",
    "expected_order_value",
    "p_alive",
    "churn_risk",
    "next_order_days",
)
_INTERVAL_COLUMNS = tuple(
    f"{name}{suffix}" for name in INTERVAL_SCORES for suffix in ("", "_lo", "_hi")
)
SCORE_FIELDS = (
    *_INTERVAL_COLUMNS,
    "orders_pred_lo",
    "orders_pred_hi",
    "revenue_pred_lo",
    "revenue_pred_hi",
    "next_order_date",
    "no_repeat",
    "short_history",
    "sufficient",
)
CLV_PERCENTILE = "clv_percentile"
BATCH = 2_000


def prediction_config(**overrides: Any) -> predictive.PredictiveConfig:
    fields: dict[str, Any] = {
        "model": settings.PREDICTIVE_MODEL,
        "horizon_days": float(settings.PREDICTIVE_HORIZON_DAYS),
        "n_boot": settings.PREDICTIVE_BOOTSTRAP,
    }
    return predictive.PredictiveConfig(**{**fields, **overrides})


def prediction_run_create(*, feature_run: FeatureRun) -> PredictionRun:
    return PredictionRun.objects.create(
        feature_run=feature_run, horizon_days=settings.PREDICTIVE_HORIZON_DAYS
    )


def purchases_for_prediction(feature_run: FeatureRun) -> pd.DataFrame:
    """Usable purchase lines of known customers with positive revenue (customer, order_id,
    timestamp, revenue) from the run's clean table: returns and cancellations are left out (the
    purchase-count models describe buying; the features' net revenue describes the rest)."""
    clean = frame_load(feature_run.cleaning_run.artifact, columns=list(predictive.CLEAN_INPUT))
    return predictive.purchases_from_clean(clean)


def prediction_run_execute(*, run_id: int, task_id: str = "") -> PredictionRun | None:
    """Fit, predict with intervals and backtest; store every customer's scores. Idempotent: a
    redo replaces the run's scores and artifact."""
    run = run_claim(PredictionRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    report = ProgressReporter(run)
    started = timezone.now()
    cfg = prediction_config(horizon_days=float(run.horizon_days))
    try:
        report(0.02, "Reading purchases", force=True)
        feature_run = run.feature_run
        purchases = purchases_for_prediction(feature_run)
        as_of = pd.Timestamp(feature_run.as_of) if feature_run.as_of else _newest(purchases)
        summary = predictive.customer_summary(
            purchases, calibration_end=as_of, merge_same_day=cfg.merge_same_day
        )
        report(0.05, f"Fitting on {len(summary):,} customers", force=True)

        def on_boot(done: int, total: int) -> None:
            report(0.05 + 0.65 * done / max(total, 1), f"Intervals: replicate {done}/{total}")

        fit, scores = predictive.predict_with_intervals(
            summary, calibration_end=as_of, config=cfg, on_progress=on_boot
        )
        report(0.72, "Backtest on an earlier cut", force=True)
        backtest = _backtest(purchases, as_of=as_of, config=cfg)
        report(0.85, "Storing scores", force=True)
        folder = artifact_dir("predictions", run.pk)
        frame_save(scores, folder / SCORES_FILE, index=True)
        _store(run, scores)
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    seconds = round((timezone.now() - started).total_seconds(), 2)
    verdict = "" if fit.sufficient else f"; not trusted: {'; '.join(fit.reasons)}"
    run_succeed(
        run,
        message=f"{len(scores):,} customers scored{verdict}",
        as_of=as_of.to_pydatetime(),
        customers=len(scores),
        sufficient=fit.sufficient,
        artifact_dir=str(folder),
        metrics={
            "seconds": seconds,
            "model": cfg.model,
            "merge_same_day": cfg.merge_same_day,
            "level": cfg.level,
            "bootstrap": cfg.n_boot,
            "fit": fit_report_json(fit),
            "distributions": score_distributions(scores),
            "backtest": backtest,
        },
    )
    return run


def _newest(purchases: pd.DataFrame) -> pd.Timestamp:
    if purchases.empty:
        return pd.Timestamp(timezone.now())
    return purchases[cc.TIMESTAMP].max() + pd.Timedelta(seconds=1)


def fit_report_json(fit: predictive.FitReport) -> dict[str, Any]:
    return {
        "bgnbd": {k: _num(v) for k, v in asdict(fit.bgnbd).items() if k != "modified"},
        "gamma_gamma": {k: _num(v) for k, v in asdict(fit.gamma_gamma).items()},
        "customers": fit.customers,
        "repeat_buyers": fit.repeat_buyers,
        "calibration_days": round(fit.calibration_days, 1),
        "converged": fit.converged,
        "sufficient": fit.sufficient,
        "reasons": list(fit.reasons),
    }


def _backtest(
    purchases: pd.DataFrame, *, as_of: pd.Timestamp, config: predictive.PredictiveConfig
) -> dict[str, Any]:
    """The model fitted on everything up to as_of − horizon and scored on the horizon that
    followed, beside the naive baseline; {"skipped": why} without enough history before the cut."""
    horizon = config.horizon_days
    cut = as_of - pd.Timedelta(days=horizon)
    if purchases.empty or purchases[cc.TIMESTAMP].min() >= cut:
        return {"skipped": f"less than {horizon:g} days of purchases before the last {horizon:g}"}
    result = predictive.backtest(
        purchases, calibration_end=cut, holdout_days=horizon, config=config
    )
    customers = result.customers
    return {
        "calibration_end": cut.isoformat(),
        "holdout_days": horizon,
        "customers": len(customers),
        "sufficient": result.report.sufficient,
        "reasons": list(result.report.reasons),
        "metrics": _json(result.metrics),
        "totals": {
            column: _num(float(customers[column].sum()))
            for column in customers.columns
            if column.endswith(("_orders", "_revenue"))
        },
        "deciles": {
            what: [
                {key: _num(value) for key, value in row.items()}
                for row in frame.to_dict(orient="records")
            ]
            for what, frame in result.deciles.items()
        },
    }


def score_distributions(scores: pd.DataFrame, *, bins: int = 20) -> dict[str, Any]:
    """Histogram per score (for the dashboard): edges and counts of the finite values, clipped
    to the 1st–99th percentile range for the unbounded ones so one big spender does not squash
    the chart (the clipped tails are counted in the end bins)."""
    out: dict[str, Any] = {}
    for name in SCORE_FEATURES:
        values = scores[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[name] = {"edges": [], "counts": [], "median": None}
            continue
        if name in ("churn_risk", "p_alive"):
            low, high = 0.0, 1.0
        else:
            low, high = (float(v) for v in np.quantile(values, [0.0, 0.99]))
            high = max(high, low + 1e-9)
        counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(low, high))
        out[name] = {
            "edges": [round(float(e), 4) for e in edges],
            "counts": [int(c) for c in counts],
            "median": round(float(np.median(values)), 4),
            "mean": round(float(values.mean()), 4),
        }
    return out


def _store(run: PredictionRun, scores: pd.DataFrame) -> None:
    fields = ("run", "customer", *SCORE_FIELDS)
    frame = scores.reindex(columns=list(SCORE_FIELDS))
    for column in ("orders_pred_lo", "orders_pred_hi"):  # whole numbers, integer columns
        frame[column] = frame[column].round().astype("Int64")
    with transaction.atomic():
        CustomerScore.objects.filter(run=run).delete()
        rows: list[tuple[Any, ...]] = []
        for customer, values in zip(frame.index, frame.itertuples(index=False), strict=True):
            rows.append((run.pk, int(customer), *(_cell(v) for v in values)))
            if len(rows) >= BATCH:
                insert_ignoring_conflicts(CustomerScore, fields, rows, conflict=("run", "customer"))
                rows = []
        insert_ignoring_conflicts(CustomerScore, fields, rows, conflict=("run", "customer"))


def _cell(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.floor("s").to_pydatetime()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _num(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6) if math.isfinite(value) else None
    return value


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return _num(value)


def scores_frame(run: PredictionRun) -> pd.DataFrame:
    """The run's scores (index customer; every column of predict_with_intervals)."""
    return frame_load(f"{run.artifact_dir}/{SCORES_FILE}")


def with_scores(features: pd.DataFrame, run: PredictionRun | None) -> pd.DataFrame:
    """The customer features with the score columns (SCORE_FEATURES) joined, and
    ``clv_percentile``: the share of scored customers with a lower or equal predicted revenue
    (0.9 and above = the top 10% by predicted value). Customers without a score (no purchase)
    get NaN, which rule comparisons read as "no match"."""
    if run is None or not run.artifact_dir:
        return features
    scores = scores_frame(run)[list(SCORE_FEATURES)]
    scores = scores.assign(**{CLV_PERCENTILE: scores["clv"].rank(pct=True, method="max")})
    extra = [c for c in (*SCORE_FEATURES, CLV_PERCENTILE) if c not in features.columns]
    return features.join(scores[extra], how="left")
