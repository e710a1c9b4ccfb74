"""Ranking metrics on hand-computed cases (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    hit_matrix,
    hit_rate_at_k,
    ndcg_at_k,
    paired_bootstrap,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

N_ITEMS = 10
# k = 4. Customer 0: relevant {1, 5, 9} in the catalogue plus one product outside it (4 in all);
# customer 1: relevant {2}, only one item recommended (padding -1); customer 2: nothing relevant
# (left out of the means); customer 3: relevant {8}, never recommended.
RECOMMENDED = np.array(
    [
        [3, 1, 7, 5],
        [2, -1, -1, -1],
        [6, 7, 8, 9],
        [0, 1, 2, 3],
    ]
)
TRUTH_ROWS = [[1, 5, 9], [2], [], [8]]
RELEVANT = np.array([4, 1, 0, 1])


def truth() -> sp.csr_matrix:
    dense = np.zeros((len(TRUTH_ROWS), N_ITEMS))
    for row, items in enumerate(TRUTH_ROWS):
        dense[row, items] = 1
    return sp.csr_matrix(dense)


D1, D3 = 1 / math.log2(3), 1 / math.log2(5)  # discounts of positions 2 and 4
NDCG_0 = (D1 + D3) / (1 + D1 + 1 / math.log2(4) + D3)  # 2 hits; ideal: 4 hits in front


def test_hits():
    assert hit_matrix(RECOMMENDED, truth()).astype(int).tolist() == [
        [0, 1, 0, 1],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]


def test_per_customer_metrics():
    hits = hit_matrix(RECOMMENDED, truth())
    assert precision_at_k(hits) == pytest.approx([0.5, 0.25, 0, 0])
    assert recall_at_k(hits, RELEVANT) == pytest.approx([0.5, 1.0, 0, 0])
    assert hit_rate_at_k(hits) == pytest.approx([1, 1, 0, 0])
    assert ndcg_at_k(hits, RELEVANT) == pytest.approx([NDCG_0, 1.0, 0, 0])
    # AP@4 of customer 0: (P@2 + P@4) / min(4, 4) = (1/2 + 2/4) / 4
    assert average_precision_at_k(hits, RELEVANT) == pytest.approx([0.25, 1.0, 0, 0])


def test_ndcg_ideal_is_capped_at_k():
    # 1 hit in first place out of 5 relevant with k = 2: DCG 1, IDCG 1 + 1/log2(3)
    hits = np.array([[True, False]])
    assert ndcg_at_k(hits, np.array([5])) == pytest.approx([1 / (1 + D1)])
    assert average_precision_at_k(hits, np.array([5])) == pytest.approx([0.5])


def test_means_leave_out_customers_without_relevant_items():
    result = ranking_metrics(RECOMMENDED, truth(), RELEVANT, N_ITEMS)
    assert result.k == 4
    assert result.users == 3
    assert result.precision == pytest.approx((0.5 + 0.25 + 0) / 3)
    assert result.recall == pytest.approx((0.5 + 1 + 0) / 3)
    assert result.ndcg == pytest.approx((NDCG_0 + 1 + 0) / 3)
    assert result.map == pytest.approx((0.25 + 1 + 0) / 3)
    assert result.hit_rate == pytest.approx(2 / 3)
    # items recommended to the 3 evaluated customers: {0, 1, 2, 3, 5, 7}
    assert result.coverage == pytest.approx(0.6)
    assert set(result.to_dict()) == {
        "k", "users", "precision", "recall", "ndcg", "map", "hit_rate", "coverage",
    }  # fmt: skip


def test_no_relevant_customers_gives_zeros():
    result = ranking_metrics(RECOMMENDED[:1], truth()[:1], np.array([0]), N_ITEMS)
    assert (result.users, result.ndcg, result.coverage) == (0, 0.0, 0.0)


def test_coverage_ignores_padding():
    assert catalogue_coverage(np.array([[1, -1], [1, 2]]), 4) == pytest.approx(0.5)


def test_paired_bootstrap_of_a_constant_difference():
    result = paired_bootstrap(np.full(50, 0.3), np.full(50, 0.1), rounds=200, seed=1)
    assert (result.mean, result.low, result.high) == pytest.approx((0.2, 0.2, 0.2))
    assert result.users == 50


def test_paired_bootstrap_interval_contains_the_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    first = paired_bootstrap(a, b, rounds=300, seed=3)
    assert first.low < first.mean < first.high
    assert first == paired_bootstrap(a, b, rounds=300, seed=3)
