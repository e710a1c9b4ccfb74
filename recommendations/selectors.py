"""Serving reads: a customer's recommendations and a product's similar items, from the serving
model's precomputed rows; and the reads behind the Models page (runs, metrics, comparisons).

Serving
-------
Everything comes from the rows of the *serving* model run (recommendations.services.registry:
the newest promotion), so a promotion switches every answer at once. A customer's list is their
``Recommendation`` rows; when the customer is unknown or new to the model, or the filters leave
the list short, it is filled from the model run's ``PopularList`` fallbacks, in this order:

1. ``category:<name>`` when the caller filters by category (the way new products, which have no
   collaborative-filtering rows yet, reach customers);
2. ``segment:<id>``: the customer's RFM segment in the segmentation in use;
3. ``country:<name>``: the customer's country;
4. ``trending``, then ``all`` (all-time best sellers).

Inactive products are never returned; ``exclude_purchased`` drops products the customer ever
bought; every item says where it came from (``source``: "model", "fallback: segment", ...).

Answers are cached in Django's cache (Redis when configured) under the serving model's id and the
arguments, so a promotion or roll back starts from fresh keys and a repeated request reads no
table. A miss costs two indexed queries (the customer, their rows); a list that runs short adds
the customer's segment membership and one query over the fallback lists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from ecomsite.models import Customer, Event, EventKind, Product, RunStatus
from recommendations.models import (
    ModelPromotion,
    ModelRun,
    PopularList,
    Recommendation,
    SimilarProduct,
    TrainingRun,
)
from recommendations.services.registry import SERVING_CACHE_KEY, serving_model
from segments.models import SegmentKind, SegmentMembership
from segments.selectors import segmentation_current

DEFAULT_K = 10
MAX_K = 100
# A model run's rows never change, and keys carry the serving model's id; this bounds only how
# long a product deactivated, a purchase made (exclude_purchased) or a new segmentation can go
# unnoticed by a cached answer.
CACHE_SECONDS = 5 * 60
CACHE_VERSION = 1  # bump when the cached shapes change

MODEL = "model"
FALLBACK_CATEGORY = "fallback: category"
FALLBACK_SEGMENT = "fallback: segment"
FALLBACK_COUNTRY = "fallback: country"
FALLBACK_TRENDING = "fallback: trending"
FALLBACK_POPULAR = "fallback: popular"
SOURCES = (
    MODEL,
    FALLBACK_CATEGORY,
    FALLBACK_SEGMENT,
    FALLBACK_COUNTRY,
    FALLBACK_TRENDING,
    FALLBACK_POPULAR,
)

SIMILAR_REASON = "bought by the same customers"

# Basis of a customer's list, in the words the API and the customer page use.
KNOWN = "known customer"
NEW = "customer new to the model"
UNKNOWN = "unknown customer"


class NoServingModel(Exception):
    """No model has been promoted yet, so there is nothing to serve (not even fallbacks)."""

    def __str__(self) -> str:
        return "No recommendation model serves yet: train one and promote it first."


class UnknownProduct(Exception):
    def __init__(self, external_id: str) -> None:
        super().__init__(external_id)
        self.external_id = external_id

    def __str__(self) -> str:
        return f"No product with the id {self.external_id!r}."


@dataclass(frozen=True)
class RecommendedProduct:
    """One item of a list: the product as the shop knows it, the score the model (or fallback
    list) gave it, a reason in plain words, and where it came from (one of SOURCES)."""

    product_id: str
    title: str
    category: str
    price: float | None
    score: float
    reason: str
    source: str


@dataclass(frozen=True)
class CustomerRecommendations:
    customer_id: str
    customer_known: bool
    basis: str  # KNOWN, NEW or UNKNOWN
    model_run_id: int
    algorithm: str
    items: list[RecommendedProduct] = field(default_factory=list)

    @property
    def from_model(self) -> int:
        return sum(item.source == MODEL for item in self.items)

    @property
    def new_to_model(self) -> bool:
        return self.basis == NEW


@dataclass(frozen=True)
class SimilarProducts:
    product_id: str
    title: str
    model_run_id: int
    algorithm: str
    items: list[RecommendedProduct] = field(default_factory=list)

    @property
    def from_model(self) -> int:
        return sum(item.source == MODEL for item in self.items)


# -- serving ------------------------------------------------------------------------------------


def serving_model_id() -> int | None:
    """The serving model run's id, from the registry's cache when it is there (no query)."""
    cached = cache.get(SERVING_CACHE_KEY)
    if cached is not None:
        return int(cached) or None
    run = serving_model()
    return run.pk if run else None


def _cache_key(kind: str, model_id: int, *args: object) -> str:
    # Ids as imported may hold any character: hashed, keys stay short and memcached-safe.
    digest = hashlib.sha1(json.dumps(args).encode("utf-8")).hexdigest()
    return f"recommendations:{kind}:v{CACHE_VERSION}:{model_id}:{digest}"


def _algorithm(model_id: int) -> str:
    key = f"recommendations:algorithm:{model_id}"
    name = cache.get(key)
    if name is None:
        name = ModelRun.objects.filter(pk=model_id).values_list("algorithm", flat=True).first()
        name = name or ""
        cache.set(key, name, CACHE_SECONDS)
    return str(name)


_PRODUCT_FIELDS = ("product__external_id", "product__title", "product__category", "product__price")


def _item(
    row: Mapping[str, Any], *, reason: str, source: str, prefix: str = "product"
) -> RecommendedProduct:
    price = row[f"{prefix}__price"]
    return RecommendedProduct(
        product_id=row[f"{prefix}__external_id"],
        title=row[f"{prefix}__title"],
        category=row[f"{prefix}__category"],
        price=None if price is None else float(price),
        score=float(row["score"]),
        reason=reason,
        source=source,
    )


def customer_recommendations(
    customer_external_id: str,
    *,
    k: int = DEFAULT_K,
    exclude_purchased: bool = False,
    category: str = "",
) -> CustomerRecommendations:
    """Up to `k` (1–MAX_K) products for the customer with this external id (known or not), best
    first: the serving model's rows, then fallbacks (module docstring). NoServingModel when no
    model has been promoted."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}")
    model_id = serving_model_id()
    if model_id is None:
        raise NoServingModel()
    key = _cache_key("customer", model_id, customer_external_id, k, exclude_purchased, category)
    cached = cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    result = _customer_recommendations(
        model_id, customer_external_id, k=k, exclude_purchased=exclude_purchased, category=category
    )
    cache.set(key, result, CACHE_SECONDS)
    return result


