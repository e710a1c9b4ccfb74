"""The learned two-stage ranker: features on a hand-made log, the honest label split, training,
save/load, a planted repurchase pattern and determinism (tiny data, TensorFlow on CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommendations.engine.data import EventLog, interaction_matrix
from recommendations.engine.deep import ranker_features as rf

# Light generators and a short training keep every test to seconds.
GENERATORS = (
    {"algorithm": "repeat", "params": {"half_life_days": 60.0}, "top_n": 8},
    {"algorithm": "item_knn", "params": {"neighbours": 10}, "weighting": "binary", "top_n": 5},
    {"algorithm": "popularity", "params": {"window_days": 30.0}, "top_n": 5},
)
FAST = {"generators": GENERATORS, "epochs": 12, "patience": 12, "batch_size": 8, "hidden": (16,)}


def log_from(rows: list[tuple[int, int, float]]) -> EventLog:
    """(user, item, age_days) rows, one unit each."""
    users, items, ages = (np.array(column) for column in zip(*rows, strict=True))
    return EventLog(
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        age_days=ages.astype(np.float64),
        units=np.ones(len(users), dtype=np.int64),
    )


# --- features (numpy only) ---------------------------------------------------------------------


def hand_log() -> EventLog:
    # Customer 0 buys item 1 every 30 days (ages 70, 40, 10) and item 2 once (age 5);
    # customer 1 bought item 1 once (age 50) and item 0 twice in one order... no: in two orders.
    return log_from([(0, 1, 70.0), (0, 1, 40.0), (0, 1, 10.0), (0, 2, 5.0),
                     (1, 1, 50.0), (1, 0, 50.0), (1, 0, 20.0)])  # fmt: skip


def test_pair_features_on_a_hand_made_log() -> None:
    stats = rf.log_stats(hand_log(), (2, 3), trend_days=28.0)
    users = np.array([0, 0, 0, 1], dtype=np.int64)
    items = np.array([1, 2, 0, 0], dtype=np.int64)
    got = dict(zip(rf.PAIR_FEATURES, rf.pair_features(stats, users, items).T, strict=True))
    assert got["bought"].tolist() == [1.0, 1.0, 0.0, 1.0]  # is-new = 1 - bought
    assert np.allclose(np.expm1(got["log_orders"]), [3, 1, 0, 2])
    assert np.allclose(np.expm1(got["log_days_since"]), [10, 5, 0, 20])
    assert np.allclose(np.expm1(got["log_days_first"]), [70, 5, 0, 50])
    assert got["has_interval"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert np.allclose(np.expm1(got["log_interval"]), [30, 0, 0, 30])
    assert np.allclose(got["due"], [np.log(11 / 31), 0, 0, np.log(21 / 31)])
    # Customer 0: orders at ages 70, 40, 10, 5 → mean gap 65 / 3 days.
    assert np.isclose(got["due_customer"][0], np.log(11 / (65 / 3 + 1)))


def test_item_and_customer_features_on_a_hand_made_log() -> None:
    price = np.array([2.0, 1.0, np.nan])
    stats = rf.log_stats(hand_log(), (2, 3), trend_days=28.0, price=price)
    items = dict(zip(rf.ITEM_FEATURES, rf.item_features(stats, price).T, strict=True))
    assert np.allclose(np.expm1(items["item_log_buyers"]), [1, 2, 1])
    # Item 1: bought in the last 28 days by customer 0; 28–112 days ago by customers 0 and 1.
    assert np.allclose(np.expm1(items["item_log_recent"]), [1, 1, 1])
    assert np.isclose(items["item_trend"][1], np.log(2 / (2 / 3 + 1)))
    assert np.isclose(items["item_trend"][2], np.log(2 / 1))
    assert np.allclose(items["item_repeat_share"], [1.0, 0.5, 0.0])
    assert np.allclose(np.expm1(items["item_log_interval"]), [30, 30, 0])
    assert items["has_price"].tolist() == [1.0, 1.0, 0.0]
    customers = dict(zip(rf.CUSTOMER_FEATURES, rf.customer_features(stats).T, strict=True))
    assert np.allclose(np.expm1(customers["cust_log_recency"]), [5, 20])
    assert np.allclose(np.expm1(customers["cust_log_orders"]), [4, 2])
    assert np.allclose(np.expm1(customers["cust_log_tenure"]), [70, 50])
    assert np.allclose(np.expm1(customers["cust_log_items"]), [2, 2])
    # Monetary: units × price, unknown prices count 1.
    assert np.allclose(np.expm1(customers["cust_log_monetary"]), [3 * 1.0 + 1.0, 1.0 + 2 * 2.0])


def test_group_and_category_features() -> None:
    context = {
        "customer_features": pd.DataFrame({"country": ["UK", "UK"]}, index=[0, 1]),
        "product_features": pd.DataFrame({"category": ["a", "b", "b"]}, index=[0, 1, 2]),
    }
    side = rf.SideData.of(context, (2, 3))
    assert side.feature_names() == ["group:country", "category_affinity"]
    values = rf.side_features(side, hand_log(), (2, 3), np.array([0, 1, 1]), np.array([0, 2, 1]))
    assert np.allclose(values[:, 0], [0.5, 0.5, 1.0])  # share of the UK customers who bought
    assert np.allclose(values[:, 1], [0.0, 1 / 3, 1 / 3])  # share of their rows in the category


def test_split_log_keeps_the_label_window_apart() -> None:
    before, window = rf.split_log(hand_log(), 30.0)
    assert (before.age_days > 0).all() and np.allclose(np.sort(before.age_days), [10, 20, 20, 40])
    assert (window.age_days <= 30).all() and len(before) + len(window) == len(hand_log())
    labels = rf.label_matrix(window, (2, 3)).toarray()
    assert labels.tolist() == [[0, 1, 1], [1, 0, 0]]


# --- the ranker (TensorFlow) -------------------------------------------------------------------


def planted(seed: int = 0) -> tuple[EventLog, tuple[int, int]]:
    """80 customers. Each reorders a staple X (items 0–3) every 30 days (±2) from 150 days ago
    to a phase of 2–32 days ago, bought an old favourite Y (items 4–7) in 12 orders 100–160 days
    ago and never since, and buys fillers (items 8–29) now and then."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float]] = []
    n_users = 80
    for user in range(n_users):
        staple, old = user % 4, 4 + (user // 4) % 4
        phase = 2.0 + (user * 7) % 31
        age = phase
        while age < 150:
            rows.append((user, staple, age + rng.uniform(-1.5, 1.5)))
            age += 30.0
        for age in np.linspace(100, 160, 12):
            rows.append((user, old, float(age)))
        for _ in range(6):
            rows.append((user, int(rng.integers(8, 30)), float(rng.uniform(1, 170))))
    log = log_from(rows)
    return log, (n_users, 30)


def fit_ranker(log: EventLog, shape: tuple[int, int], **params: Any) -> Any:
    from recommendations.engine.deep.ranker import Ranker

    model = Ranker(**{**FAST, **params})
    return model.fit(interaction_matrix(log, shape), log=log)


@pytest.mark.tensorflow
def test_the_label_split_is_earlier_than_the_training_end(monkeypatch: Any) -> None:
    pytest.importorskip("tensorflow")
    from recommendations.engine.deep import ranker as module

    seen: list[EventLog] = []
    windows: list[EventLog] = []
    fit_original, label_original = module.fit_generators, module.label_matrix

    def spy_fit(specs: Any, log: EventLog, shape: Any, context: Any) -> Any:
        seen.append(log)
        return fit_original(specs, log, shape, context)

    def spy_labels(window: EventLog, shape: Any) -> sp.csr_matrix:
        windows.append(window)
        return label_original(window, shape)

    monkeypatch.setattr(module, "fit_generators", spy_fit)
    monkeypatch.setattr(module, "label_matrix", spy_labels)
    log, shape = planted()
    fit_ranker(log, shape, label_days=35.0, windows=2, epochs=1)
    first, second, final = seen
    # Window w ends w · 35 days before the training end. Its generators and features see only
    # events older than the window, re-based to the window's start; its labels are the
    # window's purchases: never anything after the training end, always before the features.
    for index, (early, window) in enumerate(zip((first, second), windows, strict=True)):
        end = 35.0 * index
        older = log.age_days > end + 35
        assert len(early) == int(older.sum()) and (early.age_days > 0).all()
        assert np.allclose(np.sort(early.age_days + end + 35), np.sort(log.age_days[older]))
        inside = (log.age_days > end) & ~older if index else ~older
        assert len(window) == int(inside.sum())
        assert ((window.age_days >= 0) & (window.age_days <= 35)).all()
    assert final is log


@pytest.mark.tensorflow
def test_training_lowers_the_loss_and_reports_progress() -> None:
    pytest.importorskip("tensorflow")
    log, shape = planted()
    calls: list[tuple[int, int, dict[str, float]]] = []
    from recommendations.engine.deep.ranker import Ranker

    model = Ranker(**{**FAST, "epochs": 6, "patience": 6})
    model.fit(
        interaction_matrix(log, shape),
        log=log,
        on_progress=lambda done, total, **m: calls.append((done, total, m)),
    )
    assert [c[:2] for c in calls] == [(e, 6) for e in range(1, 7)]
    assert set(calls[0][2]) == {"loss", "val_loss", "val_ndcg"}
    assert len(model.history) == 6 and model.history[-1]["loss"] < model.history[0]["loss"]
    assert set(model.history[0]) == {"epoch", "loss", "val_loss", "val_ndcg", "seconds"}


@pytest.mark.tensorflow
def test_planted_repurchase_cycle_beats_an_old_favourite() -> None:
    pytest.importorskip("tensorflow")
    from recommendations.engine.baselines import RepeatPurchase

    log, shape = planted()
    model = fit_ranker(log, shape)
    # Customers whose staple is due now (last bought 26–32 days ago).
    due = [u for u in range(shape[0]) if 26 <= 2.0 + (u * 7) % 31 <= 32]
    assert due
    items, _ = model.recommend(due, 3)
    staples = np.array([u % 4 for u in due])
    assert (items[:, 0] == staples).all()
    # Repeat purchase (more orders of the old favourite) ranks the favourite first for them.
    repeat = RepeatPurchase(half_life_days=60.0).fit(interaction_matrix(log, shape), log=log)
    repeat_items, _ = repeat.recommend(due, 1)
    assert (repeat_items[:, 0] != staples).any()
    # Every candidate scores above every other item.
    scores = model.scores(due)
    candidates = model.candidate_scores[due].toarray() > 0
    assert (scores[candidates].min() > scores[~candidates].max()) and np.isfinite(scores).all()


@pytest.mark.tensorflow
def test_save_load_gives_the_same_scores_and_model(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from recommendations.engine.registry import ALGORITHMS

    log, shape = planted()
    model = fit_ranker(log, shape, epochs=2)
    path = tmp_path / "ranker.npz"
    model.save(path, customers=np.arange(shape[0]) + 100, products=np.arange(shape[1]) + 7)
    if "ranker" in ALGORITHMS:
        from recommendations.engine.registry import load_recommender

        loaded = load_recommender(path)
    else:
        import json

        from recommendations.engine.deep.ranker import Ranker

        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        loaded = Ranker.from_state(json.loads(str(arrays.pop("__meta__"))), arrays)
    users = np.arange(shape[0])
    assert np.array_equal(loaded.scores(users), model.scores(users))
    assert loaded.history == model.history and loaded.feature_names == model.feature_names
    features = np.random.default_rng(0).normal(size=(7, len(model.feature_names)))
    assert np.allclose(loaded.score_features(features), model.score_features(features), atol=1e-6)


@pytest.mark.tensorflow
def test_same_seed_same_scores() -> None:
    pytest.importorskip("tensorflow")
    log, shape = planted()
    first = fit_ranker(log, shape, epochs=3, seed=3)
    second = fit_ranker(log, shape, epochs=3, seed=3)
    users = np.arange(shape[0])
    assert np.allclose(first.scores(users), second.scores(users), atol=1e-5)
    assert [row["loss"] for row in first.history] == pytest.approx(
        [row["loss"] for row in second.history], rel=1e-5
    )
