"""Cosine item- and user-based CF on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.knn import ItemKNN, UserKNN, cosine_neighbours

# Two customers who rated two items 5, 3 and 4, 2.
RATINGS = sp.csr_matrix(np.array([[5, 3], [4, 2]], dtype=np.float32))
USER_COSINE = 26 / (math.sqrt(34) * math.sqrt(20))  # (5·4 + 3·2) / (|(5,3)| |(4,2)|) = 0.99705
ITEM_COSINE = 23 / (math.sqrt(41) * math.sqrt(13))  # (5·3 + 4·2) / (|(5,4)| |(3,2)|) = 0.99624


def test_cosine_of_the_two_customers():
    # Note: 26 / (√34 · √20) is 0.99705, not 0.8944 (= 2/√5, the cosine of (2, 1) and (1, 0),
    # checked below).
    sims = cosine_neighbours(RATINGS, neighbours=5).toarray()
    assert sims == pytest.approx(np.array([[0, USER_COSINE], [USER_COSINE, 0]]), abs=1e-6)
    assert USER_COSINE == pytest.approx(0.99705, abs=1e-5)


def test_cosine_of_a_customer_with_one_item():
    sims = cosine_neighbours(sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 0.0]])), 1).toarray()
    assert sims[0, 1] == pytest.approx(2 / math.sqrt(5)) == pytest.approx(0.8944, abs=1e-4)


def test_user_knn_scores_the_neighbours_ratings():
    model = UserKNN(neighbours=5).fit(RATINGS)
    # score(u0, i) = sim(u0, u1) · r(u1, i) = 0.99705 · (4, 2)
    assert model.scores([0])[0] == pytest.approx([4 * USER_COSINE, 2 * USER_COSINE], abs=1e-5)
    assert model.scores([1])[0] == pytest.approx([5 * USER_COSINE, 3 * USER_COSINE], abs=1e-5)


def test_item_knn_scores_the_customers_other_items():
    model = ItemKNN(neighbours=5).fit(RATINGS)
    # score(u0, i0) = sim(i0, i1) · r(u0, i1) = 0.99624 · 3; score(u0, i1) = 0.99624 · 5
    assert model.scores([0])[0] == pytest.approx([3 * ITEM_COSINE, 5 * ITEM_COSINE], abs=1e-5)
    assert model.scores([1])[0] == pytest.approx([2 * ITEM_COSINE, 4 * ITEM_COSINE], abs=1e-5)


# Binary purchases: u0 {0, 1}, u1 {0, 1, 2}, u2 {2, 3}. Item columns: i0 = i1 = (1, 1, 0),
# i2 = (0, 1, 1), i3 = (0, 0, 1): cos(i0, i1) = 1, cos(i0, i2) = cos(i1, i2) = 1/2,
# cos(i2, i3) = 1/√2, cos(i0, i3) = cos(i1, i3) = 0.
PURCHASES = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))
R2 = 1 / math.sqrt(2)


def test_item_knn_with_all_neighbours():
    model = ItemKNN(neighbours=10).fit(PURCHASES)
    assert model.similarity.toarray() == pytest.approx(
        np.array([[0, 1, 0.5, 0], [1, 0, 0.5, 0], [0.5, 0.5, 0, R2], [0, 0, R2, 0]]), abs=1e-6
    )
    # u2 bought {2, 3}: i0 = sim(0,2) + sim(0,3) = 0.5; i2 = sim(2,3) = 1/√2; i3 = sim(3,2)
    assert model.scores([2])[0] == pytest.approx([0.5, 0.5, R2, R2], abs=1e-6)
    # u0 bought {0, 1}: i2 = sim(2,0) + sim(2,1) = 1
    assert model.scores([0])[0] == pytest.approx([1, 1, 1, 0], abs=1e-6)


def test_item_knn_keeps_only_the_top_neighbours():
    model = ItemKNN(neighbours=1).fit(PURCHASES)
    # N(i0) = {i1}, N(i1) = {i0}, N(i2) = {i3}, N(i3) = {i2}
    assert model.scores([0])[0] == pytest.approx([1, 1, 0, 0], abs=1e-6)
    assert model.scores([2])[0] == pytest.approx([0, 0, R2, R2], abs=1e-6)
    items, scores = model.similar_items([2, 0], 2)
    assert items.tolist() == [[3, -1], [1, -1]]
    assert scores[:, 0] == pytest.approx([R2, 1.0], abs=1e-6)


def test_shrinkage_pulls_similarities_down():
    model = ItemKNN(neighbours=10, shrinkage=1.0).fit(PURCHASES)
    # cos(i0, i1) = 2 / (√2 · √2 + 1) = 2/3
    assert model.similarity[0, 1] == pytest.approx(2 / 3, abs=1e-6)


def test_user_knn_with_one_neighbour():
    model = UserKNN(neighbours=1).fit(PURCHASES)
    # cos(u0, u1) = 2 / (√2 √3); cos(u1, u2) = 1 / (√3 √2); cos(u0, u2) = 0
    c01, c12 = 2 / math.sqrt(6), 1 / math.sqrt(6)
    assert model.similarity.toarray() == pytest.approx(
        np.array([[0, c01, 0], [c01, 0, 0], [0, c12, 0]]), abs=1e-6
    )
    assert model.scores([2])[0] == pytest.approx([c12, c12, c12, 0], abs=1e-6)
    with pytest.raises(NotImplementedError):
        model.similar_items([0], 1)
