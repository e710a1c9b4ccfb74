"""Cleaning rules (ecomsite/engine/cleaning.py): flags, return netting, outliers, the report.

Pure pandas/numpy on hand-made raw frames: no database.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ecomsite.engine import clean_columns as cc
from ecomsite.engine.catalog import FEES
from ecomsite.engine.cleaning import (
    RULES,
    STEPS,
    CleaningParams,
    clean_events,
    match_returns,
)
from ecomsite.engine.columns import CART, PURCHASE, RETURN, VIEW

START = pd.Timestamp("2024-01-01", tz="UTC")


def raw_frame(*rows: dict) -> pd.DataFrame:
    """A raw frame from partial rows; event_id defaults to the position (1-based), `day` (float)
    to 0 and sets the timestamp, other columns to a plain purchase of product 10 by customer 1."""
    records = []
    for position, row in enumerate(rows, start=1):
        row = dict(row)
        day = row.pop("day", 0)
        product = row.get(cc.PRODUCT, 10)
        record = {
            cc.EVENT_ID: position,
            cc.CUSTOMER: 1,
            cc.PRODUCT: product,
            cc.SKU: f"SKU{product}",
            cc.CATEGORY: "Home",
            cc.KIND: PURCHASE,
            cc.QUANTITY: 1,
            cc.UNIT_PRICE: 2.0,
            cc.TIMESTAMP: START + pd.Timedelta(days=day),
            cc.ORDER_ID: "",
            cc.SESSION_ID: "",
        }
        record.update(row)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(cc.RAW_COLUMNS))
    for name in (cc.EVENT_ID, cc.CUSTOMER, cc.PRODUCT, cc.QUANTITY):
        frame[name] = frame[name].astype("int64")
    frame[cc.UNIT_PRICE] = frame[cc.UNIT_PRICE].astype("float64")
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], utc=True)
    return frame


def clean(*rows: dict, params: CleaningParams | None = None) -> pd.DataFrame:
    return clean_events(raw_frame(*rows), params or CleaningParams()).events


def column(events: pd.DataFrame, name: str) -> list:
    return events[name].tolist()


def rule(result, name: str):
    return next(r for r in result.report.rules if r.name == name)


# --- Returns ----------------------------------------------------------------------------------


def test_partial_return_nets_off_the_purchase():
    events = clean(
        {cc.QUANTITY: 10, cc.UNIT_PRICE: 2.5, cc.ORDER_ID: "o1"},
        {cc.KIND: RETURN, cc.QUANTITY: -4, cc.UNIT_PRICE: 2.5, cc.ORDER_ID: "c1", "day": 1},
    )
    assert column(events, cc.NET_QUANTITY) == [6, 0]
    assert column(events, cc.REVENUE) == [15.0, 0.0]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, True]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [False, False]
    assert column(events, cc.USABLE) == [True, True]


def test_return_without_an_earlier_purchase_is_unmatched():
    events = clean(
        {cc.KIND: RETURN, cc.QUANTITY: -2},
        {cc.QUANTITY: 5, "day": 1},
    )
    assert column(events, cc.NET_QUANTITY) == [0, 5]
    assert column(events, cc.REVENUE) == [0.0, 10.0]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, False]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [True, False]


def test_return_larger_than_the_purchases_is_partly_unmatched():
    result = clean_events(
        raw_frame(
            {cc.QUANTITY: 3, cc.UNIT_PRICE: 4.0},
            {cc.KIND: RETURN, cc.QUANTITY: -5, cc.UNIT_PRICE: 4.0, "day": 1},
        )
    )
    events = result.events
    assert column(events, cc.NET_QUANTITY) == [0, 0]
    assert column(events, cc.REVENUE) == [0.0, 0.0]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, True]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [False, True]
    assert rule(result, "return_matched").revenue == -12.0
    assert rule(result, "return_unmatched").revenue == -8.0


def test_returns_take_the_most_recent_earlier_purchase_first():
    events = clean(
        {cc.QUANTITY: 5, "day": 0},
        {cc.QUANTITY: 5, "day": 1},
        {cc.KIND: RETURN, cc.QUANTITY: -3, "day": 2},
        {cc.QUANTITY: 4, "day": 3},  # later than the return: untouched
        {cc.KIND: RETURN, cc.QUANTITY: -6, "day": 4},  # takes the 4, then 2 of day 1's
    )
    assert column(events, cc.NET_QUANTITY) == [5, 0, 0, 0, 0]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, False, True, False, True]
    assert not events[cc.IS_RETURN_UNMATCHED].any()


def test_returns_only_net_the_same_customers_same_product():
    events = clean(
        {cc.CUSTOMER: 1, cc.PRODUCT: 10, cc.QUANTITY: 5},
        {cc.CUSTOMER: 2, cc.PRODUCT: 10, cc.KIND: RETURN, cc.QUANTITY: -1, "day": 1},
        {cc.CUSTOMER: 1, cc.PRODUCT: 11, cc.KIND: RETURN, cc.QUANTITY: -1, "day": 1},
    )
    assert column(events, cc.NET_QUANTITY) == [5, 0, 0]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [False, True, True]


def test_return_quantity_counts_by_its_absolute_value():
    events = clean({cc.QUANTITY: 5}, {cc.KIND: RETURN, cc.QUANTITY: 2, "day": 1})
    assert column(events, cc.NET_QUANTITY) == [3, 0]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, True]


def test_at_the_same_timestamp_the_smaller_event_id_is_earlier():
    events = clean(
        {cc.EVENT_ID: 1, cc.QUANTITY: 5},
        {cc.EVENT_ID: 2, cc.KIND: RETURN, cc.QUANTITY: -2},
        {cc.EVENT_ID: 3, cc.PRODUCT: 11, cc.KIND: RETURN, cc.QUANTITY: -2},
        {cc.EVENT_ID: 4, cc.PRODUCT: 11, cc.QUANTITY: 5},
    )
    assert column(events, cc.NET_QUANTITY) == [3, 0, 0, 5]
    assert column(events, cc.IS_RETURN_MATCHED) == [False, True, False, False]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [False, False, True, False]


def test_excluded_returns_and_purchases_take_no_part_in_netting():
    events = clean(
        {cc.QUANTITY: 5, cc.ORDER_ID: "o1"},
        {cc.QUANTITY: 5, cc.ORDER_ID: "o1"},  # duplicate: cannot absorb a return
        {cc.KIND: RETURN, cc.QUANTITY: -7, "day": 1},
        {cc.KIND: RETURN, cc.QUANTITY: -7, "day": 1},  # duplicate return: ignored
        {cc.CUSTOMER: cc.ANONYMOUS, cc.KIND: RETURN, cc.QUANTITY: -1, "day": 1},
    )
    assert column(events, cc.IS_DUPLICATE) == [False, True, False, True, False]
    assert column(events, cc.NET_QUANTITY) == [0, 5, 0, 0, 0]
    assert column(events, cc.REVENUE) == [0.0] * 5
    assert column(events, cc.IS_RETURN_MATCHED) == [False, False, True, False, False]
    assert column(events, cc.IS_RETURN_UNMATCHED) == [False, False, True, False, False]


def test_outlier_purchase_is_cancelled_by_its_return():
    normal = [{cc.QUANTITY: 1 + i % 3, cc.ORDER_ID: f"o{i}", "day": i} for i in range(10)]
    events = clean(
        *normal,
        {cc.CUSTOMER: 2, cc.QUANTITY: 80995, "day": 20},
        {cc.CUSTOMER: 2, cc.KIND: RETURN, cc.QUANTITY: -80995, "day": 20.01},
    )
    assert column(events, cc.IS_OUTLIER)[-2:] == [True, False]
    assert column(events, cc.NET_QUANTITY)[-2:] == [0, 0]
    assert column(events, cc.IS_RETURN_MATCHED)[-1] is True
    assert column(events, cc.IS_RETURN_UNMATCHED)[-1] is False


def lifo_reference(customer, product, timestamp, quantity, purchases, returns):
    """A plain loop doing what match_returns does: per pair, a stack of held units."""
    n = len(quantity)
    remaining = np.where(purchases, quantity, 0)
    matched = np.zeros(n, dtype=np.int64)
    unmatched = np.where(returns, np.abs(quantity), 0)
    stacks: dict[tuple[int, int], list[int]] = {}
    for i in sorted(range(n), key=lambda i: (timestamp[i], i)):
        stack = stacks.setdefault((customer[i], product[i]), [])
        if purchases[i]:
            stack.append(i)
        elif returns[i]:
            want = abs(quantity[i])
            while want and stack:
                top = stack[-1]
                take = min(want, remaining[top])
                remaining[top] -= take
                matched[i] += take
                want -= take
                if remaining[top] == 0:
                    stack.pop()
            unmatched[i] = want
    return remaining, matched, unmatched


@pytest.mark.parametrize("seed", range(5))
def test_match_returns_agrees_with_a_plain_lifo_loop(seed):
    rng = np.random.default_rng(seed)
    n = 400
    customer = rng.integers(0, 4, n).astype(np.int64)
    product = rng.integers(0, 3, n).astype(np.int64)
    timestamp = rng.integers(0, 60, n).astype(np.int64)  # many ties
    is_return = rng.random(n) < 0.35
    quantity = np.where(is_return, -rng.integers(1, 8, n), rng.integers(1, 6, n)).astype(np.int64)
    taking_part = rng.random(n) < 0.9
    purchases, returns = ~is_return & taking_part, is_return & taking_part
    got = match_returns(customer, product, timestamp, quantity, purchases, returns)
    want = lifo_reference(customer, product, timestamp, quantity, purchases, returns)
    np.testing.assert_array_equal(got.remaining, want[0])
    np.testing.assert_array_equal(got.matched, want[1])
    np.testing.assert_array_equal(got.unmatched, want[2])


# --- Duplicates, anonymous, non-product ----------------------------------------------------------


def test_duplicates_keep_the_first_by_event_id():
    same = {cc.QUANTITY: 2, cc.UNIT_PRICE: math.nan, cc.ORDER_ID: "o1"}
    events = clean(
        {cc.EVENT_ID: 7, **same, cc.SESSION_ID: "s2"},  # session_id is not compared
        {cc.EVENT_ID: 3, **same, cc.SESSION_ID: "s1"},
        {cc.EVENT_ID: 5, **same, cc.ORDER_ID: "o2"},  # another order: not a duplicate
        {cc.EVENT_ID: 9, **same, cc.KIND: CART},  # another kind
        {cc.EVENT_ID: 11, **same, cc.QUANTITY: 3},  # another quantity
        {cc.EVENT_ID: 12, **same, "day": 1},  # another time
    )
    assert column(events, cc.EVENT_ID) == [3, 5, 7, 9, 11, 12]
    assert column(events, cc.IS_DUPLICATE) == [False, False, True, False, False, False]
    assert column(events, cc.USABLE) == [True, True, False, True, True, True]


def test_duplicate_prices_compare_exactly():
    events = clean({cc.UNIT_PRICE: 2.0}, {cc.UNIT_PRICE: 2.0}, {cc.UNIT_PRICE: 2.01})
    assert column(events, cc.IS_DUPLICATE) == [False, True, False]


def test_anonymous_events_are_kept_apart():
    result = clean_events(
        raw_frame(
            {cc.CUSTOMER: cc.ANONYMOUS, cc.QUANTITY: 2, cc.UNIT_PRICE: 3.0, cc.ORDER_ID: "o1"},
            {cc.CUSTOMER: cc.ANONYMOUS, cc.KIND: VIEW},
            {cc.CUSTOMER: 4, cc.QUANTITY: 1, cc.UNIT_PRICE: 3.0, cc.ORDER_ID: "o2"},
        )
    )
    events = result.events
    assert column(events, cc.IS_ANONYMOUS) == [True, True, False]
    assert column(events, cc.USABLE) == [False, False, True]
    assert column(events, cc.REVENUE) == [0.0, 0.0, 3.0]
    assert column(events, cc.NET_QUANTITY) == [2, 0, 1]
    before, after = result.report.before, result.report.after
    assert (before.rows, before.customers, before.orders, before.units) == (3, 1, 2, 3)
    assert before.revenue == 9.0
    assert (after.rows, after.customers, after.orders, after.units) == (1, 1, 1, 1)
    assert after.revenue == 3.0
    assert rule(result, "anonymous").rows == 2
    assert rule(result, "anonymous").revenue == 6.0


@pytest.mark.parametrize(
    ("sku", "category", "flagged"),
    [
        ("POST", "Home", True),
        ("post", "Home", True),
        ("M", "", True),
        ("BANK CHARGES", "Home", True),
        ("AMAZONFEE", "Home", True),
        ("85123A", FEES, True),
        ("85123A", "Home", False),
        ("POSTCARD", "Home", False),
    ],
)
def test_non_product_codes(sku, category, flagged):
    events = clean({cc.SKU: sku, cc.CATEGORY: category, cc.QUANTITY: 1, cc.UNIT_PRICE: 18.0})
    assert column(events, cc.IS_NON_PRODUCT) == [flagged]
    assert column(events, cc.USABLE) == [not flagged]
    assert column(events, cc.REVENUE) == [0.0 if flagged else 18.0]


# --- Prices, quantities, outliers ---------------------------------------------------------------


def test_negative_quantity_and_zero_price_purchases_are_not_usable():
    result = clean_events(
        raw_frame(
            {cc.QUANTITY: 10, cc.UNIT_PRICE: 2.0},
            {cc.QUANTITY: -5, cc.UNIT_PRICE: 0.0, "day": 1},  # adjustment, not a return
            {cc.QUANTITY: 3, cc.UNIT_PRICE: 0.0, "day": 1},
            {cc.QUANTITY: 2, cc.UNIT_PRICE: -1.5, "day": 1},
            {cc.QUANTITY: 4, cc.UNIT_PRICE: math.nan, "day": 1},
        )
    )
    events = result.events
    assert column(events, cc.NET_QUANTITY) == [10, 0, 3, 2, 4]
    assert column(events, cc.IS_OUTLIER) == [False, True, True, True, False]
    assert column(events, cc.USABLE) == [True, False, False, False, True]
    assert column(events, cc.REVENUE) == [20.0, 0.0, 0.0, 0.0, 0.0]
    assert not events[cc.IS_RETURN_MATCHED].any()
    assert rule(result, "negative_quantity").rows == 1
    assert rule(result, "zero_price").rows == 3
    assert rule(result, "zero_price").revenue == -3.0
    assert rule(result, "unknown_price").rows == 1
    assert rule(result, "outlier").rows == 0


def history(product: int, count: int = 20) -> list[dict]:
    return [
        {cc.PRODUCT: product, cc.QUANTITY: 1 + i % 3, cc.UNIT_PRICE: 2.0, "day": i}
        for i in range(count)
    ]


def test_planted_quantity_and_price_outliers_are_flagged():
    events = clean(
        *history(10),
        {cc.PRODUCT: 10, cc.QUANTITY: 2000, cc.UNIT_PRICE: 2.0, "day": 30},  # 1000x
        {cc.PRODUCT: 10, cc.QUANTITY: 2, cc.UNIT_PRICE: 200.0, "day": 31},  # 100x
        {cc.PRODUCT: 10, cc.QUANTITY: 12, cc.UNIT_PRICE: 2.0, "day": 32},  # 6x: fine
        {cc.PRODUCT: 10, cc.QUANTITY: 2, cc.UNIT_PRICE: 1.5, "day": 33},  # a discount: fine
        {cc.PRODUCT: 10, cc.KIND: VIEW, cc.QUANTITY: 5000, "day": 34},  # only purchases judged
    )
    assert column(events, cc.IS_OUTLIER) == [False] * 20 + [True, True, False, False, False]
    assert column(events, cc.USABLE)[-5:] == [False, False, True, True, True]
    assert column(events, cc.REVENUE)[-5:] == [0.0, 0.0, 24.0, 3.0, 0.0]


def test_products_with_few_rows_are_judged_against_all_products():
    events = clean(
        *history(10),
        {cc.PRODUCT: 11, cc.QUANTITY: 1, "day": 40},
        {cc.PRODUCT: 11, cc.QUANTITY: 5000, "day": 41},
    )
    assert column(events, cc.IS_OUTLIER)[-2:] == [False, True]
    # With min_product_rows=2 product 11 is judged on its own two rows: nothing stands out.
    own = clean(
        *history(10),
        {cc.PRODUCT: 11, cc.QUANTITY: 1, "day": 40},
        {cc.PRODUCT: 11, cc.QUANTITY: 5000, "day": 41},
        params=CleaningParams(min_product_rows=2),
    )
    assert not own[cc.IS_OUTLIER].any()


def test_identical_history_does_not_make_small_deviations_outliers():
    ones = [{cc.QUANTITY: 1, "day": i} for i in range(30)]  # MAD 0
    events = clean(*ones, {cc.QUANTITY: 12, "day": 40}, {cc.QUANTITY: 1000, "day": 41})
    assert column(events, cc.IS_OUTLIER)[-2:] == [False, True]


# --- Report, contract, determinism ---------------------------------------------------------------


def example_rows() -> pd.DataFrame:
    """Ten events with a hand-computed report (see test_report_on_a_hand_computed_example)."""
    return raw_frame(
        {cc.CUSTOMER: 1, cc.QUANTITY: 10, cc.UNIT_PRICE: 2.0, cc.ORDER_ID: "o1"},
        {cc.CUSTOMER: 1, cc.QUANTITY: 10, cc.UNIT_PRICE: 2.0, cc.ORDER_ID: "o1"},  # duplicate
        {cc.CUSTOMER: 1, cc.KIND: RETURN, cc.QUANTITY: -4, cc.ORDER_ID: "c1", "day": 1},
        {cc.CUSTOMER: 2, cc.PRODUCT: 20, cc.QUANTITY: 2, cc.UNIT_PRICE: 5.0, cc.ORDER_ID: "o2"},
        {
            cc.CUSTOMER: 2,
            cc.PRODUCT: 20,
            cc.KIND: RETURN,
            cc.QUANTITY: -3,
            cc.UNIT_PRICE: 5.0,
            cc.ORDER_ID: "c2",
            "day": 2,
        },
        {cc.CUSTOMER: cc.ANONYMOUS, cc.QUANTITY: 1, cc.ORDER_ID: "o3"},
        {cc.CUSTOMER: 1, cc.PRODUCT: 9, cc.SKU: "POST", cc.UNIT_PRICE: 15.0, cc.ORDER_ID: "o1"},
        {cc.CUSTOMER: 2, cc.QUANTITY: 3, cc.UNIT_PRICE: 0.0, cc.ORDER_ID: "o4", "day": 3},
        {cc.CUSTOMER: 2, cc.KIND: VIEW, "day": 3},
        {
            cc.CUSTOMER: 3,
            cc.PRODUCT: 20,
            cc.UNIT_PRICE: math.nan,
            cc.ORDER_ID: "o5",
            "day": 4,
        },
    )


def test_report_on_a_hand_computed_example():
    result = clean_events(example_rows(), CleaningParams(example_rows=1))
    report = result.report
    assert [r.name for r in report.rules] == list(RULES)
    assert [r.label for r in report.rules] == list(RULES.values())
    counts = {r.name: (r.rows, r.revenue) for r in report.rules}
    assert counts == {
        "duplicate": (1, 20.0),
        "anonymous": (1, 2.0),
        "non_product": (1, 15.0),
        "return_matched": (2, -18.0),  # 4 units at 2.0, 2 units at 5.0
        "return_unmatched": (1, -5.0),  # the third unit of event 5
        "negative_quantity": (0, 0.0),
        "zero_price": (1, 0.0),
        "unknown_price": (1, 0.0),
        "outlier": (0, 0.0),
    }
    # Before: every row; units 10+10-4+2-3+1+1+3+1, revenue 20+20-8+10-15+2+15+0+0.
    before = report.before
    assert (before.rows, before.customers, before.orders, before.units) == (10, 3, 5, 21)
    assert before.revenue == pytest.approx(44.0)
    # After: usable rows 1, 3, 4, 5, 9, 10; orders o1 (net 6) and o5 (net 1; o2 fully returned).
    after = report.after
    assert (after.rows, after.customers, after.orders, after.units) == (6, 3, 2, 7)
    assert after.revenue == pytest.approx(12.0)

    events = result.events
    assert column(events, cc.USABLE) == [True, False, True, True, True] + [False] * 3 + [True] * 2
    assert column(events, cc.NET_QUANTITY) == [6, 10, 0, 0, 0, 1, 1, 3, 0, 1]
    assert column(events, cc.REVENUE) == [12.0] + [0.0] * 9
    assert events[cc.REVENUE].sum() == after.revenue

    assert rule(result, "return_unmatched").examples == [
        {
            cc.EVENT_ID: 5,
            cc.CUSTOMER: 2,
            cc.SKU: "SKU20",
            cc.KIND: RETURN,
            cc.QUANTITY: -3,
            cc.UNIT_PRICE: 5.0,
            cc.TIMESTAMP: "2024-01-03T00:00:00+00:00",
            cc.ORDER_ID: "c2",
        }
    ]
    assert rule(result, "unknown_price").examples[0][cc.UNIT_PRICE] is None
    assert all(len(r.examples) == min(r.rows, 1) for r in report.rules)


def test_report_to_dict_is_json_safe():
    report = clean_events(example_rows()).report
    data = report.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data) == {"rules", "before", "after"}
    assert data["rules"][0] == {
        "name": "duplicate",
        "label": RULES["duplicate"],
        "rows": 1,
        "revenue": 20.0,
        "examples": [
            {
                "event_id": 2,
                "customer": 1,
                "sku": "SKU10",
                "kind": PURCHASE,
                "quantity": 10,
                "unit_price": 2.0,
                "timestamp": "2024-01-01T00:00:00+00:00",
                "order_id": "o1",
            }
        ],
    }
    assert data["after"] == {"rows": 6, "customers": 3, "orders": 2, "units": 7, "revenue": 12.0}


def test_clean_frame_contract_nothing_dropped_sorted_by_event_id():
    raw = example_rows().sample(frac=1.0, random_state=3)
    raw[cc.EVENT_ID] = raw[cc.EVENT_ID] * 10
    raw.index = raw.index + 100
    raw["extra"] = "ignored"
    before = raw.copy()
    events = clean_events(raw).events
    assert tuple(events.columns) == cc.CLEAN_COLUMNS
    assert len(events) == len(raw)
    assert column(events, cc.EVENT_ID) == sorted(raw[cc.EVENT_ID])
    assert isinstance(events.index, pd.RangeIndex)
    assert events[cc.NET_QUANTITY].dtype == np.int64
    assert events[cc.REVENUE].dtype == np.float64
    for name in (
        cc.IS_DUPLICATE,
        cc.IS_ANONYMOUS,
        cc.IS_OUTLIER,
        cc.IS_NON_PRODUCT,
        cc.IS_RETURN_MATCHED,
        cc.IS_RETURN_UNMATCHED,
        cc.USABLE,
    ):
        assert events[name].dtype == bool, name
    by_id = raw.set_index(cc.EVENT_ID).loc[events[cc.EVENT_ID]]
    for name in cc.RAW_COLUMNS[1:]:
        expected = by_id[name].reset_index(drop=True)
        pd.testing.assert_series_equal(events[name], expected, check_names=False)
    pd.testing.assert_frame_equal(raw, before)  # the input is not modified
    usable = ~(
        events[cc.IS_DUPLICATE]
        | events[cc.IS_ANONYMOUS]
        | events[cc.IS_OUTLIER]
        | events[cc.IS_NON_PRODUCT]
    )
    assert events[cc.USABLE].tolist() == usable.tolist()
    assert (events.loc[events[cc.KIND] != PURCHASE, cc.NET_QUANTITY] == 0).all()
    assert (events.loc[~events[cc.USABLE], cc.REVENUE] == 0).all()


def test_deterministic_whatever_the_row_order():
    raw = example_rows()
    first = clean_events(raw)
    for seed in range(3):
        again = clean_events(raw.sample(frac=1.0, random_state=seed))
        pd.testing.assert_frame_equal(first.events, again.events)
        assert again.report == first.report


def test_progress_is_reported_after_each_step():
    calls = []
    clean_events(
        example_rows(),
        on_progress=lambda done, total, **metrics: calls.append((done, total, metrics["step"])),
    )
    assert calls == [(i + 1, len(STEPS), step) for i, step in enumerate(STEPS)]


def test_empty_frame():
    result = clean_events(raw_frame().astype({cc.TIMESTAMP: "datetime64[ns, UTC]"}))
    assert tuple(result.events.columns) == cc.CLEAN_COLUMNS
    assert len(result.events) == 0
    assert all(r.rows == 0 and r.examples == [] for r in result.report.rules)
    assert result.report.before.rows == result.report.after.rows == 0
    assert result.report.after.revenue == 0.0


def test_missing_columns_are_rejected():
    with pytest.raises(ValueError, match="session_id"):
        clean_events(raw_frame({}).drop(columns=[cc.SESSION_ID]))


@pytest.mark.parametrize(
    "bad",
    [
        {"outlier_mad": 0.0},
        {"min_product_rows": 0},
        {"min_log_scale": 0.0},
        {"example_rows": -1},
    ],
)
def test_params_are_validated(bad):
    with pytest.raises(ValueError):
        CleaningParams(**bad)


def test_a_larger_frame_is_cleaned_consistently():
    rng = np.random.default_rng(0)
    n = 50_000
    kinds = np.array([VIEW, CART, PURCHASE, RETURN], dtype=object)
    kind = kinds[rng.choice(4, n, p=[0.5, 0.2, 0.25, 0.05])]
    raw = pd.DataFrame(
        {
            cc.EVENT_ID: rng.permutation(n).astype(np.int64) + 1,
            cc.CUSTOMER: rng.integers(-1, 500, n),
            cc.PRODUCT: (product := rng.integers(0, 200, n)),
            cc.SKU: np.array([f"P{i}" for i in range(200)], dtype=object)[product],
            cc.CATEGORY: "Home",
            cc.KIND: kind,
            cc.QUANTITY: np.where(kind == RETURN, -1, 1) * rng.integers(1, 4, n),
            cc.UNIT_PRICE: rng.uniform(1, 10, n).round(2),
            cc.TIMESTAMP: START + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            cc.ORDER_ID: "",
            cc.SESSION_ID: "",
        }
    )
    result = clean_events(raw)
    events = result.events
    assert len(events) == n
    assert events[cc.EVENT_ID].is_monotonic_increasing
    purchases = events[events[cc.KIND] == PURCHASE]
    assert (purchases[cc.NET_QUANTITY] <= purchases[cc.QUANTITY]).all()
    assert (events[cc.NET_QUANTITY] >= 0).all()
    returns = events[events[cc.KIND] == RETURN]
    taking_part = ~(returns[cc.IS_DUPLICATE] | returns[cc.IS_ANONYMOUS])
    flagged = returns[cc.IS_RETURN_MATCHED] | returns[cc.IS_RETURN_UNMATCHED]
    assert flagged.tolist() == taking_part.tolist()
    netted = int((purchases[cc.QUANTITY] - purchases[cc.NET_QUANTITY]).sum())
    matched = rule(result, "return_matched")
    assert netted > 0 and matched.rows > 0
    assert result.report.after.revenue == pytest.approx(events[cc.REVENUE].sum())