def _customer_recommendations(
    model_id: int, external_id: str, *, k: int, exclude_purchased: bool, category: str
) -> CustomerRecommendations:
    customer = Customer.objects.filter(external_id=external_id).values("pk", "country").first()
    items: list[RecommendedProduct] = []
    taken: list[int] = []
    basis = UNKNOWN
    if customer is not None:
        rows = Recommendation.objects.filter(
            model_run_id=model_id, customer_id=customer["pk"], product__is_active=True
        )
        if category:
            rows = rows.filter(product__category=category)
        if exclude_purchased:
            rows = rows.exclude(product_id__in=_purchased(customer["pk"]))
        fields = ("product_id", "score", "reason", *_PRODUCT_FIELDS)
        for row in rows.order_by("rank").values(*fields)[:k]:
            items.append(_item(row, reason=row["reason"], source=MODEL))
            taken.append(row["product_id"])
        basis = KNOWN if items or _has_rows(model_id, customer["pk"]) else NEW
    if len(items) < k:
        scopes = _customer_fallbacks(customer, category)
        items += _fallback_items(
            model_id,
            scopes,
            need=k - len(items),
            taken=taken,
            category=category,
            purchased_by=customer["pk"] if customer is not None and exclude_purchased else None,
        )
    return CustomerRecommendations(
        customer_id=external_id,
        customer_known=customer is not None,
        basis=basis,
        model_run_id=model_id,
        algorithm=_algorithm(model_id),
        items=items,
    )


