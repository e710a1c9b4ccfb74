"""Candidates and features of the learned ranker (``ranker.Ranker``), numpy only (no TensorFlow).

Everything here is computed "as of" a reference time: the event log passed in holds only
events before it, with ``age_days`` = days from the event to the reference time (``data.
EventLog``). The ranker builds features twice: at ``training end - label_days`` on the older
part of the log (to train on; ``split_log``) and at the training end on the whole log (to score).

**Candidates** (``candidate_pairs``): for each customer the union of the top ``top_n`` items of
every candidate generator (``GeneratorSpec``: a registered algorithm with its parameters and
matrix weighting). Pairs are returned sorted by (user, item).

**Features** per (customer u, candidate i), float32, in ``feature_names`` order:

* per generator g: ``g:z`` the customer's score of i standardised over the customer's scores of
  all items (as ``blend.row_zscore``), ``g:rank`` log(1 + rank of i in g's top list), with rank
  = top_n for items outside it;
* the pair's history: ``bought`` (1 if u ever bought i; the "new to customer" flag is its
  complement), ``log_orders`` log(1 + orders of i by u), ``log_days_since`` log(1 + days since
  u last bought i) (0 if never), ``log_days_first`` (the same for the first purchase),
  ``has_interval`` (u bought i in at least two orders), ``log_interval`` log(1 + u's mean days
  between orders of i) = log(1 + (first age - last age) / (orders - 1)), ``due`` log((days
  since + 1) / (interval + 1)) clipped to [-4, 4] (0 without an interval; 0 = due now),
  ``abs_due`` its absolute value, ``due_customer`` the same ratio against the customer's mean
  days between any two orders (0 if never bought);
* the item: ``item_log_buyers`` log(1 + distinct customers), ``item_log_recent`` log(1 +
  customers in the last ``trend_days``), ``item_trend`` log((recent + 1) / (older + 1)) with
  older = customers in the 3 · trend_days before that, divided by 3 (same window length),
  ``item_repeat_share`` share of its customers who bought it in two or more orders,
  ``item_log_interval`` log(1 + mean repurchase interval over those customers) (0 if none),
  ``log_price`` log(1 + price) and ``has_price`` from ``product_features["price"]`` (0 when
  absent);
* the customer (RFM-like, from the log): ``cust_log_recency`` log(1 + days since the last
  order), ``cust_log_orders`` log(1 + orders), ``cust_log_monetary`` log(1 + Σ units × price)
  (units only without prices), ``cust_log_items`` log(1 + distinct items), ``cust_log_gap``
  log(1 + mean days between orders; tenure when one order), ``cust_log_tenure`` log(1 + days
  since the first order), ``cust_due`` log((recency + 1) / (gap + 1));
* groups: for every group column c of ``customer_features`` (``GROUP_COLUMNS`` present, e.g.
  country, segment), ``group:c`` the share of the customers of u's group (with history before
  the reference time) who bought i; with ``product_features["category"]``, ``category_affinity``
  the share of u's purchases (log rows) in i's category.

An order is the set of log rows of one customer with the same age (one timestamp per invoice in
the data this is built from). Customer features (``customer_features``) are used only as group
labels: figures computed over the whole training period (RFM scores) would leak the label
window into the earlier split, so RFM is recomputed here from the log at each reference time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommendations.engine.base import IntArray, Recommender, batches, popularity_ranks, top_k
from recommendations.engine.blend import row_zscore
from recommendations.engine.data import ORDERS, WEIGHTINGS, EventLog, interaction_matrix

# Optional group columns of ``customer_features`` (categorical; anything else is ignored).
GROUP_COLUMNS = ("country", "segment")
PRICE = "price"
CATEGORY = "category"
DUE_CLIP = 4.0
PAIR_FEATURES = (
    "bought",
    "log_orders",
    "log_days_since",
    "log_days_first",
    "has_interval",
    "log_interval",
    "due",
    "abs_due",
    "due_customer",
)
ITEM_FEATURES = (
    "item_log_buyers",
    "item_log_recent",
    "item_trend",
    "item_repeat_share",
    "item_log_interval",
    "log_price",
    "has_price",
)
CUSTOMER_FEATURES = (
    "cust_log_recency",
    "cust_log_orders",
    "cust_log_monetary",
    "cust_log_items",
    "cust_log_gap",
    "cust_log_tenure",
    "cust_due",
)


@dataclass(frozen=True)
class GeneratorSpec:
    """A candidate generator: a registered algorithm (``registry.ALGORITHMS``, or a deep model
    that may be missing when ``optional``), its parameters, the matrix weighting it is fitted
    on (``data.WEIGHTINGS``) and how many of its top items become candidates."""

    algorithm: str
    params: Mapping[str, Any] = field(default_factory=dict)
    weighting: str = ORDERS
    top_n: int = 50
    optional: bool = False

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}")
        if self.top_n < 1:
            raise ValueError("top_n must be at least 1")

    @classmethod
    def of(cls, value: Mapping[str, Any] | GeneratorSpec) -> GeneratorSpec:
        """A spec from a dict with the same keys (as stored in the ranker's JSON params)."""
        if isinstance(value, GeneratorSpec):
            return value
        return cls(**dict(value))


def create_generator(spec: GeneratorSpec) -> Recommender | None:
    """An unfitted generator; None when an optional deep algorithm cannot be imported."""
    from recommendations.engine.registry import ALGORITHMS, create_recommender

    if spec.algorithm in ALGORITHMS:
        return create_recommender(spec.algorithm, spec.params)
    try:
        module = __import__(
            f"recommendations.engine.deep.{_DEEP_MODULES.get(spec.algorithm, spec.algorithm)}",
            fromlist=["*"],
        )
    except ImportError:
        if spec.optional:
            return None
        raise
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Recommender)
            and getattr(value, "name", None) == spec.algorithm
        ):
            return value(value.Params(**dict(spec.params)))
    if spec.optional:
        return None
    raise ValueError(f"unknown algorithm {spec.algorithm!r}")


