"""Audiences beyond segments: lookalikes of a seed segment, the likeliest buyers of chosen products
or a category (from the serving recommender), and the profile of any audience.

Lookalike (``lookalike_customer_ids``)
--------------------------------------
The seed segment's members in a segmentation run, plus the ``size`` other customers of that run
most similar to them. Similarity is computed on the run's customer features, in the space the
clustering uses (``ClusteringParams().features``: recency, frequency, monetary, average order
value, basket size, return rate, days between orders; missing values filled, log1p on skewed
columns, z-scores over the whole population): a candidate's distance is the mean distance to its
10 nearest seed members (k-NN, not the seed's centroid, because seed segments are boxes and
unions of groups whose centroid can lie where no member is; campaigns/engine/lookalike.py).

Propensity (``propensity_customer_ids``)
----------------------------------------
"Who is most likely to buy these products / this category" is read from the serving model's
precomputed ``Recommendation`` rows (the top ``RECOMMENDATIONS_TOP_N`` products per customer):

    propensity(customer) = Σ over the customer's rows whose product is a target  1 / log2(rank + 1)

i.e. the DCG of the target products in the customer's own ranked list. Ranks, not raw scores:
scores are on different scales for different algorithms and for the fallback lists of customers
outside the model, and the model's own claim is the order it puts a customer's products in. A
customer with a target at rank 1 gets 1.0; at rank 3, 0.5; several targets add up (a category
many of whose products a customer's list holds ranks higher than one with a single such product).
Ties (same ranks) are broken by the customer's best target score over their own top score
(scores normalised per customer: how close the target comes to their best recommendation), then
by customer id. Customers whose list holds no target are not candidates: the model ranks 50
products above every one of the targets for them.

The audience is the top ``ceil(top_share × customers with a list)`` candidates (fewer when fewer
have a target in their list). Targets: the active products among ``products`` (external ids) and
of ``category``.

Profile (``audience_profile``): the segments' profile machinery (feature medians and means
against everyone scored in the run) on an arbitrary set of customer ids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db.models import Q

from campaigns.engine.lookalike import KNN, Method, feature_space, lookalike_rank
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import Product
from recommendations.models import Recommendation
from recommendations.selectors import serving_model_id
from segments.engine.clustering import ClusteringParams
from segments.models import Segment, SegmentationRun, SegmentMembership
from segments.selectors import FeatureComparison, customers_profile, features_frame

LOOKALIKE_FEATURES = ClusteringParams().features
LOOKALIKE_CACHE_SECONDS = 60 * 60


def lookalike_customer_ids(
    *, seed_segment: Segment, size: int, run: SegmentationRun, method: Method = KNN
) -> list[int]:
    """The seed segment's members in `run` (ascending ids) followed by the `size` most similar
    other customers of the run, most similar first (fewer when the run has fewer)."""
    if size < 0:
        raise ValidationFailed("The lookalike size cannot be negative.")
    # A succeeded run's features and memberships never change, so neither does the answer; the
    # k-NN search takes seconds at 100k customers and the builder asks on every preview.
    key = f"campaigns:lookalike:{run.pk}:{run.feature_run_id}:{seed_segment.pk}:{size}:{method}"
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    ids = _lookalike(seed_segment, size, run, method)
    cache.set(key, ids, LOOKALIKE_CACHE_SECONDS)
    return ids


def _lookalike(seed_segment: Segment, size: int, run: SegmentationRun, method: Method) -> list[int]:
    seed_ids = np.unique(
        np.fromiter(
            SegmentMembership.objects.filter(run=run, segment=seed_segment).values_list(
                "customer_id", flat=True
            ),
            dtype=np.int64,
        )
    )
    features = features_frame(run)
    seed = features.index.isin(seed_ids)
    if not seed.any():
        raise ValidationFailed(
            f"The seed segment {seed_segment.name!r} has no scored members in this segmentation."
        )
    columns = [name for name in LOOKALIKE_FEATURES if name in features.columns]
    space = feature_space(features, columns)
    found = lookalike_rank(space.matrix, seed, size, method=method)
    others = features.index.to_numpy(dtype=np.int64)[found.rows]
    return [int(i) for i in seed_ids] + [int(i) for i in others]


def propensity_customer_ids(
    *, products: Sequence[str], category: str, top_share: float
) -> list[int]:
    """The top `top_share` (0–1] of the serving model's customers by propensity to buy the target
    products (module docstring), best first."""
    if not 0 < top_share <= 1:
        raise ValidationFailed("The top share must be above 0 and at most 1 (e.g. 0.05 = 5%).")
    skus = sorted({str(p) for p in products if str(p)})
    if not skus and not category:
        raise ValidationFailed("Choose products or a category to find their likeliest buyers.")
    model_id = serving_model_id()
    if model_id is None:
        raise ValidationFailed("No recommendation model serves yet: train and promote one first.")
    if skus:
        known = set(
            Product.objects.filter(external_id__in=skus).values_list("external_id", flat=True)
        )
        unknown = [sku for sku in skus if sku not in known]
        if unknown:
            raise ValidationFailed(f"Unknown products: {', '.join(unknown[:10])}")
    targets = Q(external_id__in=skus) if skus else Q()
    if category:
        targets = targets | Q(category=category) if skus else Q(category=category)
    target_ids = Product.objects.filter(targets, is_active=True).values("pk")

    rows = Recommendation.objects.filter(model_run_id=model_id, product__in=target_ids)
    hits = pd.DataFrame.from_records(
        list(rows.order_by().values_list("customer_id", "rank", "score")),
        columns=["customer", "rank", "score"],
    )
    population = Recommendation.objects.filter(model_run_id=model_id, rank=1).count()
    if hits.empty or population == 0:
        return []
    tops = pd.Series(
        dict(
            Recommendation.objects.filter(
                model_run_id=model_id, rank=1, customer_id__in=rows.values("customer_id")
            ).values_list("customer_id", "score")
        ),
        dtype=np.float64,
    )
    ranked = propensity_rank(hits, tops)
    take = math.ceil(top_share * population)
    return [int(i) for i in ranked.index[:take]]


def propensity_rank(hits: pd.DataFrame, top_scores: pd.Series) -> pd.Series:
    """Propensity per customer, best first (module docstring).

    hits: one row per (customer, target product) recommendation: customer, rank (1 = best),
    score; top_scores: each customer's rank-1 score. Returns a Series (index customer id) of
    Σ 1/log2(rank + 1), ordered by it (descending), the normalised best target score
    (descending), then customer id."""
    frame = hits.astype({"customer": np.int64, "rank": np.int64, "score": np.float64})
    frame = frame.assign(gain=1.0 / np.log2(frame["rank"] + 1.0))
    top = frame["customer"].map(top_scores).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(top > 0, frame["score"].to_numpy(dtype=np.float64) / top, 0.0)
    frame = frame.assign(normalised=np.nan_to_num(normalised))
    per = frame.groupby("customer").agg(gain=("gain", "sum"), normalised=("normalised", "max"))
    per = per.reset_index().sort_values(
        ["gain", "normalised", "customer"], ascending=[False, False, True], kind="mergesort"
    )
    return pd.Series(per["gain"].to_numpy(), index=per["customer"].to_numpy(), name="propensity")


def audience_profile(
    *, customer_ids: Sequence[int], run: SegmentationRun
) -> list[FeatureComparison]:
    """How the customers' features compare with everyone scored in `run` (medians and means per
    profile feature, as on a segment's page). segments.selectors.customers_profile gives the
    category, country and RFM mixes too."""
    return customers_profile(customer_ids, run, rfm_mix=False).features
