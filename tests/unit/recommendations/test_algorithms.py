"""Behaviour every registered algorithm must have: shapes, determinism, exclusion, padding,
save/load; and the checkerboard known answers for the collaborative ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.registry import (
    ALGORITHMS,
    DEEP_ALGORITHMS,
    create_recommender,
    load_recommender,
)
from tests.unit.recommendations.helpers import (
    BLOCK_ITEMS,
    BLOCK_USERS,
    block_matrix,
    log_of,
    missing_item,
)

# Small, fast parameters per algorithm.
PARAMS: dict[str, dict[str, Any]] = {
    "popularity": {"window_days": 6.0, "half_life_days": 3.0},
    "repeat": {"half_life_days": 5.0},
    "item_knn": {"neighbours": 5},
    "user_knn": {"neighbours": 5},
    "als": {"factors": 2, "iterations": 15, "regularization": 0.1},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "ease": {"l2": 1.0},
    "blend": {
        "weight": 0.5,
        "trend_weight": 0.2,
        "cf_algorithm": "item_knn",
        "cf_params": {"neighbours": 5},
        "trend_params": {"half_life_days": 3.0},
    },
}
COLLABORATIVE = ("item_knn", "user_knn", "als", "bpr", "ease")
# The Keras models have the same contract tests in tests/unit/recommendations/deep/ (marked
# tensorflow, with their own tiny parameters).
CLASSIC = sorted(set(ALGORITHMS) - set(DEEP_ALGORITHMS))


def fitted(name: str, **overrides: Any):
    train = block_matrix()
    return create_recommender(name, {**PARAMS[name], **overrides}).fit(train, log=log_of(train))


def test_every_registered_algorithm_is_covered():
    assert set(PARAMS) == set(CLASSIC)
    assert set(DEEP_ALGORITHMS) == {"sequence", "ncf", "ranker"}


@pytest.mark.parametrize("name", CLASSIC)
def test_shapes_and_types(name):
    model = fitted(name)
    items, scores = model.recommend(np.array([0, 7, 3]), 4)
    assert items.shape == scores.shape == (3, 4)
    assert items.dtype == np.int64 and scores.dtype == np.float32
    assert ((items >= 0) & (items < BLOCK_ITEMS)).all()
    assert all(len(set(row)) == 4 for row in items.tolist())
    assert (np.diff(scores, axis=1) <= 0).all()
    assert model.scores([0, 1]).shape == (2, BLOCK_ITEMS)
    assert model.recommend([], 3)[0].shape == (0, 3)


@pytest.mark.parametrize("name", CLASSIC)
def test_deterministic(name):
    users = np.arange(BLOCK_USERS)
    first = fitted(name).recommend(users, 5)
    second = fitted(name).recommend(users, 5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("name", CLASSIC)
def test_exclusion_and_padding(name):
    model = fitted(name)
    train = block_matrix()
    users = np.arange(BLOCK_USERS)
    items, _ = model.recommend(users, 3, exclude=train)
    for user, row in zip(users, items.tolist(), strict=True):
        assert not set(row) & set(train[user].indices.tolist())
    # every item but two excluded: two results, then padding
    mask = sp.csr_matrix(np.ones((1, BLOCK_ITEMS)))
    mask[0, [2, 6]] = 0
    items, scores = model.recommend([0], 4, exclude=mask)
    assert sorted(items[0, :2].tolist()) == [2, 6]
    assert items[0, 2:].tolist() == [-1, -1]
    assert np.isneginf(scores[0, 2:]).all()


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_checkerboard_recommends_the_missing_item_of_the_block(name):
    model = fitted(name)
    users = np.arange(BLOCK_USERS)
    items, _ = model.recommend(users, 1, exclude=block_matrix())
    assert items[:, 0].tolist() == [missing_item(int(u)) for u in users]


@pytest.mark.parametrize("name", CLASSIC)
def test_save_and_load(name, tmp_path: Path):
    model = fitted(name)
    path = tmp_path / f"{name}.npz"
    model.save(path)
    loaded = load_recommender(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    users = np.arange(BLOCK_USERS)
    np.testing.assert_array_equal(loaded.scores(users), model.scores(users))
    np.testing.assert_array_equal(loaded.recommend(users, 3)[0], model.recommend(users, 3)[0])


@pytest.mark.parametrize("name", CLASSIC)
def test_similar_items_where_supported(name):
    model = fitted(name)
    if not model.supports_similar_items:
        with pytest.raises(NotImplementedError):
            model.similar_items([0], 2)
        return
    items, scores = model.similar_items(np.array([0, 5]), 3)
    assert items.shape == scores.shape == (2, 3)
    assert 0 not in items[0] and 5 not in items[1]
    # the nearest neighbour is in the same block
    assert items[0, 0] < 4 and items[1, 0] >= 4


def test_unfitted_models_refuse_to_recommend():
    with pytest.raises(RuntimeError):
        create_recommender("item_knn").recommend([0], 1)


def test_unknown_algorithm_and_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown algorithm"):
        create_recommender("magic")
    with pytest.raises(TypeError):
        create_recommender("ease", {"lambda": 3})
    with pytest.raises(ValueError):
        create_recommender("item_knn", {"neighbours": 0})


def test_time_aware_algorithms_need_the_event_log():
    with pytest.raises(ValueError, match="log"):
        create_recommender("repeat").fit(block_matrix())


def test_saved_index_maps_come_back(tmp_path: Path):
    model = fitted("item_knn")
    customers = np.arange(BLOCK_USERS, dtype=np.int64) * 10
    products = np.arange(BLOCK_ITEMS, dtype=np.int64) + 100
    model.save(tmp_path / "m.npz", customers=customers, products=products)
    loaded = load_recommender(tmp_path / "m.npz")
    assert loaded.customer_ids is not None and loaded.product_ids is not None
    assert loaded.customer_ids.tolist() == customers.tolist()
    assert loaded.product_ids.tolist() == products.tolist()
    with pytest.raises(ValueError, match="ids"):
        model.save(tmp_path / "bad.npz", customers=customers[:3])
