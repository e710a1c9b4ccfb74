"""Shared pieces of the Keras recommenders: seeds, threads, the epoch loop, persistence.

TensorFlow and Keras are imported inside the functions that need them, never at import time, so
importing this module (or ``registry``) leaves ``tensorflow`` out of ``sys.modules``.

**Determinism** (``set_seeds``). Python's, numpy's and Keras's (``keras.utils.set_random_seed``,
which seeds TensorFlow too) generators are seeded, and TensorFlow's op determinism is switched on
(``tf.config.experimental.enable_op_determinism``); batches come from numpy generators seeded by
(seed, epoch). On CPU the same data, parameters and seed then give the same weights and scores.

**Threads** (``configure_threads``). TensorFlow's intra-op pool gets ``threads`` threads (default:
all cores, 2 on the target machine) and the inter-op pool one thread, so the ops of a step run one
after another, each using every core, in a fixed order. TensorFlow accepts this only before its
runtime starts; later calls keep the settings in force (the call is then a no-op).

**Training loop** (``train_epochs``). One call per epoch of a model's own step function (mean
training loss), then its validation function (a dict of metrics, e.g. ``val_ndcg``); a history
row per epoch ``{"epoch": 1-based, "loss", <validation metrics>, "seconds"}``; ``on_progress(
epoch, epochs, loss=..., val_ndcg=..., ..., seconds=..., best_epoch=...)`` after each epoch;
early stopping when the monitored metric (higher is better) has not improved by more than
``min_delta`` for ``patience`` epochs, and the best epoch's weights are restored.

**Persistence** (``KerasRecommender``). ``Recommender.save`` writes an ``.npz``; a Keras
recommender adds to its state:

* ``model.keras``: the Keras model saved with ``model.save(path.keras)`` (the Keras v3 archive:
  config + weights) as a uint8 array of the archive's bytes; ``keras_model()`` loads it back
  (TensorFlow imported then) with ``keras.saving.load_model`` — the custom layers are registered
  by the model's module;
* ``history``: the per-epoch history as a JSON string (0-d unicode array);
* ``vocab.<name>``: the feature vocabularies (unicode arrays: position → value; e.g.
  ``vocab.country``), next to ``ids:customers`` / ``ids:products`` (row → customer id, column →
  product id) that ``save(customers=..., products=...)`` already writes;
* the subclass's own arrays (``_model_state``), e.g. precomputed user and item vectors.

One file, written by ``Recommender.save`` in one go, so the service's atomic artifact switch
(write to a temporary name, then rename) covers the Keras model too, and
``registry.load_recommender`` needs nothing beside the ``.npz``. Scoring from a loaded file uses
the saved arrays (numpy) and does not load TensorFlow.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    Recommender,
    batches,
    top_k,
)
from recommendations.engine.data import EventLog
from recommendations.engine.metrics import ranking_metrics

MODEL_KEY = "model.keras"
HISTORY_KEY = "history"
VOCAB_PREFIX = "vocab."

_configured = False


def configure_threads(threads: int | None = None) -> None:
    """TensorFlow thread pools: ``threads`` intra-op threads (default: the CPU count), one
    inter-op thread. No-op once TensorFlow's runtime has started."""
    global _configured
    if _configured:
        return
    import tensorflow as tf

    count = threads or os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already initialised: keep its settings
        pass
    _configured = True


def set_seeds(seed: int) -> None:
    """Seed Python, numpy, Keras and TensorFlow; switch on TensorFlow's op determinism."""
    import keras
    import tensorflow as tf

    configure_threads()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except (AttributeError, RuntimeError):  # older TensorFlow or a runtime that refuses
        pass


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The numpy generator of one epoch's batches (deterministic in seed and epoch)."""
    return np.random.default_rng([seed, epoch])


# --- orders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baskets:
    """The log as orders: ``matrix`` CSR (n_baskets, n_items), row = one order, values 1 / its
    size (so a row times the item embeddings is their mean); a customer's orders are the
    consecutive rows ``start[u]:end[u]`` in time order (oldest first); ``age_days[b]``: the age of
    order b (days before the log's reference time)."""

    matrix: sp.csr_matrix
    start: IntArray
    end: IntArray
    age_days: npt.NDArray[np.float64] | None = None  # per order: days before the log's "now"

    def items(self, basket: int) -> IntArray:
        m = self.matrix
        return np.asarray(m.indices[m.indptr[basket] : m.indptr[basket + 1]], dtype=np.int64)


