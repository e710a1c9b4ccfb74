"""EASE against its closed form, and the item cap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.ease import EASE

X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=float)


def closed_form(x: np.ndarray, l2: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def test_weights_and_scores_match_the_closed_form():
    model = EASE(l2=0.5).fit(sp.csr_matrix(X))
    expected = closed_form(X, 0.5)
    assert model.weights == pytest.approx(expected, abs=1e-5)
    assert model.scores(np.arange(5)) == pytest.approx(X @ expected, abs=1e-5)
    assert np.diag(model.weights).tolist() == [0, 0, 0, 0]


def test_max_items_keeps_the_most_bought_items():
    # customers per item: 3, 3, 4, 2 → item 3 is left out with max_items = 3
    model = EASE(l2=0.5, max_items=3).fit(sp.csr_matrix(X))
    assert model.items.tolist() == [0, 1, 2]
    sub = X[:, :3]
    scores = model.scores(np.arange(5))
    assert scores[:, :3] == pytest.approx(sub @ closed_form(sub, 0.5), abs=1e-5)
    assert scores[:, 3] == pytest.approx(scores[:, :3].min(axis=1))
    items, _ = model.similar_items([3, 0], 2)
    assert items[0].tolist() == [-1, -1]
    assert set(items[1].tolist()) <= {1, 2}
