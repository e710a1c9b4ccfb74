"""A small served model made directly in the tables (no training): the serving tests' shop.

Products (SKU, title, category):  P1 Candle (Candles), P2 Mug (Mugs), P3 Lantern (Candles),
P4 Tea towel (Kitchen), P5 Doormat (Home), P6 Vase (Home), P7 Espresso cup (Mugs, new: no model
rows), PX Old candle (Candles, inactive).

Customers: C1 (United Kingdom) has model rows P1, PX, P2, P3 (ranks 1-4); C2 (France) is in the
RFM segment "Champions" and has no model rows (new since training); C3 (Germany) has rows P4, P5.

Popular lists of the model run:
  all: P4, P1, PX, P5        trending: P6, P5        category:Mugs: P7, P2
  country:United Kingdom: P5, P4          country:France: P6, P2
  segment:<Champions>: P3, PX, P4

Similar products: P1 → PX, P3, P2 (ranks 1-3); P7 has none (category fallback: P2).
A second model run ("other") has C1 → P6, P5 so that switching models is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ecomsite.models import CleaningRun, Customer, Product, RunStatus
from recommendations.models import (
    ModelRun,
    PopularList,
    Recommendation,
    SimilarProduct,
    TrainingRun,
)
from recommendations.services.registry import model_promote
from segments.models import FeatureRun, Segment, SegmentationRun, SegmentKind, SegmentMembership

PRODUCTS = {
    "P1": ("Candle", "Candles", "2.50"),
    "P2": ("Mug", "Mugs", "4.00"),
    "P3": ("Lantern", "Candles", "12.00"),
    "P4": ("Tea towel", "Kitchen", "3.25"),
    "P5": ("Doormat", "Home", "9.99"),
    "P6": ("Vase", "Home", "15.00"),
    "P7": ("Espresso cup", "Mugs", "5.50"),
    "PX": ("Old candle", "Candles", "1.00"),
}
REASONS = {
    "P1": "you buy this about every 30 days",
    "PX": "you bought this before",
    "P2": "often bought with Candle",
    "P3": "customers like you bought this",
}


BASELINE = {"all": (0.1000, 0.0800), "new": (0.0200, 0.0300)}


def _view(ndcg: float, recall: float) -> dict[str, float]:
    return {
        "k": 10,
        "users": 40,
        "precision": recall / 4,
        "recall": recall,
        "ndcg": ndcg,
        "map": ndcg / 2,
        "hit_rate": recall * 2,
        "coverage": 0.25,
    }


def baseline() -> dict[str, Any]:
    return {view: _view(*figures) for view, figures in BASELINE.items()}


def metrics(
    ndcg: float, recall: float, new_ndcg: float, new_recall: float, *, chosen: bool = False
) -> dict[str, Any]:
    """ModelRun.metrics as recommendations/services/training.py model_run_metrics writes them
    (held-out figures at k=10 on all and new items, all-time popularity beside them)."""
    return {
        "k": 10,
        "all": _view(ndcg, recall),
        "new": _view(new_ndcg, new_recall),
        "coverage": 0.25,
        "popularity": baseline(),
        "chosen": chosen,
    }


@dataclass
class Shop:
    products: dict[str, Product]
    customers: dict[str, Customer]
    training: TrainingRun
    popularity: ModelRun
    model: ModelRun
    other: ModelRun
    champions: Segment

    def pk(self, sku: str) -> int:
        return self.products[sku].pk


def _rows(run: ModelRun, shop_products: dict[str, Product], customer: Customer, skus: list[str],
          reasons: dict[str, str] | None = None) -> None:  # fmt: skip
    Recommendation.objects.bulk_create(
        Recommendation(
            model_run=run,
            customer=customer,
            rank=rank,
            product=shop_products[sku],
            score=round(1.0 - rank / 10, 2),
            reason=(reasons or {}).get(sku, "customers like you bought this"),
        )
        for rank, sku in enumerate(skus, start=1)
    )


def _popular(run: ModelRun, products: dict[str, Product], scope: str, skus: list[str]) -> None:
    PopularList.objects.bulk_create(
        PopularList(
            model_run=run,
            scope=scope,
            rank=rank,
            product=products[sku],
            score=round(0.5 - rank / 20, 3),
        )
        for rank, sku in enumerate(skus, start=1)
    )


def build_shop(*, promote: bool = True) -> Shop:
    """The shop of the module docstring; `promote`: "model" serves (promoted by hand)."""
    products = {}
    for sku, (title, category, price) in PRODUCTS.items():
        products[sku] = Product.objects.create(
            external_id=sku,
            title=title,
            category=category,
            price=Decimal(price),
            is_active=sku != "PX",
        )
    customers = {
        "C1": Customer.objects.create(external_id="C1", country="United Kingdom"),
        "C2": Customer.objects.create(external_id="C2", country="France"),
        "C3": Customer.objects.create(external_id="C3", country="Germany"),
    }
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(cleaning_run=cleaning, status=RunStatus.SUCCEEDED)
    segmentation = SegmentationRun.objects.create(
        feature_run=features, status=RunStatus.SUCCEEDED, finished_at=timezone.now()
    )
    champions = Segment.objects.create(kind=SegmentKind.RFM, name="Champions")
    SegmentMembership.objects.create(run=segmentation, segment=champions, customer=customers["C2"])

    now = timezone.now()
    training = TrainingRun.objects.create(
        cleaning_run=cleaning,
        status=RunStatus.SUCCEEDED,
        progress=1.0,
        started_at=now,
        finished_at=now,
        metrics={"baseline": {"label": "popularity", **baseline()}, "chosen": "blend"},
    )

    def model_run(algorithm: str, figures: dict[str, Any], **extra: Any) -> ModelRun:
        return ModelRun.objects.create(
            training_run=training,
            cleaning_run=cleaning,
            algorithm=algorithm,
            status=RunStatus.SUCCEEDED,
            metrics=figures,
            params=extra.pop("params", {}),
            train_seconds=extra.pop("train_seconds", 1.5),
            precomputed=True,
            # never loaded: the rows are precomputed (services only check that a model exists)
            artifact=f"/nowhere/{algorithm}.npz",
            customers=2,
            products=7,
            **extra,
        )

    popularity = model_run(
        "popularity", metrics(0.1100, 0.0850, 0.0210, 0.0310), params={"window_days": 30}
    )
    model = model_run(
        "blend",
        metrics(0.2512, 0.1900, 0.0610, 0.0720, chosen=True),
        params={"repeat_weight": 0.6, "cf": "item_knn"},
        train_seconds=12.25,
    )
    other = model_run(
        "als", metrics(0.1800, 0.1500, 0.0800, 0.0900), params={"factors": 64}, train_seconds=30.0
    )

    _rows(model, products, customers["C1"], ["P1", "PX", "P2", "P3"], REASONS)
    _rows(model, products, customers["C3"], ["P4", "P5"])
    for scope, skus in {
        "all": ["P4", "P1", "PX", "P5"],
        "trending": ["P6", "P5"],
        "category:Mugs": ["P7", "P2"],
        "country:United Kingdom": ["P5", "P4"],
        "country:France": ["P6", "P2"],
        f"segment:{champions.pk}": ["P3", "PX", "P4"],
    }.items():
        _popular(model, products, scope, skus)
    SimilarProduct.objects.bulk_create(
        SimilarProduct(
            model_run=model, product=products["P1"], rank=rank, similar=products[sku], score=score
        )
        for rank, (sku, score) in enumerate([("PX", 0.9), ("P3", 0.7), ("P2", 0.4)], start=1)
    )
    _rows(other, products, customers["C1"], ["P6", "P5"])
    _popular(other, products, "all", ["P5"])
    if promote:
        model_promote(model, reason="test: the blend serves")
    return Shop(
        products=products,
        customers=customers,
        training=training,
        popularity=popularity,
        model=model,
        other=other,
        champions=champions,
    )
