"""Search spaces and the experiment: validation inside the training period, JSON-safe results,
and test-period data that never influences a choice."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from ecomsite.engine import clean_columns as cc
from recommendations.engine.data import BINARY, LOG_UNITS, UNITS
from recommendations.engine.tuning import SearchSpace, run_experiment

START = pd.Timestamp("2011-01-01", tz="UTC")
CUTOFF = "2011-05-01"


def synthetic_interactions(seed: int = 0) -> pd.DataFrame:
    """60 customers in two taste groups over 20 products and 180 days; each customer has three
    favourite products they reorder, plus occasional other products of their group."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(60):
        group = customer % 2
        own = np.arange(10) + 10 * group
        favourites = rng.choice(own, size=3, replace=False)
        for order in range(int(rng.integers(4, 9))):
            day = float(rng.uniform(0, 180))
            products = set(rng.choice(favourites, size=2, replace=False).tolist())
            products.add(int(rng.choice(own)))
            for product in sorted(products):
                rows.append(
                    (customer, product, f"o{customer}-{order}", START + pd.Timedelta(days=day), 1)
                )
    return pd.DataFrame(rows, columns=[cc.CUSTOMER, cc.PRODUCT, cc.ORDER_ID, cc.TIMESTAMP, UNITS])


SPACES = [
    SearchSpace("popularity", {"window_days": [None, 30]}),
    SearchSpace("repeat", {"half_life_days": [15, 60]}),
    SearchSpace("item_knn", {"neighbours": [3, 10]}, weightings=(BINARY, LOG_UNITS), max_trials=3),
    SearchSpace("ease", {"l2": [1.0, 10.0]}),
]


def run(frame: pd.DataFrame):
    return run_experiment(frame, cutoff=CUTOFF, validation_days=30, k=5, spaces=SPACES)


def test_candidates_product_seeded_subset_and_seed():
    space = SearchSpace(
        "als", {"factors": [8, 16], "alpha": [1.0, 5.0]}, weightings=(BINARY, LOG_UNITS)
    )
    every = space.candidates(seed=7)
    assert len(every) == 8
    assert every[0] == (BINARY, {"factors": 8, "alpha": 1.0, "seed": 7})
    assert every[-1] == (LOG_UNITS, {"factors": 16, "alpha": 5.0, "seed": 7})
    subset = dataclasses.replace(space, max_trials=3)
    assert subset.candidates(seed=1) == subset.candidates(seed=1)
    assert len(subset.candidates(seed=1)) == 3
    assert set(map(str, subset.candidates(seed=1))) <= set(map(str, space.candidates(seed=1)))


def test_log_based_algorithms_have_no_weighting():
    assert SearchSpace("repeat", {"half_life_days": [5, 10]}).candidates(0) == [
        (None, {"half_life_days": 5}),
        (None, {"half_life_days": 10}),
    ]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError):
        SearchSpace("magic").candidates(0)
    with pytest.raises(ValueError):
        SearchSpace("ease", weightings=("squared",)).candidates(0)
    with pytest.raises(ValueError, match="objective"):
        run_experiment(synthetic_interactions(), cutoff=CUTOFF, objective="auc", spaces=SPACES)


def test_experiment_result_is_complete_and_json_safe():
    result = run(synthetic_interactions())
    labels = [row.label for row in result.rows()]
    assert labels == [
        "popularity (all-time)", "popularity", "repeat", "item_knn", "ease", "blend",
        "blend+trend",
    ]  # fmt: skip
    assert result.validation_cutoff == "2011-04-01T00:00:00+00:00"
    assert result.promoted in labels[1:]
    item_knn = result.models[2]
    assert len(item_knn.trials) == 3 and item_knn.weighting in (BINARY, LOG_UNITS)
    assert result.blends[0].params["trend_weight"] == 0.0
    assert result.blends[0].params["cf_algorithm"] in ("item_knn", "ease")
    assert result.data["test"]["users"] > 0 and result.data["validation"]["users"] > 0
    text = json.dumps(result.to_dict())
    assert json.loads(text)["promoted"] == result.promoted


def test_choices_do_not_depend_on_the_test_period():
    frame = synthetic_interactions()
    # Given the same training period but a different test period (rows after the cutoff
    # replaced by other purchases)
    after = frame[cc.TIMESTAMP] >= pd.Timestamp(CUTOFF, tz="UTC")
    other = frame.copy()
    other.loc[after, cc.PRODUCT] = (other.loc[after, cc.PRODUCT] + 7) % 20
    # When
    first, second = run(frame), run(other)
    # Then every choice and validation figure is the same; only test figures differ
    for a, b in zip(first.rows(), second.rows(), strict=True):
        assert (a.label, a.weighting, a.params) == (b.label, b.weighting, b.params)
        assert a.validation == b.validation
        assert [t.validation for t in a.trials] == [t.validation for t in b.trials]
    assert first.promoted == second.promoted
    assert [row.test for row in first.rows()] != [row.test for row in second.rows()]