def baskets_of(log: EventLog, n_users: int, n_items: int) -> Baskets:
    """``Baskets`` of an event log (module docstring: one order = one customer's rows with the
    same age). Deterministic: orders sorted by (customer, age descending)."""
    users = np.asarray(log.users, dtype=np.int64)
    items = np.asarray(log.items, dtype=np.int64)
    ages = np.asarray(log.age_days, dtype=np.float64)
    order = np.lexsort((items, -ages, users))
    users, items, ages = users[order], items[order], ages[order]
    new = np.ones(len(users), dtype=bool)
    new[1:] = (users[1:] != users[:-1]) | (ages[1:] != ages[:-1])
    basket = np.cumsum(new) - 1
    n_baskets = int(basket[-1]) + 1 if len(basket) else 0
    matrix = sp.csr_matrix(
        (np.ones(len(items), dtype=np.float32), (basket, items)), shape=(n_baskets, n_items)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    sizes = np.diff(matrix.indptr).astype(np.float32)
    matrix.data = (1.0 / np.repeat(sizes, np.diff(matrix.indptr))).astype(np.float32)
    basket_user = users[new]
    counts = np.bincount(basket_user, minlength=n_users).astype(np.int64)
    end = np.cumsum(counts)
    return Baskets(matrix=matrix, start=end - counts, end=end, age_days=ages[new])


def validation_customers(baskets: Baskets, limit: int, share: float, seed: int) -> IntArray:
    """The customers whose last order is held out for validation: a seeded sample of
    min(`limit`, ceil(`share` × eligible)) of the eligible customers (at least two orders),
    ascending. The rest keep their last order as a training target."""
    eligible = np.flatnonzero(baskets.end - baskets.start >= 2).astype(np.int64)
    size = min(limit, int(np.ceil(share * len(eligible))))
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(eligible, size=size, replace=False)).astype(np.int64)


# --- the epoch loop ------------------------------------------------------------------------------


def train_epochs(
    *,
    run_epoch: Callable[[int], float],
    validate: Callable[[], Mapping[str, float]],
    get_weights: Callable[[], list[np.ndarray]],
    set_weights: Callable[[list[np.ndarray]], None],
    epochs: int,
    patience: int,
    monitor: str = "val_ndcg",
    min_delta: float = 0.0,
    on_progress: ProgressCallback | None = None,
) -> tuple[list[dict[str, float]], int]:
    """Train up to `epochs` epochs with early stopping (module docstring). run_epoch(epoch)
    trains one epoch (0-based) and returns its mean loss; validate() returns the validation
    metrics, including `monitor` (higher is better). Returns the history (one dict per epoch
    run) and the best epoch (1-based; its weights are the model's on return)."""
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    history: list[dict[str, float]] = []
    best_value = -np.inf
    best_epoch = 0
    best_weights: list[np.ndarray] | None = None
    for epoch in range(epochs):
        started = time.monotonic()
        loss = float(run_epoch(epoch))
        metrics = {key: float(value) for key, value in validate().items()}
        row: dict[str, float] = {"epoch": epoch + 1, "loss": loss, **metrics}
        row["seconds"] = time.monotonic() - started
        history.append(row)
        value = metrics[monitor]
        if best_weights is None or value > best_value + min_delta:
            best_value, best_epoch = value, epoch + 1
            best_weights = [np.array(w, copy=True) for w in get_weights()]
        if on_progress is not None:
            extra = {key: value for key, value in row.items() if key != "epoch"}
            on_progress(epoch + 1, epochs, **extra, best_epoch=best_epoch)
        if not np.isfinite(loss) or epoch + 1 - best_epoch >= patience:
            break
    assert best_weights is not None
    set_weights(best_weights)
    return history, best_epoch