def _has_rows(model_id: int, customer_pk: int) -> bool:
    """Whether the model has a list for the customer at all (filters may have emptied it)."""
    return Recommendation.objects.filter(model_run_id=model_id, customer_id=customer_pk).exists()


def _purchased(customer_pk: int) -> QuerySet[Any]:
    return Event.objects.filter(customer_id=customer_pk, kind=EventKind.PURCHASE).values(
        "product_id"
    )


@dataclass(frozen=True)
class _Scope:
    scope: str
    source: str
    reason: str


def _customer_fallbacks(customer: Mapping[str, Any] | None, category: str) -> list[_Scope]:
    scopes: list[_Scope] = []
    if category:
        scopes.append(_Scope(f"category:{category}", FALLBACK_CATEGORY, f"popular in {category}"))
    if customer is not None:
        segment = _rfm_segment(customer["pk"])
        if segment is not None:
            segment_id, name = segment
            reason = f"popular in your segment ({name})"
            scopes.append(_Scope(f"segment:{segment_id}", FALLBACK_SEGMENT, reason))
        if customer["country"]:
            country = customer["country"]
            scopes.append(_Scope(f"country:{country}", FALLBACK_COUNTRY, f"popular in {country}"))
    scopes.append(_Scope("trending", FALLBACK_TRENDING, "trending now"))
    scopes.append(_Scope("all", FALLBACK_POPULAR, "a best seller"))
    return scopes


def _rfm_segment(customer_pk: int) -> tuple[int, str] | None:
    """(segment id, name) of the customer's RFM segment in the segmentation in use."""
    run_id = _segmentation_current_id()
    if run_id is None:
        return None
    row = (
        SegmentMembership.objects.filter(
            run_id=run_id, customer_id=customer_pk, segment__kind=SegmentKind.RFM
        )
        .values_list("segment_id", "segment__name")
        .first()
    )
    return (int(row[0]), str(row[1])) if row else None


def _segmentation_current_id() -> int | None:
    key = "recommendations:segmentation-current"
    cached = cache.get(key)
    if cached is None:
        run = segmentation_current()
        cached = run.pk if run else 0
        cache.set(key, cached, 60)
    return int(cached) or None


def _fallback_items(
    model_id: int,
    scopes: Sequence[_Scope],
    *,
    need: int,
    taken: Iterable[int],
    category: str = "",
    purchased_by: int | None = None,
) -> list[RecommendedProduct]:
    """Up to `need` products from the model run's lists `scopes`, in that order of preference and
    by rank within each, skipping products already `taken` and each other's repeats."""
    if need <= 0 or not scopes:
        return []
    order = {s.scope: i for i, s in enumerate(scopes)}
    rows = PopularList.objects.filter(
        model_run_id=model_id, scope__in=list(order), product__is_active=True
    ).exclude(product_id__in=list(taken))
    if category:
        rows = rows.filter(product__category=category)
    if purchased_by is not None:
        rows = rows.exclude(product_id__in=_purchased(purchased_by))
    preference = Case(
        *(When(scope=scope, then=Value(i)) for scope, i in order.items()),
        output_field=IntegerField(),
    )
    # A product is listed at most once per scope, so `need` distinct new products are among the
    # first need x len(scopes) rows whenever the lists hold that many.
    limit = need * len(scopes)
    by_scope = {s.scope: s for s in scopes}
    items: list[RecommendedProduct] = []
    seen: set[int] = set()
    for row in rows.order_by(preference, "rank").values(
        "scope", "product_id", "score", *_PRODUCT_FIELDS
    )[:limit]:
        if row["product_id"] in seen:
            continue
        seen.add(row["product_id"])
        scope = by_scope[row["scope"]]
        items.append(_item(row, reason=scope.reason, source=scope.source))
        if len(items) == need:
            break
    return items


