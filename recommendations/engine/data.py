"""Interaction data for the recommenders: purchases → customer × product matrices, temporal split.

Input is the *clean frame* of ``ecomsite.engine.cleaning.clean_events`` (columns
``ecomsite.engine.clean_columns.CLEAN_COLUMNS``). Everything here is a function of the rows'
values (never of their order), so the same purchases give the same matrices and splits.

**Interactions** (``purchase_interactions``). Rows that are usable purchases (``usable``, kind
"purchase") of known customers (``customer != ANONYMOUS``) with ``net_quantity > 0`` (fully
returned lines are not a preference). They are aggregated to one row per (customer, product,
order) — the *interaction frame* (``INTERACTION_COLUMNS``):

================  =====================  ===========================================================
column            dtype                  meaning
================  =====================  ===========================================================
customer          int64                  customer id (Customer.pk in the app)
product           int64                  product id (Product.pk in the app)
order_id          object (str)           the order; "" when the source has none (then every
                                         distinct timestamp of the customer counts as one order)
timestamp         datetime64[ns, UTC]    the earliest event of the line in that order
units             int64                  sum of net_quantity (> 0)
================  =====================  ===========================================================

sorted by (timestamp, customer, product, order_id), RangeIndex.

**Index maps.** Matrices are indexed by position: row r is customer ``customers[r]``, column c is
product ``products[c]`` (both int64, ascending, unique). ``TrainingData`` keeps the maps; the
service translates database ids ↔ indices at the boundary.

**Event log** (``EventLog``). The interaction frame as index arrays with the age of each row in
days before a reference time ``now``; time-aware algorithms (recent popularity, repeat purchase)
read it, the others read a weighted matrix built from it.

**Weightings** (``interaction_matrix``), value of cell (customer, product) in a CSR float32
matrix of shape (n_customers, n_products); cells without a purchase are absent (0):

* ``binary``: 1.0 — bought at least once;
* ``orders``: the number of distinct orders containing the product;
* ``log_units``: log(1 + total units bought) (natural log; damps wholesale quantities).

**Temporal split** (``temporal_split``): train = interactions with timestamp < cutoff; test =
interactions with cutoff <= timestamp < end (no upper bound when end is None). The *truth* is,
for each customer with train history, the distinct products bought in the test period; the
*new-items truth* drops the products that customer bought in train. Customers without train
history (cold start) are not evaluated; ``TemporalSplit.cold_customers`` counts them.

**Hold-out** (``holdout``): the truth as matrices aligned with a ``TrainingData``'s index maps,
for ``evaluate``. Truth products missing from the training catalogue cannot be recommended by
any model but still count as relevant (they lower recall), so ``relevant`` counts every product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from ecomsite.engine import clean_columns as cc
from ecomsite.engine.columns import PURCHASE

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

UNITS = "units"
INTERACTION_COLUMNS = (cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID, cc.TIMESTAMP, UNITS)

BINARY = "binary"
ORDERS = "orders"
LOG_UNITS = "log_units"
WEIGHTINGS = (BINARY, ORDERS, LOG_UNITS)

SECONDS_PER_DAY = 86_400.0


def purchase_interactions(clean: pd.DataFrame) -> pd.DataFrame:
    """The interaction frame (module docstring) of a clean frame. The input is not modified."""
    missing = [
        name
        for name in (cc.CUSTOMER, cc.PRODUCT, cc.KIND, cc.NET_QUANTITY, cc.TIMESTAMP, cc.ORDER_ID)
        + (cc.USABLE,)
        if name not in clean.columns
    ]
    if missing:
        raise ValueError(f"clean frame lacks the columns {missing}")
    keep = (
        clean[cc.USABLE].to_numpy(dtype=np.bool_)
        & (clean[cc.KIND].to_numpy() == PURCHASE)
        & (clean[cc.CUSTOMER].to_numpy(dtype=np.int64) != cc.ANONYMOUS)
        & (clean[cc.NET_QUANTITY].to_numpy(dtype=np.int64) > 0)
    )
    rows = clean.loc[keep, [cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID, cc.TIMESTAMP, cc.NET_QUANTITY]]
    order_id = rows[cc.ORDER_ID].fillna("").astype(str)
    stamp = pd.to_datetime(rows[cc.TIMESTAMP], utc=True)
    # Without an order id every distinct timestamp is its own order.
    stamp_ns = stamp.to_numpy(dtype="datetime64[ns]").view(np.int64)
    order_time = np.where(order_id.to_numpy() == "", stamp_ns, 0)
    frame = pd.DataFrame(
        {
            cc.CUSTOMER: rows[cc.CUSTOMER].to_numpy(dtype=np.int64),
            cc.PRODUCT: rows[cc.PRODUCT].to_numpy(dtype=np.int64),
            cc.ORDER_ID: order_id.to_numpy(dtype=object),
            "_order_time": order_time,
            cc.TIMESTAMP: stamp.to_numpy(),
            UNITS: rows[cc.NET_QUANTITY].to_numpy(dtype=np.int64),
        }
    )
    grouped = frame.groupby(
        [cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID, "_order_time"], sort=True, as_index=False
    ).agg(**{cc.TIMESTAMP: (cc.TIMESTAMP, "min"), UNITS: (UNITS, "sum")})
    return _sorted_interactions(grouped[list(INTERACTION_COLUMNS)])


def _sorted_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    """Interaction rows in the canonical order (timestamp, customer, product, order_id)."""
    result = frame.sort_values(
        [cc.TIMESTAMP, cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID], kind="stable"
    ).reset_index(drop=True)
    result[cc.TIMESTAMP] = pd.to_datetime(result[cc.TIMESTAMP], utc=True)
    result[UNITS] = result[UNITS].astype(np.int64)
    return result


def utc_timestamp(value: pd.Timestamp | str) -> pd.Timestamp:
    """A pandas Timestamp in UTC; naive values and strings are taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


