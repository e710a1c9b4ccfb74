"""The interface every recommender shares, and top-k ranking.

A recommender is fitted on an interaction matrix and then ranks products for its *training*
customers:

* ``fit(train, *, on_progress=None, **context) -> self``. ``train`` is a CSR matrix (n_users,
  n_items) of non-negative weights (``data.interaction_matrix``; float32 after conversion), users
  and items being the row/column indices of a ``data.TrainingData``. ``context`` carries extra
  inputs by keyword: ``log`` (``data.EventLog``, ages relative to the training time) is used by
  the time-aware algorithms and ignored by the others (``TrainingData.context()`` supplies it).
  ``on_progress(done, total, **metrics)`` is called by fits that take long.
* ``scores(users) -> float32 (len(users), n_items)``: the model's scores, higher is better; the
  scale is the algorithm's own (documented per class).
* ``recommend(users, k, exclude=None) -> (items, scores)``: int64 and float32 arrays of shape
  (len(users), k), best first. ``exclude`` is an optional CSR matrix (len(users), n_items) aligned
  with ``users`` (row r belongs to users[r]); its non-zero cells are never returned (pass the
  customers' training rows to hide already-bought products). Where fewer than k items are
  allowed, the tail is padded with item -1 and score -inf.
* ``similar_items(items, k) -> (items, scores)``: neighbours of each item (the item itself
  excluded), same shapes and padding; ``NotImplementedError`` where the algorithm has no item
  similarity (``supports_similar_items`` says which).
* ``save(path, customers=..., products=...)`` / ``registry.load_recommender(path)``: ``.npz``
  arrays (no pickling) plus the algorithm name and parameters as JSON, optionally with the
  training data's index maps (row → customer id, column → product id).

**Ties.** Scores tie often (every product a customer's neighbours never bought scores 0). Ties are
broken by the training popularity — the number of distinct customers with a non-zero cell in the
training column, most first — then by the lower item index, so an item-less customer gets the
best sellers rather than the lowest ids, and results never depend on hardware or sort stability.
``top_k`` does this exactly: it ranks by an int64 key whose high 32 bits are the float32 score's
order-preserving bit pattern and whose low 32 bits are the tie-break rank.

Work is batched so that at most ``SCORE_BUDGET`` dense scores are held at once. Every algorithm
is deterministic: the same matrix, context and parameters (including ``seed``) give the same
results.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

# on_progress(done, total, **metrics), e.g. on_progress(3, 15, iteration=3) after an ALS sweep.
ProgressCallback = Callable[..., None]

# Dense scores held at once while ranking (float32 scores + int64 keys: about 50 MB).
SCORE_BUDGET = 2_000_000
_LOW_BITS = np.int64(2**32)
_META = "__meta__"


def as_interactions(matrix: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """CSR float32 copy-free where possible, sorted indices; rejects negative weights."""
    result = sp.csr_matrix(matrix, dtype=np.float32)
    if result.nnz and float(result.data.min()) < 0:
        raise ValueError("interaction weights must not be negative")
    if not result.has_sorted_indices:
        result = result.sorted_indices()
    return result


def popularity_ranks(train: sp.csr_matrix) -> IntArray:
    """int64 (n_items,): 0 for the item with the most customers (non-zero cells) in `train`,
    1 for the next...; equal counts in item-index order. The tie-break of ``top_k``."""
    buyers = np.diff(sp.csc_matrix(train).indptr).astype(np.int64)
    order = np.lexsort((np.arange(len(buyers)), -buyers))
    ranks = np.empty(len(buyers), dtype=np.int64)
    ranks[order] = np.arange(len(buyers))
    return ranks


def top_k(
    scores: Float32Array, k: int, tiebreak: IntArray | None = None
) -> tuple[IntArray, Float32Array]:
    """The k best columns of each row of a dense (n, m) score array.

    tiebreak: int64 (m,) rank of each column among equal scores (0 wins; default: the column
    index). NaN counts as -inf. Returns items int64 (n, k) and their scores float32 (n, k), best
    first; cells scoring -inf and columns beyond m are padding (item -1, score -inf).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    values = np.asarray(scores, dtype=np.float32)
    n, m = values.shape
    items = np.full((n, k), -1, dtype=np.int64)
    best = np.full((n, k), -np.inf, dtype=np.float32)
    if n == 0 or m == 0:
        return items, best
    values = np.where(np.isnan(values), np.float32(-np.inf), values) + np.float32(0.0)  # -0 → 0
    bits = values.view(np.int32).astype(np.int64)
    # IEEE-754 floats order like sign-magnitude integers: flip the negative half.
    key = np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)
    ranks = np.arange(m, dtype=np.int64) if tiebreak is None else np.asarray(tiebreak, np.int64)
    composite = key * _LOW_BITS + ((_LOW_BITS - 1) - ranks)[None, :]
    kk = min(k, m)
    if kk < m:
        chosen = np.argpartition(composite, m - kk, axis=1)[:, m - kk :]
    else:
        chosen = np.broadcast_to(np.arange(m), (n, m))
    rows = np.arange(n)[:, None]
    order = np.argsort(composite[rows, chosen], axis=1)[:, ::-1]
    chosen = chosen[rows, order]
    chosen_scores = values[rows, chosen]
    allowed = np.isfinite(chosen_scores) | (chosen_scores > 0)  # +inf is allowed, -inf is not
    items[:, :kk] = np.where(allowed, chosen, -1)
    best[:, :kk] = np.where(allowed, chosen_scores, np.float32(-np.inf))
    return items, best


