"""Lookalike audiences: the customers most similar to a seed group, by behaviour features.

Input is a *customer feature frame* (segments/engine/features.py: one row per customer, index =
customer id, numeric columns in their natural units) and a boolean mask of the seed's rows.

**Feature space** (``feature_space``), the same preparation the clustering uses
(segments/engine/clustering.py), so "similar" here means what it means for the cluster segments:

1. ±inf → missing; missing → column max in ``FILL_WITH_MAX`` columns (recency, days between
   orders: "never happened" is the longest value), else the column median;
2. ``log1p`` on non-negative columns whose sample skewness exceeds ``SKEW_THRESHOLD`` (money and
   counts are heavy-tailed: without it the distances are all about a few big spenders);
3. z-scores with the *population's* mean and standard deviation (every feature weighs the same;
   a constant column becomes 0 and carries no weight).

**Similarity** (``lookalike_rank``), two methods:

* ``knn`` (default): a candidate's distance is the mean Euclidean distance to its ``k`` nearest
  seed members (k-d tree over the seed, scipy). A seed segment is rarely one round blob: an RFM
  segment is a box of score ranges, a rule segment can be a union ("bought candles OR spent
  > 500"), and its centroid may sit where no seed member is. Distances to the nearest seed members
  follow the seed's shape, so customers next to any part of it qualify; averaging over k (not
  only the nearest) keeps one odd seed member from pulling in its own neighbourhood.
* ``centroid``: the Euclidean distance to the seed's mean point. One pass, no tree; right for a
  compact seed, and the baseline the k-NN method is compared with in the tests.

Ties are broken by row position, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from segments.engine.clustering import FILL_WITH_MAX, SKEW_THRESHOLD

Method = Literal["knn", "centroid"]
KNN: Final = "knn"
CENTROID: Final = "centroid"
# Neighbours averaged per candidate: enough to smooth over one odd seed member, few enough to
# follow a seed made of several groups.
NEIGHBOURS = 10

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FeatureSpace:
    """matrix: (customers, features) float64 z-scores, rows in the frame's order;
    columns: the feature names; log_columns: those that went through log1p."""

    matrix: FloatArray
    columns: tuple[str, ...]
    log_columns: tuple[str, ...]


def feature_space(features: pd.DataFrame, columns: Sequence[str]) -> FeatureSpace:
    """The standardized matrix of ``columns`` of the feature frame (module docstring)."""
    missing = [name for name in columns if name not in features.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns {missing}")
    if not columns:
        raise ValueError("no feature columns given")
    frame = features.loc[:, list(columns)].astype(np.float64).replace([np.inf, -np.inf], np.nan)
    fill: dict[str, float] = {}
    for name in columns:
        column = frame[name]
        if column.isna().all():
            fill[name] = 0.0
        else:
            fill[name] = float(column.max() if name in FILL_WITH_MAX else column.median())
    frame = frame.fillna(fill)
    skew = frame.skew()
    log_columns = tuple(
        name for name in columns if frame[name].min() >= 0 and bool(skew[name] > SKEW_THRESHOLD)
    )
    for name in log_columns:
        frame[name] = np.log1p(frame[name])
    values = frame.to_numpy(dtype=np.float64)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    matrix = np.where(std > 0, (values - mean) / scale, 0.0)
    return FeatureSpace(matrix=matrix, columns=tuple(columns), log_columns=log_columns)


@dataclass(frozen=True)
class Lookalikes:
    """rows: positions (in the matrix) of the chosen non-seed customers, most similar first;
    distances: their distances to the seed (same order; smaller = more similar)."""

    rows: IntArray
    distances: FloatArray


def lookalike_rank(
    matrix: FloatArray,
    seed: BoolArray,
    size: int,
    *,
    method: Method = KNN,
    neighbours: int = NEIGHBOURS,
) -> Lookalikes:
    """The ``size`` rows outside the seed nearest to it (all of them when fewer).

    matrix: (n, d) float64 standardized features (``feature_space``); seed: (n,) bool, the seed's
    rows (at least one); method: ``knn`` (mean distance to the ``neighbours`` nearest seed rows)
    or ``centroid`` (distance to the seed's mean)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    seed = np.asarray(seed, dtype=np.bool_)
    if matrix.ndim != 2 or seed.shape != (matrix.shape[0],):
        raise ValueError(
            f"need an (n, d) matrix and an (n,) mask, got {matrix.shape}, {seed.shape}"
        )
    if not seed.any():
        raise ValueError("the seed is empty")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    candidates = np.flatnonzero(~seed).astype(np.int64)
    if size == 0 or len(candidates) == 0:
        return Lookalikes(rows=np.empty(0, np.int64), distances=np.empty(0, np.float64))
    points = matrix[candidates]
    if method == KNN:
        k = int(min(max(neighbours, 1), int(seed.sum())))
        distance, _ = cKDTree(matrix[seed]).query(points, k=k)
        distances = np.asarray(distance, dtype=np.float64).reshape(len(points), k).mean(axis=1)
    elif method == CENTROID:
        centre = matrix[seed].mean(axis=0)
        distances = np.sqrt(((points - centre) ** 2).sum(axis=1))
    else:
        raise ValueError(f"unknown method {method!r}: use {KNN!r} or {CENTROID!r}")
    take = min(size, len(candidates))
    # lexsort: distance first, row position breaks ties.
    order = np.lexsort((candidates, distances))[:take]
    return Lookalikes(rows=candidates[order], distances=distances[order])
