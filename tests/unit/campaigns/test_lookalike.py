"""Lookalike maths on planted data (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaigns.engine.lookalike import CENTROID, KNN, feature_space, lookalike_rank

COLUMNS = ("recency_days", "frequency", "monetary")


def _customers(points: np.ndarray, start: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        points, columns=list(COLUMNS), index=pd.Index(np.arange(start, start + len(points)))
    )


def test_feature_space_fills_logs_and_standardizes():
    # recency NaN ("never ordered") → the column max 30; monetary is skewed (one whale) → log1p;
    # frequency is constant → all 0.
    features = pd.DataFrame(
        {
            "recency_days": [10.0, 20.0, np.nan, 30.0],
            "frequency": [2.0, 2.0, 2.0, 2.0],
            "monetary": [10.0, 12.0, 11.0, 5000.0],
        }
    )
    space = feature_space(features, COLUMNS)
    assert space.log_columns == ("monetary",)
    recency = np.array([10.0, 20.0, 30.0, 30.0])
    assert space.matrix[:, 0] == pytest.approx((recency - recency.mean()) / recency.std())
    assert space.matrix[:, 1] == pytest.approx([0, 0, 0, 0])
    logged = np.log1p([10.0, 12.0, 11.0, 5000.0])
    assert space.matrix[:, 2] == pytest.approx((logged - logged.mean()) / logged.std())


def test_feature_space_needs_its_columns():
    with pytest.raises(ValueError, match="lacks columns"):
        feature_space(pd.DataFrame({"frequency": [1.0]}), COLUMNS)


@pytest.mark.parametrize("method", [KNN, CENTROID])
def test_lookalikes_are_the_customers_planted_near_the_seed(method):
    # Given 1,000 customers: a seed of 20 around A = (5 days, 8 orders, 900 spent), 480 planted
    # near A, 500 ordinary customers spread elsewhere
    rng = np.random.default_rng(3)
    near_a = np.array([5.0, 8.0, 900.0]) * rng.normal(1.0, 0.08, size=(500, 3))
    ordinary = np.column_stack(
        [rng.uniform(60, 365, 500), rng.integers(1, 3, 500), rng.lognormal(3.5, 0.6, 500)]
    )
    features = _customers(np.vstack([near_a, ordinary]))
    seed = np.zeros(1000, dtype=bool)
    seed[:20] = True
    planted = set(range(20, 500))
    space = feature_space(features, COLUMNS)
    # When growing the seed by 480
    found = lookalike_rank(space.matrix, seed, 480, method=method)
    # Then the planted customers are the ones found, nearest first
    assert len(found.rows) == 480
    assert len(planted & set(found.rows.tolist())) >= 470
    assert not seed[found.rows].any()
    assert np.all(np.diff(found.distances) >= 0)


def test_knn_follows_a_seed_of_two_groups_where_the_centroid_does_not():
    # Given a seed in two groups (lapsed one-time buyers, frequent recent buyers), customers planted
    # near each, and others right at the seed's centroid, where no seed member is
    rng = np.random.default_rng(5)
    lapsed = np.array([300.0, 1.0, 20.0])
    loyal = np.array([3.0, 30.0, 3000.0])
    seed_points = np.vstack(
        [lapsed * rng.normal(1, 0.05, (10, 3)), loyal * rng.normal(1, 0.05, (10, 3))]
    )
    planted = np.vstack(
        [lapsed * rng.normal(1, 0.05, (50, 3)), loyal * rng.normal(1, 0.05, (50, 3))]
    )
    # between the two groups (their geometric mean), close to the seed's centroid
    between = np.sqrt(lapsed * loyal) * rng.normal(1, 0.05, (100, 3))
    features = _customers(np.vstack([seed_points, planted, between]))
    seed = np.zeros(len(features), dtype=bool)
    seed[:20] = True
    space = feature_space(features, COLUMNS)
    # When growing the seed by 100
    knn = lookalike_rank(space.matrix, seed, 100, method=KNN)
    centroid = lookalike_rank(space.matrix, seed, 100, method=CENTROID)
    # Then k-NN takes the planted customers of both groups; the centroid takes those in between
    planted_rows = set(range(20, 120))
    assert len(planted_rows & set(knn.rows.tolist())) >= 95
    assert len(planted_rows & set(centroid.rows.tolist())) <= 10


def test_lookalike_edges():
    matrix = np.array([[0.0], [1.0], [2.0], [1.0]])
    seed = np.array([True, False, False, False])
    # ties (rows 1 and 3 at distance 1) go by row position; a size beyond the candidates is cut
    found = lookalike_rank(matrix, seed, 10, method=KNN)
    assert found.rows.tolist() == [1, 3, 2]
    assert found.distances.tolist() == [1.0, 1.0, 2.0]
    assert lookalike_rank(matrix, seed, 0).rows.tolist() == []
    with pytest.raises(ValueError, match="seed is empty"):
        lookalike_rank(matrix, np.zeros(4, dtype=bool), 1)
    with pytest.raises(ValueError, match="unknown method"):
        lookalike_rank(matrix, seed, 1, method="cosine")  # type: ignore[arg-type]
