"""Offline evaluation of a fitted recommender on a hold-out period, two ways.

Input: a model fitted on ``TrainingData.matrix(...)`` of the *training* period and the
``data.Holdout`` of the same TrainingData (customers with training history who bought in the
test period). Both views use top-k lists for every evaluated customer and ``metrics.
ranking_metrics`` (precision, recall, NDCG, MAP, hit rate @k; catalogue coverage):

* **all items** (``Evaluation.all_items``): nothing is excluded, so recommending a product the
  customer already bought is allowed and counts when it is bought again; the truth is every
  product bought in the test period. This is what a shop showing "buy again" + discovery lists
  sees.
* **new items** (``Evaluation.new_items``): the customer's training purchases are excluded from
  the list *and* from the truth; customers whose test purchases were all repeats are left out.
  This measures discovery alone.

Relevant products missing from the training catalogue count as relevant but can never be hit
(``Holdout.relevant``), so recall is honest about them. Coverage is relative to the training
catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recommendations.engine.base import Recommender
from recommendations.engine.data import Holdout
from recommendations.engine.metrics import (
    FloatArray,
    RankingMetrics,
    hit_matrix,
    ndcg_at_k,
    ranking_metrics,
)

ALL_ITEMS = "all_items"
NEW_ITEMS = "new_items"


@dataclass(frozen=True)
class Evaluation:
    """The two views of the module docstring at the same k."""

    all_items: RankingMetrics
    new_items: RankingMetrics

    def to_dict(self) -> dict[str, Any]:
        return {ALL_ITEMS: self.all_items.to_dict(), NEW_ITEMS: self.new_items.to_dict()}

    def view(self, name: str) -> RankingMetrics:
        """The metrics of ALL_ITEMS or NEW_ITEMS."""
        if name == ALL_ITEMS:
            return self.all_items
        if name == NEW_ITEMS:
            return self.new_items
        raise ValueError(f"unknown view {name!r}")


def evaluate(model: Recommender, holdout: Holdout, *, k: int = 10) -> Evaluation:
    """Evaluate a fitted model on all items and on new items (module docstring)."""
    if model.n_items != holdout.truth.shape[1]:
        raise ValueError("the model and the hold-out have different catalogues")
    items, _ = model.recommend(holdout.users, k)
    all_items = ranking_metrics(items, holdout.truth, holdout.relevant, model.n_items)
    rows = np.flatnonzero(holdout.new_relevant > 0)
    new_items_list, _ = model.recommend(holdout.users[rows], k, exclude=holdout.seen[rows])
    new_items = ranking_metrics(
        new_items_list, holdout.new_truth[rows], holdout.new_relevant[rows], model.n_items
    )
    return Evaluation(all_items=all_items, new_items=new_items)


def per_user_ndcg(model: Recommender, holdout: Holdout, *, k: int = 10) -> FloatArray:
    """float64 (len(holdout.users),): NDCG@k on all items of each evaluated customer, in
    ``holdout.users`` order (for paired comparisons of two models)."""
    items, _ = model.recommend(holdout.users, k)
    return ndcg_at_k(hit_matrix(items, holdout.truth), holdout.relevant)
