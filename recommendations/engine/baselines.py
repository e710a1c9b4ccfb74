"""Non-personalised and own-history baselines: popularity and repeat purchase.

Both read the event log from the fit context (``fit(train, log=EventLog)``; see
``data.TrainingData.context``): one entry per (customer, product, order) with its age in days
before the training time. A decay with half-life h weighs an event of age a days by
``exp(-ln 2 · a / h)`` (1 today, 1/2 after h days).

* ``Popularity``: the same score for every customer — the number of orders containing the item,
  counting only orders younger than ``window_days`` (all when None) and decayed with
  ``half_life_days`` (no decay when None). All-time popularity is the default; "recent" is a window
  and/or a half-life. Unit: (decayed) orders.
* ``RepeatPurchase``: the customer's own products, score(u, i) = n(u, i)^count_exponent ·
  exp(-ln 2 · age(u, i) / half_life_days), with n the number of orders of i by u and age the days
  since the last of them; 0 for products the customer never bought. Retail customers reorder
  their staples, so this is a strong "all items" baseline; products never bought come after the
  bought ones, in popularity order (the base class's tie-break), so on new items it is exactly
  all-time popularity by distinct customers.
"""

from __future__ import annotations

import math
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
    sparse_from_state,
    sparse_state,
)
from recommendations.engine.data import EventLog

LN2 = math.log(2.0)


def event_log(context: Mapping[str, Any], shape: tuple[int, int]) -> EventLog:
    """The ``log`` entry of a fit context, checked against the matrix shape."""
    log = context.get("log")
    if not isinstance(log, EventLog):
        raise ValueError("this algorithm needs fit(..., log=EventLog) (TrainingData.context())")
    if len(log) and (
        log.users.min() < 0
        or log.users.max() >= shape[0]
        or log.items.min() < 0
        or log.items.max() >= shape[1]
    ):
        raise ValueError("the event log's indices do not fit the interaction matrix")
    return log


def decay(age_days: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """float64 weights exp(-ln 2 · age / half_life) (all 1.0 when half_life_days is None);
    negative ages (events after the training time) count as age 0."""
    if half_life_days is None:
        return np.ones(len(age_days), dtype=np.float64)
    return np.exp(-LN2 * np.maximum(np.asarray(age_days, dtype=np.float64), 0.0) / half_life_days)


@dataclass(frozen=True)
class PopularityParams:
    """window_days: count only orders younger than this (None: all); half_life_days: decay
    (None: none). Both in days."""

    window_days: float | None = None
    half_life_days: float | None = None

    def __post_init__(self) -> None:
        if self.window_days is not None and not self.window_days > 0:
            raise ValueError("window_days must be positive")
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")


class Popularity(Recommender):
    """Most-ordered items, optionally recent and decayed (module docstring). No similar items."""

    name = "popularity"
    Params = PopularityParams

    def __init__(self, params: PopularityParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.item_scores: np.ndarray = np.zeros(0, dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        log = event_log(context, train.shape)
        params: PopularityParams = self.params
        weights = decay(log.age_days, params.half_life_days)
        if params.window_days is not None:
            weights = np.where(log.age_days < params.window_days, weights, 0.0)
        counts = np.bincount(log.items, weights=weights, minlength=train.shape[1])
        self.item_scores = counts.astype(np.float32)

    def _scores(self, users: IntArray) -> Float32Array:
        return np.broadcast_to(self.item_scores, (len(users), self.n_items)).copy()

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.item_scores = np.asarray(state["item_scores"], dtype=np.float32)


@dataclass(frozen=True)
class RepeatPurchaseParams:
    """half_life_days: days after which the last purchase counts half; count_exponent: power
    of the order count (1: linear, 0.5: damped, 0: recency only)."""

    half_life_days: float = 60.0
    count_exponent: float = 1.0

    def __post_init__(self) -> None:
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")
        if self.count_exponent < 0:
            raise ValueError("count_exponent must not be negative")


class RepeatPurchase(Recommender):
    """The customer's own products by frequency and recency (module docstring)."""

    name = "repeat"
    Params = RepeatPurchaseParams

    def __init__(self, params: RepeatPurchaseParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.user_item_scores = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        log = event_log(context, train.shape)
        params: RepeatPurchaseParams = self.params
        rows, cols, counts, recency = _cells(
            log.users, log.items, decay(log.age_days, params.half_life_days), train.shape[1]
        )
        # The most recent order of a cell has the largest decay weight (recency = the max).
        scores = np.power(counts, params.count_exponent) * recency
        matrix = sp.csr_matrix((scores, (rows, cols)), shape=train.shape, dtype=np.float32)
        matrix.sort_indices()
        self.user_item_scores = matrix

    def _scores(self, users: IntArray) -> Float32Array:
        return np.asarray(self.user_item_scores[users].toarray(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return sparse_state("scores", self.user_item_scores)

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.user_item_scores = sparse_from_state("scores", state)


def _cells(
    rows: IntArray, cols: IntArray, values: np.ndarray, n_cols: int
) -> tuple[IntArray, IntArray, np.ndarray, np.ndarray]:
    """Distinct (row, col) cells of the entries with their entry count and max value:
    (rows int64, cols int64, counts float64, max float64), all of shape (n_cells,)."""
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), np.zeros(0)
    key = rows.astype(np.int64) * n_cols + cols.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)]).astype(np.float64)
    best = np.maximum.reduceat(np.asarray(values, dtype=np.float64)[order], starts)
    cell = key[starts]
    return cell // n_cols, cell % n_cols, counts, best
