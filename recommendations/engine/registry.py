"""Algorithms by name, so a training run stores ``algorithm`` + ``params`` and can rebuild it.

``ALGORITHMS`` maps each name to its class; ``create_recommender(name, params)`` builds an unfitted
model from a JSON-safe dict of parameters (unknown keys are an error, missing ones take the
defaults of the class's ``Params``); ``load_recommender(path)`` reads a model written by
``Recommender.save`` (``.npz``, loaded with pickling off); ``fit_recommender(name, params, data,
weighting=...)`` builds and fits one on a ``data.TrainingData`` (the weighted matrix plus the
event log as context) — what a training run does with a chosen configuration.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recommendations.engine.base import Recommender
from recommendations.engine.baselines import Popularity, RepeatPurchase
from recommendations.engine.blend import Blend
from recommendations.engine.data import ORDERS, TrainingData
from recommendations.engine.ease import EASE
from recommendations.engine.factorization import ALS, BPR
from recommendations.engine.knn import ItemKNN, UserKNN

ALGORITHMS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (Popularity, RepeatPurchase, ItemKNN, UserKNN, ALS, BPR, EASE, Blend)
}


def create_recommender(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
    """An unfitted recommender of algorithm `name` with `params` (a dict of Params fields)."""
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        known = sorted(ALGORITHMS)
        raise ValueError(f"unknown algorithm {name!r}; choose one of {known}") from None
    return cls(cls.Params(**dict(params or {})))


def load_recommender(path: str | Path) -> Recommender:
    """A fitted recommender from a file written by ``Recommender.save``."""
    with np.load(Path(path), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    cls = ALGORITHMS[meta["algorithm"]]
    return cls.from_state(meta, arrays)


def fit_recommender(
    name: str,
    params: Mapping[str, Any] | None,
    data: TrainingData,
    *,
    weighting: str | None = None,
) -> tuple[Recommender, float]:
    """A recommender of algorithm `name` fitted on ``data.matrix(weighting)`` (default
    "orders"; log-based algorithms ignore it) with ``data.context()``, and the fit's wall time
    in seconds."""
    started = time.monotonic()
    model = create_recommender(name, params)
    model.fit(data.matrix(weighting or ORDERS), **data.context())
    return model, time.monotonic() - started
