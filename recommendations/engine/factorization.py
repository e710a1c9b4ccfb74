"""Matrix factorisation through the ``implicit`` library (pinned 0.7.2): ALS and BPR.

Both learn customer factors U (n_users, f) and item factors V (n_items, f) from the weighted
interaction matrix R of ``fit``; score(u, i) = U[u] · V[i] (unbounded, no unit). Similar items are
ranked by the cosine of their factor vectors.

* ``ALS``: implicit-feedback ALS (Hu, Koren & Volinsky 2008) with the conjugate-gradient solver;
  the confidence of a cell is ``alpha · r(u, i)`` (``implicit``'s convention), ``regularization``
  is the L2 weight, ``iterations`` full sweeps.
* ``BPR``: Bayesian personalised ranking by SGD over (customer, bought, not bought) triples;
  ``implicit`` uses only which cells are non-zero (the weights do not matter) and appends an item
  bias, so V has f + 1 columns and U a matching column of ones.

Determinism and threads: factors are initialised from ``seed``. ALS solves every customer (item)
independently given the other side, so its result does not depend on ``num_threads``; BPR's
lock-free parallel SGD does, so BPR always runs on one thread. During the fit OpenBLAS/MKL are
limited to one thread (threadpoolctl), as ``implicit`` recommends: its own threads plus BLAS
threads would oversubscribe the cores. ``implicit`` is imported when a model is fitted, not when
this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    Recommender,
)


def _limited_blas() -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class _FactorModel(Recommender):
    """Shared scoring and persistence of factor models (U, V as float32 arrays)."""

    supports_similar_items = True

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def _scores(self, users: IntArray) -> Float32Array:
        return np.asarray(self.user_factors[users] @ self.item_factors.T, dtype=np.float32)

    def _item_scores(self, items: IntArray) -> Float32Array:
        norms = np.linalg.norm(self.item_factors, axis=1)
        unit = self.item_factors / np.where(norms > 0, norms, 1.0)[:, None]
        return np.asarray(unit[items] @ unit.T, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.user_factors = np.asarray(state["user_factors"], dtype=np.float32)
        self.item_factors = np.asarray(state["item_factors"], dtype=np.float32)

    def _keep_factors(self, model: Any) -> None:
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)


def _callback(on_progress: ProgressCallback | None, total: int) -> Any:
    if on_progress is None:
        return None

    def report(iteration: int, elapsed: float, *rest: Any) -> None:
        on_progress(iteration + 1, total, seconds=elapsed)

    return report


@dataclass(frozen=True)
class AlsParams:
    """factors: f; regularization: L2 weight; alpha: confidence scale (confidence = alpha ·
    weight); iterations: ALS sweeps; seed: initialisation; num_threads: solver threads (0 = all
    cores; the result does not depend on it)."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    seed: int = 0
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.factors < 1 or self.iterations < 1:
            raise ValueError("factors and iterations must be at least 1")
        if self.regularization < 0 or not self.alpha > 0:
            raise ValueError("regularization must be >= 0 and alpha > 0")


class ALS(_FactorModel):
    """Implicit-feedback ALS (module docstring)."""

    name = "als"
    Params = AlsParams

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        params: AlsParams = self.params
        with _limited_blas():
            model = AlternatingLeastSquares(
                factors=params.factors,
                regularization=params.regularization,
                alpha=params.alpha,
                iterations=params.iterations,
                num_threads=params.num_threads,
                random_state=params.seed,
            )
            model.fit(
                train,
                show_progress=False,
                callback=_callback(on_progress, params.iterations),
            )
        self._keep_factors(model)


@dataclass(frozen=True)
class BprParams:
    """factors: f (plus an item bias); learning_rate and regularization of the SGD;
    iterations: epochs over the non-zero cells; seed: initialisation and sampling."""

    factors: int = 64
    learning_rate: float = 0.05
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.factors < 1 or self.iterations < 1:
            raise ValueError("factors and iterations must be at least 1")
        if not self.learning_rate > 0 or self.regularization < 0:
            raise ValueError("learning_rate must be > 0 and regularization >= 0")


class BPR(_FactorModel):
    """Bayesian personalised ranking (module docstring); single-threaded for determinism."""

    name = "bpr"
    Params = BprParams

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        params: BprParams = self.params
        with _limited_blas():
            model = BayesianPersonalizedRanking(
                factors=params.factors,
                learning_rate=params.learning_rate,
                regularization=params.regularization,
                iterations=params.iterations,
                num_threads=1,
                random_state=params.seed,
            )
            model.fit(
                train,
                show_progress=False,
                callback=_callback(on_progress, params.iterations),
            )
        self._keep_factors(model)
