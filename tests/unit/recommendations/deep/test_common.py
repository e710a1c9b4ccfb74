"""Shared deep-model pieces: the registry never imports TensorFlow, the epoch loop's early
stopping and progress, the embedded Keras archive, seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommendations.engine.deep import common

ROOT = Path(__file__).resolve().parents[4]


def test_importing_the_registry_and_tuning_leaves_tensorflow_out() -> None:
    code = (
        "import sys\n"
        "import recommendations.engine.registry as r, recommendations.engine.tuning\n"
        "import recommendations.engine.deep.common\n"
        "assert {'sequence', 'ncf', 'ranker'} <= set(r.ALGORITHMS)\n"
        "assert r.ALGORITHMS['sequence'].name == 'sequence'\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_train_epochs_stops_early_and_restores_the_best_weights() -> None:
    values = iter([0.1, 0.3, 0.2, 0.25, 0.29, 0.9])
    weights = [np.zeros(1)]
    calls: list[tuple[int, int, dict[str, float]]] = []

    def run_epoch(epoch: int) -> float:
        weights[0] = np.array([epoch + 1.0])  # "weights" = the epoch just trained
        return 1.0 / (epoch + 1)

    history, best = common.train_epochs(
        run_epoch=run_epoch,
        validate=lambda: {"val_ndcg": next(values)},
        get_weights=lambda: weights,
        set_weights=lambda new: weights.__setitem__(0, new[0]),
        epochs=6,
        patience=3,
        on_progress=lambda done, total, **kw: calls.append((done, total, kw)),
    )
    assert best == 2 and len(history) == 5  # epochs 3, 4, 5 no better than epoch 2: stop
    assert weights[0].tolist() == [2.0]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert set(history[0]) == {"epoch", "loss", "val_ndcg", "seconds"}
    assert [c[:2] for c in calls] == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6)]
    assert calls[-1][2]["best_epoch"] == 2 and calls[0][2]["loss"] == 1.0


def test_validation_customers_sample_a_share() -> None:
    from tests.unit.recommendations.deep.conftest import log_from

    rows = [(u, 0, 9.0) for u in range(10)] + [(u, 1, 1.0) for u in range(8)]
    baskets = common.baskets_of(log_from(rows), 10, 2)
    chosen = common.validation_customers(baskets, limit=100, share=0.5, seed=0)
    assert len(chosen) == 4 and set(chosen.tolist()) <= set(range(8))
    assert chosen.tolist() == sorted(chosen.tolist())
    assert len(common.validation_customers(baskets, limit=2, share=0.5, seed=0)) == 2


@pytest.mark.tensorflow
def test_keras_archive_round_trip_and_seeds() -> None:
    pytest.importorskip("tensorflow")
    import keras

    def build() -> keras.Model:
        common.set_seeds(3)
        inputs = keras.Input(shape=(4,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs))

    model = build()
    data = common.model_to_bytes(model)
    assert data.dtype == np.uint8 and data.ndim == 1 and len(data) > 100
    loaded = common.model_from_bytes(data)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    again = build()  # same seed, same initial weights
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
