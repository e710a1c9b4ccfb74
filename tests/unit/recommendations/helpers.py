"""Small hand-made interaction data shared by the recommender engine tests (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ecomsite.engine import clean_columns as cc
from recommendations.engine.base import Recommender
from recommendations.engine.data import UNITS, EventLog, Holdout

# Two blocks ("checkerboard" in implicit's tests): customers 0–5 buy among items 0–3, customers
# 6–11 among items 4–7. Customer u lacks exactly one item of its block, item (u % 4) (+ 4 in the
# second block), so the right new-item recommendation for every customer is known.
BLOCK_USERS = 12
BLOCK_ITEMS = 8


def block_matrix() -> sp.csr_matrix:
    dense = np.zeros((BLOCK_USERS, BLOCK_ITEMS), dtype=np.float32)
    for user in range(BLOCK_USERS):
        offset = 0 if user < 6 else 4
        for item in range(4):
            if item != user % 4:
                dense[user, offset + item] = 1.0 + (user + item) % 3
    return sp.csr_matrix(dense)


def missing_item(user: int) -> int:
    return (0 if user < 6 else 4) + user % 4


def log_of(matrix: sp.csr_matrix) -> EventLog:
    """One order per non-zero cell, units = the cell's value, age (u + 2i) % 9 days."""
    coo = sp.coo_matrix(matrix)
    users = coo.row.astype(np.int64)
    items = coo.col.astype(np.int64)
    return EventLog(
        users=users,
        items=items,
        age_days=((users + 2 * items) % 9).astype(np.float64),
        units=coo.data.astype(np.int64),
    )


def interactions(rows: list[tuple[int, int, str, str, int]]) -> pd.DataFrame:
    """An interaction frame from (customer, product, order_id, timestamp, units) tuples."""
    frame = pd.DataFrame(rows, columns=[cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID, cc.TIMESTAMP, UNITS])
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], utc=True, format="ISO8601")
    return frame


def holdout_of(truth_rows: list[list[int]], n_items: int, seen_rows: list[list[int]]) -> Holdout:
    """A Holdout for users 0..n-1 with the given truth (all in the catalogue) and seen items;
    new truth = truth minus seen."""

    def matrix(rows: list[list[int]]) -> sp.csr_matrix:
        dense = np.zeros((len(rows), n_items), dtype=np.float32)
        for r, items in enumerate(rows):
            dense[r, items] = 1.0
        return sp.csr_matrix(dense)

    new_rows = [sorted(set(t) - set(s)) for t, s in zip(truth_rows, seen_rows, strict=True)]
    return Holdout(
        users=np.arange(len(truth_rows), dtype=np.int64),
        truth=matrix(truth_rows),
        relevant=np.array([len(t) for t in truth_rows], dtype=np.int64),
        new_truth=matrix(new_rows),
        new_relevant=np.array([len(t) for t in new_rows], dtype=np.int64),
        seen=matrix(seen_rows),
    )


class FixedScores(Recommender):
    """Test double: returns the score matrix given as ``fit(..., scores=array)``."""

    name = "fixed"

    class Params:
        pass

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.table = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, train: sp.csr_matrix, context: Mapping[str, Any], on_progress: Any) -> None:
        self.table = np.asarray(context["scores"], dtype=np.float32)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return self.table[users]

    def get_params(self) -> dict[str, Any]:
        return {}

    def _state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.table = state["table"]


def fixed(scores: list[list[float]], train: sp.csr_matrix | None = None) -> FixedScores:
    table = np.asarray(scores, dtype=np.float32)
    matrix = train if train is not None else sp.csr_matrix(table.shape, dtype=np.float32)
    return FixedScores().fit(matrix, scores=table)
