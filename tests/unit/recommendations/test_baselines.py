"""Popularity (all-time, windowed, decayed) and repeat purchase on a hand-computed log."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.baselines import Popularity, RepeatPurchase
from recommendations.engine.data import EventLog

# (user, item, age in days): item 0 bought by users 0, 1, 2; item 1 twice by user 0; item 2 once.
ENTRIES = [(0, 0, 1.0), (1, 0, 10.0), (2, 0, 40.0), (0, 1, 5.0), (0, 1, 15.0), (1, 2, 100.0)]
LOG = EventLog(
    users=np.array([e[0] for e in ENTRIES]),
    items=np.array([e[1] for e in ENTRIES]),
    age_days=np.array([e[2] for e in ENTRIES]),
    units=np.ones(len(ENTRIES), dtype=np.int64),
)
TRAIN = sp.csr_matrix((np.ones(len(ENTRIES)), (LOG.users, LOG.items)), shape=(3, 3))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [3, 2, 1]),  # orders per item
        ({"window_days": 30.0}, [2, 2, 0]),  # ages 1, 10 | 5, 15 | -
        # half-life 10 days: 2^(-age/10) summed
        ({"half_life_days": 10.0}, [2**-0.1 + 2**-1 + 2**-4, 2**-0.5 + 2**-1.5, 2**-10]),
        ({"window_days": 12.0, "half_life_days": 10.0}, [2**-0.1 + 2**-1, 2**-0.5, 0]),
    ],
)
def test_popularity(params, expected):
    model = Popularity(**params).fit(TRAIN, log=LOG)
    assert model.scores([0, 2]) == pytest.approx(np.array([expected, expected]), rel=1e-6)


def test_repeat_purchase_scores_count_times_recency_of_the_last_order():
    model = RepeatPurchase(half_life_days=10.0).fit(TRAIN, log=LOG)
    # user 0: item 0 once, 1 day ago; item 1 twice, last 5 days ago
    assert model.scores([0])[0] == pytest.approx([2**-0.1, 2 * 2**-0.5, 0.0], rel=1e-6)
    assert model.scores([1])[0] == pytest.approx([2**-1, 0.0, 2**-10], rel=1e-6)


def test_repeat_purchase_count_exponent():
    model = RepeatPurchase(half_life_days=10.0, count_exponent=0.5).fit(TRAIN, log=LOG)
    assert model.scores([0])[0, 1] == pytest.approx(2**0.5 * 2**-0.5, rel=1e-6)


def test_repeat_purchase_fills_with_popular_items_after_the_customers_own():
    model = RepeatPurchase().fit(TRAIN, log=LOG)
    items, scores = model.recommend([2], 3)
    # own item 0 first; then items 1 and 2 (one customer each) in index order, score 0
    assert items.tolist() == [[0, 1, 2]]
    assert scores[0, 1:].tolist() == [0.0, 0.0]


def test_invalid_parameters():
    with pytest.raises(ValueError):
        Popularity(window_days=0.0)
    with pytest.raises(ValueError):
        RepeatPurchase(half_life_days=-1.0)
