"""EASE: closed-form linear item-to-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

From the weighted interaction matrix R (n_users, n_items) of ``fit``, with G = RᵀR + λI and
P = G⁻¹, the item weights are B = I - P · diag(1 / diag(P)), i.e. B[i, j] = -P[i, j] / P[j, j]
for i != j and B[j, j] = 0: the ridge regression of each item's column on all the other columns,
with the constraint that an item may not predict itself. score(u, j) = Σ_i r(u, i) B[i, j]
(unbounded; can be negative). ``similar_items(i)`` ranks j by B[i, j] (how much buying i raises
j's score).

**Memory.** B is a dense item × item matrix: the fit holds about three float64 copies of it
(8 bytes · m² each, e.g. 3 · 200 MB at 5,000 items). Only the ``max_items`` items with the most
customers (ties: lower index) take part; the others get the customer's lowest modelled score, so
they rank after the modelled items (ties go to the more popular, i.e. modelled, items) and have no
similar items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    Recommender,
    sparse_from_state,
    sparse_state,
)


@dataclass(frozen=True)
class EaseParams:
    """l2: λ, added to the diagonal of RᵀR (units of squared interaction weights);
    max_items: the largest item × item matrix built (see the memory note)."""

    l2: float = 200.0
    max_items: int = 5_000

    def __post_init__(self) -> None:
        if not self.l2 > 0:
            raise ValueError("l2 must be positive")
        if self.max_items < 1:
            raise ValueError("max_items must be at least 1")


class EASE(Recommender):
    """Closed-form item-to-item regression (module docstring)."""

    name = "ease"
    Params = EaseParams
    supports_similar_items = True

    def __init__(self, params: EaseParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.items = np.zeros(0, dtype=np.int64)
        self.weights = np.zeros((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        params: EaseParams = self.params
        m = train.shape[1]
        if m > params.max_items:
            items = np.sort(np.argsort(self._ranks, kind="stable")[: params.max_items])
        else:
            items = np.arange(m)
        self.items = items.astype(np.int64)
        sub = sp.csc_matrix(train[:, items], dtype=np.float64)
        gram = np.asarray((sub.T @ sub).toarray(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += params.l2
        # G is symmetric positive definite: Cholesky inversion is stable and about twice as fast.
        inverse = scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(gram, lower=True, overwrite_a=True),
            np.eye(len(items)),
            overwrite_b=True,
        )
        weights = inverse / -np.diag(inverse)[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        self.user_items = sp.csr_matrix(train[:, items])
        if on_progress is not None:
            on_progress(1, 1)

    def _scores(self, users: IntArray) -> Float32Array:
        partial = np.asarray(self.user_items[users] @ self.weights, dtype=np.float32)
        if len(self.items) == self.n_items:
            return partial
        floor = partial.min(axis=1, keepdims=True) if partial.shape[1] else 0.0
        scores = np.broadcast_to(floor, (len(users), self.n_items)).astype(np.float32)
        scores[:, self.items] = partial
        return scores

    def _item_scores(self, items: IntArray) -> Float32Array:
        scores = np.full((len(items), self.n_items), -np.inf, dtype=np.float32)
        position = np.full(self.n_items, -1, dtype=np.int64)
        position[self.items] = np.arange(len(self.items))
        inside = position[items] >= 0
        rows = np.flatnonzero(inside)
        scores[rows[:, None], self.items[None, :]] = self.weights[position[items[inside]]]
        return scores

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "items": self.items,
            "weights": self.weights,
            **sparse_state("R", self.user_items),
        }

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.items = np.asarray(state["items"], dtype=np.int64)
        self.weights = np.asarray(state["weights"], dtype=np.float32)
        self.user_items = sparse_from_state("R", state)
