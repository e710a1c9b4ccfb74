"""Sequence recommender: a self-attention (SASRec-style) or GRU encoder over each customer's orders.

Algorithm name ``"sequence"`` (``SequenceRecommender``). Keras is imported with this module; the
registry refers to it lazily, so the API does not load TensorFlow.

**Steps are orders.** The fit context's ``log`` (``data.EventLog``, required) is grouped into
*baskets*: the rows of one customer with the same ``age_days`` (one order: the interaction frame
gives all lines of an order the order's time; orders at the same instant merge). A customer's
baskets in time order (oldest first) are their sequence; a basket enters the encoder as the mean
of its items' embeddings (a sparse product, exact for any basket size), plus a learned position
embedding counted from the most recent step (position 0 = latest), so left padding never shifts
a position.

**Encoder** (``Params.encoder``): ``"sasrec"`` — ``blocks`` pre-norm Transformer blocks (causal
multi-head self-attention with ``heads`` heads over the valid steps, then a two-layer
feed-forward net, residuals, dropout), a final layer norm; ``"gru"`` — one GRU layer over the
valid steps. Sequences are left-padded to ``max_len`` steps (the latest ``max_len`` orders);
padded steps are masked as attention keys (GRU: skipped) and zeroed, so they cannot change the
valid steps' outputs. The output at step t encodes the orders up to t.

**Training objective.** Next-order prediction: the output at step t should score an item of
order t + 1 above others. Each epoch draws one target item per step uniformly from the next
order (seeded), and the loss is a sampled softmax over that target and ``negatives`` items drawn
uniformly from the catalogue per batch (shared by the batch; samples equal to the target are
masked; uniform sampling needs no log-Q correction), so the cost does not grow with the
catalogue. With ``negatives`` >= the catalogue size the full softmax is used. Item embeddings are
shared between input and output (SASRec), plus a per-item bias. Adam with ``learning_rate``.

**Repeat term** (``Params.repeat``, on by default). Most of what retail customers buy next they
have bought before, and a ``dim``-sized encoding cannot remember dozens of past items, so the
logit of item i after step t also gets r(t, i) = w · φ(t, i) + ρ_i · φ_3(t, i), where φ are
``REPEAT_FEATURES`` of the customer's orders up to t (in the window) that contain i: whether the
order at t does (0/1), Σ ``REPEAT_DECAY`` ** (t - s) over them, log(1 + their number) (= φ_3),
and for each of ``REPEAT_HALF_LIVES`` (30, 120 days) Σ 0.5 ** (days from the order to the
predicted time / half-life) — the predicted time being the next order's in training, the
held-out order's in validation and the training end ("now") when scoring. w (5) and the
per-item repeat weight ρ are learned with the rest (the features are sparse products computed
per batch in numpy). On the demo data the term lifts held-out NDCG@10 on all items from about
0.25 to 0.38-0.39; items never bought get r = 0, so new-item rankings come from the encoder.

**Validation inside the training data.** The last order of a seeded sample of the customers with
at least two orders (``validation_share`` of them, at most ``validation_users``) is held out:
those orders are never training targets; early stopping (``patience``) monitors NDCG@10 (all
items) of the encoding of the earlier orders against the held-out order's items, and the best
epoch's weights are kept. The period passed to an outside evaluation is never seen.

**Scores** for customer u = encoding of u's training sequence (latest ``max_len`` orders,
including the validation order) · item embedding + item bias + the repeat term after u's last
order (a logit of the next-order softmax, unbounded). A customer without orders gets the item
biases. User encodings and repeat terms are computed once at the end of ``fit`` in batches and
kept with the item embeddings, so ``scores`` is numpy (a matrix product plus a sparse matrix)
and a loaded model scores without TensorFlow.

**History and progress**: ``common.train_epochs`` (``loss``, ``val_ndcg``, ``val_recall``,
``seconds`` per epoch). **Saved** (``common.KerasRecommender``): the Keras model (the encoder,
including the item embeddings and repeat weights), ``user_vectors`` float32 (n_users, dim),
``item_vectors`` float32 (n_items, dim), ``item_bias`` float32 (n_items,), ``repeat_term`` CSR
float32 (n_users, n_items).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import tensorflow as tf

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    sparse_from_state,
    sparse_state,
)
from recommendations.engine.data import EventLog
from recommendations.engine.deep.common import (
    Baskets,
    KerasRecommender,
    baskets_of,
    epoch_rng,
    set_seeds,
    train_epochs,
    validation_customers,
    validation_metrics,
)

ENCODERS = ("sasrec", "gru")
_INFERENCE_BATCH = 512


@dataclass(frozen=True)
class SequenceParams:
    """encoder: "sasrec" or "gru"; repeat: add the learned repeat term (module docstring);
    dim: embedding and hidden size; max_len: orders per sequence (the latest); blocks / heads:
    Transformer blocks and attention heads (sasrec); dropout; negatives: uniform negatives per
    batch of the sampled softmax; batch_size: customers per batch; learning_rate: Adam's;
    epochs: at most; patience: epochs without a better validation NDCG@10 before stopping;
    validation_users / validation_share: how many customers' last order is held out for
    validation (at most that many, that share); seed."""

    encoder: str = "sasrec"
    repeat: bool = True
    dim: int = 64
    max_len: int = 50
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    negatives: int = 1000
    batch_size: int = 128
    learning_rate: float = 0.005
    epochs: int = 80
    patience: int = 8
    validation_users: int = 1000
    validation_share: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, not {self.encoder!r}")
        for name in ("dim", "max_len", "blocks", "heads", "negatives", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.patience < 1:
            raise ValueError("patience must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")


# --- sequences (numpy) ---------------------------------------------------------------------------


def windows(start: IntArray, end: IntArray, max_len: int) -> npt.NDArray[np.int64]:
    """int64 (n, max_len): the basket ids of each range ``start[i]:end[i]`` clipped to its last
    max_len, left-padded with -1 (the latest basket in the last column)."""
    n = len(start)
    result = np.full((n, max_len), -1, dtype=np.int64)
    lengths = np.minimum(np.asarray(end) - np.asarray(start), max_len)
    for row in range(n):
        length = int(lengths[row])
        if length > 0:
            result[row, max_len - length :] = np.arange(end[row] - length, end[row])
    return result


REPEAT_FEATURES = ("in_last_order", "decayed_orders", "log_orders", "recent_30d", "recent_120d")
REPEAT_DECAY = 0.7
COUNT_FEATURE = 2  # log_orders: the feature the per-item repeat weight multiplies
REPEAT_HALF_LIVES = (30.0, 120.0)


def history_features(
    baskets: Baskets,
    slots: npt.NDArray[np.int64],
    rows: IntArray,
    cols: IntArray,
    reference_age: npt.NDArray[np.float64] | None = None,
) -> list[sp.csr_matrix]:
    """The repeat features (``REPEAT_FEATURES``) at positions (rows[j], cols[j]) of `slots`
    (b, L): for each item, over the orders of ``slots[row, :col + 1]``, whether it is in the
    order at col, the sum of REPEAT_DECAY ** (col - step) over the orders containing it,
    log(1 + the number of those orders), and for each of ``REPEAT_HALF_LIVES`` the sum of
    0.5 ** (days from the order to the reference time / half-life) over them. reference_age:
    per position, the age in days of the time predicted for (the next order's age in training;
    0 = the log's "now"; default 0). CSR float32 (len(rows), n_items) each."""
    length = slots.shape[1]
    history = slots[rows]
    seen = (np.arange(length)[None, :] <= cols[:, None]) & (history >= 0)
    position, step = np.nonzero(seen)
    basket = history[position, step]
    distance = (cols[position] - step).astype(np.float64)
    ages = np.zeros(len(rows)) if reference_age is None else np.asarray(reference_age, np.float64)
    order_ages = np.zeros(len(basket)) if baskets.age_days is None else baskets.age_days[basket]
    days = np.maximum(order_ages - ages[position], 0.0)
    shape = (len(rows), baskets.matrix.shape[0])
    binary = sp.csr_matrix(baskets.matrix, copy=True)
    binary.data[:] = 1.0
    mixers = [
        (distance == 0).astype(np.float64),
        REPEAT_DECAY**distance,
        None,
        *(0.5 ** (days / half_life) for half_life in REPEAT_HALF_LIVES),
    ]
    result = []
    for weights in mixers:
        values = np.ones(len(basket)) if weights is None else weights
        mixer = sp.csr_matrix((values, (position, basket)), shape=shape)
        feature = sp.csr_matrix(mixer @ binary, dtype=np.float32)
        if weights is None:
            feature.data = np.log1p(feature.data)
        feature.eliminate_zeros()
        result.append(feature)
    return result


def sparse_tensor(matrix: sp.csr_matrix) -> tf.SparseTensor:
    """A CSR matrix as a SparseTensor (row-major order)."""
    ordered = sp.csr_matrix(matrix)
    ordered.sort_indices()
    coo = ordered.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64).reshape(-1, 2)
    return tf.SparseTensor(indices, coo.data.astype(np.float32), dense_shape=matrix.shape)