# --- Matrices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLog:
    """The interactions as index arrays, all of shape (n,), one entry per interaction row.

    users: row index (int64) into ``TrainingData.customers``; items: column index (int64) into
    ``TrainingData.products``; age_days: float64 days from the interaction to ``now`` (>= 0 for
    training data); units: int64 units bought in that order (> 0).
    """

    users: IntArray
    items: IntArray
    age_days: FloatArray
    units: IntArray

    def __len__(self) -> int:
        return len(self.users)


def interaction_matrix(
    log: EventLog, shape: tuple[int, int], weighting: str = ORDERS
) -> sp.csr_matrix:
    """CSR float32 (n_customers, n_products) of the log with a weighting of ``WEIGHTINGS``
    (module docstring); sorted indices, no explicit zeros."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {WEIGHTINGS}")
    ones = np.ones(len(log), dtype=np.float64)
    orders = sp.csr_matrix((ones, (log.users, log.items)), shape=shape)  # duplicates are summed
    orders.sum_duplicates()
    if weighting == ORDERS:
        matrix = orders
    elif weighting == BINARY:
        matrix = orders.copy()
        matrix.data[:] = 1.0
    else:
        units = sp.csr_matrix((log.units.astype(np.float64), (log.users, log.items)), shape=shape)
        units.sum_duplicates()
        matrix = units
        matrix.data = np.log1p(matrix.data)
    result = sp.csr_matrix(matrix, dtype=np.float32)
    result.sort_indices()
    return result


@dataclass(frozen=True)
class TrainingData:
    """What a recommender is fitted on.

    customers: int64 (n_customers,) customer id of each matrix row, ascending;
    products: int64 (n_products,) product id of each matrix column, ascending;
    log: the interactions as indices with ages relative to ``now``;
    now: the reference time of the ages (UTC; the cutoff of a split, or the training time).
    customer_attributes / product_attributes: optional static attributes (DataFrames indexed by
    customer / product id, e.g. "country"; "category", "price") for the models that use side
    information. Only attributes that do not change with time belong here: anything computed
    from purchases (RFM, segments) would carry the held-out period into an evaluation, so the
    models derive such figures from ``log`` themselves.
    ``matrix(weighting)`` builds the weighted CSR; ``context()`` is what ``fit`` takes as keyword
    arguments besides the matrix.
    """

    customers: IntArray
    products: IntArray
    log: EventLog
    now: pd.Timestamp
    customer_attributes: pd.DataFrame | None = None
    product_attributes: pd.DataFrame | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.customers), len(self.products))

    def matrix(self, weighting: str = ORDERS) -> sp.csr_matrix:
        return interaction_matrix(self.log, self.shape, weighting)

    def context(self) -> dict[str, Any]:
        """Keyword arguments for ``Recommender.fit``: ``{"log": EventLog}``, plus
        ``customer_features`` / ``product_features`` when attributes are given: the attributes
        aligned to the matrix (indexed by row / column index 0..n-1; missing ids get NaN); the
        customer features also carry ``log_rfm`` of the training log (as of ``now``, so never
        the held-out period)."""
        context: dict[str, Any] = {"log": self.log}
        if self.customer_attributes is not None:
            features = _aligned(self.customer_attributes, self.customers)
            context["customer_features"] = features.join(log_rfm(self.log, self.shape[0]))
        if self.product_attributes is not None:
            context["product_features"] = _aligned(self.product_attributes, self.products)
        return context

    def customer_indices(self, ids: Sequence[int] | IntArray) -> IntArray:
        """Row index of each customer id; -1 for ids without training data."""
        return _positions(self.customers, np.asarray(ids, dtype=np.int64))

    def product_indices(self, ids: Sequence[int] | IntArray) -> IntArray:
        """Column index of each product id; -1 for products outside the training catalogue."""
        return _positions(self.products, np.asarray(ids, dtype=np.int64))


def log_rfm(log: EventLog, n_users: int) -> pd.DataFrame:
    """Recency, frequency and monetary figures of each row's customer from the log alone:
    ``recency_days`` (days from the last purchase to ``now``; NaN without any), ``orders``
    (distinct purchase times) and ``units`` (units bought), indexed 0..n_users-1."""
    frame = pd.DataFrame({"user": log.users, "age": log.age_days, "units": log.units})
    grouped = frame.groupby("user")
    figures = pd.DataFrame(
        {
            "recency_days": grouped["age"].min(),
            "orders": grouped["age"].nunique(),
            "units": grouped["units"].sum(),
        }
    )
    figures = figures.reindex(pd.RangeIndex(n_users))
    figures[["orders", "units"]] = figures[["orders", "units"]].fillna(0)
    return figures


def _aligned(attributes: pd.DataFrame, ids: IntArray) -> pd.DataFrame:
    return attributes.reindex(pd.Index(ids)).reset_index(drop=True)


def training_data(
    interactions: pd.DataFrame,
    *,
    now: pd.Timestamp | str | None = None,
    customers: IntArray | None = None,
    products: IntArray | None = None,
    customer_attributes: pd.DataFrame | None = None,
    product_attributes: pd.DataFrame | None = None,
) -> TrainingData:
    """TrainingData of an interaction frame.

    now: reference time of the ages (default: the latest timestamp; 1970-01-01 if empty).
    customers / products: the index maps to use (ascending unique ids); by default the distinct
    ids of the frame. Rows whose customer or product is not in the maps are dropped.
    customer_attributes / product_attributes: static side information by id (TrainingData).
    """
    customer_ids = interactions[cc.CUSTOMER].to_numpy(dtype=np.int64)
    product_ids = interactions[cc.PRODUCT].to_numpy(dtype=np.int64)
    customer_map = np.unique(customer_ids) if customers is None else _index_map(customers)
    product_map = np.unique(product_ids) if products is None else _index_map(products)
    users = _positions(customer_map, customer_ids)
    items = _positions(product_map, product_ids)
    keep = (users >= 0) & (items >= 0)
    stamps = pd.to_datetime(interactions[cc.TIMESTAMP], utc=True)
    if now is None:
        reference = stamps.max() if len(stamps) else pd.Timestamp(0, tz="UTC")
    else:
        reference = utc_timestamp(now)
    stamp_ns = stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)
    age = (reference.value - stamp_ns) / (SECONDS_PER_DAY * 1e9)
    log = EventLog(
        users=users[keep],
        items=items[keep],
        age_days=age[keep].astype(np.float64),
        units=interactions[UNITS].to_numpy(dtype=np.int64)[keep],
    )
    return TrainingData(
        customers=customer_map,
        products=product_map,
        log=log,
        now=reference,
        customer_attributes=customer_attributes,
        product_attributes=product_attributes,
    )


def _index_map(ids: IntArray) -> IntArray:
    values = np.asarray(ids, dtype=np.int64)
    if len(values) > 1 and not (np.diff(values) > 0).all():
        raise ValueError("index maps must be ascending and unique")
    return values


def _positions(sorted_ids: IntArray, ids: IntArray) -> IntArray:
    """Position of each id in the ascending array `sorted_ids`, -1 where absent."""
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1).astype(np.int64)


# --- Temporal split -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemporalSplit:
    """train: interaction rows with timestamp < cutoff; test: rows with cutoff <= timestamp < end
    (all customers, cold ones included); truth / new_truth: distinct (customer, product) pairs
    (int64 columns ``customer``, ``product``, sorted) of the test rows of customers with train
    history, and those pairs minus the products the customer bought in train;
    cold_customers: customers who bought in the test period without train history (not
    evaluated)."""

    train: pd.DataFrame
    test: pd.DataFrame
    truth: pd.DataFrame
    new_truth: pd.DataFrame
    cutoff: pd.Timestamp
    end: pd.Timestamp | None
    cold_customers: int

    def summary(self) -> dict[str, Any]:
        """JSON-safe counts: rows, customers and products on each side of the cutoff."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "train_rows": len(self.train),
            "train_customers": int(self.train[cc.CUSTOMER].nunique()),
            "train_products": int(self.train[cc.PRODUCT].nunique()),
            "test_rows": len(self.test),
            "evaluated_customers": int(self.truth[cc.CUSTOMER].nunique()),
            "truth_pairs": len(self.truth),
            "new_truth_pairs": len(self.new_truth),
            "cold_customers": self.cold_customers,
        }


