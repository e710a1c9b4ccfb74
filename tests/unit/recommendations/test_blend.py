"""The blend's formula, its weight search on a hand-made case, and its fitted forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.blend import Blend, blend_scores, row_zscore
from recommendations.engine.registry import create_recommender
from recommendations.engine.tuning import blend_weight_grid, search_blend_weights
from tests.unit.recommendations.helpers import block_matrix, fixed, holdout_of, log_of


def test_row_zscore():
    scaled = row_zscore(np.array([[1, 2, 3], [4, 4, 4]], dtype=np.float32))
    assert scaled[0] == pytest.approx([-np.sqrt(1.5), 0, np.sqrt(1.5)])
    assert scaled[1].tolist() == [0, 0, 0]


def test_blend_scores_minmax():
    repeat = np.array([[0, 2, 4]], dtype=np.float32)  # → 0, 0.5, 1
    cf = np.array([[10, 0, 5]], dtype=np.float32)  # → 1, 0, 0.5
    trend = np.array([[3, 1, 1]], dtype=np.float32)  # → 1, 0, 0
    mixed = blend_scores(repeat, cf, 0.5, trend=trend, trend_weight=0.2, normalisation="minmax")
    # 0.5 · repeat + 0.3 · cf + 0.2 · trend
    assert mixed[0] == pytest.approx([0.3 + 0.2, 0.25, 0.5 + 0.15])


# k = 1. Customer 0 re-buys item 1, which both components rank second; a 50/50 mix puts it
# first. Customer 1 re-buys item 3, which the CF model ranks first and repeat purchase second.
REPEAT = [[1.0, 0.9, 0.0, 0.0], [1.0, 0.0, 0.0, 0.5]]
CF = [[0.0, 0.9, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
HOLDOUT = holdout_of([[1], [3]], 4, seen_rows=[[0, 1], [0, 3]])


@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
def test_weight_search_finds_the_mix(normalisation):
    search = search_blend_weights(
        fixed(REPEAT),
        fixed(CF),
        HOLDOUT,
        k=1,
        weights=[(0.0, 0.0), (0.5, 0.0), (1.0, 0.0)],
        normalisations=[normalisation],
    )
    ndcg = [candidate.metrics.ndcg for candidate in search.candidates]
    # pure CF: customer 1 only; mix: both (minmax: customer 0's item 1 scores 0.45 + 0.45
    # against 0.5 + 0 or 0 + 0.5, customer 1's item 3 0.25 + 0.5 against 0.5 + 0); pure
    # repeat: neither
    assert ndcg == pytest.approx([0.5, 1.0, 0.0])
    assert (search.best.weight, search.best.trend_weight) == (0.5, 0.0)
    assert search.best.normalisation == normalisation


def test_weight_search_takes_the_first_of_equals():
    search = search_blend_weights(
        fixed(REPEAT), fixed(CF), HOLDOUT, k=1, weights=[(0.0, 0.0), (0.1, 0.0)]
    )
    assert search.best.weight == 0.0


def test_weight_grid():
    assert blend_weight_grid(0.5) == [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0)]
    assert blend_weight_grid(0.5, trend=True) == [
        (0.0, 0.0), (0.0, 0.5), (0.0, 1.0), (0.5, 0.0), (0.5, 0.5), (1.0, 0.0),
    ]  # fmt: skip
    assert len(blend_weight_grid(0.1, trend=True)) == 66


def test_trend_weights_need_a_trend():
    with pytest.raises(ValueError, match="trend"):
        search_blend_weights(fixed(REPEAT), fixed(CF), HOLDOUT, weights=[(0.5, 0.5)])


def test_fit_equals_wrapping_fitted_components():
    train = block_matrix()
    log = log_of(train)
    params = {"weight": 0.4, "cf_algorithm": "ease", "cf_params": {"l2": 2.0}}
    blend = create_recommender("blend", params).fit(train, log=log)
    repeat = create_recommender("repeat").fit(train, log=log)
    ease = create_recommender("ease", {"l2": 2.0}).fit(train)
    wrapped = Blend.of(repeat, ease, 0.4)
    users = np.arange(train.shape[0])
    np.testing.assert_array_equal(blend.scores(users), wrapped.scores(users))
    assert wrapped.get_params() == blend.get_params()


def test_on_new_items_the_blend_ranks_like_its_cf_model():
    train = block_matrix()
    log = log_of(train)
    repeat = create_recommender("repeat").fit(train, log=log)
    knn = create_recommender("item_knn", {"neighbours": 3}).fit(train)
    users = np.arange(train.shape[0])
    for weight in (0.2, 0.8):
        blended = Blend.of(repeat, knn, weight).recommend(users, 3, exclude=train)[0]
        np.testing.assert_array_equal(blended, knn.recommend(users, 3, exclude=train)[0])


def test_components_must_share_a_matrix():
    a = fixed([[1.0, 2.0]])
    b = fixed([[1.0, 2.0], [3.0, 4.0]], sp.csr_matrix((2, 2)))
    with pytest.raises(ValueError, match="different matrices"):
        Blend.of(a, b, 0.5)
