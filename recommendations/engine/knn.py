"""Neighbourhood collaborative filtering with cosine similarity: item-based and user-based.

The interaction matrix R (n_users, n_items) is the weighted matrix of ``fit`` (see
``data.interaction_matrix``); r(u, i) is a cell.

**Cosine** between two vectors x, y (item columns or customer rows of R) with shrinkage λ >= 0:
``sim(x, y) = x·y / (‖x‖ ‖y‖ + λ)``. With λ = 0 it is the plain cosine (two customers who bought
two items with weights 5, 3 and 4, 2 have 26 / (√34 · √20) = 0.99705); λ > 0 pulls similarities
that rest on few shared customers towards 0. Only the ``neighbours`` largest positive
similarities of each vector to the *other* vectors are kept (ties: lower index first); the rest
count as 0.

* ``ItemKNN``: score(u, i) = Σ_j sim(i, j) · r(u, j) over the kept neighbours j of i (i itself
  excluded), i.e. scores = R · Sᵀ with S the kept item–item similarities (row i = neighbours of
  i). ``similar_items`` returns the kept neighbours.
* ``UserKNN``: score(u, i) = Σ_v sim(u, v) · r(v, i) over the kept neighbours v of u (u itself
  excluded), i.e. scores = S · R with S the kept user–user similarities.

Scores are in "similarity × weight" units (not bounded). Similarities are computed in blocks of
rows (dense blocks of at most ``base.SCORE_BUDGET`` cells) in float64 and stored as CSR float32.
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
    batches,
    sparse_from_state,
    sparse_state,
    top_k,
)


def cosine_neighbours(
    vectors: sp.csr_matrix,
    neighbours: int,
    shrinkage: float = 0.0,
    on_progress: ProgressCallback | None = None,
) -> sp.csr_matrix:
    """CSR float32 (n, n): row a holds the `neighbours` largest positive cosine similarities
    (module docstring) of vector a (row a of `vectors`, shape (n, d)) to the other rows; the
    diagonal is never stored. on_progress(done_rows, n) after each block."""
    if neighbours < 1:
        raise ValueError("neighbours must be at least 1")
    if shrinkage < 0:
        raise ValueError("shrinkage must not be negative")
    data = sp.csr_matrix(vectors, dtype=np.float64)
    n = data.shape[0]
    norms = np.sqrt(np.asarray(data.multiply(data).sum(axis=1)).ravel())
    transposed = data.T.tocsr()
    keep = min(neighbours, max(n - 1, 1))
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    values: list[np.ndarray] = []
    for part in batches(n, n):
        index = np.arange(part.start, part.stop)
        dots = np.asarray((data[part] @ transposed).toarray(), dtype=np.float64)
        denominator = norms[index, None] * norms[None, :] + shrinkage
        with np.errstate(divide="ignore", invalid="ignore"):
            sims = np.where(denominator > 0, dots / denominator, 0.0)
        sims[np.arange(len(index)), index] = 0.0
        sims = np.where(sims > 0, sims, -np.inf).astype(np.float32)
        best, scores = top_k(sims, keep)
        found = best >= 0
        rows.append(np.repeat(index, found.sum(axis=1)))
        cols.append(best[found])
        values.append(scores[found])
        if on_progress is not None:
            on_progress(part.stop, n)
    result = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    result.sort_indices()
    return result


def sparse_rows_dense(matrix: sp.csr_matrix, rows: IntArray, missing: float) -> Float32Array:
    """float32 (len(rows), n_cols): the rows of a CSR matrix with `missing` where no value is
    stored (so a stored 0 and an absent cell differ)."""
    part = sp.csr_matrix(matrix[rows])
    dense = np.full(part.shape, missing, dtype=np.float32)
    counts = np.diff(part.indptr)
    dense[np.repeat(np.arange(part.shape[0]), counts), part.indices] = part.data
    return dense


@dataclass(frozen=True)
class KnnParams:
    """neighbours: similarities kept per item (ItemKNN) or customer (UserKNN); shrinkage: λ of
    the cosine denominator (module docstring), in the units of ‖x‖‖y‖."""

    neighbours: int = 100
    shrinkage: float = 0.0

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        if self.shrinkage < 0:
            raise ValueError("shrinkage must not be negative")


class ItemKNN(Recommender):
    """Item-based CF: score(u, i) = Σ_j sim(i, j) r(u, j) over i's kept neighbours."""

    name = "item_knn"
    Params = KnnParams
    supports_similar_items = True

    def __init__(self, params: KnnParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)
        self._scoring = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        params: KnnParams = self.params
        self.user_items = train
        self.similarity = cosine_neighbours(
            train.T.tocsr(), params.neighbours, params.shrinkage, on_progress
        )
        self._scoring = self.similarity.T.tocsr()

    def _scores(self, users: IntArray) -> Float32Array:
        return np.asarray((self.user_items[users] @ self._scoring).toarray(), dtype=np.float32)

    def _item_scores(self, items: IntArray) -> Float32Array:
        return sparse_rows_dense(self.similarity, items, -np.inf)

    def _state(self) -> dict[str, np.ndarray]:
        return {**sparse_state("similarity", self.similarity), **sparse_state("R", self.user_items)}

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.similarity = sparse_from_state("similarity", state)
        self.user_items = sparse_from_state("R", state)
        self._scoring = self.similarity.T.tocsr()


class UserKNN(Recommender):
    """User-based CF: score(u, i) = Σ_v sim(u, v) r(v, i) over u's kept neighbours."""

    name = "user_knn"
    Params = KnnParams

    def __init__(self, params: KnnParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.user_items = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        params: KnnParams = self.params
        self.user_items = train
        self.similarity = cosine_neighbours(train, params.neighbours, params.shrinkage, on_progress)

    def _scores(self, users: IntArray) -> Float32Array:
        return np.asarray((self.similarity[users] @ self.user_items).toarray(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {**sparse_state("similarity", self.similarity), **sparse_state("R", self.user_items)}

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.similarity = sparse_from_state("similarity", state)
        self.user_items = sparse_from_state("R", state)