_DEEP_MODULES = {"sequence": "sequence", "sasrec": "sequence", "ncf": "ncf"}


def fit_generators(
    specs: Sequence[GeneratorSpec],
    log: EventLog,
    shape: tuple[int, int],
    context: Mapping[str, Any],
) -> list[tuple[GeneratorSpec, Recommender]]:
    """Every available generator fitted on `log` (matrix of its weighting, ``log`` and the other
    context entries as context); optional generators that cannot be built are left out."""
    fitted = []
    extra = {key: value for key, value in context.items() if key != "log"}
    for spec in specs:
        model = create_generator(spec)
        if model is None:
            continue
        model.fit(interaction_matrix(log, shape, spec.weighting), log=log, **extra)
        fitted.append((spec, model))
    return fitted


def split_log(log: EventLog, label_days: float) -> tuple[EventLog, EventLog]:
    """(before, window): the rows older than `label_days` with ages re-based to the split time
    (age - label_days, so > 0), and the rows of the last `label_days` (the labels)."""
    older = log.age_days > label_days
    before = EventLog(
        users=log.users[older],
        items=log.items[older],
        age_days=log.age_days[older] - label_days,
        units=log.units[older],
    )
    window = EventLog(
        users=log.users[~older],
        items=log.items[~older],
        age_days=log.age_days[~older],
        units=log.units[~older],
    )
    return before, window