def temporal_split(
    interactions: pd.DataFrame,
    cutoff: pd.Timestamp | str,
    *,
    end: pd.Timestamp | str | None = None,
) -> TemporalSplit:
    """Split an interaction frame at `cutoff` (module docstring). Dates are UTC (naive = UTC)."""
    start = utc_timestamp(cutoff)
    stop = None if end is None else utc_timestamp(end)
    if stop is not None and stop <= start:
        raise ValueError("end must be after cutoff")
    stamps = pd.to_datetime(interactions[cc.TIMESTAMP], utc=True)
    before = (stamps < start).to_numpy()
    after = (stamps >= start).to_numpy()
    if stop is not None:
        after &= (stamps < stop).to_numpy()
    train = _sorted_interactions(interactions.loc[before, list(INTERACTION_COLUMNS)])
    test = _sorted_interactions(interactions.loc[after, list(INTERACTION_COLUMNS)])
    known = np.unique(train[cc.CUSTOMER].to_numpy(dtype=np.int64))
    test_customers = test[cc.CUSTOMER].to_numpy(dtype=np.int64)
    warm = np.isin(test_customers, known)
    truth = _pairs(test_customers[warm], test[cc.PRODUCT].to_numpy(dtype=np.int64)[warm])
    bought = _pairs(
        train[cc.CUSTOMER].to_numpy(dtype=np.int64), train[cc.PRODUCT].to_numpy(dtype=np.int64)
    )
    repeat = np.asarray(_pair_keys(truth).isin(_pair_keys(bought)), dtype=np.bool_)
    return TemporalSplit(
        train=train,
        test=test,
        truth=truth,
        new_truth=truth.loc[~repeat].reset_index(drop=True),
        cutoff=start,
        end=stop,
        cold_customers=int(len(np.unique(test_customers[~warm]))),
    )