def similar_products(product_external_id: str, *, k: int = DEFAULT_K) -> SimilarProducts:
    """Up to `k` active products similar to this one in the serving model, best first; for a
    product the model has no rows for (new ones), popular products of its category.
    UnknownProduct when no product has this id; NoServingModel when no model serves."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}")
    model_id = serving_model_id()
    if model_id is None:
        raise NoServingModel()
    key = _cache_key("similar", model_id, product_external_id, k)
    cached = cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    product = (
        Product.objects.filter(external_id=product_external_id)
        .values("pk", "title", "category")
        .first()
    )
    if product is None:
        raise UnknownProduct(product_external_id)
    rows = (
        SimilarProduct.objects.filter(
            model_run_id=model_id, product_id=product["pk"], similar__is_active=True
        )
        .order_by("rank")
        .values(
            "similar_id",
            "score",
            "similar__external_id",
            "similar__title",
            "similar__category",
            "similar__price",
        )[:k]
    )
    items = [_item(row, reason=SIMILAR_REASON, source=MODEL, prefix="similar") for row in rows]
    taken = [product["pk"], *(row["similar_id"] for row in rows)]
    if len(items) < k and product["category"]:
        name = product["category"]
        scope = _Scope(f"category:{name}", FALLBACK_CATEGORY, f"popular in {name}")
        items += _fallback_items(model_id, [scope], need=k - len(items), taken=taken)
    result = SimilarProducts(
        product_id=product_external_id,
        title=product["title"],
        model_run_id=model_id,
        algorithm=_algorithm(model_id),
        items=items,
    )
    cache.set(key, result, CACHE_SECONDS)
    return result


# -- the Models page ----------------------------------------------------------------------------

ALL_ITEMS = "all_items"
NEW_ITEMS = "new_items"
POPULARITY = "popularity"
# (metric, label) shown in tables, in order; values are 0–1 shares at k = 10.
METRICS = (
    ("ndcg", "NDCG@10"),
    ("recall", "Recall@10"),
    ("precision", "Precision@10"),
    ("map", "MAP@10"),
    ("hit_rate", "Hit rate@10"),
    ("coverage", "Coverage"),
)


def metrics_view(metrics: Mapping[str, Any] | None, view: str) -> dict[str, float]:
    """The held-out figures of one view (ALL_ITEMS or NEW_ITEMS) of a run's metrics as
    {metric: value}. ModelRun.metrics keeps them under "all" / "new"
    (recommendations/services/training.py model_run_metrics); ``Evaluation.to_dict()``'s
    "all_items" / "new_items" are read too."""
    metrics = metrics or {}
    for name in (view, view.removesuffix("_items")):
        found = metrics.get(name)
        if isinstance(found, Mapping):
            return {
                key: float(value)
                for key, value in found.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
    return {}


def baseline_metrics(run: ModelRun) -> Mapping[str, Any]:
    """All-time popularity's figures on the run's own held-out period (its "popularity" entry,
    else its training round's "baseline")."""
    own = (run.metrics or {}).get(POPULARITY)
    if isinstance(own, Mapping):
        return own
    training = run.training_run.metrics if run.training_run_id and run.training_run else {}
    found = (training or {}).get("baseline")
    return found if isinstance(found, Mapping) else {}


@dataclass(frozen=True)
class ModelRunRow:
    """A model run as the Models page shows it, beside all-time popularity on the same period."""

    run: ModelRun
    serving: bool
    all_items: dict[str, float]
    new_items: dict[str, float]
    baseline_all: dict[str, float]
    baseline_new: dict[str, float]

    @property
    def chosen(self) -> bool:
        """The model its training round picked (best on validation)."""
        return bool((self.run.metrics or {}).get("chosen"))

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch training figures of a deep model's final fit (``metrics["history"]``: dicts
        with "epoch", "loss" and validation figures such as "val_loss" / "val_ndcg"; written
        while it trains), empty for the other algorithms."""
        history = (self.run.metrics or {}).get("history")
        return [entry for entry in history or [] if isinstance(entry, dict) and "epoch" in entry]

    @property
    def promotable(self) -> bool:
        """A succeeded run with a saved model can serve (its rows are precomputed first when
        they are missing)."""
        run = self.run
        return run.status == RunStatus.SUCCEEDED and bool(run.artifact) and not self.serving

    @property
    def precomputing(self) -> bool:
        """Its rows are being written (a promotion by hand waits for them)."""
        run = self.run
        return not run.precomputed and run.progress_message.startswith("Precomputing")

    def lift(self, metric: str = "ndcg", view: str = ALL_ITEMS) -> float | None:
        """This run's figure over popularity's (1.0 = as good), None without both."""
        mine = (self.all_items if view == ALL_ITEMS else self.new_items).get(metric)
        base = (self.baseline_all if view == ALL_ITEMS else self.baseline_new).get(metric)
        if mine is None or not base:
            return None
        return mine / base


def model_run_rows(runs: Iterable[ModelRun]) -> list[ModelRunRow]:
    """Rows for these model runs (select_related their training_run to save queries)."""
    serving_id = serving_model_id()
    rows = []
    for run in runs:
        base = baseline_metrics(run)
        rows.append(
            ModelRunRow(
                run=run,
                serving=run.pk == serving_id,
                all_items=metrics_view(run.metrics, ALL_ITEMS),
                new_items=metrics_view(run.metrics, NEW_ITEMS),
                baseline_all=metrics_view(base, ALL_ITEMS),
                baseline_new=metrics_view(base, NEW_ITEMS),
            )
        )
    return rows


def model_runs() -> QuerySet[ModelRun]:
    """Every model run, newest first."""
    return ModelRun.objects.select_related("training_run").order_by("-created_at", "-pk")


def training_runs() -> QuerySet[TrainingRun]:
    """Training rounds, newest first, each with its model runs (oldest first)."""
    return (
        TrainingRun.objects.select_related("created_by")
        .prefetch_related(
            Prefetch("model_runs", queryset=ModelRun.objects.order_by("created_at", "pk"))
        )
        .order_by("-created_at", "-pk")
    )


def training_run_active() -> TrainingRun | None:
    return training_runs().filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).first()


def promotions(limit: int = 20) -> list[ModelPromotion]:
    """The newest promotions (the first one serves)."""
    return list(
        ModelPromotion.objects.select_related("model_run", "previous", "created_by")[:limit]
    )


def metrics_history(limit: int = 30) -> dict[str, Any]:
    """Per succeeded training round with model runs, oldest first: its date, the held-out
    NDCG@10 and recall@10 (all items) of the model it chose (else its best by NDCG@10) and of
    all-time popularity on the same period. For the chart."""
    rounds = list(
        TrainingRun.objects.filter(status=RunStatus.SUCCEEDED, model_runs__isnull=False)
        .distinct()
        .prefetch_related("model_runs")
        .order_by("-created_at", "-pk")[:limit]
    )
    history: dict[str, Any] = {
        "labels": [],
        "runs": [],
        "chosen": [],
        "chosen_ndcg": [],
        "chosen_recall": [],
        "popularity_ndcg": [],
        "popularity_recall": [],
    }
    for training in reversed(rounds):
        runs = [r for r in training.model_runs.all() if r.status == RunStatus.SUCCEEDED]
        scored = [(metrics_view(r.metrics, ALL_ITEMS), r) for r in runs]
        scored = [(m, r) for m, r in scored if "ndcg" in m]
        if not scored:
            continue
        picked = next(
            ((m, r) for m, r in scored if (r.metrics or {}).get("chosen")),
            max(scored, key=lambda pair: pair[0]["ndcg"]),
        )
        baseline = metrics_view(
            (training.metrics or {}).get("baseline") or baseline_metrics(picked[1]), ALL_ITEMS
        )
        history["labels"].append(f"#{training.pk} {training.created_at:%d %b %Y}")
        history["runs"].append(training.pk)
        history["chosen"].append(picked[1].algorithm)
        history["chosen_ndcg"].append(picked[0]["ndcg"])
        history["chosen_recall"].append(picked[0].get("recall"))
        history["popularity_ndcg"].append(baseline.get("ndcg"))
        history["popularity_recall"].append(baseline.get("recall"))
    return history


def model_runs_by_ids(ids: Sequence[int]) -> list[ModelRun]:
    """These model runs in the order asked (unknown ids are left out)."""
    found = {r.pk: r for r in model_runs().filter(pk__in=list(ids))}
    return [found[pk] for pk in ids if pk in found]
