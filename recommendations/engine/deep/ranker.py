"""A learned two-stage ranker: candidates from several recommenders, re-ranked by a Keras MLP.

**Stage 1, candidates.** For every customer the union of the top ``top_n`` items of each
candidate generator (``RankerParams.generators``: repeat purchase, user- and item-based CF,
EASE, recent popularity and, when ``recommendations.engine.deep.sequence`` is importable, the
sequence model; see ``ranker_features.GeneratorSpec``).

**Stage 2, ranking.** A small MLP scores each (customer, candidate) from the features of
``ranker_features`` (each generator's standardised score and rank, days since the customer last
bought the item, their order count and usual repurchase interval and how due the item is, the
item's popularity trend and price, the customer's recency/frequency/monetary figures, group
shares by country/segment, the new-to-customer flag). Loss ``"softmax"`` (default) is listwise:
the cross-entropy between the softmax of a customer's candidate scores and their purchases in
the label window spread evenly over the bought candidates; ``"logistic"`` is pointwise binary
cross-entropy over the candidates.

**Honest training inside ``fit``.** The training log is split at (training end - ``label_days``):
the generators are fitted on the older part, features are built as of the split time and the
labels are the purchases of the last ``label_days``. A seeded ``validation_share`` of the
labelled customers is kept apart for early stopping on their NDCG@10 over the candidates
(relevant = every item they bought in the window, so unreachable purchases count); the best
epoch's weights are restored. Then the generators are refitted on the whole training log and
every customer's candidates are scored with features as of the training end. So the ranker never
sees data after the training end, and evaluation on a later period stays honest.

**Scores** (``scores``): for candidates, the MLP's output shifted so that the lowest candidate
score of all customers is 2.0 (monotone, per-customer order unchanged); for the other items
recent popularity scaled into [0, 1) (``fallback``), so candidates always come first.
Candidate scores are computed once at the end of ``fit`` for every training customer (batched
inference) and kept as a sparse matrix; scoring never calls TensorFlow.

**Progress and history.** ``on_progress(epoch, epochs, loss=..., val_loss=..., val_ndcg=...)``
after every epoch; ``history`` is a list of dicts ``{"epoch", "loss", "val_loss", "val_ndcg",
"seconds"}`` (one per epoch run), saved with the model.

**Persistence.** ``save`` writes the usual ``.npz``: the candidate scores (CSR arrays), the
fallback, the per-feature mean/std of the standardisation, the feature names and history as
JSON, and the MLP (the per-candidate scorer) as a Keras ``.keras`` archive embedded as a uint8
array (``model.keras``). ``scorer()`` loads it back (TensorFlow imported then), and
``score_features`` re-scores a feature matrix built by ``ranker_features.build_features``.

Fit context: ``log`` (required, ``data.EventLog``); optional ``customer_features`` (DataFrame
indexed by row index; ``country`` / ``segment`` columns used as groups) and
``product_features`` (DataFrame indexed by column index; ``price``, ``category``); every
context entry is passed on to the generators. TensorFlow is imported inside the functions that
train or load the MLP only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import (
    Float32Array,
    IntArray,
    ProgressCallback,
    Recommender,
    sparse_from_state,
    sparse_state,
)
from recommendations.engine.baselines import decay, event_log
from recommendations.engine.data import EventLog
from recommendations.engine.deep.common import model_from_bytes, model_to_bytes, set_seeds
from recommendations.engine.deep.ranker_features import (
    Candidates,
    GeneratorSpec,
    SideData,
    build_features,
    candidate_pairs,
    feature_names,
    fit_generators,
    label_matrix,
    split_log,
)

SOFTMAX = "softmax"
LOGISTIC = "logistic"
LOSSES = (SOFTMAX, LOGISTIC)
NDCG_K = 10
# Candidate scores start here; the fallback of other items stays below 1.
CANDIDATE_FLOOR = 2.0

DEFAULT_GENERATORS: tuple[Mapping[str, Any], ...] = (
    {"algorithm": "repeat", "params": {"half_life_days": 60.0}, "top_n": 50},
    {"algorithm": "user_knn", "params": {"neighbours": 50}, "weighting": "binary", "top_n": 50},
    {"algorithm": "item_knn", "params": {"neighbours": 50}, "weighting": "binary", "top_n": 30},
    {"algorithm": "ease", "params": {"l2": 500.0}, "weighting": "binary", "top_n": 30},
    {"algorithm": "popularity", "params": {"window_days": 30.0}, "top_n": 30},
    {"algorithm": "sequence", "params": {}, "top_n": 30, "optional": True},
)


@dataclass(frozen=True)
class RankerParams:
    """generators: candidate generators as dicts of ``GeneratorSpec`` fields (algorithm,
    params, weighting, top_n, optional); label_days: length of the label window at the end of
    the training log (days); windows: how many label windows of that length, one before the
    other, make training lists (more customers to learn from); trend_days: window of the
    popularity trend features and of the fallback (days); hidden: widths of the MLP's hidden
    layers; dropout; l2: weight decay of the dense kernels; loss: "softmax" (listwise) or
    "logistic" (pointwise); learning_rate (Adam); batch_size: customers per step; epochs: at
    most; patience: epochs without a better validation NDCG before stopping;
    validation_share: share of customers kept for early stopping; seed."""

    generators: Sequence[Mapping[str, Any]] = DEFAULT_GENERATORS
    label_days: float = 35.0
    windows: int = 3
    trend_days: float = 28.0
    hidden: Sequence[int] = (64, 32)
    dropout: float = 0.1
    l2: float = 1e-5
    loss: str = SOFTMAX
    learning_rate: float = 2e-3
    batch_size: int = 32
    epochs: int = 40
    patience: int = 5
    validation_share: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}")
        if not self.label_days > 0 or not self.trend_days > 0:
            raise ValueError("label_days and trend_days must be positive")
        if not 0.0 < self.validation_share < 1.0:
            raise ValueError("validation_share must be in (0, 1)")
        if min(self.epochs, self.batch_size, self.patience, self.windows) < 1:
            raise ValueError("epochs, batch_size, patience and windows must be at least 1")
        if not self.generators:
            raise ValueError("at least one generator is needed")
        for spec in self.generators:
            GeneratorSpec.of(spec)

    def specs(self) -> list[GeneratorSpec]:
        return [GeneratorSpec.of(spec) for spec in self.generators]


@dataclass(frozen=True)
class TrainingSet:
    """The ranker's training lists: features float32 (n_lists, width, n_features) with padded
    rows zero; labels float32 (n_lists, width): 1 bought in the label window, 0 not, -1 padding;
    relevant: int64 (n_lists,) items each customer bought in the window (candidates or not);
    users: int64 (n_lists,) their row indices."""

    features: np.ndarray
    labels: np.ndarray
    relevant: IntArray
    users: IntArray


def to_lists(
    candidates: Candidates, features: np.ndarray, labels: sp.csr_matrix, users: IntArray
) -> TrainingSet:
    """One padded list per customer of `users` (ascending) from the candidate pairs."""
    keep = np.isin(candidates.users, users)
    pair_users = candidates.users[keep]
    pair_items = candidates.items[keep]
    pair_features = features[keep]
    row = np.searchsorted(users, pair_users)
    counts = np.bincount(row, minlength=len(users))
    width = max(int(counts.max()) if len(counts) else 0, 1)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    slot = np.arange(len(row)) - starts[row]
    cube = np.zeros((len(users), width, features.shape[1]), dtype=np.float32)
    target = np.full((len(users), width), -1.0, dtype=np.float32)
    cube[row, slot] = pair_features
    target[row, slot] = np.asarray(labels[pair_users, pair_items]).ravel()
    relevant = np.diff(labels.indptr)[users].astype(np.int64)
    return TrainingSet(features=cube, labels=target, relevant=relevant, users=users)


def stack_lists(sets: Sequence[TrainingSet]) -> TrainingSet:
    """The lists of several training sets in one, padded to the widest."""
    width = max((part.labels.shape[1] for part in sets), default=1)
    n_features = sets[0].features.shape[2] if sets else 0
    features, labels = [], []
    for part in sets:
        pad = width - part.labels.shape[1]
        features.append(np.pad(part.features, ((0, 0), (0, pad), (0, 0))))
        labels.append(np.pad(part.labels, ((0, 0), (0, pad)), constant_values=-1.0))
    if not sets:
        return TrainingSet(
            np.zeros((0, 1, n_features), np.float32),
            np.zeros((0, 1), np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
    return TrainingSet(
        features=np.concatenate(features),
        labels=np.concatenate(labels),
        relevant=np.concatenate([part.relevant for part in sets]),
        users=np.concatenate([part.users for part in sets]),
    )


def list_ndcg(scores: np.ndarray, labels: np.ndarray, relevant: IntArray, k: int = NDCG_K) -> float:
    """Mean NDCG@k of padded lists: scores / labels (n, width) with labels -1 on padding,
    relevant (n,) the ideal's number of relevant items (unreachable ones included)."""
    if len(labels) == 0:
        return 0.0
    masked = np.where(labels >= 0, scores, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    gains = np.take_along_axis(np.maximum(labels, 0.0), order, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, gains.shape[1] + 2))
    dcg = (gains * discounts).sum(axis=1)
    ideal = np.array([discounts[: min(int(r), k)].sum() for r in relevant])
    return float(np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0).mean())


