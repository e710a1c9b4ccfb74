"""Synthetic data generator (ecomsite/engine/synthetic.py): shape, determinism and realism.

Pure numpy/pandas: no database, no Django.
"""

from __future__ import annotations

import ast
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecomsite.engine import columns as col
from ecomsite.engine import synthetic
from ecomsite.engine.synthetic import (
    SyntheticParams,
    category_names,
    generate_catalogue,
    generate_events,
    latent_preferences,
)

PARAMS = SyntheticParams(customers=300, products=200, events=30_000, seed=11, categories=8)
CHUNK = 4_000

OBJECT_COLUMNS = (
    col.CUSTOMER_ID,
    col.PRODUCT_ID,
    col.KIND,
    col.ORDER_ID,
    col.SESSION_ID,
    col.SOURCE,
    col.IDEMPOTENCY_KEY,
    col.PRODUCT_TITLE,
    col.PRODUCT_CATEGORY,
    col.CUSTOMER_COUNTRY,
)


def _period(params: SyntheticParams) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(params.start, tz="UTC")
    return start, start + pd.Timedelta(days=params.days)


@pytest.fixture(scope="module")
def chunks() -> list[pd.DataFrame]:
    return list(generate_events(PARAMS, chunk_size=CHUNK))


@pytest.fixture(scope="module")
def events(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(chunks, ignore_index=True)


@pytest.fixture(scope="module")
def purchases(events: pd.DataFrame) -> pd.DataFrame:
    return events[events[col.KIND] == col.PURCHASE]


# --- Shape of the output -------------------------------------------------------------------------


def test_columns_and_dtypes(chunks: list[pd.DataFrame]) -> None:
    for frame in chunks:
        assert list(frame.columns) == list(col.EVENT_COLUMNS)
        for name in OBJECT_COLUMNS:
            assert frame[name].dtype == object, name
        assert frame[col.QUANTITY].dtype == np.int64
        assert frame[col.UNIT_PRICE].dtype == np.float64
        assert frame[col.ROW_NUMBER].dtype == np.int64
        assert str(frame[col.TIMESTAMP].dtype) == "datetime64[ns, UTC]"


def test_exact_total_and_chunk_bound(chunks: list[pd.DataFrame]) -> None:
    assert sum(len(c) for c in chunks) == PARAMS.events
    assert len(chunks) > 1
    assert all(0 < len(c) <= CHUNK for c in chunks)
    assert all(len(c) == CHUNK for c in chunks[:-1])

    odd = SyntheticParams(customers=50, products=40, events=12_345, seed=2, categories=5)
    sizes = [len(c) for c in generate_events(odd, chunk_size=1_000)]
    assert sum(sizes) == 12_345
    assert sizes == [1_000] * 12 + [345]
    assert list(generate_events(SyntheticParams(events=0))) == []


def test_row_numbers_and_idempotency_keys(events: pd.DataFrame) -> None:
    assert events[col.ROW_NUMBER].tolist() == list(range(1, PARAMS.events + 1))
    keys = events[col.IDEMPOTENCY_KEY]
    assert keys.is_unique
    assert keys.str.startswith(f"syn-{PARAMS.seed}-").all()
    assert keys.str.len().max() <= col.MAX_KEY_LENGTH
    assert (events[col.SOURCE] == "synthetic").all()
    other_seed = pd.concat(generate_events(replace(PARAMS, seed=12)))
    assert not set(other_seed[col.IDEMPOTENCY_KEY]) & set(keys)


def test_ids_and_attributes_come_from_the_catalogue(events: pd.DataFrame) -> None:
    products, customers = generate_catalogue(PARAMS)
    assert list(products.columns) == [
        col.PRODUCT_ID,
        col.PRODUCT_TITLE,
        col.PRODUCT_CATEGORY,
        "price",
    ]
    assert list(customers.columns) == [col.CUSTOMER_ID, col.CUSTOMER_COUNTRY]
    assert len(products) == PARAMS.products and len(customers) == PARAMS.customers
    assert products[col.PRODUCT_ID].iloc[0] == "SKU00001"
    assert customers[col.CUSTOMER_ID].iloc[0] == "C000001"
    assert products[col.PRODUCT_ID].is_unique and customers[col.CUSTOMER_ID].is_unique
    assert (products["price"] > 0).all()
    assert set(products[col.PRODUCT_CATEGORY]) == set(category_names(PARAMS))
    assert set(customers[col.CUSTOMER_COUNTRY]) <= set(PARAMS.countries)

    catalogue = products.set_index(col.PRODUCT_ID)
    row_products = catalogue.loc[events[col.PRODUCT_ID]]
    assert (row_products[col.PRODUCT_TITLE].to_numpy() == events[col.PRODUCT_TITLE]).all()
    assert (row_products[col.PRODUCT_CATEGORY].to_numpy() == events[col.PRODUCT_CATEGORY]).all()
    browsing = events[col.KIND].isin([col.VIEW, col.CART]).to_numpy()
    list_price = row_products["price"].to_numpy()
    assert np.allclose(events[col.UNIT_PRICE].to_numpy()[browsing], list_price[browsing])
    paid = events[col.KIND].isin([col.PURCHASE, col.RETURN]).to_numpy()
    assert (events[col.UNIT_PRICE].to_numpy()[paid] <= list_price[paid] + 1e-9).all()
    assert (events[col.UNIT_PRICE] > 0).all()

    known = events[events[col.CUSTOMER_ID].notna()]
    countries = customers.set_index(col.CUSTOMER_ID)[col.CUSTOMER_COUNTRY]
    assert (countries.loc[known[col.CUSTOMER_ID]].to_numpy() == known[col.CUSTOMER_COUNTRY]).all()


def test_sessions_and_orders(events: pd.DataFrame) -> None:
    assert events[col.SESSION_ID].str.fullmatch(r"S\d{7,}").all()
    ordered = events[col.KIND].isin([col.PURCHASE, col.RETURN])
    assert (events.loc[~ordered, col.ORDER_ID] == "").all()
    assert (events.loc[ordered, col.ORDER_ID] != "").all()
    # one order per purchasing session, and one session per order
    buying = events[events[col.KIND] == col.PURCHASE]
    assert (buying.groupby(col.SESSION_ID)[col.ORDER_ID].nunique() == 1).all()
    assert (buying.groupby(col.ORDER_ID)[col.SESSION_ID].nunique() == 1).all()
    assert not buying.duplicated([col.ORDER_ID, col.PRODUCT_ID]).any()
    # a session's rows are consecutive and belong to one visitor
    runs = (events[col.SESSION_ID] != events[col.SESSION_ID].shift()).sum()
    assert runs == events[col.SESSION_ID].nunique()
    visitors = events.groupby(col.SESSION_ID)[col.CUSTOMER_ID].nunique(dropna=False)
    assert (visitors == 1).all()


def test_timestamps_in_range_and_sessions_chronological(events: pd.DataFrame) -> None:
    start, end = _period(PARAMS)
    assert events[col.TIMESTAMP].min() >= start
    assert events[col.TIMESTAMP].max() < end
    first = events.groupby(col.SESSION_ID, sort=True)[col.TIMESTAMP].min()
    assert first.is_monotonic_increasing


def test_start_with_offset_and_short_period() -> None:
    params = SyntheticParams(
        customers=20, products=30, events=3_000, days=2, start="2024-03-31T01:30+02:00"
    )
    frame = pd.concat(generate_events(params))
    start = pd.Timestamp("2024-03-30T23:30:00Z")
    assert frame[col.TIMESTAMP].min() >= start
    assert frame[col.TIMESTAMP].max() < start + pd.Timedelta(days=2)


def test_invalid_params_are_rejected() -> None:
    for bad in (
        {"customers": 0},
        {"products": 0},
        {"events": -1},
        {"days": 0},
        {"categories": 0},
        {"products": 3, "categories": 4},
        {"countries": ()},
        {"start": "not a date"},
    ):
        with pytest.raises(ValueError):
            SyntheticParams(**bad)
    with pytest.raises(ValueError):
        generate_events(PARAMS, chunk_size=0)


# --- Determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(chunks: list[pd.DataFrame]) -> None:
    again = list(generate_events(PARAMS, chunk_size=CHUNK))
    assert len(again) == len(chunks)
    for first, second in zip(chunks, again, strict=True):
        pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(generate_catalogue(PARAMS)[0], generate_catalogue(PARAMS)[0])


def test_chunk_size_does_not_change_the_events(events: pd.DataFrame) -> None:
    other = pd.concat(generate_events(PARAMS, chunk_size=7_777), ignore_index=True)
    pd.testing.assert_frame_equal(events, other)


def test_different_seed_differs(events: pd.DataFrame) -> None:
    other = pd.concat(generate_events(replace(PARAMS, seed=12)))
    assert len(other) == len(events)
    assert not events[col.PRODUCT_ID].equals(other[col.PRODUCT_ID].reset_index(drop=True))
    assert not generate_catalogue(PARAMS)[0]["price"].equals(
        generate_catalogue(replace(PARAMS, seed=12))[0]["price"]
    )


# --- Realism --------------------------------------------------------------------------------------


def test_funnel(events: pd.DataFrame) -> None:
    counts = events[col.KIND].value_counts()
    assert set(counts.index) == set(col.EVENT_KINDS)
    assert counts[col.VIEW] > counts[col.CART] > counts[col.PURCHASE] > counts[col.RETURN] > 0


def test_quantities(events: pd.DataFrame, purchases: pd.DataFrame) -> None:
    assert (events.loc[events[col.KIND] == col.VIEW, col.QUANTITY] == 1).all()
    assert (events.loc[events[col.KIND] != col.RETURN, col.QUANTITY] > 0).all()
    assert (events.loc[events[col.KIND] == col.RETURN, col.QUANTITY] < 0).all()
    assert purchases[col.QUANTITY].between(1, 3).mean() > 0.8


def test_long_tail_popularity(purchases: pd.DataFrame) -> None:
    counts = purchases[col.PRODUCT_ID].value_counts()
    top = int(PARAMS.products * 0.1)
    assert counts.iloc[:top].sum() / len(purchases) > 0.4


def test_purchases_follow_latent_preferences(purchases: pd.DataFrame) -> None:
    preferences = latent_preferences(PARAMS)
    assert preferences.shape == (PARAMS.customers, PARAMS.categories)
    assert np.allclose(preferences.sum(axis=1), 1.0)
    known = purchases[purchases[col.CUSTOMER_ID].notna()]
    favourite = preferences.idxmax(axis=1).loc[known[col.CUSTOMER_ID]].to_numpy()
    share = (known[col.PRODUCT_CATEGORY].to_numpy() == favourite).mean()
    assert share > 3 / PARAMS.categories


def _mean_top_category_share(purchases: pd.DataFrame) -> float:
    per = purchases.groupby([col.CUSTOMER_ID, col.PRODUCT_CATEGORY]).size()
    total = per.groupby(level=0).sum()
    top = per.groupby(level=0).max()
    enough = total >= 5
    return float((top[enough] / total[enough]).mean())


def test_customers_concentrate_on_a_few_categories(purchases: pd.DataFrame) -> None:
    known = purchases[purchases[col.CUSTOMER_ID].notna()]
    shuffled = known.assign(
        **{col.CUSTOMER_ID: np.random.default_rng(0).permutation(known[col.CUSTOMER_ID].to_numpy())}
    )
    assert _mean_top_category_share(known) > _mean_top_category_share(shuffled) + 0.05
    assert _mean_top_category_share(known) > 2 / PARAMS.categories


def _repeat_share(purchases: pd.DataFrame) -> float:
    ordered = purchases.sort_values(col.TIMESTAMP, kind="stable")
    earlier = ordered.groupby([col.CUSTOMER_ID, col.PRODUCT_ID]).cumcount()
    return float((earlier > 0).mean())


def test_repeat_buying(purchases: pd.DataFrame) -> None:
    known = purchases[purchases[col.CUSTOMER_ID].notna()]
    shuffled = known.assign(
        **{col.CUSTOMER_ID: np.random.default_rng(1).permutation(known[col.CUSTOMER_ID].to_numpy())}
    )
    assert _repeat_share(known) > 0.15
    assert _repeat_share(known) > _repeat_share(shuffled) + 0.03


def test_heterogeneous_activity(events: pd.DataFrame) -> None:
    sessions = (
        events[events[col.CUSTOMER_ID].notna()].groupby(col.CUSTOMER_ID)[col.SESSION_ID].nunique()
    )
    assert sessions.quantile(0.9) > 3 * sessions.median()


def test_returns_reference_purchases(events: pd.DataFrame, purchases: pd.DataFrame) -> None:
    returns = events[events[col.KIND] == col.RETURN]
    assert len(returns) > 0
    assert returns[col.ORDER_ID].isin(set(purchases[col.ORDER_ID])).all()
    matched = returns.merge(
        purchases,
        on=[col.ORDER_ID, col.PRODUCT_ID],
        suffixes=("", "_bought"),
        validate="one_to_one",
    )
    assert len(matched) == len(returns)
    assert (
        matched[col.CUSTOMER_ID].fillna("") == matched[f"{col.CUSTOMER_ID}_bought"].fillna("")
    ).all()
    assert (-matched[col.QUANTITY] <= matched[f"{col.QUANTITY}_bought"]).all()
    assert np.allclose(matched[col.UNIT_PRICE], matched[f"{col.UNIT_PRICE}_bought"])
    delay = matched[col.TIMESTAMP] - matched[f"{col.TIMESTAMP}_bought"]
    assert (delay > pd.Timedelta(0)).all()
    assert delay.dt.total_seconds().median() > 2 * 86_400
    assert len(returns) < 0.2 * len(purchases)


def test_anonymous_sessions_view_but_rarely_buy(events: pd.DataFrame) -> None:
    anonymous = events[col.CUSTOMER_ID].isna()
    assert 0 < anonymous.mean() < 0.2
    assert (events.loc[anonymous, col.CUSTOMER_COUNTRY] == "").all()
    bought = events[col.KIND].eq(col.PURCHASE).groupby(events[col.SESSION_ID]).any()
    anonymous_session = anonymous.groupby(events[col.SESSION_ID]).all()
    assert bought[anonymous_session].mean() < bought[~anonymous_session].mean() / 3


def test_seasonality(events: pd.DataFrame) -> None:
    starts = events.groupby(col.SESSION_ID)[col.TIMESTAMP].min()
    per_month = starts.dt.month.value_counts()
    assert per_month[[11, 12]].mean() > 1.4 * per_month[list(range(2, 10))].mean()
    per_weekday = starts.dt.dayofweek.value_counts()
    assert per_weekday[6] > per_weekday[5]  # Sunday busier than Saturday


# --- Engineering constraints ---------------------------------------------------------------------


def test_memory_is_bounded_by_the_chunk_size() -> None:
    params = SyntheticParams(customers=300, products=200, events=120_000, categories=8)
    tracemalloc.start()
    try:
        total = sum(len(frame) for frame in generate_events(params, chunk_size=4_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 120_000
    assert peak < 30 * 2**20  # all 120k rows at once take ~75 MiB


def test_module_imports_only_numpy_pandas_and_columns() -> None:
    tree = ast.parse(Path(synthetic.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            imported.update(f"{module}.{alias.name}" for alias in node.names)
    third_party = {
        name
        for name in imported
        if name.split(".")[0]
        not in {"__future__", "collections", "dataclasses", "hashlib", "typing"}
    }
    allowed = {"numpy", "numpy.typing", "pandas", "ecomsite.engine.columns"}
    assert third_party <= allowed, third_party - allowed
