"""Algorithms by name, so a training run stores ``algorithm`` + ``params`` and can rebuild it.

``ALGORITHMS`` maps each name to its class; ``create_recommender(name, params)`` builds an unfitted
model from a JSON-safe dict of parameters (unknown keys are an error, missing ones take the
defaults of the class's ``Params``); ``load_recommender(path)`` reads a model written by
``Recommender.save`` (``.npz``, loaded with pickling off); ``fit_recommender(name, params, data,
weighting=...)`` builds and fits one on a ``data.TrainingData`` (the weighted matrix plus the
event log as context) — what a training run does with a chosen configuration.

**Deep algorithms** ("sequence", "ncf", "ranker"; ``DEEP_ALGORITHMS``) import Keras and
TensorFlow with their modules, so ``ALGORITHMS`` holds a *stand-in* class for each (``lazy``):
it has the algorithm's ``name``; reading its ``Params``, calling it or its ``from_state``
imports the real class (``recommendations.engine.deep.*``) and hands over to it, so
``create_recommender``, ``load_recommender`` and ``fit_recommender`` return real instances.
Importing this module therefore never imports TensorFlow; only building, fitting or loading a
deep model does (a loaded deep model then scores with numpy). ``resolve(name)`` gives the real
class.
"""

from __future__ import annotations

import importlib
import json
import time
from abc import ABCMeta
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recommendations.engine.base import ProgressCallback, Recommender
from recommendations.engine.baselines import Popularity, RepeatPurchase
from recommendations.engine.blend import Blend
from recommendations.engine.data import ORDERS, TrainingData
from recommendations.engine.ease import EASE
from recommendations.engine.factorization import ALS, BPR
from recommendations.engine.knn import ItemKNN, UserKNN


class LazyAlgorithm(ABCMeta):
    """Metaclass of the stand-ins for the deep algorithms (module docstring)."""

    target: tuple[str, str]

    def real(cls) -> type[Recommender]:
        """The real class (its module imported on first use)."""
        module, name = cls.target
        found: type[Recommender] = getattr(importlib.import_module(module), name)
        return found

    @property
    def Params(cls) -> type[Any]:  # noqa: N802 - the Recommender attribute it stands in for
        return cls.real().Params


def lazy(name: str, module: str, class_name: str) -> type[Recommender]:
    """A stand-in for the Recommender subclass `class_name` of `module` named `name`."""

    def new(cls: LazyAlgorithm, *args: Any, **kwargs: Any) -> Recommender:
        return cls.real()(*args, **kwargs)

    def from_state(
        cls: Any, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> Recommender:
        real: type[Recommender] = cls.real()
        return real.from_state(meta, arrays)

    namespace = {
        "__module__": __name__,
        "__doc__": f"Stand-in for {module}.{class_name} (imported on use).",
        "name": name,
        "target": (module, class_name),
        "__new__": new,
        "from_state": classmethod(from_state),
    }
    stand_in: Any = LazyAlgorithm(f"Lazy{class_name}", (Recommender,), namespace)
    return stand_in  # type: ignore[no-any-return]


DEEP_ALGORITHMS: dict[str, type[Recommender]] = {
    "sequence": lazy("sequence", "recommendations.engine.deep.sequence", "SequenceRecommender"),
    "ncf": lazy("ncf", "recommendations.engine.deep.ncf", "NeuralCF"),
    "ranker": lazy("ranker", "recommendations.engine.deep.ranker", "Ranker"),
}

ALGORITHMS: dict[str, type[Recommender]] = {
    **{
        cls.name: cls
        for cls in (Popularity, RepeatPurchase, ItemKNN, UserKNN, ALS, BPR, EASE, Blend)
    },
    **DEEP_ALGORITHMS,
}


def resolve(name: str) -> type[Recommender]:
    """The real class of algorithm `name` (imports a deep algorithm's module)."""
    cls: Any = ALGORITHMS[name]
    return cls.real() if isinstance(cls, LazyAlgorithm) else cls  # type: ignore[no-any-return]


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
    on_progress: ProgressCallback | None = None,
) -> tuple[Recommender, float]:
    """A recommender of algorithm `name` fitted on ``data.matrix(weighting)`` (default
    "orders"; log-based algorithms ignore it) with ``data.context()``, and the fit's wall time
    in seconds; `on_progress` as ``Recommender.fit`` takes it."""
    started = time.monotonic()
    model = create_recommender(name, params)
    model.fit(data.matrix(weighting or ORDERS), on_progress=on_progress, **data.context())
    return model, time.monotonic() - started
