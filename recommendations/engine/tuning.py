"""Hyper-parameter search on a validation period inside the training data, then an honest test.

``run_experiment(interactions, cutoff=...)`` takes the interaction frame of
``data.purchase_interactions`` and:

1. splits it at ``cutoff`` into the training period and the held-out test period
   (``data.temporal_split``; ``end`` bounds the test period);
2. carves a *validation* split out of the training period: validation cutoff = cutoff -
   ``validation_days``; models are fitted on the rows before it and scored on the training rows
   after it. The test period is not touched;
3. for every algorithm of ``spaces`` tries a few configurations (the Cartesian product of the
   grid and the matrix weightings, or a seeded random subset of ``max_trials`` of them; the
   algorithm's ``seed`` parameter, if any, is set to ``seed``) and keeps the one with the best
   validation ``objective`` on all items (ties: the first tried). Trying stops early when the
   algorithm's ``budget_seconds`` are spent (at least one configuration always runs; skipped
   ones are counted);
4. tunes two **blends** (``blend.Blend``) from the validation-fitted best models: ``blend``
   mixes repeat purchase with a CF algorithm, ``blend+trend`` adds the tuned popularity as a
   trend term. For each tuned CF algorithm every weight combination (``blend_step`` apart on
   the simplex) and normalisation is scored (``search_blend_weights``); the best (CF algorithm,
   weights, normalisation) on validation wins;
5. refits every chosen configuration on the whole training period (ages relative to the cutoff)
   and evaluates it on the test period (``evaluate.evaluate``: all items and new items), beside
   all-time popularity as the baseline;
6. names the model to promote: the best validation objective among the tuned algorithms and the
   blends (the test figures play no part in any choice).

Everything returned is a frozen dataclass with ``to_dict()`` giving JSON-safe dicts (floats, ints,
strings, None), so a task can store it on a run row. Deterministic for the same input and seed,
except that a ``budget_seconds`` cut-off depends on the machine's speed.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommendations.engine.base import Recommender, batches, top_k
from recommendations.engine.blend import NORMALISATIONS, Blend, normalise_rows
from recommendations.engine.data import (
    BINARY,
    LOG_UNITS,
    ORDERS,
    WEIGHTINGS,
    Holdout,
    TrainingData,
    holdout,
    temporal_split,
    training_data,
    utc_timestamp,
)
from recommendations.engine.evaluate import (
    ALL_ITEMS,
    NEW_ITEMS,
    Evaluation,
    evaluate,
    per_user_ndcg,
)
from recommendations.engine.metrics import (
    PairedDifference,
    RankingMetrics,
    paired_bootstrap,
    ranking_metrics,
)
from recommendations.engine.registry import ALGORITHMS, fit_recommender

# on_progress(done, total, step="tune"/"refit"/"blend", algorithm=name)
ProgressCallback = Callable[..., None]

OBJECTIVES = ("ndcg", "recall", "precision", "map", "hit_rate")
CF_ALGORITHMS = ("item_knn", "user_knn", "als", "bpr", "ease")
BLEND = "blend"
BLEND_TREND = "blend+trend"
# Algorithms whose scores come from the event log, not from the weighted matrix.
LOG_BASED = frozenset({"popularity", "repeat", "ranker"})


@dataclass(frozen=True)
class SearchSpace:
    """algorithm: a name of ``registry.ALGORITHMS``; grid: parameter → values to try (the
    Cartesian product; parameters not named keep their defaults); weightings: matrix weightings
    to try (``data.WEIGHTINGS``; ignored by log-based algorithms); max_trials: try a seeded
    random subset of this size when the product is larger (None: all); budget_seconds: stop
    starting new configurations after this much time (fits + validation)."""

    algorithm: str
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    weightings: Sequence[str] = (ORDERS,)
    max_trials: int | None = None
    budget_seconds: float = 120.0

    def candidates(self, seed: int) -> list[tuple[str | None, dict[str, Any]]]:
        """The (weighting, params) configurations to try, in order."""
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}")
        bad = [w for w in self.weightings if w not in WEIGHTINGS]
        if bad:
            raise ValueError(f"unknown weightings {bad}")
        names = list(self.grid)
        weightings: list[str | None] = (
            [None] if self.algorithm in LOG_BASED else list(self.weightings) or [ORDERS]
        )
        combos = [
            (weighting, dict(zip(names, values, strict=True)))
            for weighting in weightings
            for values in itertools.product(*(self.grid[name] for name in names))
        ]
        if self.max_trials is not None and len(combos) > self.max_trials:
            rng = np.random.default_rng(seed)
            chosen = np.sort(rng.choice(len(combos), size=self.max_trials, replace=False))
            combos = [combos[i] for i in chosen]
        fields = {f.name for f in dataclasses.fields(ALGORITHMS[self.algorithm].Params)}
        if "seed" in fields and "seed" not in names:
            combos = [(weighting, {**params, "seed": seed}) for weighting, params in combos]
        return combos


# Small searches sized for a few thousand customers and products (a few minutes in all on two
# cores); larger catalogues want smaller grids or budgets.
DEFAULT_SPACES: dict[str, SearchSpace] = {
    "popularity": SearchSpace(
        "popularity", {"window_days": [None, 30, 90], "half_life_days": [None, 7, 30]}
    ),
    "repeat": SearchSpace(
        "repeat", {"half_life_days": [15, 30, 60, 120, 240], "count_exponent": [0.5, 1.0]}
    ),
    "item_knn": SearchSpace(
        "item_knn",
        {"neighbours": [20, 50, 200], "shrinkage": [0.0, 10.0]},
        weightings=(BINARY, LOG_UNITS),
        max_trials=8,
    ),
    "user_knn": SearchSpace(
        "user_knn",
        {"neighbours": [20, 50, 200], "shrinkage": [0.0, 10.0]},
        weightings=(BINARY, LOG_UNITS),
        max_trials=8,
    ),
    "als": SearchSpace(
        "als",
        {"factors": [32, 64, 128], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 10.0, 40.0]},
        weightings=(BINARY, LOG_UNITS),
        max_trials=8,
    ),
    "bpr": SearchSpace(
        "bpr",
        {
            "factors": [32, 64, 128],
            "learning_rate": [0.01, 0.05, 0.1],
            "regularization": [0.001, 0.01],
            "iterations": [100, 200],
        },
        weightings=(BINARY,),
        max_trials=8,
    ),
    "ease": SearchSpace(
        "ease",
        {"l2": [10.0, 50.0, 200.0, 500.0, 2000.0]},
        weightings=(BINARY, LOG_UNITS),
        max_trials=8,
    ),
}


# The deep models (issue 7), NOT in DEFAULT_SPACES: TensorFlow fits take minutes each, and the
# nightly CF training must not get slower. Pass them explicitly (``spaces=DEEP_SPACES`` or a
# mix); the matrix weighting is irrelevant to them ("sequence" reads the log's orders, "ncf"
# binarises). Sized for the demo data: each fit is about 1 (sequence) to 4 (ncf) minutes on two
# cores, so the budgets stop the search after a few trials on bigger data.
DEEP_SPACES: dict[str, SearchSpace] = {
    "sequence": SearchSpace(
        "sequence",
        {"encoder": ["sasrec", "gru"], "learning_rate": [0.002, 0.005]},
        max_trials=4,
        budget_seconds=600.0,
    ),
    "ncf": SearchSpace(
        "ncf", {"dim": [32, 64], "negatives": [4, 8]}, max_trials=2, budget_seconds=600.0
    ),
    # One configuration: the ranker tunes itself inside fit (early stopping on its own label
    # windows) and each fit also fits its candidate generators, the sequence model included.
    "ranker": SearchSpace("ranker", {}, budget_seconds=900.0),
}


@dataclass(frozen=True)
class Trial:
    """One configuration tried on the validation split: its weighting (None for log-based
    algorithms), parameters, validation metrics on all items (what the choice is made on) and
    on new items (None where not computed: blend weights), and fit time (seconds)."""

    weighting: str | None
    params: dict[str, Any]
    validation: RankingMetrics
    validation_new_items: RankingMetrics | None
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        new_items = self.validation_new_items
        return {
            "weighting": self.weighting,
            "params": json_safe(self.params),
            "validation": {
                ALL_ITEMS: self.validation.to_dict(),
                NEW_ITEMS: None if new_items is None else new_items.to_dict(),
            },
            "fit_seconds": self.fit_seconds,
        }


@dataclass(frozen=True)
class TunedModel:
    """An algorithm's chosen configuration, how it did on validation (None for the untuned
    baseline), and its test figures after the refit on the whole training period
    (``fit_seconds``: that refit; for blends the sum of the components' refits). ``label``
    names the row ("blend+trend" for the blend with a trend term; else the algorithm)."""

    label: str
    algorithm: str
    weighting: str | None
    params: dict[str, Any]
    validation: Evaluation | None
    test: Evaluation
    fit_seconds: float
    trials: list[Trial] = field(default_factory=list)
    skipped_trials: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "algorithm": self.algorithm,
            "weighting": self.weighting,
            "params": json_safe(self.params),
            "validation": None if self.validation is None else self.validation.to_dict(),
            "test": self.test.to_dict(),
            "fit_seconds": self.fit_seconds,
            "trials": [trial.to_dict() for trial in self.trials],
            "skipped_trials": self.skipped_trials,
        }


@dataclass(frozen=True)
class ExperimentResult:
    """Everything ``run_experiment`` measured. baseline: all-time popularity (untuned);
    models: the tuned algorithms in ``spaces`` order; blends: ``blend`` and ``blend+trend``
    where their components were tuned; promoted: the label with the best validation objective;
    runner_up: the best tuned single algorithm on validation other than the promoted one;
    comparison: test NDCG@k of promoted minus runner_up per evaluated customer (all items),
    mean and bootstrap interval; data: sizes of the validation and test splits; seconds: wall
    time of the whole run."""

    k: int
    objective: str
    cutoff: str
    validation_cutoff: str
    end: str | None
    data: dict[str, Any]
    baseline: TunedModel
    models: list[TunedModel]
    blends: list[TunedModel]
    promoted: str
    runner_up: str
    comparison: PairedDifference
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "objective": self.objective,
            "cutoff": self.cutoff,
            "validation_cutoff": self.validation_cutoff,
            "end": self.end,
            "data": json_safe(self.data),
            "baseline": self.baseline.to_dict(),
            "models": [model.to_dict() for model in self.models],
            "blends": [model.to_dict() for model in self.blends],
            "promoted": self.promoted,
            "runner_up": self.runner_up,
            "comparison": self.comparison.to_dict(),
            "seconds": self.seconds,
        }

    def rows(self) -> list[TunedModel]:
        """baseline, models, blends: every row of the result in display order."""
        return [self.baseline, *self.models, *self.blends]


def objective_value(metrics: RankingMetrics, objective: str) -> float:
    """The named metric (OBJECTIVES) of `metrics`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    return float(getattr(metrics, objective))


# --- Blend weights ------------------------------------------------------------------------------


def blend_weight_grid(step: float = 0.1, *, trend: bool = False) -> list[tuple[float, float]]:
    """(repeat weight, trend weight) pairs `step` apart with both >= 0 and sum <= 1, repeat
    weight ascending then trend weight ascending; the trend weight is 0 unless `trend`."""
    if not 0 < step <= 1:
        raise ValueError("step must be in (0, 1]")
    count = int(round(1.0 / step))
    pairs = []
    for a in range(count + 1):
        for b in range(count + 1 - a if trend else 1):
            pairs.append((round(a * step, 10), round(b * step, 10)))
    return pairs


@dataclass(frozen=True)
class BlendCandidate:
    """One blend configuration scored on validation (all items)."""

    weight: float
    trend_weight: float
    normalisation: str
    metrics: RankingMetrics


@dataclass(frozen=True)
class BlendSearch:
    """best: the winning candidate (first of equals, in search order); candidates: all of them,
    in search order (normalisations outer, weight pairs inner)."""

    best: BlendCandidate
    candidates: list[BlendCandidate]


def search_blend_weights(
    repeat: Recommender,
    cf: Recommender,
    holdout: Holdout,
    *,
    trend: Recommender | None = None,
    k: int = 10,
    weights: Sequence[tuple[float, float]] | None = None,
    normalisations: Sequence[str] = NORMALISATIONS,
    objective: str = "ndcg",
) -> BlendSearch:
    """The blend weights and normalisation that maximise `objective` on all items of
    `holdout`, for components fitted on its training data. weights: (repeat weight, trend
    weight) pairs (default ``blend_weight_grid(0.1, trend=trend is not None)``). Each
    component is scored once per batch of customers; each configuration only re-ranks."""
    pairs = list(weights) if weights is not None else blend_weight_grid(trend=trend is not None)
    if not pairs or not normalisations:
        raise ValueError("weights and normalisations must not be empty")
    if trend is None and any(t > 0 for _, t in pairs):
        raise ValueError("trend weights need a trend component")
    configs = [(norm, w, t) for norm in normalisations for w, t in pairs]
    users = holdout.users
    lists = np.full((len(configs), len(users), k), -1, dtype=np.int64)
    for part in batches(len(users), 3 * cf.n_items):
        raw = {"repeat": repeat.scores(users[part]), "cf": cf.scores(users[part])}
        if trend is not None:
            raw["trend"] = trend.scores(users[part])
        for norm in normalisations:
            scaled = {key: normalise_rows(value, norm) for key, value in raw.items()}
            for index, (name, w, t) in enumerate(configs):
                if name != norm:
                    continue
                mixed = w * scaled["repeat"] + (1.0 - w - t) * scaled["cf"]
                if t > 0:
                    mixed = mixed + t * scaled["trend"]
                lists[index, part], _ = top_k(mixed.astype(np.float32), k, cf._ranks)
    candidates = [
        BlendCandidate(
            weight=float(w),
            trend_weight=float(t),
            normalisation=norm,
            metrics=ranking_metrics(lists[index], holdout.truth, holdout.relevant, cf.n_items),
        )
        for index, (norm, w, t) in enumerate(configs)
    ]
    best = max(
        range(len(candidates)),
        key=lambda i: (objective_value(candidates[i].metrics, objective), -i),
    )
    return BlendSearch(best=candidates[best], candidates=candidates)


# --- The experiment -----------------------------------------------------------------------------


@dataclass
class _Tuned:
    """Working state of one tuned algorithm: the best trial and its validation-fitted model."""

    trials: list[Trial]
    best: int
    model: Recommender
    validation: Evaluation
    skipped: int

    @property
    def trial(self) -> Trial:
        return self.trials[self.best]


def run_experiment(
    interactions: pd.DataFrame,
    *,
    cutoff: pd.Timestamp | str,
    end: pd.Timestamp | str | None = None,
    validation_days: float = 42.0,
    k: int = 10,
    spaces: Mapping[str, SearchSpace] | Sequence[SearchSpace] | None = None,
    objective: str = "ndcg",
    blend_step: float = 0.1,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    customer_attributes: pd.DataFrame | None = None,
    product_attributes: pd.DataFrame | None = None,
) -> ExperimentResult:
    """Tune on validation, refit, test (module docstring). `interactions` is the interaction
    frame; dates are UTC; `validation_days` is the length of the validation period in days;
    customer/product attributes: static side information by id for the models that use it
    (``data.TrainingData``)."""
    started = time.monotonic()
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    if spaces is None:
        chosen = list(DEFAULT_SPACES.values())
    elif isinstance(spaces, Mapping):
        chosen = list(spaces.values())
    else:
        chosen = list(spaces)
    test_start = utc_timestamp(cutoff)
    validation_start = test_start - pd.Timedelta(days=validation_days)
    split = temporal_split(interactions, test_start, end=end)
    inner = temporal_split(split.train, validation_start)
    train_inner = training_data(
        inner.train,
        now=validation_start,
        customer_attributes=customer_attributes,
        product_attributes=product_attributes,
    )
    holdout_inner = holdout(inner, train_inner)
    train_full = training_data(
        split.train,
        now=test_start,
        customer_attributes=customer_attributes,
        product_attributes=product_attributes,
    )
    holdout_full = holdout(split, train_full)
    if len(holdout_inner.users) == 0:
        raise ValueError("the validation period has no customers to evaluate")

    total = sum(len(space.candidates(seed)) for space in chosen) + len(chosen) + 3
    done = 0

    def progress(step: str, algorithm: str) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(min(done, total), total, step=step, algorithm=algorithm)

    tuned = {
        space.algorithm: _tune(space, train_inner, holdout_inner, k, objective, seed, progress)
        for space in chosen
    }

    final: dict[str, tuple[Recommender, float]] = {}
    models: list[TunedModel] = []
    for name, state in tuned.items():
        model, seconds = fit_recommender(
            name, state.trial.params, train_full, weighting=state.trial.weighting
        )
        final[name] = (model, seconds)
        models.append(
            TunedModel(
                label=name,
                algorithm=name,
                weighting=state.trial.weighting,
                params=state.trial.params,
                validation=state.validation,
                test=evaluate(model, holdout_full, k=k),
                fit_seconds=seconds,
                trials=state.trials,
                skipped_trials=state.skipped,
            )
        )
        progress("refit", name)

    baseline_model, baseline_seconds = fit_recommender("popularity", {}, train_full)
    baseline = TunedModel(
        label="popularity (all-time)",
        algorithm="popularity",
        weighting=None,
        params=baseline_model.get_params(),
        validation=None,
        test=evaluate(baseline_model, holdout_full, k=k),
        fit_seconds=baseline_seconds,
    )
    progress("baseline", "popularity")

    blends: list[TunedModel] = []
    fitted = {name: model for name, (model, _) in final.items()}
    for label, with_trend in ((BLEND, False), (BLEND_TREND, True)):
        found = _tune_blend(
            label, with_trend, tuned, final, holdout_inner, holdout_full, k, objective, blend_step
        )
        if found is not None:
            blends.append(found[0])
            fitted[label] = found[1]
        progress("blend", label)

    def rank(row: TunedModel) -> float:
        assert row.validation is not None
        return objective_value(row.validation.all_items, objective)

    promoted = max([*models, *blends], key=rank).label
    runner_up = max([m for m in models if m.label != promoted], key=rank, default=baseline).label
    fitted.setdefault(baseline.label, baseline_model)
    comparison = paired_bootstrap(
        per_user_ndcg(fitted[promoted], holdout_full, k=k),
        per_user_ndcg(fitted[runner_up], holdout_full, k=k),
        seed=seed,
    )
    return ExperimentResult(
        k=k,
        objective=objective,
        cutoff=test_start.isoformat(),
        validation_cutoff=validation_start.isoformat(),
        end=None if split.end is None else split.end.isoformat(),
        data={
            "validation": {**inner.summary(), **holdout_inner.summary()},
            "test": {**split.summary(), **holdout_full.summary()},
        },
        baseline=baseline,
        models=models,
        blends=blends,
        promoted=promoted,
        runner_up=runner_up,
        comparison=comparison,
        seconds=time.monotonic() - started,
    )


def _tune(
    space: SearchSpace,
    data: TrainingData,
    validation: Holdout,
    k: int,
    objective: str,
    seed: int,
    progress: Callable[[str, str], None],
) -> _Tuned:
    started = time.monotonic()
    trials: list[Trial] = []
    best = -1
    best_model: Recommender | None = None
    best_result: Evaluation | None = None
    candidates = space.candidates(seed)
    for weighting, params in candidates:
        if trials and time.monotonic() - started > space.budget_seconds:
            break
        model, seconds = fit_recommender(space.algorithm, params, data, weighting=weighting)
        result = evaluate(model, validation, k=k)
        trials.append(
            Trial(
                weighting=weighting,
                params=model.get_params(),
                validation=result.all_items,
                validation_new_items=result.new_items,
                fit_seconds=seconds,
            )
        )
        value = objective_value(result.all_items, objective)
        if best < 0 or value > objective_value(trials[best].validation, objective):
            best, best_model, best_result = len(trials) - 1, model, result
        progress("tune", space.algorithm)
    assert best_model is not None and best_result is not None
    return _Tuned(
        trials=trials,
        best=best,
        model=best_model,
        validation=best_result,
        skipped=len(candidates) - len(trials),
    )


def _tune_blend(
    label: str,
    with_trend: bool,
    tuned: Mapping[str, _Tuned],
    final: Mapping[str, tuple[Recommender, float]],
    validation: Holdout,
    test: Holdout,
    k: int,
    objective: str,
    step: float,
) -> tuple[TunedModel, Recommender] | None:
    cf_names = [name for name in tuned if name in CF_ALGORITHMS]
    if "repeat" not in tuned or not cf_names or (with_trend and "popularity" not in tuned):
        return None
    repeat = tuned["repeat"]
    trend = tuned["popularity"] if with_trend else None
    trials: list[Trial] = []
    best: tuple[float, str, BlendCandidate] | None = None
    for name in cf_names:
        search = search_blend_weights(
            repeat.model,
            tuned[name].model,
            validation,
            trend=None if trend is None else trend.model,
            k=k,
            weights=blend_weight_grid(step, trend=with_trend),
            objective=objective,
        )
        for candidate in search.candidates:
            trials.append(
                Trial(
                    weighting=tuned[name].trial.weighting,
                    params={
                        "cf_algorithm": name,
                        "weight": candidate.weight,
                        "trend_weight": candidate.trend_weight,
                        "normalisation": candidate.normalisation,
                    },
                    validation=candidate.metrics,
                    validation_new_items=None,
                    fit_seconds=0.0,
                )
            )
        value = objective_value(search.best.metrics, objective)
        if best is None or value > best[0]:
            best = (value, name, search.best)
    assert best is not None
    _, cf_name, chosen = best
    blend_args: dict[str, Any] = {
        "trend_weight": chosen.trend_weight,
        "normalisation": chosen.normalisation,
    }
    on_validation = Blend.of(
        repeat.model,
        tuned[cf_name].model,
        chosen.weight,
        trend=None if trend is None else trend.model,
        **blend_args,
    )
    seconds = final["repeat"][1] + final[cf_name][1]
    if trend is not None:
        seconds += final["popularity"][1]
    on_test = Blend.of(
        final["repeat"][0],
        final[cf_name][0],
        chosen.weight,
        trend=final["popularity"][0] if trend is not None else None,
        **blend_args,
    )
    row = TunedModel(
        label=label,
        algorithm=Blend.name,
        weighting=tuned[cf_name].trial.weighting,
        params=on_test.get_params(),
        validation=evaluate(on_validation, validation, k=k),
        test=evaluate(on_test, test, k=k),
        fit_seconds=seconds,
        trials=trials,
    )
    return row, on_test


def json_safe(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and mappings/sequences as dicts/lists."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
