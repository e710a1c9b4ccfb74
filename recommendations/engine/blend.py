"""Blend: repeat purchase + collaborative filtering (+ optionally a trend term), per customer.

score(u, i) = w_r · norm_u(repeat(u, i)) + w_c · norm_u(cf(u, i)) + w_t · norm_u(trend(i))

with w_r = ``weight``, w_t = ``trend_weight`` and w_c = 1 - w_r - w_t (all >= 0). norm_u rescales
the customer's row of scores over all items, so the algorithms' own scales do not matter, only
each customer's ordering and relative gaps:

* ``"zscore"`` (default): (s - mean_u) / std_u (a constant row becomes 0);
* ``"minmax"``: (s - min_u) / (max_u - min_u) in [0, 1] (a constant row becomes 0).

Components: ``baselines.RepeatPurchase`` with ``repeat_params``; the registered algorithm
``cf_algorithm`` with ``cf_params`` (``registry.ALGORITHMS``); and, when ``trend_weight`` > 0, a
``baselines.Popularity`` with ``trend_params`` (typically recent, decayed popularity: what is
selling now). Retail customers reorder their staples, so a high w_r puts their own products
first, and the CF and trend terms order the rest and break ties among the staples. The weights
and the normalisation are tuned on validation data (``tuning.search_blend_weights``). With
already-bought items excluded (new-item recommendations) the repeat term is a per-customer
constant over the remaining items, so only the CF and trend terms rank them.

``fit`` fits every component on the same matrix and context; ``Blend.of`` wraps components that
are already fitted on the same matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    Recommender,
    row_minmax,
)
from recommendations.engine.baselines import (
    Popularity,
    PopularityParams,
    RepeatPurchase,
    RepeatPurchaseParams,
)

ZSCORE = "zscore"
MINMAX = "minmax"
NORMALISATIONS = (ZSCORE, MINMAX)


def row_zscore(scores: Float32Array) -> Float32Array:
    """Each row standardised by its own mean and standard deviation (finite values only);
    constant rows become 0; -inf stays -inf."""
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)
    count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    clean = np.where(finite, values, 0.0)
    mean = clean.sum(axis=1, keepdims=True) / count
    spread = np.sqrt((np.where(finite, values - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count)
    scale = np.where(spread > 0, spread, 1.0)
    scaled = np.where(spread > 0, (values - mean) / scale, 0.0)
    return np.where(finite, scaled, values).astype(np.float32)


def normalise_rows(scores: Float32Array, normalisation: str) -> Float32Array:
    """``row_zscore`` or ``base.row_minmax`` by name (NORMALISATIONS)."""
    if normalisation == ZSCORE:
        return row_zscore(scores)
    if normalisation == MINMAX:
        return row_minmax(scores)
    raise ValueError(f"unknown normalisation {normalisation!r}; choose one of {NORMALISATIONS}")


def blend_scores(
    repeat: Float32Array,
    cf: Float32Array,
    weight: float,
    *,
    trend: Float32Array | None = None,
    trend_weight: float = 0.0,
    normalisation: str = ZSCORE,
) -> Float32Array:
    """float32 (n, m): the module docstring's formula on score arrays of equal shape."""
    mixed = weight * normalise_rows(repeat, normalisation)
    mixed = mixed + (1.0 - weight - trend_weight) * normalise_rows(cf, normalisation)
    if trend is not None and trend_weight > 0:
        mixed = mixed + trend_weight * normalise_rows(trend, normalisation)
    return np.asarray(mixed, dtype=np.float32)


@dataclass(frozen=True)
class BlendParams:
    """weight: w_r of the repeat term; trend_weight: w_t of the trend term (the CF term gets
    1 - w_r - w_t); normalisation: "zscore" or "minmax"; cf_algorithm: a name in
    ``registry.ALGORITHMS``; cf_params / repeat_params / trend_params: the components'
    parameters as dicts."""

    weight: float = 0.5
    trend_weight: float = 0.0
    normalisation: str = ZSCORE
    cf_algorithm: str = "ease"
    cf_params: Mapping[str, Any] = field(default_factory=dict)
    repeat_params: Mapping[str, Any] = field(default_factory=dict)
    trend_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0.0 <= self.weight <= 1.0 and 0.0 <= self.trend_weight <= 1.0):
            raise ValueError("weights must be between 0 and 1")
        if self.weight + self.trend_weight > 1.0 + 1e-9:
            raise ValueError("weight + trend_weight must not exceed 1")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}")
        if self.cf_algorithm == Blend.name:
            raise ValueError("a blend cannot contain a blend")


