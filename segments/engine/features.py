"""Customer and product behaviour features from the clean event frame.

Input is the *clean frame* of ``ecomsite.engine.clean_columns`` (one row per stored event, the raw
columns plus ``net_quantity``, ``revenue`` and the quality flags). Only rows that

* are ``usable`` (not duplicate, anonymous, outlier or non-product),
* belong to a known customer (``customer != ANONYMOUS``; anonymous events are never attributed),
* happened strictly before ``as_of`` (features are "as of" that instant, so a back-dated
  ``as_of`` never sees the future),

count. Everything is vectorised (factorize / bincount / unique); results never depend on row order.

**Orders.** A purchase row belongs to the order ``(customer, order_id)``; purchase rows without an
order id (``""``) are grouped by ``(customer, timestamp)``: lines bought at the same instant form
one order. An order *counts* when its net revenue (sum of ``revenue``, i.e. after matched
returns; unknown prices count as 0) is > 0. Fully returned or price-less orders do not count.

Customer features (``customer_features``; index ``customer`` int64, sorted; one row per customer
with at least one counted event, purchases or not):

========================  ========  ================================================================
column                    dtype     meaning (unit)
========================  ========  ================================================================
recency_days              float64   as_of − time of the last counted order (days; NaN: no orders)
frequency                 int64     counted orders (orders)
monetary                  float64   sum of ``revenue`` of usable purchases (shop currency)
tenure_days               float64   as_of − the customer's first usable event of any kind (days)
avg_order_value           float64   monetary / frequency (currency per order; NaN: no orders)
basket_size               float64   mean distinct products per counted order (products; NaN: none)
units                     int64     sum of ``net_quantity`` of usable purchases (units kept)
return_rate               float64   returned units / purchased units, clipped to [0, 1] (NaN: no
                                    purchased units). Returned = |quantity| of usable return rows,
                                    matched *and* unmatched; purchased = gross ``quantity`` of
                                    usable purchase rows (before netting, so matched returns are
                                    not subtracted twice). Unmatched returns of goods bought before
                                    the data window can push the raw ratio above 1, hence the clip.
mean_interpurchase_days   float64   mean gap between consecutive distinct calendar days (UTC) with a
                                    counted order (days; NaN with fewer than 2 such days). Equals
                                    (last day − first day) / (days − 1).
views, carts, purchases   int64     usable events of that kind (events; a purchase is an order line)
view_to_cart              float64   carts / views (NaN: no views; can exceed 1)
cart_to_purchase          float64   purchases / carts (NaN: no carts; can exceed 1)
top_category              object    category with the largest revenue share (str; None when the
                                    customer has no revenue in a known category); ties → the
                                    alphabetically first category
top_category_share        float64   that category's share of the customer's known-category revenue
                                    (0–1; NaN with top_category None)
========================  ========  ================================================================

Product features (``product_features``; index ``product`` int64, sorted; one row per product with
at least one counted event):

=====================  ========  ===================================================================
column                 dtype     meaning (unit)
=====================  ========  ===================================================================
buyers                 int64     distinct customers with a kept purchase of it (customers)
orders                 int64     distinct orders with a kept purchase of it (orders)
units                  int64     sum of ``net_quantity`` of usable purchases (units)
revenue                float64   sum of ``revenue`` of usable purchases (shop currency)
repeat_purchase_rate   float64   buyers with ≥ 2 orders of it / buyers (0–1; NaN: no buyers)
price                  float64   median ``unit_price`` of usable purchases (currency; NaN: unknown)
trend                  float64   (recent + 1) / (previous + 1), where recent = units (net) bought in
                                 [as_of − trend_days, as_of) and previous = units in
                                 [as_of − 2·trend_days, as_of − trend_days). 1 = flat, > 1 rising;
                                 the +1 keeps it finite for new products and damps tiny counts
category               object    the product's category (str, "" when unknown; if rows disagree,
                                 the alphabetically last, so a known category beats "")
=====================  ========  ===================================================================

"Kept purchase": the product's net quantity within the order (sum of ``net_quantity``) is > 0.

``customer_category_shares`` gives the wide customer × category revenue-share table behind
``top_category`` (known categories only; each row sums to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ecomsite.engine import clean_columns as cc
from ecomsite.engine.columns import CART, PURCHASE, RETURN, VIEW

# ---- feature names ------------------------------------------------------------------------------
RECENCY_DAYS = "recency_days"
FREQUENCY = "frequency"
MONETARY = "monetary"
TENURE_DAYS = "tenure_days"
AVG_ORDER_VALUE = "avg_order_value"
BASKET_SIZE = "basket_size"
UNITS = "units"
RETURN_RATE = "return_rate"
MEAN_INTERPURCHASE_DAYS = "mean_interpurchase_days"
VIEWS = "views"
CARTS = "carts"
PURCHASES = "purchases"
VIEW_TO_CART = "view_to_cart"
CART_TO_PURCHASE = "cart_to_purchase"
TOP_CATEGORY = "top_category"
TOP_CATEGORY_SHARE = "top_category_share"

CUSTOMER_FEATURES = (
    RECENCY_DAYS,
    FREQUENCY,
    MONETARY,
    TENURE_DAYS,
    AVG_ORDER_VALUE,
    BASKET_SIZE,
    UNITS,
    RETURN_RATE,
    MEAN_INTERPURCHASE_DAYS,
    VIEWS,
    CARTS,
    PURCHASES,
    VIEW_TO_CART,
    CART_TO_PURCHASE,
    TOP_CATEGORY,
    TOP_CATEGORY_SHARE,
)

BUYERS = "buyers"
ORDERS = "orders"
REVENUE = "revenue"
REPEAT_PURCHASE_RATE = "repeat_purchase_rate"
PRICE = "price"
TREND = "trend"
CATEGORY = "category"

PRODUCT_FEATURES = (BUYERS, ORDERS, UNITS, REVENUE, REPEAT_PURCHASE_RATE, PRICE, TREND, CATEGORY)

# Clean-frame columns read: every row selection reads _SELECT_COLUMNS, customer_features also
# _CUSTOMER_EXTRA, product_features _PRODUCT_EXTRA. INPUT_COLUMNS is their union, so a caller can
# load just these from the clean artifact (not the SKU and session id strings, nor the flags).
_SELECT_COLUMNS = (cc.CUSTOMER, cc.KIND, cc.TIMESTAMP, cc.USABLE)
_CUSTOMER_EXTRA = (cc.PRODUCT, cc.CATEGORY, cc.QUANTITY, cc.NET_QUANTITY, cc.REVENUE, cc.ORDER_ID)
_PRODUCT_EXTRA = (cc.PRODUCT, cc.CATEGORY, cc.NET_QUANTITY, cc.REVENUE, cc.UNIT_PRICE, cc.ORDER_ID)
INPUT_COLUMNS = tuple(dict.fromkeys(_SELECT_COLUMNS + _CUSTOMER_EXTRA + _PRODUCT_EXTRA))

# Index names of the outputs (the clean frame's id columns).
CUSTOMER_INDEX = cc.CUSTOMER
PRODUCT_INDEX = cc.PRODUCT

NS_PER_DAY = 86_400 * 10**9

# Kind codes used internally (position in _KINDS); other kinds get -1 and are ignored.
_KINDS = (VIEW, CART, PURCHASE, RETURN)
_VIEW, _CART, _PURCHASE, _RETURN = range(len(_KINDS))
_NAT = np.iinfo(np.int64).min
# Id ranges up to this size (plus twice the row count) are factorized with a presence table.
_DENSE_RANGE = 1 << 22

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]


# ---- public API ---------------------------------------------------------------------------------


def customer_features(clean: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Behaviour features per known customer (see the module docstring for every column).

    clean: the clean frame (``clean_columns.CLEAN_COLUMNS``; extra columns ignored).
    as_of: the instant features are measured to (tz-naive means UTC); later events are ignored.
    Returns one row per customer with a usable event before ``as_of``: index ``customer`` (int64,
    ascending), columns ``CUSTOMER_FEATURES`` in that order.
    """
    rows = _Rows.select(clean, as_of, extra=_CUSTOMER_EXTRA)
    cust_codes, customers = _factorize_sorted(rows.customer)
    n = len(customers)
    kind = rows.kind

    # event counts by kind: one bincount over (customer, kind) cells
    known = kind >= 0
    counts = np.bincount(cust_codes[known] * len(_KINDS) + kind[known], minlength=n * len(_KINDS))
    counts = counts.reshape(n, len(_KINDS)).astype(np.int64)
    views, carts, purchases = counts[:, _VIEW], counts[:, _CART], counts[:, _PURCHASE]

    first_event = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_event, cust_codes, rows.ts)
    tenure_days = (rows.as_of_ns - first_event) / NS_PER_DAY

    p = kind == _PURCHASE
    r = kind == _RETURN
    p_cust = cust_codes[p]
    p_revenue = np.nan_to_num(rows.float_column(cc.REVENUE)[p], nan=0.0)
    quantity = rows.int_column(cc.QUANTITY)
    monetary = _float_sum(p_cust, p_revenue, n)
    units = _int_sum(p_cust, rows.int_column(cc.NET_QUANTITY)[p], n)
    bought = _float_sum(p_cust, np.clip(quantity[p], 0, None).astype(np.float64), n)
    returned = _float_sum(cust_codes[r], np.abs(quantity[r]).astype(np.float64), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return_rate = np.where(bought > 0, np.minimum(returned / bought, 1.0), np.nan)

    # orders
    orders = _orders(p_cust, rows.column(cc.ORDER_ID)[p], rows.ts[p])
    order_revenue = _float_sum(orders.index, p_revenue, orders.n)
    order_cust = orders.customer
    order_time = orders.time
    counted = order_revenue > 0
    c_cust = order_cust[counted]
    frequency = np.bincount(c_cust, minlength=n).astype(np.int64)
    last_order = np.full(n, _NAT, dtype=np.int64)
    np.maximum.at(last_order, c_cust, order_time[counted])
    has_orders = frequency > 0
    recency_days = np.where(has_orders, (rows.as_of_ns - last_order) / NS_PER_DAY, np.nan)

    p_prod_codes, _ = pd.factorize(rows.int_column(cc.PRODUCT)[p])
    distinct = _distinct_per_group(orders.index, p_prod_codes.astype(np.int64), orders.n)
    basket_total = _float_sum(c_cust, distinct[counted], n)

    with np.errstate(divide="ignore", invalid="ignore"):
        avg_order_value = np.where(has_orders, monetary / frequency, np.nan)
        basket_size = np.where(has_orders, basket_total / frequency, np.nan)
        view_to_cart = np.where(views > 0, carts / views, np.nan)
        cart_to_purchase = np.where(carts > 0, purchases / carts, np.nan)

    interpurchase = _mean_interpurchase_days(c_cust, order_time[counted] // NS_PER_DAY, n)

    top_category = np.full(n, None, dtype=object)
    top_share = np.full(n, np.nan)
    shares = _category_revenue(p_cust, rows.column(cc.CATEGORY)[p], p_revenue)
    top_rows = shares.top_rows()
    top_category[shares.customer[top_rows]] = shares.categories[shares.category[top_rows]]
    top_share[shares.customer[top_rows]] = shares.share[top_rows]

    columns: dict[str, Any] = {
        RECENCY_DAYS: recency_days,
        FREQUENCY: frequency,
        MONETARY: monetary,
        TENURE_DAYS: tenure_days,
        AVG_ORDER_VALUE: avg_order_value,
        BASKET_SIZE: basket_size,
        UNITS: units,
        RETURN_RATE: return_rate,
        MEAN_INTERPURCHASE_DAYS: interpurchase,
        VIEWS: views,
        CARTS: carts,
        PURCHASES: purchases,
        VIEW_TO_CART: view_to_cart,
        CART_TO_PURCHASE: cart_to_purchase,
        TOP_CATEGORY: top_category,
        TOP_CATEGORY_SHARE: top_share,
    }
    return pd.DataFrame(columns, index=pd.Index(customers, name=CUSTOMER_INDEX, dtype=np.int64))


def customer_category_shares(
    clean: pd.DataFrame, *, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Wide customer × category table of revenue shares (category affinity).

    Counts usable purchases of known customers before ``as_of`` (None: every row) in a known
    category (``""`` is left out). Rows: customers with known-category revenue > 0 (index
    ``customer``, int64, ascending); columns: categories (alphabetical, axis named ``category``);
    values: float64 share of the customer's known-category revenue, 0.0 where none; rows sum to 1.
    """
    rows = _Rows.select(clean, as_of, extra=(cc.CATEGORY, cc.REVENUE))
    p = rows.kind == _PURCHASE
    cust_codes, customers = _factorize_sorted(rows.customer[p])
    revenue = np.nan_to_num(rows.float_column(cc.REVENUE)[p], nan=0.0)
    shares = _category_revenue(cust_codes, rows.column(cc.CATEGORY)[p], revenue)
    present, cust_rows = np.unique(shares.customer, return_inverse=True)
    table = np.zeros((len(present), len(shares.categories)))
    table[cust_rows, shares.category] = shares.share
    return pd.DataFrame(
        table,
        index=pd.Index(customers[present], name=CUSTOMER_INDEX, dtype=np.int64),
        columns=pd.Index(shares.categories, name=CATEGORY, dtype=object),
    )


def product_features(
    clean: pd.DataFrame, *, as_of: pd.Timestamp, trend_days: int = 28
) -> pd.DataFrame:
    """Popularity, loyalty, price and momentum per product (see the module docstring).

    clean: the clean frame. as_of: measuring instant (tz-naive means UTC); later events ignored.
    trend_days: length of each of the two windows compared by ``trend`` (days, ≥ 1).
    Returns one row per product with a usable event before ``as_of``: index ``product`` (int64,
    ascending), columns ``PRODUCT_FEATURES`` in that order.
    """
    if trend_days < 1:
        raise ValueError(f"trend_days must be >= 1, got {trend_days}")
    rows = _Rows.select(clean, as_of, extra=_PRODUCT_EXTRA)
    prod_codes, products = _factorize_sorted(rows.int_column(cc.PRODUCT))
    n = len(products)
    category = _product_category(prod_codes, rows.column(cc.CATEGORY), n)

    p = rows.kind == _PURCHASE
    p_prod = prod_codes[p]
    p_ts = rows.ts[p]
    net = rows.int_column(cc.NET_QUANTITY)[p]
    units = _int_sum(p_prod, net, n)
    revenue = _float_sum(p_prod, np.nan_to_num(rows.float_column(cc.REVENUE)[p], nan=0.0), n)
    price = (
        pd.Series(rows.float_column(cc.UNIT_PRICE)[p])
        .groupby(p_prod)
        .median()
        .reindex(np.arange(n))
        .to_numpy(dtype=np.float64)
    )

    # kept (order, product) lines → orders, buyers and repeat buyers per product
    p_cust, _ = _factorize_sorted(rows.customer[p])
    orders = _orders(p_cust, rows.column(cc.ORDER_ID)[p], p_ts)
    line_keys, line_of_row = np.unique(orders.index * n + p_prod, return_inverse=True)
    line_net = _int_sum(line_of_row.astype(np.int64), net, len(line_keys))
    kept = line_keys[line_net > 0]
    kept_order, kept_prod = kept // n, kept % n
    order_count = np.bincount(kept_prod, minlength=n).astype(np.int64)
    buyer_keys, buyer_orders = np.unique(
        orders.customer[kept_order] * n + kept_prod, return_counts=True
    )
    buyer_prod = buyer_keys % n
    buyers = np.bincount(buyer_prod, minlength=n).astype(np.int64)
    repeaters = np.bincount(buyer_prod[buyer_orders >= 2], minlength=n)

    window = trend_days * NS_PER_DAY
    age = rows.as_of_ns - p_ts  # > 0 for every selected row
    recent = _int_sum(p_prod[age <= window], net[age <= window], n)
    previous_rows = (age > window) & (age <= 2 * window)
    previous = _int_sum(p_prod[previous_rows], net[previous_rows], n)

    with np.errstate(divide="ignore", invalid="ignore"):
        repeat_rate = np.where(buyers > 0, repeaters / buyers, np.nan)
    columns: dict[str, Any] = {
        BUYERS: buyers,
        ORDERS: order_count,
        UNITS: units,
        REVENUE: revenue,
        REPEAT_PURCHASE_RATE: repeat_rate,
        PRICE: price,
        TREND: (recent + 1) / (previous + 1),
        CATEGORY: category,
    }
    return pd.DataFrame(columns, index=pd.Index(products, name=PRODUCT_INDEX, dtype=np.int64))


# ---- row selection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """The counted rows of a clean frame as numpy arrays (positions = selected rows, in order).

    frame/take: the clean frame and the positions of the selected rows in it. customer: int64
    ids. ts: int64 ns since the epoch (UTC). kind: int8 code (index in _KINDS, -1 for anything
    else). as_of_ns: the cutoff in the same unit (int64 max without one). Other columns are taken
    lazily through ``column`` / ``int_column`` / ``float_column``.
    """

    frame: pd.DataFrame
    take: _I64
    customer: _I64
    ts: _I64
    kind: npt.NDArray[np.int8]
    as_of_ns: int

    @classmethod
    def select(
        cls, clean: pd.DataFrame, as_of: pd.Timestamp | None, *, extra: tuple[str, ...]
    ) -> _Rows:
        required = (*_SELECT_COLUMNS, *extra)
        missing = [name for name in required if name not in clean.columns]
        if missing:
            raise KeyError(f"clean frame lacks columns {missing}")
        ts = _epoch_ns(clean[cc.TIMESTAMP])
        customer = clean[cc.CUSTOMER].to_numpy(dtype=np.int64)
        mask = clean[cc.USABLE].to_numpy(dtype=bool) & (customer != cc.ANONYMOUS) & (ts != _NAT)
        cutoff = np.iinfo(np.int64).max if as_of is None else _timestamp_ns(as_of)
        if as_of is not None:
            mask &= ts < cutoff
        take = np.flatnonzero(mask).astype(np.int64)
        kind = _kind_codes(clean[cc.KIND].to_numpy()[take])
        return cls(clean, take, customer[take], ts[take], kind, cutoff)

    def column(self, name: str) -> npt.NDArray[Any]:
        values: npt.NDArray[Any] = self.frame[name].to_numpy()[self.take]
        return values

    def int_column(self, name: str) -> _I64:
        return self.frame[name].to_numpy(dtype=np.int64)[self.take]

    def float_column(self, name: str) -> _F64:
        return self.frame[name].to_numpy(dtype=np.float64)[self.take]


def _epoch_ns(timestamps: pd.Series[Any]) -> _I64:
    """Timestamps as int64 ns since the epoch, UTC (tz-naive values are taken as UTC; NaT → min)."""
    values = pd.to_datetime(timestamps, utc=True).dt.tz_convert(None).dt.as_unit("ns")
    return values.to_numpy().view(np.int64)


def _timestamp_ns(when: pd.Timestamp) -> int:
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def _kind_codes(kinds: npt.NDArray[Any]) -> npt.NDArray[np.int8]:
    """Event kinds → int8 codes (index in _KINDS; -1 for unknown kinds)."""
    codes, uniques = pd.factorize(kinds)
    lookup = np.array([_KINDS.index(u) if u in _KINDS else -1 for u in uniques] + [-1], np.int8)
    kind: npt.NDArray[np.int8] = lookup[codes]  # code -1 (missing) takes the trailing -1
    return kind


def _factorize_sorted(values: _I64) -> tuple[_I64, _I64]:
    """(codes 0..k-1 in ascending value order, sorted unique values).

    Database ids are dense, so when the id range is small relative to the rows a presence table
    does it in O(rows + range); otherwise pandas' hash factorize.
    """
    if not len(values):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low < 2 * len(values) + _DENSE_RANGE:
        present = np.zeros(high - low + 1, dtype=bool)
        present[values - low] = True
        code_of = np.cumsum(present, dtype=np.int64) - 1
        return code_of[values - low], np.flatnonzero(present).astype(np.int64) + low
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64)


def _unique(keys: _I64) -> _I64:
    """Sorted distinct keys. Sort-based: numpy 2's hash-based ``np.unique`` is several times
    slower on millions of distinct int64 keys."""
    ordered = np.sort(keys)
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    distinct: _I64 = ordered[new]
    return distinct


def _float_sum(groups: _I64, values: _F64, n: int) -> _F64:
    """float64 sums of ``values`` per group 0..n-1."""
    return np.bincount(groups, weights=values, minlength=n).astype(np.float64)


def _int_sum(groups: _I64, values: _I64, n: int) -> _I64:
    """Exact int64 sums of ``values`` per group 0..n-1."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, groups, values)
    return out


# ---- orders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Orders:
    """Purchase rows grouped into orders.

    index: order number (0..n-1) per purchase row. customer: customer code per order.
    time: int64 ns of the order's first line.
    """

    index: _I64
    customer: _I64
    time: _I64

    @property
    def n(self) -> int:
        return len(self.customer)


def _orders(customer: _I64, order_id: npt.NDArray[Any], ts: _I64) -> _Orders:
    """Group purchase rows into orders: (customer, order_id); (customer, timestamp) without id."""
    id_codes, ids = pd.factorize(order_id)
    empty = np.append(np.asarray(ids == "", dtype=bool), True)  # trailing: missing id (code -1)
    no_id = empty[id_codes]
    # second key: the order id's code, or (after all ids) the timestamp's code for rows without
    second = id_codes.astype(np.int64)
    second[no_id] = len(ids) + pd.factorize(ts[no_id])[0]
    width = int(second.max()) + 1 if len(second) else 1
    codes, uniques = pd.factorize(customer * width + second)  # order numbers are arbitrary
    index = codes.astype(np.int64)
    n = len(uniques)
    order_customer = np.zeros(n, dtype=np.int64)
    order_customer[index] = customer
    time = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(time, index, ts)
    return _Orders(index, order_customer, time)


def _distinct_per_group(groups: _I64, values: _I64, n: int) -> _F64:
    """Number of distinct ``values`` per group 0..n-1 (float64)."""
    span = int(values.max()) + 1 if len(values) else 1
    pairs = _unique(groups * span + values)
    return np.bincount(pairs // span, minlength=n).astype(np.float64)


def _mean_interpurchase_days(customer: _I64, day: _I64, n: int) -> _F64:
    """Mean gap between a customer's consecutive distinct order days; NaN with < 2 days.

    The mean of consecutive gaps telescopes to (last − first) / (distinct days − 1).
    """
    out = np.full(n, np.nan)
    if not len(day):
        return out
    low = int(day.min())
    span = int(day.max()) - low + 1
    pairs = _unique(customer * span + (day - low))
    pair_customer, pair_day = pairs // span, pairs % span
    days = np.bincount(pair_customer, minlength=n)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, pair_customer, pair_day)
    np.maximum.at(last, pair_customer, pair_day)
    several = days >= 2
    out[several] = (last[several] - first[several]) / (days[several] - 1)
    return out


# ---- categories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CategoryRevenue:
    """Long customer × known-category revenue, rows sorted by (customer, category) code.

    customer: customer code. category: index into ``categories`` (alphabetical str array).
    share: revenue / the customer's known-category revenue (rows with revenue > 0 only).
    """

    customer: _I64
    category: _I64
    share: _F64
    categories: npt.NDArray[Any]

    def top_rows(self) -> _I64:
        """Row of each customer's largest share (ties → alphabetically first category)."""
        if not len(self.customer):
            return np.zeros(0, dtype=np.int64)
        new_customer = np.diff(self.customer, prepend=-1) != 0
        starts = np.flatnonzero(new_customer)
        group = np.cumsum(new_customer) - 1
        best = np.maximum.reduceat(self.share, starts)[group]
        # rows are sorted by (customer, category): the first maximal row per customer wins
        candidates = np.flatnonzero(self.share == best)
        first = np.ones(len(candidates), dtype=bool)
        first[1:] = self.customer[candidates][1:] != self.customer[candidates][:-1]
        top: _I64 = candidates[first].astype(np.int64)
        return top


def _category_revenue(
    customer: _I64, category: npt.NDArray[Any], revenue: _F64
) -> _CategoryRevenue:
    """Revenue shares per (customer code, known category) from purchase rows."""
    known = pd.notna(category) & (category != "")
    cat_codes, categories = pd.factorize(category[known], sort=True)
    span = max(len(categories), 1)
    keys, inverse = np.unique(customer[known] * span + cat_codes, return_inverse=True)
    totals = _float_sum(inverse.astype(np.int64), revenue[known], len(keys))
    positive = totals > 0
    keys, totals = keys[positive], totals[positive]
    key_customer = keys // span
    per_customer = _float_sum(key_customer, totals, int(key_customer.max(initial=-1)) + 1)
    share = totals / per_customer[key_customer] if len(keys) else totals
    return _CategoryRevenue(
        key_customer.astype(np.int64),
        (keys % span).astype(np.int64),
        share.astype(np.float64),
        np.asarray(categories, dtype=object),
    )


def _product_category(prod_codes: _I64, category: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    """Category per product code: the alphabetically last of its rows' categories ("" if none)."""
    filled = np.where(pd.isna(category), "", category)
    cat_codes, categories = pd.factorize(filled, sort=True)
    best = np.full(n, -1, dtype=np.int64)
    np.maximum.at(best, prod_codes, cat_codes.astype(np.int64))
    names = np.append(np.asarray(categories, dtype=object), "")
    return names[best]  # -1 (no rows) takes the trailing ""