def sparse_batch(baskets: Baskets, slots: npt.NDArray[np.int64]) -> tf.SparseTensor:
    """The rows of ``baskets.matrix`` for every slot of `slots` (b, L) as a SparseTensor
    (b * L, n_items); padding slots (-1) are empty rows."""
    flat = slots.reshape(-1)
    valid = flat >= 0
    picked = baskets.matrix[flat[valid]]
    row_of = np.flatnonzero(valid)
    coo = picked.tocoo()
    rows = row_of[coo.row]
    order = np.lexsort((coo.col, rows))
    indices = np.stack([rows[order], coo.col[order]], axis=1).astype(np.int64)
    return tf.SparseTensor(
        indices=indices.reshape(-1, 2),
        values=coo.data[order].astype(np.float32),
        dense_shape=(len(flat), baskets.matrix.shape[1]),
    )


# --- the Keras encoder ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="ecomsite.sequence")
class SequenceEncoder(keras.Model):  # type: ignore[misc]
    """Item embeddings + item bias + the sequence encoder (module docstring). ``call(x,
    valid)``: x float (b, L, dim) basket vectors, valid bool (b, L) → (b, L, dim);
    ``encode_sparse(sparse, valid)`` computes x from a ``sparse_batch`` first."""

    def __init__(
        self,
        n_items: int,
        dim: int,
        max_len: int,
        encoder: str = "sasrec",
        blocks: int = 2,
        heads: int = 2,
        dropout: float = 0.2,
        repeat: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.repeat = repeat
        self.item_repeat = keras.layers.Embedding(n_items, 1, embeddings_initializer="zeros")
        self.n_items, self.dim, self.max_len = n_items, dim, max_len
        self.encoder, self.blocks, self.heads, self.dropout_rate = encoder, blocks, heads, dropout
        init = keras.initializers.RandomNormal(stddev=0.05)
        self.item_embedding = keras.layers.Embedding(n_items, dim, embeddings_initializer=init)
        self.item_bias = keras.layers.Embedding(n_items, 1, embeddings_initializer="zeros")
        self.position = keras.layers.Embedding(max_len, dim, embeddings_initializer=init)
        self.input_dropout = keras.layers.Dropout(dropout)
        self.attention: list[Any] = []
        self.norms1: list[Any] = []
        self.norms2: list[Any] = []
        self.ffn1: list[Any] = []
        self.ffn2: list[Any] = []
        self.drops: list[Any] = []
        self.gru: Any = None
        if encoder == "sasrec":
            for _ in range(blocks):
                self.attention.append(
                    keras.layers.MultiHeadAttention(heads, max(1, dim // heads), dropout=dropout)
                )
                self.norms1.append(keras.layers.LayerNormalization(epsilon=1e-6))
                self.norms2.append(keras.layers.LayerNormalization(epsilon=1e-6))
                self.ffn1.append(keras.layers.Dense(dim, activation="relu"))
                self.ffn2.append(keras.layers.Dense(dim))
                self.drops.append(keras.layers.Dropout(dropout))
        else:
            self.gru = keras.layers.GRU(dim, return_sequences=True)
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape: Any = None) -> None:
        shape = (None, self.max_len, self.dim)
        self.item_embedding.build((None,))
        self.item_bias.build((None,))
        self.item_repeat.build((None,))
        self.repeat_weights = self.add_weight(
            shape=(len(REPEAT_FEATURES),),
            initializer=keras.initializers.Constant(0.5),
            name="repeat_weights",
            trainable=self.repeat,
        )
        self.position.build((None,))
        for index in range(len(self.attention)):
            self.attention[index].build(shape, shape)
            self.norms1[index].build(shape)
            self.norms2[index].build(shape)
            self.ffn1[index].build(shape)
            self.ffn2[index].build(shape)
        if self.gru is not None:
            self.gru.build(shape)
        self.final_norm.build(shape)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        config = dict(super().get_config())
        config.update(
            n_items=self.n_items,
            dim=self.dim,
            max_len=self.max_len,
            encoder=self.encoder,
            blocks=self.blocks,
            heads=self.heads,
            dropout=self.dropout_rate,
            repeat=self.repeat,
        )
        return config

    def call(self, x: Any, valid: Any = None, training: bool = False) -> Any:
        length = self.max_len
        if valid is None:
            valid = tf.ones(tf.shape(x)[:2], dtype=tf.bool)
        keep = tf.cast(valid, x.dtype)[:, :, None]
        positions = tf.range(length - 1, -1, -1)  # position 0 = the latest step (last column)
        h = x + self.position(positions)[None, :, :]
        h = self.input_dropout(h, training=training) * keep
        if self.gru is not None:
            h = self.gru(h, mask=valid, training=training) * keep
        else:
            causal = tf.linalg.band_part(tf.ones((length, length), dtype=tf.bool), -1, 0)
            mask = tf.logical_and(causal[None, :, :], valid[:, None, :])
            for index in range(len(self.attention)):
                normed = self.norms1[index](h)
                attended = self.attention[index](
                    normed, normed, attention_mask=mask, training=training
                )
                h = (h + attended) * keep
                normed = self.norms2[index](h)
                hidden = self.ffn2[index](self.ffn1[index](normed))
                h = (h + self.drops[index](hidden, training=training)) * keep
        return self.final_norm(h) * keep

    def encode_sparse(self, sparse: Any, valid: Any, training: bool = False) -> Any:
        """call() on the basket vectors of a ``sparse_batch`` (rows = b * max_len slots)."""
        x = tf.sparse.sparse_dense_matmul(sparse, self.item_embedding.embeddings)
        x = tf.reshape(x, (-1, self.max_len, self.dim))
        return self(x, valid=valid, training=training)

    def item_arrays(self) -> tuple[Float32Array, Float32Array]:
        """float32 item embeddings (n_items, dim) and biases (n_items,)."""
        vectors = np.asarray(self.item_embedding.embeddings.numpy(), dtype=np.float32)
        bias = np.asarray(self.item_bias.embeddings.numpy(), dtype=np.float32)[:, 0]
        return vectors, bias

    def repeat_arrays(self) -> tuple[Float32Array, Float32Array]:
        """float32 weights of the repeat features (``REPEAT_FEATURES``) and the per-item
        weight added to the last one (zeros when ``repeat`` is off)."""
        if not self.repeat:
            return np.zeros(len(REPEAT_FEATURES), np.float32), np.zeros(self.n_items, np.float32)
        weights = np.asarray(self.repeat_weights.numpy(), dtype=np.float32)
        per_item = np.asarray(self.item_repeat.embeddings.numpy(), dtype=np.float32)[:, 0]
        return weights, per_item

    def repeat_logits(self, features: list[Any]) -> Any:
        """The repeat term (positions, n_items) from the SparseTensor features."""
        total = tf.zeros(features[0].dense_shape, dtype=tf.float32)
        for index, feature in enumerate(features):
            total += self.repeat_weights[index] * tf.sparse.to_dense(feature)
        counts = tf.sparse.to_dense(features[COUNT_FEATURE])
        return total + counts * self.item_repeat.embeddings[:, 0][None, :]


def encode_windows(
    net: SequenceEncoder, baskets: Baskets, slots: npt.NDArray[np.int64]
) -> Float32Array:
    """float32 (n, dim): the encoder's output at the latest step of each window (batched);
    rows without any basket get zeros."""
    result = np.zeros((len(slots), net.dim), dtype=np.float32)
    for begin in range(0, len(slots), _INFERENCE_BATCH):
        part = slots[begin : begin + _INFERENCE_BATCH]
        hidden = net.encode_sparse(sparse_batch(baskets, part), tf.constant(part >= 0))
        result[begin : begin + len(part)] = hidden[:, -1, :].numpy()
    result[slots[:, -1] < 0] = 0.0
    return result


# --- the recommender -----------------------------------------------------------------------------


class SequenceRecommender(KerasRecommender):
    """Next-order model over each customer's orders (module docstring); fit context: ``log``."""

    name = "sequence"
    Params = SequenceParams

    def __init__(self, params: SequenceParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.user_vectors: Float32Array = np.zeros((0, 0), dtype=np.float32)
        self.item_vectors: Float32Array = np.zeros((0, 0), dtype=np.float32)
        self.item_bias: Float32Array = np.zeros(0, dtype=np.float32)
        # The repeat term of every customer at the end of training (CSR (n_users, n_items)).
        self.repeat_term: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        log = context.get("log")
        if not isinstance(log, EventLog):
            raise ValueError("the sequence model needs the event log: fit(..., log=EventLog)")
        p: SequenceParams = self.params
        set_seeds(p.seed)
        baskets = baskets_of(log, self.n_users, self.n_items)

        val_users = validation_customers(baskets, p.validation_users, p.validation_share, p.seed)
        target_end = baskets.end.copy()
        target_end[val_users] -= 1  # the held-out order is never a training target
        val_slots = windows(baskets.start[val_users], baskets.end[val_users] - 1, p.max_len)
        val_last = baskets.end[val_users] - 1
        val_truth = sp.csr_matrix(baskets.matrix[val_last], dtype=np.float32)
        val_truth.data[:] = 1.0

        # Training rows: customers with at least one (input order, next order) pair.
        train_users = np.flatnonzero(target_end - baskets.start >= 2)
        input_slots = windows(baskets.start[train_users], target_end[train_users] - 1, p.max_len)
        target_baskets = np.where(input_slots >= 0, input_slots + 1, -1)
        if len(train_users) == 0:
            raise ValueError("the sequence model needs customers with at least two orders")

        net = SequenceEncoder(
            self.n_items, p.dim, p.max_len, p.encoder, p.blocks, p.heads, p.dropout, p.repeat
        )
        net.build()
        optimizer = keras.optimizers.Adam(learning_rate=p.learning_rate)
        optimizer.build(net.trainable_variables)
        full_softmax = p.negatives >= self.n_items
        step = _train_step(net, optimizer, full_softmax)
        sizes = np.diff(baskets.matrix.indptr)
        basket_ages = (
            np.zeros(baskets.matrix.shape[0]) if baskets.age_days is None else baskets.age_days
        )

        def run_epoch(epoch: int) -> float:
            epoch_random = epoch_rng(p.seed, epoch)
            order = epoch_random.permutation(len(train_users))
            # One target item per step, uniformly from the next order.
            valid = target_baskets >= 0
            chosen = np.full(target_baskets.shape, -1, dtype=np.int64)
            picked = target_baskets[valid]
            offsets = (epoch_random.random(len(picked)) * sizes[picked]).astype(np.int64)
            chosen[valid] = baskets.matrix.indices[baskets.matrix.indptr[picked] + offsets]
            losses, weights = [], []
            for begin in range(0, len(order), p.batch_size):
                rows = order[begin : begin + p.batch_size]
                slots = input_slots[rows]
                negatives = (
                    np.arange(self.n_items, dtype=np.int64)
                    if full_softmax
                    else epoch_random.integers(0, self.n_items, size=p.negatives)
                )
                at_row, at_col = np.nonzero(chosen[rows] >= 0)  # row-major, as boolean_mask
                next_order = target_baskets[rows][at_row, at_col]
                features = history_features(baskets, slots, at_row, at_col, basket_ages[next_order])
                loss = step(
                    sparse_batch(baskets, slots),
                    tf.constant(slots >= 0),
                    tf.constant(chosen[rows]),
                    tf.constant(negatives),
                    *(sparse_tensor(feature) for feature in features),
                )
                losses.append(float(loss))
                weights.append(int((chosen[rows] >= 0).sum()))
            return float(np.average(losses, weights=weights))

        def validate() -> dict[str, float]:
            if len(val_users) == 0:
                return {"val_ndcg": 0.0, "val_recall": 0.0}
            vectors = encode_windows(net, baskets, val_slots)
            items, bias = net.item_arrays()
            repeat = self._repeat_term(net, baskets, val_slots, basket_ages[val_last])

            def score(rows: IntArray) -> Float32Array:
                dense = vectors[rows] @ items.T + bias[None, :] + repeat[rows].toarray()
                return np.asarray(dense, dtype=np.float32)

            return validation_metrics(
                score, np.arange(len(val_users)), val_truth, tiebreak=self._ranks
            )

        self.history, self.best_epoch = train_epochs(
            run_epoch=run_epoch,
            validate=validate,
            get_weights=net.get_weights,
            set_weights=net.set_weights,
            epochs=p.epochs,
            patience=p.patience,
            on_progress=on_progress,
        )
        all_slots = windows(baskets.start, baskets.end, p.max_len)
        self.user_vectors = encode_windows(net, baskets, all_slots)
        self.item_vectors, self.item_bias = net.item_arrays()
        self.repeat_term = self._repeat_term(net, baskets, all_slots)
        self._model = net
        self._model_bytes = None

    def _repeat_term(
        self,
        net: SequenceEncoder,
        baskets: Baskets,
        slots: npt.NDArray[np.int64],
        reference_age: npt.NDArray[np.float64] | None = None,
    ) -> sp.csr_matrix:
        """CSR float32 (len(slots), n_items): the repeat term after each window's last order,
        for a prediction at `reference_age` (days before the log's "now"; default now)."""
        if not self.params.repeat:
            return sp.csr_matrix((len(slots), self.n_items), dtype=np.float32)
        rows = np.arange(len(slots), dtype=np.int64)
        cols = np.full(len(slots), slots.shape[1] - 1, dtype=np.int64)
        features = history_features(baskets, slots, rows, cols, reference_age)
        weights, per_item = net.repeat_arrays()
        total = sum(
            (weight * feature for weight, feature in zip(weights, features, strict=True)),
            start=sp.csr_matrix((len(slots), self.n_items), dtype=np.float32),
        )
        total = total + features[COUNT_FEATURE] @ sp.diags(per_item)
        return sp.csr_matrix(total, dtype=np.float32)

    def _scores(self, users: IntArray) -> Float32Array:
        dense = self.user_vectors[users] @ self.item_vectors.T + self.item_bias[None, :]
        if self.repeat_term.nnz:
            dense = dense + self.repeat_term[users].toarray()
        return np.asarray(dense, dtype=np.float32)

    def _model_state(self) -> dict[str, np.ndarray]:
        return {
            "user_vectors": self.user_vectors,
            "item_vectors": self.item_vectors,
            "item_bias": self.item_bias,
            **sparse_state("repeat_term", self.repeat_term),
        }

    def _restore_model_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.user_vectors = np.asarray(state["user_vectors"], dtype=np.float32)
        self.item_vectors = np.asarray(state["item_vectors"], dtype=np.float32)
        self.item_bias = np.asarray(state["item_bias"], dtype=np.float32)
        self.repeat_term = sparse_from_state("repeat_term", state)

    def encode(self, log: EventLog, users: IntArray) -> Float32Array:
        """float32 (len(users), dim): encodings of these customers' orders in `log` with the
        fitted (or loaded) encoder — e.g. a longer history than the training one. Loads
        TensorFlow."""
        self._require_fitted()
        net = self.keras_model()
        baskets = baskets_of(log, self.n_users, self.n_items)
        index = np.asarray(users, dtype=np.int64)
        slots = windows(baskets.start[index], baskets.end[index], self.params.max_len)
        return encode_windows(net, baskets, slots)


def _train_step(net: SequenceEncoder, optimizer: Any, full_softmax: bool) -> Any:
    """A compiled step: (sparse inputs, valid, target items (b, L; -1 = none), negatives) →
    the batch's mean sampled-softmax loss, after one Adam update."""
    variables = net.trainable_variables

    @tf.function(
        input_signature=[
            tf.SparseTensorSpec(shape=[None, net.n_items], dtype=tf.float32),
            tf.TensorSpec(shape=[None, net.max_len], dtype=tf.bool),
            tf.TensorSpec(shape=[None, net.max_len], dtype=tf.int64),
            tf.TensorSpec(shape=[None], dtype=tf.int64),
            *[tf.SparseTensorSpec(shape=[None, net.n_items], dtype=tf.float32)]
            * len(REPEAT_FEATURES),
        ]
    )
    def step(sparse: Any, valid: Any, targets: Any, negatives: Any, *features: Any) -> Any:
        with tf.GradientTape() as tape:
            hidden = net.encode_sparse(sparse, valid, training=True)
            repeat = net.repeat_logits(list(features)) if net.repeat else None
            loss = sampled_softmax_loss(net, hidden, targets, negatives, full_softmax, repeat)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return step


def sampled_softmax_loss(
    net: SequenceEncoder,
    hidden: Any,
    targets: Any,
    negatives: Any,
    full_softmax: bool,
    repeat: Any = None,
) -> Any:
    """Mean cross-entropy of each step's target against the negatives (module docstring);
    repeat: the repeat term (steps with a target, n_items) or None."""
    has_target = targets >= 0
    h = tf.boolean_mask(hidden, has_target)
    target = tf.boolean_mask(targets, has_target)
    table = net.item_embedding.embeddings
    bias = net.item_bias.embeddings[:, 0]
    if full_softmax:
        logits = tf.matmul(h, table, transpose_b=True) + bias[None, :]
        if repeat is not None:
            logits = logits + repeat
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
        return tf.reduce_mean(losses)
    positive = tf.reduce_sum(h * tf.gather(table, target), axis=1) + tf.gather(bias, target)
    negative = tf.matmul(h, tf.gather(table, negatives), transpose_b=True)
    negative = negative + tf.gather(bias, negatives)[None, :]
    if repeat is not None:
        rows = tf.range(tf.shape(target, out_type=tf.int64)[0], dtype=tf.int64)
        positive = positive + tf.gather_nd(repeat, tf.stack([rows, target], axis=1))
        negative = negative + tf.gather(repeat, negatives, axis=1)
    clash = tf.equal(negatives[None, :], target[:, None])
    negative = tf.where(clash, tf.constant(-1e9, dtype=negative.dtype), negative)
    logits = tf.concat([positive[:, None], negative], axis=1)
    return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - positive)