def batches(n: int, width: int, budget: int = SCORE_BUDGET) -> Iterator[slice]:
    """Consecutive slices of range(n) with at most max(1, budget // width) rows each."""
    step = max(1, budget // max(1, width))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def mask_cells(scores: Float32Array, mask: sp.csr_matrix) -> None:
    """Set scores[r, c] = -inf in place for every non-zero cell of `mask` (same shape)."""
    coo = sp.coo_matrix(mask)
    nonzero = coo.data != 0
    scores[coo.row[nonzero], coo.col[nonzero]] = -np.inf


class Recommender(ABC):
    """Base of every algorithm (module docstring). Subclasses set ``name`` and ``Params`` (a
    frozen dataclass with defaults) and implement ``_fit``, ``_scores`` and, if they can,
    ``_item_scores``; ``_state`` / ``_restore`` carry the fitted arrays for save/load."""

    name: ClassVar[str]
    Params: ClassVar[type[Any]]
    supports_similar_items: ClassVar[bool] = False

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        base = self.Params() if params is None else params
        if not isinstance(base, self.Params):
            raise TypeError(f"{type(self).__name__} takes {self.Params.__name__}")
        self.params = dataclasses.replace(base, **overrides) if overrides else base
        self.n_users = 0
        self.n_items = 0
        self.fitted = False
        self._ranks: IntArray = np.zeros(0, dtype=np.int64)
        # Index maps loaded with a saved model (see save); None otherwise.
        self.customer_ids: IntArray | None = None
        self.product_ids: IntArray | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    # --- fitting ----------------------------------------------------------------------------

    def fit(
        self,
        train: sp.csr_matrix | sp.spmatrix,
        *,
        on_progress: ProgressCallback | None = None,
        **context: Any,
    ) -> Self:
        """Fit on a CSR (n_users, n_items) interaction matrix; ``context`` as in the module
        docstring. Returns self."""
        matrix = as_interactions(train)
        self.n_users, self.n_items = matrix.shape
        self._ranks = popularity_ranks(matrix)
        self._fit(matrix, context, on_progress)
        self.fitted = True
        return self

    @abstractmethod
    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None: ...

    # --- scoring ----------------------------------------------------------------------------

    def scores(self, users: IntArray | list[int]) -> Float32Array:
        """float32 (len(users), n_items): the model's scores of every item for these users."""
        index = self._check_users(users)
        if len(index) == 0:
            return np.zeros((0, self.n_items), dtype=np.float32)
        return np.asarray(self._scores(index), dtype=np.float32)

    @abstractmethod
    def _scores(self, users: IntArray) -> Float32Array:
        """float32 (len(users), n_items) for valid, non-empty user indices."""

    def recommend(
        self,
        users: IntArray | list[int],
        k: int,
        exclude: sp.csr_matrix | sp.spmatrix | None = None,
    ) -> tuple[IntArray, Float32Array]:
        """Top-k items for each user (module docstring); items (n, k) int64, scores float32."""
        index = self._check_users(users)
        mask = None
        if exclude is not None:
            mask = sp.csr_matrix(exclude)
            if mask.shape != (len(index), self.n_items):
                raise ValueError(
                    f"exclude must have shape {(len(index), self.n_items)}, not {mask.shape}"
                )
        items = np.full((len(index), k), -1, dtype=np.int64)
        values = np.full((len(index), k), -np.inf, dtype=np.float32)
        for part in batches(len(index), self.n_items):
            block = np.array(self._scores(index[part]), dtype=np.float32)
            if mask is not None:
                mask_cells(block, mask[part])
            items[part], values[part] = top_k(block, k, self._ranks)
        return items, values

    def similar_items(self, items: IntArray | list[int], k: int) -> tuple[IntArray, Float32Array]:
        """The k items most similar to each item (itself excluded); (n, k) int64 / float32,
        padded with -1 / -inf. NotImplementedError when ``supports_similar_items`` is False."""
        if not self.supports_similar_items:
            raise NotImplementedError(f"{self.name} has no item similarity")
        index = self._check_index(items, self.n_items, "item")
        result = np.full((len(index), k), -1, dtype=np.int64)
        values = np.full((len(index), k), -np.inf, dtype=np.float32)
        for part in batches(len(index), self.n_items):
            block = np.array(self._item_scores(index[part]), dtype=np.float32)
            block[np.arange(len(block)), index[part]] = -np.inf
            result[part], values[part] = top_k(block, k, self._ranks)
        return result, values

    def _item_scores(self, items: IntArray) -> Float32Array:
        """float32 (len(items), n_items) similarity of each item to every item; -inf = never
        similar (not a neighbour)."""
        raise NotImplementedError

    # --- persistence ------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The parameters as a JSON-safe dict."""
        return dataclasses.asdict(self.params)

    def save(
        self,
        path: str | Path,
        *,
        customers: IntArray | None = None,
        products: IntArray | None = None,
    ) -> None:
        """Write the fitted model to `path` (``.npz``; arrays only, no pickles). customers /
        products: the index maps of the training data (``TrainingData.customers`` /
        ``.products``, int64 ids per row / column) to keep with the model; loaded back as
        ``customer_ids`` / ``product_ids`` (None when not saved)."""
        self._require_fitted()
        arrays = {f"a:{key}": value for key, value in self._state().items()}
        for key, ids, size in (("ids:customers", customers, self.n_users),
                               ("ids:products", products, self.n_items)):  # fmt: skip
            if ids is not None:
                if len(ids) != size:
                    raise ValueError(f"{key[4:]} must have {size} ids, not {len(ids)}")
                arrays[key] = np.asarray(ids, dtype=np.int64)
        meta = {
            "algorithm": self.name,
            "params": self.get_params(),
            "n_users": self.n_users,
            "n_items": self.n_items,
        }
        arrays[_META] = np.array(json.dumps(meta))
        arrays["ranks"] = self._ranks
        with Path(path).open("wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Self:
        """A fitted model from ``save``'s content (used by ``registry.load_recommender``)."""
        model = cls(cls.Params(**meta["params"]))
        model.n_users = int(meta["n_users"])
        model.n_items = int(meta["n_items"])
        model._ranks = np.asarray(arrays["ranks"], dtype=np.int64)
        model._restore({key[2:]: value for key, value in arrays.items() if key.startswith("a:")})
        model.fitted = True
        if "ids:customers" in arrays:
            model.customer_ids = np.asarray(arrays["ids:customers"], dtype=np.int64)
        if "ids:products" in arrays:
            model.product_ids = np.asarray(arrays["ids:products"], dtype=np.int64)
        return model

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """The fitted arrays by name (sparse matrices via ``sparse_state``)."""

    @abstractmethod
    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Inverse of ``_state``."""

    # --- helpers ----------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted")

    def _check_users(self, users: IntArray | list[int]) -> IntArray:
        self._require_fitted()
        return self._check_index(users, self.n_users, "user")

    @staticmethod
    def _check_index(values: IntArray | list[int], size: int, what: str) -> IntArray:
        index = np.asarray(values, dtype=np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= size):
            raise IndexError(f"{what} indices must be in [0, {size})")
        return index


def sparse_state(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays under ``prefix.data`` / ``.indices`` / ``.indptr`` /
    ``.shape`` (for ``Recommender._state``)."""
    return {
        f"{prefix}.data": matrix.data,
        f"{prefix}.indices": matrix.indices,
        f"{prefix}.indptr": matrix.indptr,
        f"{prefix}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def sparse_from_state(prefix: str, state: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    """Inverse of ``sparse_state``."""
    shape = tuple(int(v) for v in state[f"{prefix}.shape"])
    return sp.csr_matrix(
        (state[f"{prefix}.data"], state[f"{prefix}.indices"], state[f"{prefix}.indptr"]),
        shape=shape,
    )


def row_minmax(scores: Float32Array) -> Float32Array:
    """Each row scaled to [0, 1] by its own min and max (finite values only); constant rows
    become 0; -inf stays -inf. Used to put different algorithms' scores on one scale."""
    values = np.asarray(scores, dtype=np.float32)
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf).min(axis=1, keepdims=True)
    high = np.where(finite, values, -np.inf).max(axis=1, keepdims=True)
    span = high - low
    safe = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    scaled = np.where(np.isfinite(span) & (span > 0), (values - low) / safe, 0.0)
    return np.where(finite, scaled, values).astype(np.float32)
