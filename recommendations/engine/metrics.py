"""Top-k ranking metrics with binary relevance, vectorised over customers.

Inputs: ``recommended`` int64 (n, k) item indices per customer, best first, no repeats within a
row, -1 = no item (padding); ``truth`` CSR (n, m) whose non-zero cells are the relevant items
that can be recommended; ``relevant`` int64 (n,) the number of relevant items of each customer,
which may exceed the row's non-zeros (relevant items outside the catalogue can never be hit but
still count). ``hits`` is the bool (n, k) matrix "recommended[u, j] is relevant".

Per customer (functions return float64 (n,); a customer with relevant = 0 gets 0, and
``ranking_metrics`` leaves such customers out of the averages):

* precision@k = hits / k (padding counts as a miss: k is the list length asked for);
* recall@k = hits / relevant;
* hit rate@k = 1 if at least one hit, else 0;
* NDCG@k = DCG / IDCG with DCG = Σ_j hit_j / log2(j + 2) (j = 0 is the first position) and IDCG
  the DCG of min(relevant, k) hits in the first positions;
* AP@k = Σ_j precision@(j+1) · hit_j / min(relevant, k); MAP@k is its mean.

Catalogue coverage = distinct items recommended to the evaluated customers / n_items (0–1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def hit_matrix(recommended: IntArray, truth: sp.csr_matrix) -> BoolArray:
    """bool (n, k): recommended[u, j] >= 0 and truth[u, recommended[u, j]] != 0."""
    items = np.asarray(recommended, dtype=np.int64)
    n, _ = items.shape
    matrix = sp.csr_matrix(truth)
    if matrix.shape[0] != n:
        raise ValueError("recommended and truth must have the same number of rows")
    matrix.eliminate_zeros()
    m = matrix.shape[1]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(matrix.indptr))
    truth_keys = np.sort(rows * m + matrix.indices.astype(np.int64))
    valid = (items >= 0) & (items < m)
    keys = np.arange(n, dtype=np.int64)[:, None] * m + np.where(valid, items, 0)
    if len(truth_keys) == 0:
        return np.zeros(items.shape, dtype=np.bool_)
    position = np.minimum(np.searchsorted(truth_keys, keys), len(truth_keys) - 1)
    return valid & (truth_keys[position] == keys)


def precision_at_k(hits: BoolArray) -> FloatArray:
    return np.asarray(hits.sum(axis=1), dtype=np.float64) / hits.shape[1]


def recall_at_k(hits: BoolArray, relevant: IntArray) -> FloatArray:
    count = hits.sum(axis=1).astype(np.float64)
    return _divide(count, np.asarray(relevant, dtype=np.float64))


def hit_rate_at_k(hits: BoolArray) -> FloatArray:
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def ndcg_at_k(hits: BoolArray, relevant: IntArray) -> FloatArray:
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = (hits * discounts[None, :]).sum(axis=1)
    ideal_counts = np.minimum(np.asarray(relevant, dtype=np.int64), k)
    ideal = np.r_[0.0, np.cumsum(discounts)][ideal_counts]
    return _divide(dcg, ideal)


def average_precision_at_k(hits: BoolArray, relevant: IntArray) -> FloatArray:
    k = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)[None, :]
    total = (precision_at * hits).sum(axis=1)
    return _divide(total, np.minimum(np.asarray(relevant, dtype=np.float64), k))


def catalogue_coverage(recommended: IntArray, n_items: int) -> float:
    """Distinct valid items in `recommended` / n_items (0 when n_items is 0)."""
    items = np.asarray(recommended, dtype=np.int64)
    distinct = np.unique(items[(items >= 0) & (items < n_items)])
    return float(len(distinct) / n_items) if n_items else 0.0


def _divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.asarray(np.where(denominator > 0, numerator / safe, 0.0), dtype=np.float64)


@dataclass(frozen=True)
class RankingMetrics:
    """Means over the evaluated customers (those with relevant > 0) of the metrics @k, plus
    catalogue coverage (module docstring); ``users`` is how many customers were evaluated."""

    k: int
    users: int
    precision: float
    recall: float
    ndcg: float
    map: float
    hit_rate: float
    coverage: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def ranking_metrics(
    recommended: IntArray, truth: sp.csr_matrix, relevant: IntArray, n_items: int
) -> RankingMetrics:
    """RankingMetrics at k = recommended.shape[1] over the rows with relevant > 0."""
    items = np.asarray(recommended, dtype=np.int64)
    counts = np.asarray(relevant, dtype=np.int64)
    rows = np.flatnonzero(counts > 0)
    k = items.shape[1]
    if len(rows) == 0:
        return RankingMetrics(k, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    items, counts = items[rows], counts[rows]
    hits = hit_matrix(items, sp.csr_matrix(truth)[rows])
    return RankingMetrics(
        k=k,
        users=len(rows),
        precision=float(precision_at_k(hits).mean()),
        recall=float(recall_at_k(hits, counts).mean()),
        ndcg=float(ndcg_at_k(hits, counts).mean()),
        map=float(average_precision_at_k(hits, counts).mean()),
        hit_rate=float(hit_rate_at_k(hits).mean()),
        coverage=catalogue_coverage(items, n_items),
    )


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) over customers with a seeded percentile-bootstrap confidence interval
    [low, high] at ``level`` (e.g. 0.95) from ``rounds`` resamples of customers."""

    mean: float
    low: float
    high: float
    level: float
    rounds: int
    users: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paired_bootstrap(
    a: FloatArray, b: FloatArray, *, rounds: int = 2000, level: float = 0.95, seed: int = 0
) -> PairedDifference:
    """The mean per-customer difference a - b (float64 (n,) each, same customers in the same
    order) and its bootstrap interval (customers resampled with replacement)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(diff)
    if n == 0:
        return PairedDifference(0.0, 0.0, 0.0, level, rounds, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(rounds, dtype=np.float64)
    for start in range(0, rounds, 100):
        stop = min(rounds, start + 100)
        means[start:stop] = diff[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedDifference(float(diff.mean()), float(low), float(high), level, rounds, n)