class Ranker(Recommender):
    """Two-stage candidates + learned ranking (module docstring)."""

    name = "ranker"
    Params = RankerParams

    def __init__(self, params: RankerParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.candidate_scores = sp.csr_matrix((0, 0), dtype=np.float32)
        self.fallback = np.zeros(0, dtype=np.float32)
        self.feature_names: list[str] = []
        self.feature_mean = np.zeros(0, dtype=np.float32)
        self.feature_std = np.ones(0, dtype=np.float32)
        self.history: list[dict[str, float]] = []
        self.generators_used: list[str] = []
        self.train_summary: dict[str, float] = {}
        self._model_bytes = np.zeros(0, dtype=np.uint8)
        self._scorer: Any = None

    # --- fitting ----------------------------------------------------------------------------

    def _fit(
        self,
        train: sp.csr_matrix,
        context: Mapping[str, Any],
        on_progress: ProgressCallback | None,
    ) -> None:
        params: RankerParams = self.params
        log = event_log(context, train.shape)
        shape = train.shape
        side = SideData.of(context, shape)
        specs = params.specs()
        started = time.monotonic()

        # 1. The training lists: window w ends w · label_days before the training end; its
        # features are built as of label_days before that, its labels are the window.
        used: list[GeneratorSpec] | None = None
        windows: list[tuple[Candidates, np.ndarray, sp.csr_matrix, IntArray]] = []
        for index in range(params.windows):
            shift = index * params.label_days
            older = (log.age_days > shift) if index else np.ones(len(log), np.bool_)
            shifted = EventLog(
                users=log.users[older],
                items=log.items[older],
                age_days=log.age_days[older] - shift,
                units=log.units[older],
            )
            before, window = split_log(shifted, params.label_days)
            labels = label_matrix(window, shape)
            early = fit_generators(specs if used is None else used, before, shape, context)
            used = [spec for spec, _ in early] if used is None else used
            labelled = np.flatnonzero(np.diff(labels.indptr) > 0).astype(np.int64)
            known = np.zeros(shape[0], np.bool_)
            known[before.users] = True
            labelled = labelled[known[labelled]]
            if len(labelled) == 0:
                break
            early_matrix = sp.csr_matrix(
                (np.ones(len(before)), (before.users, before.items)), shape=shape
            )
            candidates = candidate_pairs(early, labelled, shape, early_matrix)
            features = build_features(candidates, before, shape, side, trend_days=params.trend_days)
            windows.append((candidates, features, labels, labelled))
        assert used is not None
        self.feature_names = feature_names(used, side)
        if sum(len(w[3]) for w in windows) < 2:
            raise ValueError("too few customers buy in the label window to train the ranker")
        every = np.concatenate([w[1] for w in windows])
        self.feature_mean = every.mean(axis=0).astype(np.float32)
        self.feature_std = np.maximum(every.std(axis=0), 1e-6).astype(np.float32)
        del every
        # Validation customers: a seeded share of all customers, in every window.
        rng = np.random.default_rng(params.seed)
        is_val = rng.random(shape[0]) < params.validation_share
        train_parts, val_parts = [], []
        for candidates, features, labels, labelled in windows:
            scaled = self._standardise(features)
            train_parts.append(to_lists(candidates, scaled, labels, labelled[~is_val[labelled]]))
            val_parts.append(to_lists(candidates, scaled, labels, labelled[is_val[labelled]]))
        train_set, val_set = stack_lists(train_parts), stack_lists(val_parts)
        if len(train_set.users) == 0 or len(val_set.users) == 0:
            raise ValueError("too few customers buy in the label windows to train the ranker")
        prepared = time.monotonic() - started

        # 2. Train the MLP with early stopping on the validation customers.
        fitted_at = time.monotonic()
        self._train(train_set, val_set, on_progress)
        trained = time.monotonic() - fitted_at

        # 3. Refit the generators on everything and score every customer's candidates.
        scored_at = time.monotonic()
        final = fit_generators(used, log, shape, context)
        self.generators_used = [spec.algorithm for spec, _ in final]
        users = np.arange(shape[0], dtype=np.int64)
        binary = sp.csr_matrix(train, copy=True)
        binary.data[:] = 1.0
        pairs = candidate_pairs(final, users, shape, binary)
        full = build_features(pairs, log, shape, side, trend_days=params.trend_days)
        logits = self.score_features(full)
        low = float(logits.min()) if len(logits) else 0.0
        matrix = sp.csr_matrix(
            (logits - low + CANDIDATE_FLOOR, (pairs.users, pairs.items)),
            shape=shape,
            dtype=np.float32,
        )
        matrix.sort_indices()
        self.candidate_scores = matrix
        recent = np.bincount(
            log.items,
            weights=decay(log.age_days, params.trend_days) * (log.age_days < 4 * params.trend_days),
            minlength=shape[1],
        )
        self.fallback = (recent / (recent.max() + 1.0) if len(recent) else recent).astype(
            np.float32
        )
        self.train_summary = {
            "training_lists": float(len(train_set.users)),
            "validation_lists": float(len(val_set.users)),
            "training_pairs": float(len(candidates)),
            "label_positives_in_candidates": float((train_set.labels > 0).sum()),
            "label_positives": float(train_set.relevant.sum()),
            "prepare_seconds": prepared,
            "train_seconds": trained,
            "score_seconds": time.monotonic() - scored_at,
            "candidates_per_customer": float(len(pairs)) / max(shape[0], 1),
        }

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        scaled = (features - self.feature_mean) / self.feature_std
        return np.clip(scaled, -6.0, 6.0).astype(np.float32)

    def _train(
        self, train_set: TrainingSet, val_set: TrainingSet, on_progress: ProgressCallback | None
    ) -> None:
        import keras

        params: RankerParams = self.params
        set_seeds(params.seed)
        n_features = train_set.features.shape[2]
        scorer, model = build_models(n_features, params)
        model.compile(
            optimizer=keras.optimizers.Adam(params.learning_rate),
            loss=softmax_list_loss if params.loss == SOFTMAX else logistic_list_loss,
        )
        # Lists without a purchase among the candidates teach the softmax nothing.
        useful = np.asarray((train_set.labels > 0).any(axis=1) | (params.loss == LOGISTIC))
        x, y = train_set.features[useful], train_set.labels[useful]
        if len(x) == 0:
            raise ValueError("no label-window purchase is among the candidates")
        history: list[dict[str, float]] = []
        best: tuple[float, list[np.ndarray]] | None = None
        waited = 0
        for epoch in range(1, params.epochs + 1):
            began = time.monotonic()
            result = model.fit(
                x,
                y,
                batch_size=params.batch_size,
                epochs=1,
                shuffle=True,
                verbose=0,
                validation_data=(val_set.features, val_set.labels),
            )
            val_scores = predict_lists(scorer, val_set.features)
            val_ndcg = list_ndcg(val_scores, val_set.labels, val_set.relevant)
            row = {
                "epoch": float(epoch),
                "loss": float(result.history["loss"][-1]),
                "val_loss": float(result.history["val_loss"][-1]),
                "val_ndcg": val_ndcg,
                "seconds": time.monotonic() - began,
            }
            history.append(row)
            if on_progress is not None:
                on_progress(
                    epoch,
                    params.epochs,
                    loss=row["loss"],
                    val_loss=row["val_loss"],
                    val_ndcg=val_ndcg,
                )
            if best is None or val_ndcg > best[0]:
                best, waited = (val_ndcg, scorer.get_weights()), 0
            else:
                waited += 1
                if waited >= params.patience:
                    break
        assert best is not None
        scorer.set_weights(best[1])
        self.history = history
        self._scorer = scorer
        self._model_bytes = model_to_bytes(scorer)

    # --- scoring ----------------------------------------------------------------------------

    def scorer(self) -> Any:
        """The per-candidate Keras model (features → logit); loaded from the saved archive on
        first use after ``load``."""
        self._require_fitted()
        if self._scorer is None:
            self._scorer = model_from_bytes(self._model_bytes)
        return self._scorer

    def score_features(self, features: np.ndarray) -> Float32Array:
        """float32 (n_pairs,) logits of raw (unstandardised) features (n_pairs, n_features)
        in ``feature_names`` order, as built by ``ranker_features.build_features``."""
        scaled = self._standardise(np.asarray(features, dtype=np.float32))
        model = self._scorer if self._scorer is not None else self.scorer()
        return predict_rows(model, scaled)

    def _scores(self, users: IntArray) -> Float32Array:
        dense = np.broadcast_to(self.fallback, (len(users), self.n_items)).copy()
        block = self.candidate_scores[users]
        rows = np.repeat(np.arange(len(users)), np.diff(block.indptr))
        dense[rows, block.indices] = block.data
        return dense

    # --- persistence ------------------------------------------------------------------------

    def _state(self) -> dict[str, np.ndarray]:
        return {
            **sparse_state("candidates", self.candidate_scores),
            "fallback": self.fallback,
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "feature_names": np.array(json.dumps(self.feature_names)),
            "history": np.array(json.dumps(self.history)),
            "generators_used": np.array(json.dumps(self.generators_used)),
            "train_summary": np.array(json.dumps(self.train_summary)),
            "model.keras": self._model_bytes,
        }

    def _restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.candidate_scores = sparse_from_state("candidates", state)
        self.fallback = np.asarray(state["fallback"], dtype=np.float32)
        self.feature_mean = np.asarray(state["feature_mean"], dtype=np.float32)
        self.feature_std = np.asarray(state["feature_std"], dtype=np.float32)
        self.feature_names = list(json.loads(str(state["feature_names"])))
        self.history = list(json.loads(str(state["history"])))
        self.generators_used = list(json.loads(str(state["generators_used"])))
        self.train_summary = dict(json.loads(str(state["train_summary"])))
        self._model_bytes = np.asarray(state["model.keras"], dtype=np.uint8)
        self._scorer = None


# --- Keras pieces (TensorFlow imported on call) --------------------------------------------------


def build_models(n_features: int, params: RankerParams) -> tuple[Any, Any]:
    """(scorer, list model) sharing their layers: the per-candidate MLP float32 (n,
    n_features) → (n, 1) logit, and the same MLP over padded lists (n, width, n_features) →
    (n, width) logits (what the list losses train)."""
    import keras

    regulariser = keras.regularizers.L2(params.l2) if params.l2 > 0 else None
    layers: list[Any] = []
    for width in params.hidden:
        layers.append(
            keras.layers.Dense(int(width), activation="relu", kernel_regularizer=regulariser)
        )
        if params.dropout > 0:
            layers.append(keras.layers.Dropout(params.dropout))
    layers.append(keras.layers.Dense(1, kernel_regularizer=regulariser))

    def apply(tensor: Any) -> Any:
        for layer in layers:
            tensor = layer(tensor)
        return tensor

    rows = keras.Input(shape=(n_features,), name="features")
    scorer = keras.Model(rows, apply(rows), name="ranker_scorer")
    lists = keras.Input(shape=(None, n_features), name="candidates")
    list_model = keras.Model(lists, keras.layers.Reshape((-1,))(apply(lists)), name="ranker")
    return scorer, list_model


def softmax_list_loss(y_true: Any, logits: Any) -> Any:
    """Listwise loss per list: cross-entropy between the bought candidates (evenly weighted)
    and the softmax of the logits; labels -1 mark padding."""
    from keras import ops

    mask = ops.greater_equal(y_true, 0.0)
    labels = ops.where(mask, y_true, 0.0)
    masked = ops.where(mask, logits, -1e9)
    log_probs = ops.log_softmax(masked, axis=-1)
    total = ops.maximum(ops.sum(labels, axis=-1, keepdims=True), 1e-9)
    return -ops.sum(ops.where(mask, labels / total * log_probs, 0.0), axis=-1)


def logistic_list_loss(y_true: Any, logits: Any) -> Any:
    """Pointwise binary cross-entropy averaged over each list's real candidates."""
    from keras import ops

    mask = ops.cast(ops.greater_equal(y_true, 0.0), "float32")
    labels = ops.maximum(y_true, 0.0)
    # log(1 + exp(-|x|)) + max(x, 0) - x·y: the stable form of BCE with logits.
    losses = ops.softplus(-ops.abs(logits)) + ops.maximum(logits, 0.0) - logits * labels
    return ops.sum(losses * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


def predict_rows(model: Any, features: np.ndarray, batch: int = 16_384) -> Float32Array:
    """float32 (n,) logits of standardised features (n, n_features), in batches."""
    from keras import ops

    out = np.zeros(len(features), dtype=np.float32)
    for start in range(0, len(features), batch):
        part = features[start : start + batch]
        out[start : start + len(part)] = ops.convert_to_numpy(model(part, training=False)).ravel()
    return out


def predict_lists(model: Any, lists: np.ndarray) -> np.ndarray:
    """float32 (n, width) logits of padded lists (n, width, n_features)."""
    n, width, n_features = lists.shape
    return predict_rows(model, lists.reshape(n * width, n_features)).reshape(n, width)
