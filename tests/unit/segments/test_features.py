"""Customer and product features on a tiny hand-computed clean frame (no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ecomsite.engine import clean_columns as cc
from segments.engine.features import (
    CUSTOMER_FEATURES,
    PRODUCT_FEATURES,
    customer_category_shares,
    customer_features,
    product_features,
)

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")
HOME, TOYS, GARDEN = "Home", "Toys", "Garden"
CATEGORY_OF = {10: HOME, 11: TOYS, 12: HOME, 13: GARDEN}


def event(
    customer: int,
    product: int,
    kind: str,
    when: str,
    *,
    quantity: int = 1,
    net: int | None = None,
    price: float = 1.0,
    order: str = "",
    **flags: bool,
) -> dict[str, object]:
    """One clean-frame row; purchases default to net = quantity, revenue = net * price."""
    net_quantity = (quantity if net is None else net) if kind == "purchase" else 0
    return {
        cc.EVENT_ID: 0,
        cc.CUSTOMER: customer,
        cc.PRODUCT: product,
        cc.SKU: f"SKU{product}",
        cc.CATEGORY: CATEGORY_OF[product],
        cc.KIND: kind,
        cc.QUANTITY: quantity,
        cc.UNIT_PRICE: price,
        cc.TIMESTAMP: when,
        cc.ORDER_ID: order,
        cc.SESSION_ID: "",
        cc.NET_QUANTITY: net_quantity,
        cc.REVENUE: net_quantity * price if kind == "purchase" else 0.0,
        cc.IS_DUPLICATE: flags.get("duplicate", False),
        cc.IS_ANONYMOUS: customer == cc.ANONYMOUS,
        cc.IS_OUTLIER: flags.get("outlier", False),
        cc.IS_NON_PRODUCT: False,
        cc.IS_RETURN_MATCHED: flags.get("matched", False),
        cc.IS_RETURN_UNMATCHED: flags.get("unmatched", False),
    }


def clean_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(cc.CLEAN_COLUMNS[:-1]))
    frame[cc.EVENT_ID] = np.arange(1, len(frame) + 1, dtype=np.int64)
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], utc=True)
    frame[cc.USABLE] = ~(
        frame[cc.IS_DUPLICATE]
        | frame[cc.IS_ANONYMOUS]
        | frame[cc.IS_OUTLIER]
        | frame[cc.IS_NON_PRODUCT]
    )
    return frame


ROWS = [
    # customer 1: browses, three orders, one matched and one unmatched return
    event(1, 10, "view", "2024-01-01T00:00"),
    event(1, 10, "view", "2024-01-01T00:05"),
    event(1, 10, "cart", "2024-01-01T00:10"),
    event(1, 10, "purchase", "2024-01-01T00:20", quantity=3, net=2, price=2.0, order="A1"),
    event(1, 11, "purchase", "2024-01-01T00:20", quantity=1, price=10.0, order="A1"),
    event(1, 10, "return", "2024-01-03T00:00", quantity=-1, price=2.0, matched=True),
    event(1, 10, "purchase", "2024-01-11T12:00", quantity=2, price=2.0, order="A2"),
    event(1, 12, "purchase", "2024-02-10T00:00", quantity=1, price=6.0, order="A3"),
    event(1, 12, "purchase", "2024-02-10T00:00", quantity=1, price=6.0, order="A3"),
    event(1, 11, "return", "2024-02-15T00:00", quantity=-2, price=10.0, unmatched=True),
    # not counted: a duplicate, an outlier, an event after as_of
    event(1, 12, "purchase", "2024-02-10T00:00", price=6.0, order="A3", duplicate=True),
    event(
        1, 12, "purchase", "2024-02-12T00:00", quantity=1000, price=6.0, order="A4", outlier=True
    ),
    event(1, 12, "purchase", "2024-03-05T00:00", quantity=1, price=6.0, order="A5"),
    # customer 2: browses only
    event(2, 10, "view", "2024-01-05T00:00"),
    event(2, 13, "view", "2024-01-06T00:00"),
    event(2, 10, "cart", "2024-01-05T01:00"),
    # customer 3: no order ids; the 06:00 line was fully returned (net revenue 0 → not an order)
    event(3, 10, "purchase", "2024-02-20T00:00", quantity=1, price=2.0),
    event(3, 11, "purchase", "2024-02-20T00:00", quantity=1, price=10.0),
    event(3, 11, "purchase", "2024-02-20T06:00", quantity=1, net=0, price=10.0),
    event(3, 11, "return", "2024-02-21T00:00", quantity=-1, price=10.0, matched=True),
    # customer 4: one order split evenly over two categories
    event(4, 12, "purchase", "2024-02-25T00:00", quantity=1, price=5.0, order="C1"),
    event(4, 11, "purchase", "2024-02-25T00:00", quantity=1, price=5.0, order="C1"),
    # customer 5: only a duplicate; anonymous visitors: never attributed
    event(5, 10, "view", "2024-01-07T00:00", duplicate=True),
    event(cc.ANONYMOUS, 10, "purchase", "2024-02-01T00:00", quantity=5, price=2.0, order="Z"),
    event(cc.ANONYMOUS, 13, "view", "2024-02-01T00:00"),
]


@pytest.fixture
def clean() -> pd.DataFrame:
    return clean_frame(ROWS)


def test_customer_frame_shape(clean):
    features = customer_features(clean, as_of=AS_OF)
    assert features.index.name == "customer"
    assert features.index.dtype == np.int64
    assert features.index.tolist() == [1, 2, 3, 4]  # no 5 (nothing usable), no anonymous
    assert tuple(features.columns) == CUSTOMER_FEATURES


def test_customer_with_orders_and_returns(clean):
    row = customer_features(clean, as_of=AS_OF).loc[1]
    expected = {
        "recency_days": 20.0,  # 2024-02-10 → 2024-03-01 (leap year)
        "frequency": 3,  # A1, A2, A3
        "monetary": 30.0,  # 4 + 10 + 4 + 6 + 6
        "tenure_days": 60.0,  # first view 2024-01-01T00:00
        "avg_order_value": 10.0,
        "basket_size": 4 / 3,  # A1: 2 products, A2: 1, A3: 1 (two lines of one product)
        "units": 7,  # net: 2 + 1 + 2 + 1 + 1
        "return_rate": 3 / 8,  # returned 1 + 2 of 3 + 1 + 2 + 1 + 1 bought (gross)
        "mean_interpurchase_days": 20.0,  # order days Jan 1, Jan 11, Feb 10: gaps 10 and 30
        "views": 2,
        "carts": 1,
        "purchases": 5,  # order lines
        "view_to_cart": 0.5,
        "cart_to_purchase": 5.0,
        "top_category_share": 2 / 3,  # Home 20 of 30
    }
    assert {k: row[k] for k in expected} == pytest.approx(expected)
    assert row["top_category"] == HOME


def test_customer_without_purchases_still_has_a_row(clean):
    row = customer_features(clean, as_of=AS_OF).loc[2]
    assert (row["frequency"], row["monetary"], row["units"], row["purchases"]) == (0, 0.0, 0, 0)
    assert (row["views"], row["carts"]) == (2, 1)
    assert row["view_to_cart"] == pytest.approx(0.5)
    assert row["cart_to_purchase"] == 0.0
    assert row["tenure_days"] == pytest.approx(56.0)  # 2024-01-05 → 2024-03-01
    for name in (
        "recency_days",
        "avg_order_value",
        "basket_size",
        "return_rate",
        "mean_interpurchase_days",
        "top_category_share",
    ):
        assert math.isnan(row[name]), name
    assert row["top_category"] is None


def test_orders_without_id_and_unpaid_orders(clean):
    row = customer_features(clean, as_of=AS_OF).loc[3]
    # the two 00:00 lines are one order; the 06:00 line has net revenue 0 and does not count
    assert row["frequency"] == 1
    assert row["monetary"] == pytest.approx(12.0)
    assert row["recency_days"] == pytest.approx(10.0)
    assert row["basket_size"] == pytest.approx(2.0)
    assert row["units"] == 2
    assert row["purchases"] == 3
    assert row["return_rate"] == pytest.approx(1 / 3)
    assert math.isnan(row["mean_interpurchase_days"])  # a single order day
    assert math.isnan(row["view_to_cart"]) and math.isnan(row["cart_to_purchase"])
    assert (row["top_category"], row["top_category_share"]) == (TOYS, pytest.approx(10 / 12))


def test_category_tie_goes_to_the_alphabetically_first(clean):
    row = customer_features(clean, as_of=AS_OF).loc[4]
    assert (row["top_category"], row["top_category_share"]) == (HOME, pytest.approx(0.5))


def test_category_shares_table(clean):
    shares = customer_category_shares(clean, as_of=AS_OF)
    assert shares.index.name == "customer"
    assert shares.index.tolist() == [1, 3, 4]
    assert shares.columns.tolist() == [HOME, TOYS]  # Garden: viewed, never bought
    expected = [[2 / 3, 1 / 3], [2 / 12, 10 / 12], [0.5, 0.5]]
    np.testing.assert_allclose(shares.to_numpy(), expected)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


def test_category_shares_without_as_of_see_every_row(clean):
    # the post-as_of A5 order (Home, 6.0) now counts for customer 1
    shares = customer_category_shares(clean)
    assert shares.loc[1, HOME] == pytest.approx(26 / 36)


def test_product_features(clean):
    products = product_features(clean, as_of=AS_OF, trend_days=14)
    assert products.index.name == "product"
    assert tuple(products.columns) == PRODUCT_FEATURES
    assert products.index.tolist() == [10, 11, 12, 13]
    numeric = products.drop(columns="category")
    expected = pd.DataFrame(
        {
            # p10: c1 in A1 and A2 (a repeat buyer), c3 once
            # p11: c1, c3 (00:00; the 06:00 line was returned), c4
            # p12: c1 in A3 (two lines), c4; the duplicate and the outlier are ignored
            # p13: only viewed
            "buyers": [2, 3, 2, 0],
            "orders": [3, 3, 2, 0],
            "units": [5, 3, 3, 0],
            "revenue": [10.0, 25.0, 17.0, 0.0],
            "repeat_purchase_rate": [0.5, 0.0, 0.0, np.nan],
            "price": [2.0, 10.0, 6.0, np.nan],
            # windows [Feb 16, Mar 1) vs [Feb 2, Feb 16): (recent + 1) / (previous + 1)
            "trend": [(1 + 1) / (0 + 1), (2 + 1) / (0 + 1), (1 + 1) / (2 + 1), 1.0],
        },
        index=pd.Index([10, 11, 12, 13], name="product"),
    )
    pd.testing.assert_frame_equal(numeric, expected)
    assert products["category"].tolist() == [HOME, TOYS, HOME, GARDEN]


def test_trend_window_edges():
    rows = [
        # exactly as_of - 7 days: recent; exactly as_of - 14 days: previous; earlier: neither
        event(1, 10, "purchase", "2024-02-23T00:00", quantity=3, order="a"),
        event(1, 10, "purchase", "2024-02-16T00:00", quantity=1, order="b"),
        event(1, 10, "purchase", "2024-02-15T23:59", quantity=50, order="c"),
    ]
    products = product_features(clean_frame(rows), as_of=AS_OF, trend_days=7)
    assert products.loc[10, "trend"] == pytest.approx((3 + 1) / (1 + 1))
    with pytest.raises(ValueError):
        product_features(clean_frame(rows), as_of=AS_OF, trend_days=0)


def test_results_do_not_depend_on_row_order(clean):
    shuffled = clean.sample(frac=1.0, random_state=7).reset_index(drop=True)
    for compute in (customer_features, product_features):
        pd.testing.assert_frame_equal(compute(clean, as_of=AS_OF), compute(shuffled, as_of=AS_OF))
    pd.testing.assert_frame_equal(
        customer_category_shares(clean, as_of=AS_OF),
        customer_category_shares(shuffled, as_of=AS_OF),
    )


def test_naive_as_of_means_utc(clean):
    naive = AS_OF.tz_localize(None)
    pd.testing.assert_frame_equal(
        customer_features(clean, as_of=naive), customer_features(clean, as_of=AS_OF)
    )


def test_empty_frame_gives_empty_typed_frames(clean):
    empty = clean.iloc[:0]
    customers = customer_features(empty, as_of=AS_OF)
    products = product_features(empty, as_of=AS_OF)
    assert customers.empty and tuple(customers.columns) == CUSTOMER_FEATURES
    assert products.empty and tuple(products.columns) == PRODUCT_FEATURES
    assert customers["frequency"].dtype == np.int64
    assert customers["monetary"].dtype == np.float64
    assert customer_category_shares(empty).empty


def test_missing_columns_are_named(clean):
    with pytest.raises(KeyError, match=cc.NET_QUANTITY):
        customer_features(clean.drop(columns=cc.NET_QUANTITY), as_of=AS_OF)
