"""Tiny synthetic logs for the deep recommenders' tests (numpy only; no TensorFlow here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommendations.engine.data import EventLog, interaction_matrix

# Planted sequence: item A, then (next order) item B; B is bought by few, fillers by many.
ITEM_A, ITEM_B = 0, 1
SEQ_ITEMS = 24
PLANTED_USERS = 40  # buy A, then B
FILLER_USERS = 120  # buy popular fillers (items 2..9) and rarer ones
PROBE_USERS = 10  # bought fillers, then A last: B should come next


def log_from(rows: list[tuple[int, int, float]]) -> EventLog:
    """(user, item, age_days) rows, one unit each; rows with the same user and age are one
    order."""
    users, items, ages = (np.array(column) for column in zip(*rows, strict=True))
    return EventLog(
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        age_days=ages.astype(np.float64),
        units=np.ones(len(users), dtype=np.int64),
    )


def planted_sequences(seed: int = 0) -> tuple[EventLog, tuple[int, int], np.ndarray]:
    """The planted A → B log, its shape and the probe customers (last order = A alone)."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float]] = []
    user = 0
    for _ in range(PLANTED_USERS):
        start = float(rng.integers(40, 90))
        rows.append((user, int(rng.integers(2, 10)), start + 20))
        rows += [(user, ITEM_A, start), (user, ITEM_B, start - 10)]
        user += 1
    for _ in range(FILLER_USERS):
        for order in range(int(rng.integers(2, 5))):
            age = 90.0 - 15 * order
            for item in rng.choice(np.arange(2, 10), size=3, replace=False):
                rows.append((user, int(item), age))
            if rng.random() < 0.3:
                rows.append((user, int(rng.integers(10, SEQ_ITEMS)), age))
        user += 1
    probes = np.arange(user, user + PROBE_USERS)
    for _ in range(PROBE_USERS):
        rows += [(user, int(rng.integers(2, 10)), 30.0), (user, ITEM_A, 5.0)]
        user += 1
    return log_from(rows), (user, SEQ_ITEMS), probes


# Two customer groups with their own items: group "UK" buys items 0..9 (category "a"), group
# "FR" items 10..19 (category "b"); two extra customers (the last two rows) have no purchases,
# only features: one UK, one FR.
GROUP_ITEMS = 20
GROUP_USERS = 60


def grouped_purchases(
    seed: int = 0,
) -> tuple[sp.csr_matrix, EventLog, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float]] = []
    for user in range(GROUP_USERS):
        base = 0 if user % 2 == 0 else 10
        for order in range(3):
            for item in rng.choice(np.arange(base, base + 10), size=2, replace=False):
                rows.append((user, int(item), 60.0 - 20 * order))
    # Items 0..9 are more popular overall: popularity alone would push them to FR customers too.
    for user in range(GROUP_USERS, GROUP_USERS + 20):
        rows.append((user, int(rng.integers(0, 10)), 10.0))
        rows.append((user, int(rng.integers(0, 10)), 30.0))
    log = log_from(rows)
    n_users = GROUP_USERS + 20 + 2
    matrix = interaction_matrix(log, (n_users, GROUP_ITEMS))
    country = ["UK" if user % 2 == 0 else "FR" for user in range(GROUP_USERS)]
    country += ["DE"] * 20 + ["UK", "FR"]
    customers = pd.DataFrame(
        {"country": country, "monetary": rng.gamma(2.0, 50.0, size=n_users)},
        index=pd.RangeIndex(n_users),
    )
    products = pd.DataFrame(
        {"category": ["a"] * 10 + ["b"] * 10, "price": np.linspace(1.0, 5.0, GROUP_ITEMS)}
    )
    return matrix, log, customers, products