def label_matrix(window: EventLog, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR float32 (n_users, n_items): 1.0 where the customer bought the item in `window`."""
    matrix = interaction_matrix(window, shape)
    matrix.data[:] = 1.0
    return matrix


@dataclass(frozen=True)
class Candidates:
    """users, items: int64 (n_pairs,) candidate pairs sorted by (user, item); scores: float32
    (n_pairs, 2 · generators) the ``g:z`` and ``g:rank`` features, generator by generator."""

    users: IntArray
    items: IntArray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def candidate_pairs(
    generators: Sequence[tuple[GeneratorSpec, Recommender]],
    users: IntArray,
    shape: tuple[int, int],
    train: sp.csr_matrix,
) -> Candidates:
    """The union of every generator's top-N for `users` (module docstring), with each
    generator's standardised score and rank of every candidate. Ties in the top-N lists are
    broken by popularity in `train`, as ``Recommender.recommend`` does."""
    n_items = shape[1]
    ranks = popularity_ranks(train)
    parts_u: list[IntArray] = []
    parts_i: list[IntArray] = []
    parts_s: list[np.ndarray] = []
    width = n_items * max(1, 2 * len(generators))
    for part in batches(len(users), width):
        block_users = users[part]
        chosen = np.zeros((len(block_users), n_items), dtype=np.bool_)
        zs: list[np.ndarray] = []
        rank_blocks: list[np.ndarray] = []
        for spec, model in generators:
            raw = model.scores(block_users)
            top, _ = top_k(raw, spec.top_n, ranks)
            rank = np.full(raw.shape, float(spec.top_n), dtype=np.float32)
            rows = np.repeat(np.arange(len(block_users)), spec.top_n).reshape(top.shape)
            ok = top >= 0
            rank[rows[ok], top[ok]] = np.broadcast_to(np.arange(spec.top_n), top.shape)[ok]
            chosen[rows[ok], top[ok]] = True
            z = row_zscore(raw)
            zs.append(np.where(np.isfinite(z), z, -5.0).astype(np.float32))
            rank_blocks.append(np.log1p(rank))
        r, c = np.nonzero(chosen)
        parts_u.append(block_users[r])
        parts_i.append(c.astype(np.int64))
        columns = []
        for z, rank in zip(zs, rank_blocks, strict=True):
            columns += [z[r, c], rank[r, c]]
        parts_s.append(np.stack(columns, axis=1) if columns else np.zeros((len(r), 0)))
    if not parts_u:
        return Candidates(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2 * len(generators)))
        )
    return Candidates(
        users=np.concatenate(parts_u).astype(np.int64),
        items=np.concatenate(parts_i).astype(np.int64),
        scores=np.concatenate(parts_s).astype(np.float32),
    )


def generator_feature_names(specs: Sequence[GeneratorSpec]) -> list[str]:
    names = []
    for index, spec in enumerate(specs):
        label = f"{index}.{spec.algorithm}"
        names += [f"{label}:z", f"{label}:rank"]
    return names


# --- Log statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogStats:
    """Aggregates of an event log (module docstring), all float64.

    cell_keys: int64 sorted user · n_items + item of every bought cell; cell_orders,
    cell_last, cell_first: orders, youngest and oldest age (days) per cell;
    user_*: (n_users,) per customer; item_*: (n_items,) per item."""

    n_items: int
    cell_keys: IntArray
    cell_orders: np.ndarray
    cell_last: np.ndarray
    cell_first: np.ndarray
    user_orders: np.ndarray
    user_recency: np.ndarray
    user_tenure: np.ndarray
    user_monetary: np.ndarray
    user_items: np.ndarray
    user_gap: np.ndarray
    item_buyers: np.ndarray
    item_recent: np.ndarray
    item_older: np.ndarray
    item_repeat_share: np.ndarray
    item_interval: np.ndarray


def log_stats(
    log: EventLog,
    shape: tuple[int, int],
    *,
    trend_days: float = 28.0,
    price: np.ndarray | None = None,
) -> LogStats:
    """The aggregates of `log` (ages relative to the reference time) for an (n_users,
    n_items) catalogue. price: float64 (n_items,) unit price (NaN = unknown) for monetary."""
    n_users, n_items = shape
    users, items, age = log.users, log.items, np.maximum(log.age_days, 0.0)
    key = users * n_items + items
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if len(key) else key
    cell_keys = sorted_key[starts] if len(key) else np.zeros(0, np.int64)
    sorted_age = age[order]
    if len(key):
        cell_orders = np.diff(np.r_[starts, len(key)]).astype(np.float64)
        cell_last = np.minimum.reduceat(sorted_age, starts)
        cell_first = np.maximum.reduceat(sorted_age, starts)
    else:
        cell_orders = cell_last = cell_first = np.zeros(0)
    cell_user = cell_keys // max(n_items, 1)
    cell_item = cell_keys % max(n_items, 1)

    # Orders of a customer: distinct ages.
    order_frame = pd.DataFrame({"u": users, "a": age}).drop_duplicates()
    ou = order_frame["u"].to_numpy(dtype=np.int64)
    oa = order_frame["a"].to_numpy(dtype=np.float64)
    user_orders = np.bincount(ou, minlength=n_users).astype(np.float64)
    user_recency = np.full(n_users, np.nan)
    user_tenure = np.full(n_users, np.nan)
    if len(ou):
        np.fmin.at(user_recency, ou, oa)
        np.fmax.at(user_tenure, ou, oa)
    with np.errstate(invalid="ignore", divide="ignore"):
        user_gap = np.where(
            user_orders > 1, (user_tenure - user_recency) / (user_orders - 1), user_tenure
        )
    unit_price = np.ones(n_items) if price is None else np.nan_to_num(price, nan=1.0)
    user_monetary = np.bincount(
        users, weights=log.units * unit_price[items] if len(items) else None, minlength=n_users
    ).astype(np.float64)
    user_items = np.bincount(cell_user, minlength=n_users).astype(np.float64)

    item_buyers = np.bincount(cell_item, minlength=n_items).astype(np.float64)
    recent_cells = np.unique(key[age < trend_days])
    older_cells = np.unique(key[(age >= trend_days) & (age < 4 * trend_days)])
    item_recent = np.bincount(recent_cells % max(n_items, 1), minlength=n_items).astype(float)
    item_older = np.bincount(older_cells % max(n_items, 1), minlength=n_items).astype(float)
    repeat = cell_orders > 1
    repeaters = np.bincount(cell_item[repeat], minlength=n_items).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_repeat_share = np.where(item_buyers > 0, repeaters / item_buyers, 0.0)
        intervals = (cell_first[repeat] - cell_last[repeat]) / (cell_orders[repeat] - 1)
        interval_sum = np.bincount(cell_item[repeat], weights=intervals, minlength=n_items)
        item_interval = np.where(repeaters > 0, interval_sum / repeaters, np.nan)
    return LogStats(
        n_items=n_items,
        cell_keys=cell_keys.astype(np.int64),
        cell_orders=cell_orders,
        cell_last=cell_last,
        cell_first=cell_first,
        user_orders=user_orders,
        user_recency=user_recency,
        user_tenure=user_tenure,
        user_monetary=user_monetary,
        user_items=user_items,
        user_gap=user_gap,
        item_buyers=item_buyers,
        item_recent=item_recent,
        item_older=item_older,
        item_repeat_share=item_repeat_share,
        item_interval=item_interval,
    )


def _log1p(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.nan_to_num(np.maximum(values, 0.0), nan=0.0))


def pair_features(stats: LogStats, users: IntArray, items: IntArray) -> np.ndarray:
    """float64 (n_pairs, len(PAIR_FEATURES)) for the given pairs."""
    key = users * stats.n_items + items
    if len(stats.cell_keys):
        pos = np.minimum(np.searchsorted(stats.cell_keys, key), len(stats.cell_keys) - 1)
        bought = stats.cell_keys[pos] == key
        orders = np.where(bought, stats.cell_orders[pos], 0.0)
        last = np.where(bought, stats.cell_last[pos], 0.0)
        first = np.where(bought, stats.cell_first[pos], 0.0)
    else:
        bought = np.zeros(len(key), np.bool_)
        orders = last = first = np.zeros(len(key))
    has_interval = orders > 1
    interval = np.where(has_interval, (first - last) / np.maximum(orders - 1, 1), 0.0)
    due = np.where(has_interval, np.log((last + 1.0) / (interval + 1.0)), 0.0)
    due = np.clip(due, -DUE_CLIP, DUE_CLIP)
    gap = np.nan_to_num(stats.user_gap[users], nan=0.0)
    due_customer = np.where(bought, np.clip(np.log((last + 1.0) / (gap + 1.0)), -4, 4), 0.0)
    return np.stack(
        [
            bought.astype(np.float64),
            np.log1p(orders),
            np.where(bought, np.log1p(last), 0.0),
            np.where(bought, np.log1p(first), 0.0),
            has_interval.astype(np.float64),
            np.log1p(interval),
            due,
            np.abs(due),
            due_customer,
        ],
        axis=1,
    )


def item_features(stats: LogStats, price: np.ndarray | None) -> np.ndarray:
    """float64 (n_items, len(ITEM_FEATURES))."""
    n = stats.n_items
    known = np.zeros(n, np.bool_) if price is None else np.isfinite(price)
    prices = np.zeros(n) if price is None else np.where(known, price, 0.0)
    return np.stack(
        [
            np.log1p(stats.item_buyers),
            np.log1p(stats.item_recent),
            np.log((stats.item_recent + 1.0) / (stats.item_older / 3.0 + 1.0)),
            stats.item_repeat_share,
            _log1p(stats.item_interval),
            _log1p(prices),
            known.astype(np.float64),
        ],
        axis=1,
    )


def customer_features(stats: LogStats) -> np.ndarray:
    """float64 (n_users, len(CUSTOMER_FEATURES)); customers without orders get zeros."""
    recency = np.nan_to_num(stats.user_recency, nan=0.0)
    gap = np.nan_to_num(stats.user_gap, nan=0.0)
    return np.stack(
        [
            np.log1p(recency),
            np.log1p(stats.user_orders),
            _log1p(stats.user_monetary),
            np.log1p(stats.user_items),
            np.log1p(gap),
            _log1p(stats.user_tenure),
            np.where(stats.user_orders > 0, np.log((recency + 1.0) / (gap + 1.0)), 0.0),
        ],
        axis=1,
    )


@dataclass(frozen=True)
class SideData:
    """Optional inputs from the fit context, aligned with the matrix.

    groups: column name → int64 (n_users,) group code per customer (-1 = unknown);
    price: float64 (n_items,) unit price (NaN = unknown) or None;
    category: int64 (n_items,) category code (-1 = unknown) or None."""

    groups: dict[str, IntArray] = field(default_factory=dict)
    price: np.ndarray | None = None
    category: IntArray | None = None

    @classmethod
    def of(cls, context: Mapping[str, Any], shape: tuple[int, int]) -> SideData:
        """From ``customer_features`` (DataFrame indexed by row index; categorical columns of
        GROUP_COLUMNS) and ``product_features`` (indexed by column index; ``price``,
        ``category``) in the fit context; missing rows count as unknown."""
        n_users, n_items = shape
        groups: dict[str, IntArray] = {}
        customers = context.get("customer_features")
        if isinstance(customers, pd.DataFrame):
            for name in GROUP_COLUMNS:
                if name in customers.columns:
                    column = customers[name].reindex(np.arange(n_users))
                    codes, _ = pd.factorize(column.astype("object"), sort=True)
                    groups[name] = codes.astype(np.int64)
        price = category = None
        products = context.get("product_features")
        if isinstance(products, pd.DataFrame):
            if PRICE in products.columns:
                values = pd.to_numeric(products[PRICE], errors="coerce")
                price = values.reindex(np.arange(n_items)).to_numpy(dtype=np.float64)
            if CATEGORY in products.columns:
                column = products[CATEGORY].reindex(np.arange(n_items))
                codes, _ = pd.factorize(column.astype("object"), sort=True)
                category = codes.astype(np.int64)
        return cls(groups=groups, price=price, category=category)

    def feature_names(self) -> list[str]:
        names = [f"group:{name}" for name in sorted(self.groups)]
        return names + (["category_affinity"] if self.category is not None else [])


def side_features(
    side: SideData, log: EventLog, shape: tuple[int, int], users: IntArray, items: IntArray
) -> np.ndarray:
    """float64 (n_pairs, len(side.feature_names())) from the log before the reference time."""
    n_users, n_items = shape
    columns: list[np.ndarray] = []
    bought = np.unique(log.users * n_items + log.items)
    bought_users, bought_items = bought // max(n_items, 1), bought % max(n_items, 1)
    active = np.zeros(n_users, np.bool_)
    active[log.users] = True
    for name in sorted(side.groups):
        codes = side.groups[name]
        n_groups = int(codes.max()) + 2 if len(codes) else 1
        shifted = codes + 1  # unknown → 0
        sizes = np.bincount(shifted[active], minlength=n_groups).astype(np.float64)
        counts = sp.csr_matrix(
            (np.ones(len(bought)), (shifted[bought_users], bought_items)),
            shape=(n_groups, n_items),
        )
        cells = np.asarray(counts[shifted[users], items]).ravel()
        columns.append(cells / np.maximum(sizes[shifted[users]], 1.0))
    if side.category is not None:
        cat = side.category + 1
        n_cat = int(cat.max()) + 1 if len(cat) else 1
        per_user = sp.csr_matrix(
            (np.ones(len(log)), (log.users, cat[log.items])), shape=(n_users, n_cat)
        )
        total = np.bincount(log.users, minlength=n_users).astype(np.float64)
        share = np.asarray(per_user[users, cat[items]]).ravel() / np.maximum(total[users], 1.0)
        columns.append(share)
    if not columns:
        return np.zeros((len(users), 0))
    return np.stack(columns, axis=1)


def feature_names(specs: Sequence[GeneratorSpec], side: SideData) -> list[str]:
    """Names of the columns of ``build_features`` (module docstring)."""
    return [
        *generator_feature_names(specs),
        *PAIR_FEATURES,
        *ITEM_FEATURES,
        *CUSTOMER_FEATURES,
        *side.feature_names(),
    ]


def build_features(
    candidates: Candidates,
    log: EventLog,
    shape: tuple[int, int],
    side: SideData,
    *,
    trend_days: float = 28.0,
) -> np.ndarray:
    """float32 (n_pairs, n_features): every feature of the module docstring for the
    candidates, from `log` (ages relative to the reference time)."""
    stats = log_stats(log, shape, trend_days=trend_days, price=side.price)
    users, items = candidates.users, candidates.items
    blocks = [
        candidates.scores.astype(np.float64),
        pair_features(stats, users, items),
        item_features(stats, side.price)[items],
        customer_features(stats)[users],
        side_features(side, log, shape, users, items),
    ]
    result = np.concatenate(blocks, axis=1)
    return np.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