def validation_metrics(
    score: Callable[[IntArray], Float32Array],
    users: IntArray,
    truth: sp.csr_matrix,
    *,
    k: int = 10,
    tiebreak: IntArray | None = None,
    exclude: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """``{"val_ndcg", "val_recall"}`` @k of score(users) (batched) against the non-zero cells of
    `truth` (rows aligned with `users`); `exclude`: cells never recommended (aligned too)."""
    if len(users) == 0:
        return {"val_ndcg": 0.0, "val_recall": 0.0}
    n_items = truth.shape[1]
    lists = np.full((len(users), k), -1, dtype=np.int64)
    for part in batches(len(users), n_items):
        block = np.array(score(users[part]), dtype=np.float32)
        if exclude is not None:
            coo = sp.coo_matrix(exclude[part])
            block[coo.row, coo.col] = -np.inf
        lists[part], _ = top_k(block, k, tiebreak)
    relevant = np.diff(truth.indptr).astype(np.int64)
    metrics = ranking_metrics(lists, truth, relevant, n_items)
    return {"val_ndcg": metrics.ndcg, "val_recall": metrics.recall}


# --- persistence ---------------------------------------------------------------------------------


def model_to_bytes(model: Any) -> npt.NDArray[np.uint8]:
    """The Keras archive of `model` (``model.save(x.keras)``) as a uint8 array."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return np.frombuffer(path.read_bytes(), dtype=np.uint8).copy()


def model_from_bytes(data: npt.NDArray[np.uint8]) -> Any:
    """Inverse of ``model_to_bytes`` (the model's custom layers must be registered, i.e. its
    module imported). Loaded without the optimizer (``compile=False``)."""
    import keras

    configure_threads()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(np.asarray(data, dtype=np.uint8).tobytes())
        return keras.saving.load_model(path, compile=False)


def json_array(value: Any) -> np.ndarray:
    """A JSON-safe value as a 0-d unicode array (storable in an ``.npz`` without pickling)."""
    return np.array(json.dumps(value))


def from_json_array(array: np.ndarray) -> Any:
    return json.loads(str(array))


class KerasRecommender(Recommender):
    """Base of the Keras recommenders (module docstring). Subclasses implement ``_fit`` (setting
    ``_model``, ``history``, ``best_epoch``, ``vocabularies`` and their own arrays), ``_scores``
    (numpy, from their arrays), ``_model_state`` and ``_restore_model_state``.

    history: one dict per epoch run, ``{"epoch", "loss", "val_ndcg", "val_recall", "seconds"}``;
    best_epoch: the epoch whose weights were kept; vocabularies: feature name → unicode array of
    its values by position."""

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.history: list[dict[str, float]] = []
        self.best_epoch = 0
        self.vocabularies: dict[str, np.ndarray] = {}
        self._model: Any = None
        self._model_bytes: npt.NDArray[np.uint8] | None = None

    def keras_model(self) -> Any:
        """The Keras model (loaded from the saved archive on first use after ``load``)."""
        self._require_fitted()
        if self._model is None:
            assert self._model_bytes is not None
            self._model = model_from_bytes(self._model_bytes)
        return self._model

    def _state(self) -> dict[str, np.ndarray]:
        model_bytes = self._model_bytes
        if model_bytes is None:
            model_bytes = model_to_bytes(self._model)
            self._model_bytes = model_bytes
        state: dict[str, np.ndarray] = {
            MODEL_KEY: model_bytes,
            HISTORY_KEY: json_array({"history": self.history, "best_epoch": self.best_epoch}),
        }
        for name, values in self.vocabularies.items():
            state[VOCAB_PREFIX + name] = np.asarray(values, dtype=str)
        state.update(self._model_state())
        return state

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self._model = None
        self._model_bytes = np.asarray(state[MODEL_KEY], dtype=np.uint8)
        saved = from_json_array(state[HISTORY_KEY])
        self.history = list(saved["history"])
        self.best_epoch = int(saved["best_epoch"])
        self.vocabularies = {
            key[len(VOCAB_PREFIX) :]: np.asarray(value)
            for key, value in state.items()
            if key.startswith(VOCAB_PREFIX)
        }
        self._restore_model_state(
            {
                key: value
                for key, value in state.items()
                if key not in (MODEL_KEY, HISTORY_KEY) and not key.startswith(VOCAB_PREFIX)
            }
        )

    @abstractmethod
    def _model_state(self) -> dict[str, np.ndarray]:
        """The subclass's fitted arrays besides the Keras model, history and vocabularies."""

    @abstractmethod
    def _restore_model_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Inverse of ``_model_state``."""