def _pairs(customers: IntArray, products: IntArray) -> pd.DataFrame:
    frame = pd.DataFrame({cc.CUSTOMER: customers, cc.PRODUCT: products})
    frame = frame.drop_duplicates().sort_values([cc.CUSTOMER, cc.PRODUCT], kind="stable")
    return frame.reset_index(drop=True).astype(np.int64)


def _pair_keys(pairs: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(pairs[[cc.CUSTOMER, cc.PRODUCT]])


# --- Hold-out -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holdout:
    """The truth of a split, aligned with a TrainingData (n = evaluated customers, m = products).

    users: int64 (n,) row indices of the evaluated customers (train history and at least one
    test purchase), ascending;
    truth: CSR float32 (n, m), 1.0 where customer users[r] bought product c in the test period;
    relevant: int64 (n,) distinct products that customer bought in the test period, including
    products outside the training catalogue (unreachable, but relevant);
    new_truth / new_relevant: the same without the products the customer bought in train
    (rows may be empty: such customers only re-bought);
    seen: CSR float32 (n, m), 1.0 where the customer bought the product in train (the exclusion
    mask for new-item recommendations).
    """

    users: IntArray
    truth: sp.csr_matrix
    relevant: IntArray
    new_truth: sp.csr_matrix
    new_relevant: IntArray
    seen: sp.csr_matrix

    def summary(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "users_with_new_items": int((self.new_relevant > 0).sum()),
            "relevant": int(self.relevant.sum()),
            "relevant_in_catalogue": int(self.truth.nnz),
            "new_relevant": int(self.new_relevant.sum()),
            "new_relevant_in_catalogue": int(self.new_truth.nnz),
        }


def holdout(split: TemporalSplit, data: TrainingData) -> Holdout:
    """The split's truth as matrices over `data`'s index maps (see Holdout)."""
    users = np.unique(data.customer_indices(split.truth[cc.CUSTOMER].to_numpy(dtype=np.int64)))
    users = users[users >= 0]
    truth, relevant = _truth_matrix(split.truth, data, users)
    new_truth, new_relevant = _truth_matrix(split.new_truth, data, users)
    seen = data.matrix(BINARY)[users]
    return Holdout(
        users=users.astype(np.int64),
        truth=truth,
        relevant=relevant,
        new_truth=new_truth,
        new_relevant=new_relevant,
        seen=sp.csr_matrix(seen, dtype=np.float32),
    )


def _truth_matrix(
    pairs: pd.DataFrame, data: TrainingData, users: IntArray
) -> tuple[sp.csr_matrix, IntArray]:
    rows = _positions(users, data.customer_indices(pairs[cc.CUSTOMER].to_numpy(dtype=np.int64)))
    cols = data.product_indices(pairs[cc.PRODUCT].to_numpy(dtype=np.int64))
    relevant = np.bincount(rows[rows >= 0], minlength=len(users)).astype(np.int64)
    inside = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (np.ones(int(inside.sum()), dtype=np.float32), (rows[inside], cols[inside])),
        shape=(len(users), len(data.products)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix, relevant
