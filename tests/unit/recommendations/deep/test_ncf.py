"""Neural CF: features carry customers without history, numpy scoring matches the Keras model,
save/load, determinism, no features needed (tiny data, TensorFlow on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommendations.engine.registry import create_recommender, load_recommender
from tests.unit.recommendations.deep.conftest import GROUP_ITEMS, GROUP_USERS, grouped_purchases

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tensorflow")

from recommendations.engine.deep import ncf  # noqa: E402

FAST = {"dim": 8, "feature_dim": 4, "hidden": (16, 8), "epochs": 8, "patience": 8,
        "batch_size": 128, "learning_rate": 0.01}  # fmt: skip


def fit_grouped(features: bool = True, **overrides: object) -> ncf.NeuralCF:
    matrix, log, customers, products = grouped_purchases()
    context = {"customer_features": customers, "product_features": products} if features else {}
    model = create_recommender("ncf", {**FAST, **overrides})
    model.fit(matrix, log=log, **context)
    assert isinstance(model, ncf.NeuralCF)
    return model


def test_feature_table_codes_and_scales() -> None:
    frame = pd.DataFrame(
        {"country": ["UK", None, "FR"], "monetary": [10.0, np.nan, 1000.0]}, index=[0, 1, 3]
    )
    table = ncf.feature_table(frame, 4)
    assert table.vocabularies["country"].tolist() == ["FR", "UK"]
    assert table.codes[:, 0].tolist() == [2, 0, 0, 1]  # 0 = unknown (missing value or row)
    assert table.numeric == ["monetary"] and table.numbers.shape == (4, 1)
    assert table.numbers[1, 0] == 0.0 and table.numbers[2, 0] == 0.0
    assert table.numbers[3, 0] > 0 > table.numbers[0, 0]
    empty = ncf.feature_table(None, 4)
    assert empty.codes.shape == (4, 0) and empty.numbers.shape == (4, 0)


def test_new_customers_get_their_groups_items() -> None:
    model = fit_grouped()
    uk, fr = GROUP_USERS + 20, GROUP_USERS + 21  # no purchases, features only
    items, _ = model.recommend([uk, fr], 5)
    assert (items[0] < 10).all()
    assert (items[1] >= 10).all()
    # customers with history: their own group's items first too
    items, _ = model.recommend([0, 1], 5)
    assert (items[0] < 10).all() and (items[1] >= 10).all()


def test_without_features_new_customers_get_the_same_list() -> None:
    model = fit_grouped(features=False)
    uk, fr = GROUP_USERS + 20, GROUP_USERS + 21
    scores = model.scores([uk, fr])
    np.testing.assert_array_equal(scores[0], scores[1])
    assert scores.shape == (2, GROUP_ITEMS) and scores.dtype == np.float32


def test_numpy_scores_match_the_keras_model() -> None:
    matrix, log, customers, products = grouped_purchases()
    model = fit_grouped(epochs=2)
    users = ncf.feature_table(customers, matrix.shape[0])
    items = ncf.feature_table(products, GROUP_ITEMS)
    pairs_u = np.repeat(np.arange(5), GROUP_ITEMS)
    pairs_i = np.tile(np.arange(GROUP_ITEMS), 5)
    x = [*ncf._side_inputs(users, pairs_u, pairs_u), *ncf._side_inputs(items, pairs_i, pairs_i)]
    logits = model.keras_model().predict(x, verbose=0).reshape(5, GROUP_ITEMS)
    np.testing.assert_allclose(model.scores(np.arange(5)), logits, atol=1e-4)


def test_a_training_epoch_lowers_the_loss() -> None:
    model = fit_grouped(epochs=3, patience=3)
    losses = [row["loss"] for row in model.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert set(model.history[0]) == {"epoch", "loss", "val_ndcg", "val_recall", "seconds"}


def test_save_load_gives_the_same_scores(tmp_path: Path) -> None:
    model = fit_grouped(epochs=2)
    path = tmp_path / "ncf.npz"
    model.save(path)
    loaded = load_recommender(path)
    assert type(loaded) is ncf.NeuralCF and loaded.get_params() == model.get_params()
    users = np.arange(model.n_users)
    np.testing.assert_array_equal(loaded.scores(users), model.scores(users))
    assert loaded.vocabularies["user.country"].tolist() == ["DE", "FR", "UK"]
    assert loaded.vocabularies["item.category"].tolist() == ["a", "b"]
    assert loaded.history == model.history
    # the Keras archive loads and gives the same logits
    assert isinstance(loaded, ncf.NeuralCF)
    weights = loaded.keras_model().get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.keras_model().get_weights(),
                                                     strict=True))  # fmt: skip


def test_same_seed_same_scores() -> None:
    first, second = fit_grouped(epochs=3), fit_grouped(epochs=3)
    users = np.arange(first.n_users)
    np.testing.assert_allclose(first.scores(users), second.scores(users), atol=1e-5)


def test_works_from_the_matrix_alone() -> None:
    matrix, _, _, _ = grouped_purchases()
    model = create_recommender("ncf", {**FAST, "epochs": 2}).fit(matrix)
    assert model.scores([0]).shape == (1, GROUP_ITEMS) and len(model.history) == 2
