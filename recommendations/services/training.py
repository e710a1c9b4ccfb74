"""Training rounds: tune every recommender on a temporal split, record a ModelRun each, refit
them on all data, and promote the chosen one only if it beats the serving model.

A round (``training_run_execute``) on the cleaning run's purchases:

1. **Experiment.** The newest ``holdout_days`` of purchases (``RECOMMENDER_HOLDOUT_DAYS``, 91:
   the last three months) are the held-out test period; ``engine.tuning.run_experiment`` tunes
   every algorithm on a validation period carved from the end of the training period, tunes the
   two blends, refits each choice on the training period and scores it on the test period (all
   items and new items) beside all-time popularity. The chosen model is the best on validation.
2. **Model runs.** One ModelRun per tuned algorithm and blend: ``algorithm`` (the experiment's
   label: "item_knn", "blend+trend"...), ``params`` (the chosen parameters plus ``weighting``,
   the interaction weighting of its matrix), ``metrics`` (see ``model_run_metrics``), ``tuning``
   (every trial), ``cutoff`` (the test period's start) and ``train_seconds`` (the refit below).
3. **Refit.** Each model is fitted again on *all* purchases (ages relative to the newest) and
   saved as ``ARTIFACTS_DIR/models/<pk>/model.npz`` with its customer/product index maps, so any
   run can be promoted by hand later.
4. **Promotion.** The chosen model is compared with the serving one *on this round's split*: the
   serving run's algorithm and parameters are refitted on the training period and scored on the
   same held-out period. It is promoted only if its held-out NDCG@10 (all items) is higher, or
   equal when it is the serving configuration itself trained on newer data (a refresh; without
   that rule the same configuration would tie forever and the serving model would go stale). The
   first model is promoted when nothing serves. The decision, both figures and the reason are in
   ``TrainingRun.metrics["promotion"]`` and the promotion's reason.
5. **Precompute** (``precompute.model_run_precompute``) runs before the promotion row is written;
   then old runs' rows are pruned. Any failure before the promotion leaves the serving model as
   it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from ecomsite.engine import clean_columns as cc
from ecomsite.exceptions import DomainError, ValidationFailed
from ecomsite.models import CleaningRun, Customer, Product, RunStatus
from ecomsite.services.artifacts import artifact_dir
from ecomsite.services.runs import ProgressReporter, run_claim, run_fail, run_succeed
from recommendations.engine.base import Recommender
from recommendations.engine.blend import Blend
from recommendations.engine.data import (
    TrainingData,
    holdout,
    temporal_split,
    training_data,
)
from recommendations.engine.evaluate import evaluate
from recommendations.engine.metrics import RankingMetrics
from recommendations.engine.registry import ALGORITHMS, fit_recommender
from recommendations.engine.tuning import (
    DEEP_SPACES,
    DEFAULT_SPACES,
    ExperimentResult,
    SearchSpace,
    TunedModel,
    json_safe,
    run_experiment,
)
from recommendations.models import ModelPromotion, ModelRun, TrainingRun
from recommendations.services.precompute import (
    PurchaseHistory,
    model_run_precompute,
    purchase_history_load,
    recommendations_prune_quietly,
    serving_run,
)
from recommendations.services.registry import model_promote

logger = logging.getLogger(__name__)

K = 10
OBJECTIVE = "ndcg"
ARTIFACT_NAME = "model.npz"
# A training that has not reported progress for this long is presumed dead (worker killed).
STALE_AFTER = timedelta(hours=2)


class TrainingBusy(DomainError):
    status_code = 409


# Every algorithm a round can train: the CF family (nightly) and the deep models (weekly).
SPACES: dict[str, SearchSpace] = {**DEFAULT_SPACES, **DEEP_SPACES}


def training_params_default(*, deep: bool = False) -> dict[str, Any]:
    """The round's settings (stored on the run, so a round is reproducible from its row). A deep
    round trains the Keras models (RECOMMENDER_DEEP_ALGORITHMS, default every DEEP_SPACES
    entry) with their own time budget; the promotion rule is the same."""
    if deep:
        algorithms = list(settings.RECOMMENDER_DEEP_ALGORITHMS) or list(DEEP_SPACES)
        budget = float(settings.RECOMMENDER_DEEP_BUDGET_SECONDS)
    else:
        algorithms = list(settings.RECOMMENDER_ALGORITHMS) or list(DEFAULT_SPACES)
        budget = float(settings.RECOMMENDER_BUDGET_SECONDS)
    return {
        "holdout_days": int(settings.RECOMMENDER_HOLDOUT_DAYS),
        "validation_days": int(settings.RECOMMENDER_VALIDATION_DAYS),
        "algorithms": algorithms,
        "deep": deep,
        "max_trials": settings.RECOMMENDER_MAX_TRIALS,
        "budget_seconds": budget,
        "k": K,
        "objective": OBJECTIVE,
        "seed": 0,
    }


def training_run_create(
    cleaning_run: CleaningRun,
    created_by: User | None = None,
    *,
    params: Mapping[str, Any] | None = None,
) -> TrainingRun:
    """A pending training round on a cleaning run; `params` override training_params_default
    (``{"deep": True}`` starts from the deep round's defaults)."""
    deep = bool((params or {}).get("deep", False))
    merged = {**training_params_default(deep=deep), **dict(params or {})}
    unknown = [name for name in merged["algorithms"] if name not in SPACES]
    if unknown:
        raise ValidationFailed(f"Unknown algorithms {unknown}; choose from {list(SPACES)}.")
    return TrainingRun.objects.create(
        cleaning_run=cleaning_run, created_by=created_by, params=merged
    )


def training_in_progress() -> TrainingRun | None:
    return (
        TrainingRun.objects.filter(
            status__in=[RunStatus.PENDING, RunStatus.RUNNING],
            updated_at__gte=timezone.now() - STALE_AFTER,
        )
        .order_by("-pk")
        .first()
    )


def cleaning_run_newest() -> CleaningRun | None:
    return (
        CleaningRun.objects.filter(status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .first()
    )


def training_run_start(
    *,
    created_by: User | None = None,
    cleaning_run: CleaningRun | None = None,
    deep: bool = False,
) -> TrainingRun:
    """ "Retrain now" (or "Train deep models" with `deep`): a round on the newest cleaning run,
    queued for a worker after the transaction commits. TrainingBusy while another round is in
    progress (one at a time: they share the workers' CPUs and the promotion)."""
    busy = training_in_progress()
    if busy is not None:
        raise TrainingBusy(f"Training #{busy.pk} is still {busy.status}; wait for it to finish.")
    cleaning = cleaning_run or cleaning_run_newest()
    if cleaning is None:
        raise ValidationFailed("No cleaned data yet: run the pipeline first.")
    run = training_run_create(cleaning, created_by, params={"deep": deep})
    from recommendations.tasks import deep_training_run_execute_task, training_run_execute_task

    task = deep_training_run_execute_task if deep else training_run_execute_task
    task.delay_on_commit(run.pk)
    return run


# -- the round -----------------------------------------------------------------------------------


def training_run_execute(run_id: int, task_id: str = "") -> TrainingRun | None:
    """Run a training round (module docstring). Idempotent: a finished run returns at once; a
    redelivered task redoes the round, replacing the model runs of the earlier attempt."""
    run = run_claim(TrainingRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    report = ProgressReporter(run)
    started = time.monotonic()
    metrics: dict[str, Any] = {}
    try:
        _forget_earlier_attempt(run)
        message = _train(run, report, metrics)
    except Exception as exc:
        ModelRun.objects.filter(training_run=run).exclude(status=RunStatus.SUCCEEDED).update(
            status=RunStatus.FAILED,
            error=f"training #{run.pk} failed: {exc}"[:2000],
            progress_message="Failed",
            finished_at=timezone.now(),
        )
        metrics["seconds"] = round(time.monotonic() - started, 2)
        run_fail(run, error=exc, metrics=metrics)
        raise
    metrics["pruned_artifacts"] = _artifacts_prune_quietly()
    metrics["seconds"] = round(time.monotonic() - started, 2)
    run_succeed(run, message=message, metrics=metrics)
    return run


def model_artifacts_prune(keep_trainings: int | None = None) -> list[int]:
    """Delete the model files of runs outside the newest `keep_trainings` training rounds
    (default RECOMMENDER_KEEP_TRAININGS), except the serving and the previous model's, so nightly
    rounds do not fill the disk. Their `artifact` is cleared: they can no longer be promoted.
    Returns the model run ids."""
    keep = int(settings.RECOMMENDER_KEEP_TRAININGS if keep_trainings is None else keep_trainings)
    recent = list(TrainingRun.objects.order_by("-pk").values_list("pk", flat=True)[: max(keep, 1)])
    protected = set()
    promotion = ModelPromotion.objects.first()
    if promotion is not None:
        protected = {promotion.model_run_id, promotion.previous_id}
    old = list(
        ModelRun.objects.exclude(artifact="")
        .exclude(training_run_id__in=recent)
        .exclude(pk__in=protected)
        .values_list("pk", "artifact")
    )
    for _, artifact in old:
        path = Path(artifact)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty (an unexpected file): leave it
            path.parent.rmdir()
    ids = [pk for pk, _ in old]
    ModelRun.objects.filter(pk__in=ids).update(artifact="", updated_at=timezone.now())
    return ids


def _artifacts_prune_quietly() -> list[int]:
    """Pruning only saves space: a failure is logged and never fails the round."""
    try:
        return model_artifacts_prune()
    except Exception:
        logger.exception("pruning old model files failed")
        return []


def _forget_earlier_attempt(run: TrainingRun) -> None:
    """Model runs of a crashed attempt of this round are replaced (a promoted one is kept)."""
    earlier = ModelRun.objects.filter(training_run=run, promotions__isnull=True)
    for artifact in earlier.exclude(artifact="").values_list("artifact", flat=True):
        Path(artifact).unlink(missing_ok=True)
    earlier.delete()


def _train(run: TrainingRun, report: ProgressReporter, metrics: dict[str, Any]) -> str:
    params = run.params
    k = int(params.get("k", K))
    objective = str(params.get("objective", OBJECTIVE))
    report(0.01, "Loading purchases", force=True)
    history = purchase_history_load(run.cleaning_run)
    interactions = history.interactions
    if interactions.empty:
        metrics["skipped"] = "no usable purchases of known customers"
        return "Skipped: no usable purchases of known customers"
    newest = pd.Timestamp(interactions[cc.TIMESTAMP].max())
    cutoff = newest - pd.Timedelta(days=int(params["holdout_days"]))
    metrics.update(
        interactions=len(interactions),
        customers=int(interactions[cc.CUSTOMER].nunique()),
        products=int(interactions[cc.PRODUCT].nunique()),
        newest=newest.isoformat(),
        cutoff=cutoff.isoformat(),
        holdout_days=int(params["holdout_days"]),
        k=k,
        objective=f"{objective}@{k}",
    )

    lacking = _too_little_history(interactions, cutoff, float(params["validation_days"]))
    if lacking:
        metrics["skipped"] = lacking
        return f"Skipped: {lacking}"[:200]

    def on_progress(done: int, total: int, step: str = "", algorithm: str = "") -> None:
        report(0.02 + 0.6 * done / max(total, 1), f"Tuning: {step} {algorithm} ({done}/{total})")

    attributes = side_attributes() if params.get("deep") else SideAttributes()
    result = run_experiment(
        interactions,
        cutoff=cutoff,
        validation_days=float(params["validation_days"]),
        k=k,
        spaces=search_spaces(params),
        objective=objective,
        seed=int(params.get("seed", 0)),
        on_progress=on_progress,
        **attributes,
    )
    metrics.update(
        experiment_seconds=round(result.seconds, 2),
        data=result.data,
        baseline={
            "label": result.baseline.label,
            "all": _figures(result.baseline.test.all_items),
            "new": _figures(result.baseline.test.new_items),
        },
        chosen=result.promoted,
        runner_up=result.runner_up,
        comparison=result.comparison.to_dict(),
    )

    rows = [*result.models, *result.blends]
    model_runs = _model_runs_create(run, rows, result)
    metrics["model_runs"] = {label: model_run.pk for label, model_run in model_runs.items()}

    report(0.65, "Refitting on all data", force=True)
    full = training_data(interactions, **attributes)
    fitted = _refit_and_save(rows, model_runs, full, report)

    chosen = model_runs[result.promoted]
    chosen_row = next(row for row in rows if row.label == result.promoted)
    report(0.8, "Comparing with the serving model", force=True)
    decision = promotion_decision(run, chosen, chosen_row, rows, interactions, cutoff, k)
    metrics["promotion"] = decision
    if not decision["promote"]:
        return f"{chosen.algorithm} #{chosen.pk} not promoted: {decision['reason']}"[:200]

    def precompute_progress(fraction: float, message: str) -> None:
        report(0.82 + 0.17 * fraction, f"Precomputing: {message}")

    metrics["precompute"] = model_run_precompute(
        chosen,
        model=fitted[result.promoted],
        data=full,
        history=history,
        on_progress=precompute_progress,
    )
    chosen.refresh_from_db()
    model_promote(chosen, reason=decision["reason"], created_by=run.created_by, automatic=True)
    metrics["pruned_model_runs"] = recommendations_prune_quietly()
    return f"Promoted {chosen.algorithm} #{chosen.pk}"


class SideAttributes(TypedDict, total=False):
    customer_attributes: pd.DataFrame
    product_attributes: pd.DataFrame


def side_attributes() -> SideAttributes:
    """The static side information the deep models may use, by id: each customer's country and
    each product's category and price (``data.TrainingData``; nothing computed from purchases,
    so an evaluation's held-out period cannot leak in)."""
    customers = pd.DataFrame.from_records(
        list(Customer.objects.values_list("pk", "country")), columns=["id", "country"]
    ).set_index("id")
    products = pd.DataFrame.from_records(
        list(Product.objects.values_list("pk", "category", "price")),
        columns=["id", "category", "price"],
    ).set_index("id")
    products["price"] = pd.to_numeric(products["price"], errors="coerce").astype(float)
    return {"customer_attributes": customers, "product_attributes": products}


def _too_little_history(interactions: pd.DataFrame, cutoff: pd.Timestamp, days: float) -> str:
    """Why the purchases cannot give an honest evaluation ("" when they can): both the held-out
    and the validation period need customers who also bought before them."""
    split = temporal_split(interactions, cutoff)
    if split.truth.empty:
        return "no customer bought both before and after the held-out cutoff"
    inner = temporal_split(split.train, cutoff - pd.Timedelta(days=days))
    if inner.truth.empty:
        return "no customer bought both before and during the validation period"
    return ""


def search_spaces(params: Mapping[str, Any]) -> list[SearchSpace]:
    """The engine's default search spaces of the round's algorithms, with its trial cap and
    time budget."""
    spaces = []
    cap = params.get("max_trials")
    for name in params["algorithms"]:
        space = SPACES[name]
        trials = space.max_trials
        if cap is not None:
            trials = int(cap) if trials is None else min(trials, int(cap))
        spaces.append(
            dataclasses.replace(
                space, max_trials=trials, budget_seconds=float(params["budget_seconds"])
            )
        )
    return spaces


def _figures(metrics: RankingMetrics) -> dict[str, float | int]:
    """One view's figures as ``RankingMetrics.to_dict()``: k, users, precision, recall, ndcg,
    map, hit_rate, coverage (rounded to 6 places)."""
    return {
        name: round(value, 6) if isinstance(value, float) else value
        for name, value in metrics.to_dict().items()
    }


def model_run_metrics(row: TunedModel, result: ExperimentResult) -> dict[str, Any]:
    """ModelRun.metrics of an experiment row: "all" / "new": held-out figures on all items and
    on new items ({"k": 10, "users": n, "ndcg": ..., "recall": ..., ...}); "coverage" (all
    items); "popularity": all-time popularity's figures on the same period beside them;
    "validation": the objective that chose the configuration and the validation figures."""
    baseline = result.baseline.test
    validation = row.validation
    objective = f"{result.objective}@{result.k}"
    return {
        "k": result.k,
        "all": _figures(row.test.all_items),
        "new": _figures(row.test.new_items),
        "coverage": round(row.test.all_items.coverage, 6),
        "popularity": {"all": _figures(baseline.all_items), "new": _figures(baseline.new_items)},
        "validation": {
            "objective": objective,
            "value": (
                None
                if validation is None
                else round(float(getattr(validation.all_items, result.objective)), 6)
            ),
            "all": None if validation is None else _figures(validation.all_items),
            "new": None if validation is None else _figures(validation.new_items),
        },
        "period": {"cutoff": result.cutoff, "validation_cutoff": result.validation_cutoff},
        "weighting": row.weighting,
        "holdout_fit_seconds": round(row.fit_seconds, 3),
        "trials": len(row.trials),
        "skipped_trials": row.skipped_trials,
        "chosen": row.label == result.promoted,
    }


def _config(row: TunedModel) -> dict[str, Any]:
    """ModelRun.params: the chosen parameters plus the matrix weighting (JSON-safe)."""
    config: dict[str, Any] = json.loads(json.dumps(row.params))
    if row.weighting is not None:
        config["weighting"] = row.weighting
    return config


def model_spec(algorithm: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(engine algorithm, its parameters, weighting) of a ModelRun's algorithm label and params:
    "blend" and "blend+trend" are both the engine's Blend."""
    engine = algorithm if algorithm in ALGORITHMS else algorithm.split("+")[0]
    if engine not in ALGORITHMS:
        raise ValidationFailed(f"Unknown algorithm {algorithm!r}.")
    values = dict(params)
    weighting = values.pop("weighting", None)
    return engine, values, weighting


def _model_runs_create(
    run: TrainingRun, rows: list[TunedModel], result: ExperimentResult
) -> dict[str, ModelRun]:
    now = timezone.now()
    created = {}
    for row in rows:
        created[row.label] = ModelRun.objects.create(
            training_run=run,
            cleaning_run=run.cleaning_run,
            algorithm=row.label,
            params=_config(row),
            metrics=model_run_metrics(row, result),
            tuning=[trial.to_dict() for trial in row.trials],
            cutoff=pd.Timestamp(result.cutoff).to_pydatetime(),
            status=RunStatus.RUNNING,
            started_at=now,
            progress_message="Refitting on all data",
        )
    return created


def _refit_and_save(
    rows: list[TunedModel],
    model_runs: Mapping[str, ModelRun],
    full: TrainingData,
    report: ProgressReporter,
) -> dict[str, Recommender]:
    """Fit every chosen configuration on all purchases and save it; blends reuse the refitted
    components when they match (the components of a tuned blend are the tuned algorithms)."""
    fitted: dict[str, Recommender] = {}
    seconds: dict[str, float] = {}
    for index, row in enumerate(rows):
        model_run = model_runs[row.label]
        engine, params, weighting = model_spec(model_run.algorithm, model_run.params)
        model: Recommender | None = None
        if engine == Blend.name:
            model, took = _blend_of_refits(params, fitted, seconds)
        if model is None:
            model, took = _fit_reporting(engine, params, weighting, full, model_run)
        fitted[row.label], seconds[row.label] = model, took
        path = artifact_dir("models", model_run.pk) / ARTIFACT_NAME
        _save(model, path, full)
        history = getattr(model, "history", None)
        if history:
            model_run.metrics = {**model_run.metrics, "history": json_safe(history)}
        run_succeed(
            model_run,
            message="Ready to promote",
            artifact=str(path),
            train_seconds=round(took, 3),
            customers=full.shape[0],
            products=full.shape[1],
        )
        report(0.65 + 0.15 * (index + 1) / len(rows), f"Refitted {row.label}")
    return fitted


def _fit_reporting(
    engine: str,
    params: Mapping[str, Any],
    weighting: str | None,
    data: TrainingData,
    model_run: ModelRun,
) -> tuple[Recommender, float]:
    """Fit like ``registry.fit_recommender``, writing the fit's progress to the model run while
    it trains: "epoch 3/20 · loss 4.213 · val ndcg 0.312" as its message and, for models that
    report per-epoch figures (the deep models), the figures so far as ``metrics["history"]``
    (the Models page draws them; the finished fit's own history replaces them)."""
    report = ProgressReporter(model_run)
    history: list[dict[str, Any]] = []

    def on_progress(done: int, total: int, **figures: Any) -> None:
        numbers = {
            name: float(value)
            for name, value in figures.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        unit = "epoch" if numbers and "iteration" not in figures else "step"
        parts = [f"{unit} {done}/{total}"]
        parts += [
            f"{name.replace('_', ' ')} {value:.4g}"
            for name, value in numbers.items()
            if name not in ("seconds", "best_epoch")
        ]
        fields: dict[str, Any] = {}
        if unit == "epoch":
            history.append({"epoch": int(done), **numbers})
            fields["metrics"] = {**model_run.metrics, "history": list(history)}
        report(
            0.1 + 0.85 * done / max(total, 1),
            f"Refitting on all data: {' · '.join(parts)}",
            force=unit == "epoch",
            **fields,
        )

    return fit_recommender(engine, params, data, weighting=weighting, on_progress=on_progress)


def _blend_of_refits(
    params: Mapping[str, Any],
    fitted: Mapping[str, Recommender],
    seconds: Mapping[str, float],
) -> tuple[Recommender | None, float]:
    cf_name = str(params.get("cf_algorithm"))
    cf, repeat = fitted.get(cf_name), fitted.get("repeat")
    trend = fitted.get("popularity") if float(params.get("trend_weight", 0)) > 0 else None
    if cf is None or repeat is None:
        return None, 0.0
    same = (
        cf.get_params() == params.get("cf_params")
        and repeat.get_params() == params.get("repeat_params")
        and (trend is None or trend.get_params() == params.get("trend_params"))
        and (float(params.get("trend_weight", 0)) == 0 or trend is not None)
    )
    if not same:
        return None, 0.0
    blend = Blend.of(
        repeat,
        cf,
        float(params["weight"]),
        trend=trend,
        trend_weight=float(params.get("trend_weight", 0)),
        normalisation=str(params["normalisation"]),
    )
    took = seconds[cf_name] + seconds["repeat"] + (seconds["popularity"] if trend else 0.0)
    return blend, took


def _save(model: Recommender, path: Path, data: TrainingData) -> None:
    """Write to a temporary name, then rename: a reader never sees half a model."""
    tmp = path.with_name(path.name + ".tmp")
    model.save(tmp, customers=data.customers, products=data.products)
    os.replace(tmp, path)


# -- promotion ------------------------------------------------------------------------------------


def _same_config(run: ModelRun, label: str, config: Mapping[str, Any]) -> bool:
    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True)

    return run.algorithm == label and canonical(run.params) == canonical(dict(config))


def serving_ndcg_on_split(
    serving: ModelRun, interactions: pd.DataFrame, cutoff: pd.Timestamp, k: int
) -> float:
    """NDCG@k (all items) of the serving run's algorithm and parameters refitted on the training
    part of this split and scored on its held-out period (as run_experiment scores its rows)."""
    engine, params, weighting = model_spec(serving.algorithm, serving.params)
    split = temporal_split(interactions, cutoff)
    attributes = side_attributes() if engine in DEEP_SPACES else SideAttributes()
    train = training_data(split.train, now=cutoff, **attributes)
    model, _ = fit_recommender(engine, params, train, weighting=weighting)
    return float(evaluate(model, holdout(split, train), k=k).all_items.ndcg)


def promotion_decision(
    run: TrainingRun,
    chosen: ModelRun,
    chosen_row: TunedModel,
    rows: list[TunedModel],
    interactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    k: int,
) -> dict[str, Any]:
    """Whether the chosen model replaces the serving one (module docstring), with both figures
    and the reason in words."""
    candidate = float(chosen_row.test.all_items.ndcg)
    period = f"{cutoff:%Y-%m-%d} on"
    decision: dict[str, Any] = {
        "candidate": {
            "model_run": chosen.pk,
            "algorithm": chosen.algorithm,
            f"ndcg@{k}": candidate,
        },
        "serving": None,
    }
    serving = serving_run()
    if serving is None:
        decision.update(
            promote=True,
            decision="promoted",
            reason=(
                f"First model: {chosen.algorithm} #{chosen.pk}, held-out NDCG@{k} {candidate:.4f} "
                f"({period})"
            ),
        )
        return decision
    same_row = next((row for row in rows if _same_config(serving, row.label, _config(row))), None)
    if same_row is not None:
        figure = float(same_row.test.all_items.ndcg)
        how = f"its configuration is this round's {same_row.label}"
    else:
        figure = serving_ndcg_on_split(serving, interactions, cutoff, k)
        how = "refitted on this split"
    decision["serving"] = {
        "model_run": serving.pk,
        "algorithm": serving.algorithm,
        f"ndcg@{k}": figure,
        "how": how,
    }
    refresh = (
        _same_config(serving, chosen.algorithm, chosen.params)
        and candidate >= figure
        and run.cleaning_run.data_version > serving.cleaning_run.data_version
    )
    served = f"{serving.algorithm} #{serving.pk}"
    if candidate > figure:
        verdict, promote = f"beats the serving {served} at {figure:.4f}", True
    elif refresh:
        verdict, promote = f"is the serving configuration ({served}) on newer data", True
    else:
        verdict, promote = f"does not beat the serving {served} at {figure:.4f}", False
    decision.update(
        promote=promote,
        decision="promoted" if promote else "kept serving model",
        reason=(
            f"{chosen.algorithm} #{chosen.pk}: held-out NDCG@{k} {candidate:.4f} {verdict} "
            f"(same period, {period})"
        ),
    )
    return decision


def promotion_of_training(run: TrainingRun) -> ModelPromotion | None:
    """The automatic promotion a round made, if any."""
    return (
        ModelPromotion.objects.filter(model_run__training_run=run, automatic=True)
        .select_related("model_run")
        .first()
    )


__all__ = [
    "PurchaseHistory",
    "TrainingBusy",
    "training_run_create",
    "training_run_execute",
    "training_run_start",
]
