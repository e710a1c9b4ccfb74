"""Interaction frame, weighted matrices, index maps, temporal split and hold-out (no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ecomsite.engine import clean_columns as cc
from recommendations.engine.data import (
    BINARY,
    INTERACTION_COLUMNS,
    LOG_UNITS,
    ORDERS,
    UNITS,
    holdout,
    interaction_matrix,
    purchase_interactions,
    temporal_split,
    training_data,
)
from tests.unit.recommendations.helpers import interactions


def clean_rows(*rows: dict) -> pd.DataFrame:
    """A clean frame from partial rows (defaults: usable purchase of 1 unit, order 'o1')."""
    defaults = {
        cc.CUSTOMER: 1,
        cc.PRODUCT: 10,
        cc.KIND: "purchase",
        cc.NET_QUANTITY: 1,
        cc.TIMESTAMP: "2011-01-01 10:00",
        cc.ORDER_ID: "o1",
        cc.USABLE: True,
    }
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], utc=True, format="ISO8601")
    return frame


def test_interactions_keep_usable_purchases_of_known_customers_with_units_left():
    # Given one row of every kind that must be dropped, and two kept lines of one order
    clean = clean_rows(
        {cc.NET_QUANTITY: 2},
        {cc.NET_QUANTITY: 3, cc.TIMESTAMP: "2011-01-01 10:05"},  # same order, same product
        {cc.CUSTOMER: cc.ANONYMOUS},
        {cc.USABLE: False},
        {cc.KIND: "return", cc.NET_QUANTITY: 0},
        {cc.KIND: "view", cc.NET_QUANTITY: 0},
        {cc.NET_QUANTITY: 0},  # fully returned
    )
    # When
    frame = purchase_interactions(clean)
    # Then one interaction: the order's two lines summed, at the earliest time
    assert list(frame.columns) == list(INTERACTION_COLUMNS)
    assert frame.to_dict("records") == [
        {
            cc.CUSTOMER: 1,
            cc.PRODUCT: 10,
            cc.ORDER_ID: "o1",
            cc.TIMESTAMP: pd.Timestamp("2011-01-01 10:00", tz="UTC"),
            UNITS: 5,
        }
    ]


def test_without_an_order_id_every_timestamp_is_an_order():
    clean = clean_rows(
        {cc.ORDER_ID: "", cc.TIMESTAMP: "2011-01-02"},
        {cc.ORDER_ID: "", cc.TIMESTAMP: "2011-01-01"},
        {cc.ORDER_ID: "", cc.TIMESTAMP: "2011-01-01"},
    )
    frame = purchase_interactions(clean)
    assert frame[UNITS].tolist() == [2, 1]
    assert frame[cc.TIMESTAMP].dt.day.tolist() == [1, 2]


def test_interactions_do_not_depend_on_row_order():
    clean = clean_rows(
        {cc.CUSTOMER: 2, cc.PRODUCT: 11, cc.TIMESTAMP: "2011-01-03"},
        {cc.CUSTOMER: 1, cc.PRODUCT: 12, cc.ORDER_ID: "o2"},
        {cc.CUSTOMER: 1, cc.PRODUCT: 10},
    )
    shuffled = clean.iloc[[2, 0, 1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(purchase_interactions(clean), purchase_interactions(shuffled))


def test_weightings_and_index_maps():
    # Given customer 7 buying product 30 in two orders (2 and 5 units) and product 20 once
    frame = interactions(
        [
            (7, 30, "a", "2011-01-01", 2),
            (7, 30, "b", "2011-01-11", 5),
            (7, 20, "b", "2011-01-11", 1),
            (9, 20, "c", "2011-01-06", 3),
        ]
    )
    # When
    data = training_data(frame, now="2011-01-21")
    # Then rows/columns are ascending ids, ages are days before `now`
    assert data.customers.tolist() == [7, 9]
    assert data.products.tolist() == [20, 30]
    assert sorted(data.log.age_days.tolist()) == [10.0, 10.0, 15.0, 20.0]
    assert data.customer_indices([9, 8]).tolist() == [1, -1]
    assert data.product_indices([30, 20, 99]).tolist() == [1, 0, -1]
    assert data.matrix(BINARY).toarray().tolist() == [[1, 1], [1, 0]]
    assert data.matrix(ORDERS).toarray().tolist() == [[1, 2], [1, 0]]
    log_units = data.matrix(LOG_UNITS).toarray()
    assert log_units == pytest.approx(np.array([[math.log(2), math.log(8)], [math.log(4), 0]]))
    assert data.matrix().dtype == np.float32
    assert data.context() == {"log": data.log}


def test_static_attributes_reach_fit_aligned_to_rows_and_columns():
    frame = interactions([(7, 30, "a", "2011-01-01", 2), (9, 20, "c", "2011-01-06", 3)])
    countries = pd.DataFrame({"country": ["France", "United Kingdom", "Spain"]}, index=[9, 7, 5])
    products = pd.DataFrame({"category": ["Candles"], "price": [2.5]}, index=[30])
    data = training_data(
        frame, now="2011-01-21", customer_attributes=countries, product_attributes=products
    )
    context = data.context()
    assert context["log"] is data.log
    # rows are customers 7, 9; columns products 20, 30 (20 has no attributes: NaN)
    customers = context["customer_features"]
    assert customers["country"].tolist() == ["United Kingdom", "France"]
    assert customers.index.tolist() == [0, 1]
    # figures from the training log as of `now`: 7 bought on 2011-01-01 (2 units), 9 on 01-06
    assert customers["recency_days"].tolist() == [20.0, 15.0]
    assert customers["orders"].tolist() == [1, 1]
    assert customers["units"].tolist() == [2, 3]
    features = context["product_features"]
    assert features["category"].isna().tolist() == [True, False]
    assert features.loc[1, "category"] == "Candles" and features.loc[1, "price"] == 2.5


def test_unknown_weighting_is_refused():
    data = training_data(interactions([(1, 1, "a", "2011-01-01", 1)]))
    with pytest.raises(ValueError, match="weighting"):
        interaction_matrix(data.log, data.shape, "squared")


def test_given_index_maps_drop_rows_outside_them():
    frame = interactions([(1, 10, "a", "2011-01-01", 1), (2, 11, "b", "2011-01-01", 1)])
    data = training_data(frame, customers=np.array([1, 5]), products=np.array([10]))
    assert data.shape == (2, 1)
    assert data.matrix().toarray().tolist() == [[1.0], [0.0]]


SPLIT_ROWS = [
    (1, 10, "o1", "2011-01-01", 1),
    (1, 11, "o2", "2011-05-31 23:59:59", 1),
    (1, 10, "o3", "2011-06-01 00:00:00", 2),  # at the cutoff: test
    (1, 12, "o4", "2011-06-15", 1),
    (1, 12, "o5", "2011-06-20", 1),
    (2, 11, "o6", "2011-02-01", 1),  # no test purchases: not evaluated
    (3, 10, "o7", "2011-06-02", 1),  # cold start: no train history
    (1, 13, "o8", "2011-07-01", 1),  # product unknown in train
]


def test_temporal_split_at_the_cutoff():
    split = temporal_split(interactions(SPLIT_ROWS), "2011-06-01")
    assert split.train[cc.ORDER_ID].tolist() == ["o1", "o6", "o2"]
    assert sorted(split.test[cc.ORDER_ID]) == ["o3", "o4", "o5", "o7", "o8"]
    assert split.truth.values.tolist() == [[1, 10], [1, 12], [1, 13]]
    assert split.new_truth.values.tolist() == [[1, 12], [1, 13]]
    assert split.cold_customers == 1
    assert split.summary()["evaluated_customers"] == 1


def test_temporal_split_end_bounds_the_test_period():
    split = temporal_split(interactions(SPLIT_ROWS), "2011-06-01", end="2011-06-16")
    assert split.truth.values.tolist() == [[1, 10], [1, 12]]
    assert split.new_truth.values.tolist() == [[1, 12]]


def test_temporal_split_is_a_function_of_dates_not_row_order():
    frame = interactions(SPLIT_ROWS)
    shuffled = frame.sample(frac=1.0, random_state=4).reset_index(drop=True)
    a = temporal_split(frame, pd.Timestamp("2011-06-01", tz="UTC"))
    b = temporal_split(shuffled, "2011-06-01")
    for name in ("train", "test", "truth", "new_truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_holdout_counts_unreachable_products_as_relevant():
    split = temporal_split(interactions(SPLIT_ROWS), "2011-06-01")
    data = training_data(split.train, now=split.cutoff)
    result = holdout(split, data)
    # customer 1 is row 0; products 10, 11 are columns 0, 1; 12 and 13 are not in train
    assert result.users.tolist() == [0]
    assert result.truth.toarray().tolist() == [[1, 0]]
    assert result.relevant.tolist() == [3]
    assert result.new_truth.toarray().tolist() == [[0, 0]]
    assert result.new_relevant.tolist() == [2]
    assert result.seen.toarray().tolist() == [[1, 1]]
