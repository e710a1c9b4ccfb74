"""The sequence recommender: orders as steps, masking, a training step, save/load, a planted
A → B pattern missed by popularity, determinism (tiny data, TensorFlow on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommendations.engine.baselines import Popularity
from recommendations.engine.data import interaction_matrix
from recommendations.engine.registry import create_recommender, load_recommender
from tests.unit.recommendations.deep.conftest import (
    ITEM_A,
    ITEM_B,
    log_from,
    planted_sequences,
)

pytestmark = pytest.mark.tensorflow
tf = pytest.importorskip("tensorflow")

from recommendations.engine.deep import sequence as sq  # noqa: E402
from recommendations.engine.deep.common import baskets_of  # noqa: E402

FAST = {"dim": 16, "max_len": 8, "epochs": 12, "patience": 12, "batch_size": 32,
        "learning_rate": 0.01}  # fmt: skip


def fit_planted(**overrides: object) -> tuple[sq.SequenceRecommender, np.ndarray]:
    log, shape, probes = planted_sequences()
    model = create_recommender("sequence", {**FAST, **overrides})
    model.fit(interaction_matrix(log, shape), log=log)
    assert isinstance(model, sq.SequenceRecommender)
    return model, probes


def test_orders_become_left_padded_windows() -> None:
    # Customer 0: orders at ages 9 (items 2, 1), 5 (item 0), 1 (item 3); customer 1: one order.
    log = log_from([(0, 1, 9.0), (0, 2, 9.0), (0, 0, 5.0), (0, 3, 1.0), (1, 2, 4.0)])
    baskets = baskets_of(log, 3, 4)
    assert baskets.start.tolist() == [0, 3, 4] and baskets.end.tolist() == [3, 4, 4]
    assert [baskets.items(b).tolist() for b in range(4)] == [[1, 2], [0], [3], [2]]
    assert np.allclose(baskets.matrix.sum(axis=1).A1, 1.0)  # mean of the order's items
    slots = sq.windows(baskets.start, baskets.end, 2)
    assert slots.tolist() == [[1, 2], [-1, 3], [-1, -1]]


@pytest.mark.parametrize("encoder", ["sasrec", "gru"])
def test_padding_does_not_change_the_valid_steps(encoder: str) -> None:
    tf.keras.utils.set_random_seed(0)
    net = sq.SequenceEncoder(n_items=6, dim=8, max_len=5, encoder=encoder, dropout=0.0)
    net.build()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    valid = np.array([[False, False, True, True, True], [False, True, True, True, True]])
    noisy = x.copy()
    noisy[~valid] = rng.normal(size=(int((~valid).sum()), 8)) * 100
    out = np.asarray(net(x, valid=valid))
    assert out.shape == (2, 5, 8)
    assert np.allclose(out, np.asarray(net(noisy, valid=valid)), atol=1e-5)
    assert np.all(out[~valid] == 0.0)
    # causal: the first valid step does not see the later ones
    later = x.copy()
    later[0, 3:] += 5.0
    assert np.allclose(np.asarray(net(later, valid=valid))[0, 2], out[0, 2], atol=1e-5)


def test_a_training_step_lowers_the_loss() -> None:
    log, shape, _ = planted_sequences()
    baskets = baskets_of(log, *shape)
    users = np.flatnonzero(baskets.end - baskets.start >= 2)[:32]
    slots = sq.windows(baskets.start[users], baskets.end[users] - 1, 6)
    first_item = baskets.matrix.indices[baskets.matrix.indptr[slots + 1]].astype(np.int64)
    targets = np.where(slots >= 0, first_item, -1)
    tf.keras.utils.set_random_seed(0)
    net = sq.SequenceEncoder(shape[1], 8, 6, dropout=0.0)
    net.build()
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.05)
    optimizer.build(net.trainable_variables)
    negatives = np.arange(2, 12, dtype=np.int64)  # the sampled path (fewer than the catalogue)
    step = sq._train_step(net, optimizer, full_softmax=False)
    batch = (sq.sparse_batch(baskets, slots), tf.constant(slots >= 0), tf.constant(targets))
    at_row, at_col = np.nonzero(targets >= 0)
    features = [sq.sparse_tensor(f) for f in sq.history_features(baskets, slots, at_row, at_col)]
    assert features[0].dense_shape[0] == len(at_row)

    def loss() -> float:
        hidden = net.encode_sparse(batch[0], batch[1])
        repeat = net.repeat_logits(features)
        return float(sq.sampled_softmax_loss(net, hidden, batch[2], negatives, False, repeat))

    before = loss()
    step(*batch, tf.constant(negatives), *features)
    assert loss() < before


def test_repeat_features_of_a_history() -> None:
    # Customer 0: orders (oldest first) {1, 2}, {0}, {1}.
    log = log_from([(0, 1, 9.0), (0, 2, 9.0), (0, 0, 5.0), (0, 1, 1.0)])
    baskets = baskets_of(log, 1, 3)
    slots = sq.windows(baskets.start, baskets.end, 4)  # [[-1, 0, 1, 2]]
    rows, cols = np.array([0, 0]), np.array([2, 3])
    # predicting the order at age 1 from col 2; "now" (age 0) from col 3
    features = sq.history_features(baskets, slots, rows, cols, np.array([1.0, 0.0]))
    assert len(features) == len(sq.REPEAT_FEATURES)
    last, decayed, counts, recent, _ = (f.toarray() for f in features)
    assert last.tolist() == [[1, 0, 0], [0, 1, 0]]
    d = sq.REPEAT_DECAY
    assert np.allclose(decayed, [[d**0, d, d], [d, 1 + d**2, d**2]])
    assert np.allclose(np.expm1(counts), [[1, 1, 1], [1, 2, 1]])
    h = sq.REPEAT_HALF_LIVES[0]
    assert np.allclose(recent[0], [0.5 ** (4 / h), 0.5 ** (8 / h), 0.5 ** (8 / h)])
    assert np.allclose(recent[1], [0.5 ** (5 / h), 0.5 ** (9 / h) + 0.5 ** (1 / h), 0.5 ** (9 / h)])


def test_learns_the_planted_order_that_popularity_misses() -> None:
    model, probes = fit_planted()
    items, _ = model.recommend(probes, 1)
    assert (items[:, 0] == ITEM_B).all()
    log, shape, _ = planted_sequences()
    popular = Popularity().fit(interaction_matrix(log, shape), log=log)
    top, _ = popular.recommend(probes, 5)
    assert ITEM_B not in top
    # progress history, best weights kept
    assert model.history and 1 <= model.best_epoch <= len(model.history)
    assert set(model.history[0]) == {"epoch", "loss", "val_ndcg", "val_recall", "seconds"}
    assert ITEM_A not in model.recommend(probes, 1)[0]


def test_gru_encoder_learns_it_too() -> None:
    model, probes = fit_planted(encoder="gru")
    assert (model.recommend(probes, 1)[0][:, 0] == ITEM_B).all()


def test_progress_reports_every_epoch() -> None:
    log, shape, _ = planted_sequences()
    calls: list[tuple[int, int, dict[str, float]]] = []
    model = create_recommender("sequence", {**FAST, "epochs": 3})
    model.fit(
        interaction_matrix(log, shape),
        log=log,
        on_progress=lambda done, total, **kw: calls.append((done, total, kw)),
    )
    assert [(done, total) for done, total, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert {"loss", "val_ndcg", "val_recall", "seconds", "best_epoch"} <= set(calls[0][2])


def test_save_load_gives_the_same_scores_and_encoder(tmp_path: Path) -> None:
    model, _ = fit_planted(epochs=3)
    log, shape, _ = planted_sequences()
    path = tmp_path / "sequence.npz"
    model.save(path, customers=np.arange(shape[0]) + 100, products=np.arange(shape[1]) + 7)
    loaded = load_recommender(path)
    assert type(loaded) is sq.SequenceRecommender
    users = np.arange(shape[0])
    np.testing.assert_array_equal(loaded.scores(users), model.scores(users))
    assert loaded.history == model.history and loaded.best_epoch == model.best_epoch
    assert loaded.product_ids is not None and loaded.product_ids[0] == 7
    # the Keras archive comes back: the same encodings as at fit time
    assert isinstance(loaded, sq.SequenceRecommender)
    encoded = loaded.encode(log, users)
    np.testing.assert_allclose(encoded, model.user_vectors, atol=1e-5)


def test_same_seed_same_scores() -> None:
    first, _ = fit_planted(epochs=4)
    second, _ = fit_planted(epochs=4)
    users = np.arange(first.n_users)
    np.testing.assert_allclose(first.scores(users), second.scores(users), atol=1e-5)
