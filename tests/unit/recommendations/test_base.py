"""Top-k ranking, tie-breaks, exclusion and padding of the shared recommender interface."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.base import popularity_ranks, row_minmax, top_k
from tests.unit.recommendations.helpers import fixed


def test_top_k_orders_by_score_then_tiebreak_rank():
    scores = np.array([[0.5, 2.0, 0.5, -1.0, 0.5]], dtype=np.float32)
    # ties at 0.5 between items 0, 2, 4: rank 0 wins, so item 4, then 2, then 0
    items, values = top_k(scores, 4, tiebreak=np.array([4, 3, 1, 2, 0]))
    assert items.tolist() == [[1, 4, 2, 0]]
    assert values.tolist() == [[2.0, 0.5, 0.5, 0.5]]


def test_top_k_default_tiebreak_is_the_lower_index_and_negatives_order_correctly():
    scores = np.array([[-0.0, -3.0, 0.0, -2.5, -3.0]], dtype=np.float32)
    items, _ = top_k(scores, 5)
    assert items.tolist() == [[0, 2, 3, 1, 4]]


def test_top_k_pads_minus_inf_and_short_rows():
    scores = np.array([[1.0, -np.inf, np.nan], [np.inf, 0.0, 3.0]], dtype=np.float32)
    items, values = top_k(scores, 4)
    assert items.tolist() == [[0, -1, -1, -1], [0, 2, 1, -1]]
    assert values[0].tolist() == [1.0, -np.inf, -np.inf, -np.inf]
    assert values[1, :3].tolist() == [np.inf, 3.0, 0.0]


def test_top_k_rejects_k_below_one():
    with pytest.raises(ValueError):
        top_k(np.zeros((1, 3), dtype=np.float32), 0)


def test_popularity_ranks_count_customers_per_item():
    train = sp.csr_matrix(np.array([[1, 0, 5], [1, 0, 0], [0, 2, 0]], dtype=np.float32))
    # items 0: 2 customers; 1: 1; 2: 1 → 0 first, then 1 and 2 in index order
    assert popularity_ranks(train).tolist() == [0, 1, 2]


def test_recommend_breaks_ties_by_popularity_and_excludes_cells():
    train = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float32))
    # all scores equal: the order is by customers per item (2, 1, 0)
    model = fixed([[0, 0, 0], [0, 0, 0], [0, 0, 0]], train)
    items, _ = model.recommend([0, 2], 3, exclude=sp.csr_matrix([[0, 0, 1], [0, 0, 0]]))
    assert items.tolist() == [[1, 0, -1], [2, 1, 0]]


def test_recommend_checks_indices_and_the_exclusion_shape():
    model = fixed([[1, 2]])
    with pytest.raises(IndexError):
        model.recommend([1], 1)
    with pytest.raises(ValueError, match="exclude"):
        model.recommend([0], 1, exclude=sp.csr_matrix((2, 2)))


def test_row_minmax():
    scaled = row_minmax(np.array([[1, 3, 2], [5, 5, 5], [-np.inf, 0, 4]], dtype=np.float32))
    assert scaled[0].tolist() == [0.0, 1.0, 0.5]
    assert scaled[1].tolist() == [0.0, 0.0, 0.0]
    assert scaled[2].tolist() == [-np.inf, 0.0, 1.0]
