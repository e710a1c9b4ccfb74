"""Neural collaborative filtering with customer and product features (NeuMF-style).

Algorithm name ``"ncf"`` (``NeuralCF``). Keras is imported with this module; the registry
refers to it lazily.

**Model.** The classic start is score = sigmoid(W · [q_u, h_i] + b) over a customer embedding
q_u and an item embedding h_i. It is grown into NeuMF: a *GMF* branch (the element-wise product
of a customer vector and an item vector) and an *MLP* branch (a ``hidden`` stack of ReLU layers
over the concatenated customer and item towers), joined by one output unit giving the logit.
Each side's input is its id embedding plus its features:

* categorical feature columns → one embedding each (``feature_dim``), the unknown/missing value
  at index 0;
* numeric columns → sign(x)·log(1 + |x|), standardised with the training mean and standard
  deviation (missing → 0), then a linear layer (``feature_dim``).

The tower of a side is a ReLU layer (``dim``) over [id embedding, feature embeddings]; its GMF
vector is the GMF id embedding plus a linear map of the feature embeddings. So two customers
with the same features but no history get the same, feature-driven scores.

**Features** come through the fit context (both optional):

* ``customer_features``: pandas DataFrame indexed by customer *row index* (0..n_users-1; rows
  may be missing), e.g. ``country`` (str), ``segment`` (str, the RFM segment), ``recency_days``,
  ``frequency``, ``monetary`` (numbers; RFM measured on the training period) — any columns;
  object / string / category / bool columns are categorical, the others numeric;
* ``product_features``: DataFrame indexed by product *column index*, e.g. ``category`` (str),
  ``price_band`` (str) or ``price`` (number).

Without them NCF is plain NeuMF on ids (lower quality for customers with little history).
Customers without any training interaction use a shared *unknown* id, which is also given to a
seeded ``id_dropout`` share of the training examples so that it learns the feature-driven
average and features matter for everyone.

**Training.** Implicit feedback with negative sampling: every non-zero cell of the training
matrix (binary) is a positive; each epoch draws ``negatives`` uniform random items per positive
(seeded; an occasional sampled positive is left as noise), loss binary cross-entropy on the
logit, Adam. **Validation**: with ``log`` in the context, the last order of a seeded sample of the
customers with at least two orders (``validation_share`` of them, at most ``validation_users``)
is held out (its items are not
positives unless bought before) and early stopping monitors NDCG@10 on it; without a log, one
seeded random cell per sampled customer with at least two items is held out instead.

**Scores** = the output logit (sigmoid is monotone; logits tie less). After fit the customer
and item towers are evaluated once (batched) and the head's weights extracted, so ``scores``
runs the head in numpy over (customer, item) pairs in blocks: a loaded model scores without
TensorFlow. **Saved**: the Keras model; ``vocab.user.<column>`` / ``vocab.item.<column>`` (the
categorical vocabularies, position = index - 1); the numeric columns' names and mean/std
(``numeric.*``); the tower outputs and head weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recommendations.engine.base import Float32Array, IntArray, ProgressCallback
from recommendations.engine.data import EventLog
from recommendations.engine.deep.common import (
    KerasRecommender,
    baskets_of,
    epoch_rng,
    json_array,
    set_seeds,
    train_epochs,
    validation_customers,
    validation_metrics,
)

_PAIR_BUDGET = 4_000_000  # (customer, item) pairs × hidden units per numpy block
_INFERENCE_BATCH = 4096


@dataclass(frozen=True)
class NCFParams:
    """dim: id embedding and tower size; feature_dim: size of each feature embedding; hidden:
    the MLP branch's layer sizes; negatives: sampled negatives per positive; id_dropout: share
    of training examples given the unknown customer id; batch_size; learning_rate (Adam);
    epochs (at most); patience (early stopping on validation NDCG@10); validation_users /
    validation_share: how many customers validate (module docstring); seed."""

    dim: int = 32
    feature_dim: int = 8
    hidden: tuple[int, ...] = (64, 32)
    negatives: int = 4
    id_dropout: float = 0.1
    batch_size: int = 2048
    learning_rate: float = 0.002
    epochs: int = 40
    patience: int = 4
    validation_users: int = 1000
    validation_share: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("dim", "feature_dim", "negatives", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must be one or more positive sizes")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError("id_dropout must be in [0, 1)")


# --- features ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureTable:
    """One side's features as arrays: ``codes`` int64 (n, n_categorical), 0 = unknown;
    ``numbers`` float32 (n, n_numeric), transformed and standardised; the vocabularies
    (column → unicode array, value of code c at position c - 1) and the numeric columns with
    their mean and std."""

    codes: npt.NDArray[np.int64]
    numbers: Float32Array
    vocabularies: dict[str, np.ndarray]
    numeric: list[str]
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]

    @property
    def sizes(self) -> list[int]:
        """Embedding rows per categorical column (vocabulary + unknown)."""
        return [len(values) + 1 for values in self.vocabularies.values()]


def _categorical(series: pd.Series[Any]) -> bool:
    return bool(
        pd.api.types.is_object_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_bool_dtype(series)
    )


def feature_table(frame: pd.DataFrame | None, n: int) -> FeatureTable:
    """The FeatureTable of a feature frame indexed by position 0..n-1 (module docstring);
    missing rows get unknown codes and zero numbers. None → no features."""
    if frame is None or frame.shape[1] == 0:
        return FeatureTable(
            np.zeros((n, 0), np.int64),
            np.zeros((n, 0), np.float32),
            {},
            [],
            np.zeros(0),
            np.zeros(0),
        )
    aligned = frame.reindex(pd.RangeIndex(n))
    codes, vocabularies, numbers, numeric = [], {}, [], []
    for column in frame.columns:
        values = aligned[column]
        if _categorical(frame[column]):
            present = values.notna().to_numpy()
            text = values.astype(str).to_numpy()
            vocabulary = np.unique(text[present]).astype(str)
            code = np.zeros(n, dtype=np.int64)
            code[present] = np.searchsorted(vocabulary, text[present]) + 1
            codes.append(code)
            vocabularies[str(column)] = vocabulary
        else:
            raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            numbers.append(np.sign(raw) * np.log1p(np.abs(raw)))
            numeric.append(str(column))
    number_array = np.stack(numbers, axis=1) if numbers else np.zeros((n, 0))
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(number_array, axis=0)) if numbers else np.zeros(0)
        std = np.nan_to_num(np.nanstd(number_array, axis=0)) if numbers else np.zeros(0)
    std = np.where(std > 0, std, 1.0)
    scaled = np.nan_to_num((number_array - mean) / std).astype(np.float32)
    code_array = np.stack(codes, axis=1) if codes else np.zeros((n, 0), dtype=np.int64)
    return FeatureTable(code_array, scaled, vocabularies, numeric, mean, std)


# --- the Keras model -----------------------------------------------------------------------------


def _side(prefix: str, n_ids: int, table: FeatureTable, p: NCFParams) -> tuple[list[Any], Any, Any]:
    """Inputs, tower output and GMF vector of one side (customer or item)."""
    init = keras.initializers.RandomNormal(stddev=0.05)
    ids = keras.Input(shape=(), dtype="int64", name=f"{prefix}_id")
    inputs = [ids]
    mlp_id = keras.layers.Embedding(n_ids, p.dim, embeddings_initializer=init, name=f"{prefix}_mlp")
    gmf_id = keras.layers.Embedding(n_ids, p.dim, embeddings_initializer=init, name=f"{prefix}_gmf")
    parts: list[Any] = []
    for index, size in enumerate(table.sizes):
        column = keras.Input(shape=(), dtype="int64", name=f"{prefix}_cat{index}")
        inputs.append(column)
        embedding = keras.layers.Embedding(
            size, p.feature_dim, embeddings_initializer=init, name=f"{prefix}_cat{index}_embedding"
        )
        parts.append(embedding(column))
    if table.numbers.shape[1]:
        numbers = keras.Input(shape=(table.numbers.shape[1],), name=f"{prefix}_numbers")
        inputs.append(numbers)
        parts.append(keras.layers.Dense(p.feature_dim, name=f"{prefix}_num")(numbers))
    mlp_input = [mlp_id(ids), *parts]
    joined = keras.layers.Concatenate()(mlp_input) if len(mlp_input) > 1 else mlp_input[0]
    tower = keras.layers.Dense(p.dim, activation="relu", name=f"{prefix}_tower")(joined)
    gmf = gmf_id(ids)
    if parts:
        features = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
        gmf = keras.layers.Add()(
            [
                gmf,
                keras.layers.Dense(p.dim, use_bias=False, name=f"{prefix}_gmf_features")(features),
            ]
        )
    return inputs, tower, gmf


def build_model(
    n_users: int, n_items: int, users: FeatureTable, items: FeatureTable, p: NCFParams
) -> tuple[Any, Any, Any]:
    """(model, user side model, item side model). model: inputs of both sides → logit (b,);
    side models: a side's inputs → [GMF vector, tower output]."""
    user_inputs, user_tower, user_gmf = _side("user", n_users + 1, users, p)
    item_inputs, item_tower, item_gmf = _side("item", n_items, items, p)
    h = keras.layers.Concatenate(name="pair")([user_tower, item_tower])
    for index, size in enumerate(p.hidden):
        h = keras.layers.Dense(size, activation="relu", name=f"hidden{index}")(h)
    gmf = keras.layers.Multiply(name="gmf")([user_gmf, item_gmf])
    joined = keras.layers.Concatenate(name="neumf")([gmf, h])
    logit = keras.layers.Dense(1, name="out")(joined)
    logit = keras.layers.Reshape((), name="logit")(logit)
    model = keras.Model([*user_inputs, *item_inputs], logit, name="ncf")
    user_model = keras.Model(user_inputs, [user_gmf, user_tower])
    item_model = keras.Model(item_inputs, [item_gmf, item_tower])
    return model, user_model, item_model