class Blend(Recommender):
    """w_r · repeat + w_c · CF + w_t · trend, each normalised per customer (module docstring)."""

    name = "blend"
    Params = BlendParams

    def __init__(self, params: BlendParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.repeat: Recommender | None = None
        self.cf: Recommender | None = None
        self.trend: Recommender | None = None

    @classmethod
    def of(
        cls,
        repeat: Recommender,
        cf: Recommender,
        weight: float,
        *,
        trend: Recommender | None = None,
        trend_weight: float = 0.0,
        normalisation: str = ZSCORE,
    ) -> Self:
        """A fitted blend of fitted components trained on the same matrix."""
        parts = [repeat, cf] + ([trend] if trend is not None else [])
        if not all(part.fitted for part in parts):
            raise ValueError("every component must be fitted")
        if len({(part.n_users, part.n_items) for part in parts}) != 1:
            raise ValueError("the components were fitted on different matrices")
        if trend_weight > 0 and trend is None:
            raise ValueError("trend_weight > 0 needs a trend component")
        blend = cls(
            BlendParams(
                weight=weight,
                trend_weight=trend_weight if trend is not None else 0.0,
                normalisation=normalisation,
                cf_algorithm=cf.name,
                cf_params=cf.get_params(),
                repeat_params=repeat.get_params(),
                trend_params={} if trend is None else trend.get_params(),
            )
        )
        blend.repeat, blend.cf = repeat, cf
        blend.trend = trend if blend.params.trend_weight > 0 else None
        blend.n_users, blend.n_items = cf.n_users, cf.n_items
        blend._ranks = cf._ranks
        blend.fitted = True
        return blend

    def _components(self) -> dict[str, Recommender]:
        from recommendations.engine.registry import create_recommender

        params: BlendParams = self.params
        parts: dict[str, Recommender] = {
            "repeat": RepeatPurchase(RepeatPurchaseParams(**params.repeat_params)),
            "cf": create_recommender(params.cf_algorithm, params.cf_params),
        }
        if params.trend_weight > 0:
            parts["trend"] = Popularity(PopularityParams(**params.trend_params))
        return parts

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        parts = self._components()
        for key, part in parts.items():
            part.fit(train, on_progress=on_progress if key == "cf" else None, **context)
        self.repeat, self.cf, self.trend = parts["repeat"], parts["cf"], parts.get("trend")

    def _scores(self, users: IntArray) -> Float32Array:
        assert self.repeat is not None and self.cf is not None
        params: BlendParams = self.params
        return blend_scores(
            self.repeat.scores(users),
            self.cf.scores(users),
            params.weight,
            trend=None if self.trend is None else self.trend.scores(users),
            trend_weight=params.trend_weight,
            normalisation=params.normalisation,
        )

    def _parts(self) -> dict[str, Recommender]:
        parts = {"repeat": self.repeat, "cf": self.cf, "trend": self.trend}
        return {key: part for key, part in parts.items() if part is not None}

    def _state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        for key, part in self._parts().items():
            state.update({f"{key}/{name}": value for name, value in part._state().items()})
        return state

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        parts = self._components()
        for key, part in parts.items():
            prefix = f"{key}/"
            own = {name: value for name, value in state.items() if name.startswith(prefix)}
            part._restore({name[len(prefix) :]: value for name, value in own.items()})
            part.n_users, part.n_items = self.n_users, self.n_items
            part._ranks = self._ranks
            part.fitted = True
        self.repeat, self.cf, self.trend = parts["repeat"], parts["cf"], parts.get("trend")

    def get_params(self) -> dict[str, Any]:
        """The parameters as a JSON-safe dict; once fitted, the components' parameters are
        complete (defaults filled in)."""
        params: BlendParams = self.params
        return {
            "weight": params.weight,
            "trend_weight": params.trend_weight,
            "normalisation": params.normalisation,
            "cf_algorithm": params.cf_algorithm,
            "cf_params": dict(params.cf_params) if self.cf is None else self.cf.get_params(),
            "repeat_params": (
                dict(params.repeat_params) if self.repeat is None else self.repeat.get_params()
            ),
            "trend_params": (
                dict(params.trend_params) if self.trend is None else self.trend.get_params()
            ),
        }