def _side_inputs(table: FeatureTable, ids: IntArray, rows: IntArray) -> list[np.ndarray]:
    """A side's input arrays for these ids (the feature rows of `rows`)."""
    result: list[np.ndarray] = [ids]
    result.extend(table.codes[rows, column] for column in range(table.codes.shape[1]))
    if table.numbers.shape[1]:
        result.append(table.numbers[rows])
    return result


# --- the recommender -----------------------------------------------------------------------------


class NeuralCF(KerasRecommender):
    """NeuMF over ids and features (module docstring). Fit context: optional ``log``,
    ``customer_features``, ``product_features``."""

    name = "ncf"
    Params = NCFParams

    def __init__(self, params: NCFParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.arrays: dict[str, np.ndarray] = {}

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        p: NCFParams = self.params
        set_seeds(p.seed)
        users = feature_table(context.get("customer_features"), self.n_users)
        items = feature_table(context.get("product_features"), self.n_items)
        positives, val_users, val_truth = self._split(train, context.get("log"))
        has_history = np.diff(train.indptr) > 0
        known_ids = np.where(has_history, np.arange(self.n_users), self.n_users).astype(np.int64)

        model, user_model, item_model = build_model(self.n_users, self.n_items, users, items, p)
        optimizer = keras.optimizers.Adam(learning_rate=p.learning_rate)
        model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True))
        pos_users, pos_items = positives
        n_pos = len(pos_users)
        item_ids = np.arange(self.n_items, dtype=np.int64)

        def run_epoch(epoch: int) -> float:
            rng = epoch_rng(p.seed, epoch)
            neg_items = rng.integers(0, self.n_items, size=n_pos * p.negatives)
            u = np.concatenate([pos_users, np.repeat(pos_users, p.negatives)])
            i = np.concatenate([pos_items, neg_items])
            y = np.concatenate([np.ones(n_pos), np.zeros(n_pos * p.negatives)]).astype(np.float32)
            ids = np.where(rng.random(len(u)) < p.id_dropout, self.n_users, u)
            order = rng.permutation(len(u))
            u, i, y, ids = u[order], i[order], y[order], ids[order]
            x = [*_side_inputs(users, ids, u), *_side_inputs(items, i, i)]
            result = model.fit(x, y, batch_size=p.batch_size, epochs=1, shuffle=False, verbose=0)
            return float(result.history["loss"][-1])

        def validate() -> dict[str, float]:
            self._extract(user_model, item_model, model, users, items, known_ids, item_ids)
            return validation_metrics(self._scores, val_users, val_truth, tiebreak=self._ranks)

        self.history, self.best_epoch = train_epochs(
            run_epoch=run_epoch,
            validate=validate,
            get_weights=model.get_weights,
            set_weights=model.set_weights,
            epochs=p.epochs,
            patience=p.patience,
            on_progress=on_progress,
        )
        self._extract(user_model, item_model, model, users, items, known_ids, item_ids)
        self.vocabularies = {
            **{f"user.{key}": value for key, value in users.vocabularies.items()},
            **{f"item.{key}": value for key, value in items.vocabularies.items()},
        }
        self.arrays["numeric"] = json_array(
            {
                "user": {"columns": users.numeric, "mean": users.mean.tolist(),
                         "std": users.std.tolist()},
                "item": {"columns": items.numeric, "mean": items.mean.tolist(),
                         "std": items.std.tolist()},
            }
        )  # fmt: skip
        self._model = model
        self._model_bytes = None

    def _split(
        self, train: sp.csr_matrix, log: Any
    ) -> tuple[tuple[IntArray, IntArray], IntArray, sp.csr_matrix]:
        """Training positives (users, items) and the validation customers with their truth."""
        p: NCFParams = self.params
        binary = sp.csr_matrix(train, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        if isinstance(log, EventLog) and len(log):
            baskets = baskets_of(log, self.n_users, self.n_items)
            val_users = validation_customers(
                baskets, p.validation_users, p.validation_share, p.seed
            )
            truth = sp.csr_matrix(baskets.matrix[baskets.end[val_users] - 1], dtype=np.float32)
            keep = np.ones(baskets.matrix.shape[0], dtype=bool)
            keep[baskets.end[val_users] - 1] = False
            owners = np.repeat(np.arange(self.n_users), baskets.end - baskets.start)
            earlier = sp.csr_matrix(
                sp.diags(keep.astype(np.float32)) @ baskets.matrix, dtype=np.float32
            )
            cells = sp.csr_matrix(
                (np.ones(earlier.nnz, np.float32),
                 (np.repeat(owners, np.diff(earlier.indptr)), earlier.indices)),
                shape=train.shape,
            )  # fmt: skip
        else:
            counts = np.diff(binary.indptr)
            eligible = np.flatnonzero(counts >= 2)
            rng = np.random.default_rng([p.seed, 1])
            size = min(p.validation_users, int(np.ceil(p.validation_share * len(eligible))))
            val_users = np.sort(rng.choice(eligible, size=size, replace=False)).astype(np.int64)
            picks = binary.indptr[val_users] + (rng.random(len(val_users)) * counts[val_users])
            held = binary.indices[picks.astype(np.int64)]
            truth = sp.csr_matrix(
                (np.ones(len(val_users), np.float32), (np.arange(len(val_users)), held)),
                shape=(len(val_users), self.n_items),
            )
            cells = binary.copy()
            cells[val_users, held] = 0.0
        cells = sp.csr_matrix(cells.multiply(binary))  # only cells of the training matrix
        cells.sum_duplicates()
        cells.eliminate_zeros()
        truth.data[:] = 1.0
        coo = cells.tocoo()
        order = np.lexsort((coo.col, coo.row))
        positives = (coo.row[order].astype(np.int64), coo.col[order].astype(np.int64))
        return positives, val_users, truth

    def _extract(
        self,
        user_model: Any,
        item_model: Any,
        model: Any,
        users: FeatureTable,
        items: FeatureTable,
        known_ids: IntArray,
        item_ids: IntArray,
    ) -> None:
        """Tower outputs of every customer and item, and the head's weights, as numpy."""
        rows = np.arange(self.n_users, dtype=np.int64)
        user_gmf, user_tower = user_model.predict(
            _side_inputs(users, known_ids, rows), batch_size=_INFERENCE_BATCH, verbose=0
        )
        item_gmf, item_tower = item_model.predict(
            _side_inputs(items, item_ids, item_ids), batch_size=_INFERENCE_BATCH, verbose=0
        )
        dim = user_tower.shape[1]
        first = model.get_layer("hidden0").get_weights()
        self.arrays.update(
            user_gmf=np.asarray(user_gmf, np.float32),
            item_gmf=np.asarray(item_gmf, np.float32),
            # The first hidden layer applied to each side separately (its input is the concat).
            user_first=np.asarray(user_tower @ first[0][:dim], np.float32),
            item_first=np.asarray(item_tower @ first[0][dim:] + first[1], np.float32),
        )
        for index in range(1, len(self.params.hidden)):
            kernel, bias = model.get_layer(f"hidden{index}").get_weights()
            self.arrays[f"hidden{index}.kernel"] = np.asarray(kernel, np.float32)
            self.arrays[f"hidden{index}.bias"] = np.asarray(bias, np.float32)
        kernel, bias = model.get_layer("out").get_weights()
        self.arrays["out.kernel"] = np.asarray(kernel[:, 0], np.float32)
        self.arrays["out.bias"] = np.asarray(bias, np.float32)

    def _scores(self, users: IntArray) -> Float32Array:
        a = self.arrays
        dim = a["user_gmf"].shape[1]
        out_gmf, out_mlp = a["out.kernel"][:dim], a["out.kernel"][dim:]
        widest = max(self.params.hidden)
        step = max(1, _PAIR_BUDGET // max(1, self.n_items * widest))
        result = np.empty((len(users), self.n_items), dtype=np.float32)
        gmf = (a["user_gmf"][users] * out_gmf[None, :]) @ a["item_gmf"].T
        for begin in range(0, len(users), step):
            part = users[begin : begin + step]
            h = np.maximum(a["user_first"][part][:, None, :] + a["item_first"][None, :, :], 0.0)
            for index in range(1, len(self.params.hidden)):
                h = np.maximum(h @ a[f"hidden{index}.kernel"] + a[f"hidden{index}.bias"], 0.0)
            result[begin : begin + len(part)] = h @ out_mlp
        return (result + gmf + a["out.bias"][0]).astype(np.float32)

    def _model_state(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)

    def _restore_model_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.arrays = {key: np.asarray(value) for key, value in state.items()}
