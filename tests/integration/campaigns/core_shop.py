"""A small shop for the campaign core tests (audience, launch, delivery, services), made
directly in the tables: no import, no pipeline, no training.

Customers K01..K20 (``shop.pk(i)``): odd ones in the United Kingdom, even ones in France; every
one consents to every channel (tests opt some out); ``attributes["email"]`` is
" Kxx@Example.COM " (to be normalised), except K20, who has none.

Segmentation run (features in a Parquet file, as the pipeline writes them):
  monetary = 20 x i, frequency = i, top_category = "Candles" (odd i) / "Mugs" (even i)
  Alpha = K01..K10   Beta = K06..K15   Excluded = K09..K12   Champions (RFM) = K01..K05

Products P1..P6 (P1, P3, P5 "Candles"; P2, P4, P6 "Mugs"), all active. The serving model has 4
rows for each of K01..K15 (ranks 1-4: P(i mod 6 + 1), then the next three, wrapping round, with
reason "because K<i>"); K16..K20 are new to it. Its fallback lists:
  all: P1, P2, P3   trending: P4, P5   country:France: P6, P5   segment:<Champions>: P2, P3
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
from django.utils import timezone

from ecomsite.models import CleaningRun, Customer, Product, RunStatus
from ecomsite.services.artifacts import frame_save
from recommendations.models import ModelRun, PopularList, Recommendation, TrainingRun
from recommendations.services.registry import model_promote
from segments.models import FeatureRun, Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.services.features import CUSTOMERS_FILE

CUSTOMERS = 20
SEGMENTS = {
    "Alpha": (SegmentKind.CLUSTER, range(1, 11)),
    "Beta": (SegmentKind.CLUSTER, range(6, 16)),
    "Excluded": (SegmentKind.RULE, range(9, 13)),
    "Champions": (SegmentKind.RFM, range(1, 6)),
}
MODEL_CUSTOMERS = range(1, 16)


@dataclass
class CoreShop:
    customers: dict[int, Customer]
    products: dict[str, Product]
    segments: dict[str, Segment]
    run: SegmentationRun
    model: ModelRun | None

    def pk(self, i: int) -> int:
        return self.customers[i].pk

    def pks(self, numbers: object) -> list[int]:
        return [self.pk(i) for i in numbers]  # type: ignore[attr-defined]

    def number(self, pk: int) -> int:
        return next(i for i, c in self.customers.items() if c.pk == pk)

    def numbers(self, pks: object) -> list[int]:
        return sorted(self.number(pk) for pk in pks)  # type: ignore[attr-defined]

    def segment_ids(self, *names: str) -> list[int]:
        return [self.segments[name].pk for name in names]


def build_core_shop(artifacts: Path, *, model: bool = True) -> CoreShop:
    customers = {}
    for i in range(1, CUSTOMERS + 1):
        attributes = {"email": f" K{i:02d}@Example.COM "} if i != CUSTOMERS else {}
        customers[i] = Customer.objects.create(
            external_id=f"K{i:02d}",
            country="United Kingdom" if i % 2 else "France",
            email_consent=True,
            sms_consent=True,
            push_consent=True,
            ads_consent=True,
            attributes=attributes,
        )
    products = {}
    for n in range(1, 7):
        products[f"P{n}"] = Product.objects.create(
            external_id=f"P{n}",
            title=f"Product {n}",
            category="Candles" if n % 2 else "Mugs",
            price=Decimal("2.50") * n,
        )

    folder = artifacts / "features-core"
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "monetary": [20.0 * i for i in customers],
            "frequency": [float(i) for i in customers],
            "top_category": ["Candles" if i % 2 else "Mugs" for i in customers],
        },
        index=pd.Index([c.pk for c in customers.values()], dtype="int64", name="customer"),
    )
    frame_save(frame, folder / CUSTOMERS_FILE, index=True)
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, artifact_dir=str(folder)
    )
    run = SegmentationRun.objects.create(
        feature_run=features, status=RunStatus.SUCCEEDED, finished_at=timezone.now()
    )
    segments = {}
    for name, (kind, members) in SEGMENTS.items():
        segments[name] = Segment.objects.create(kind=kind, name=name)
        SegmentMembership.objects.bulk_create(
            SegmentMembership(run=run, segment=segments[name], customer=customers[i])
            for i in members
        )

    served = None
    if model:
        training = TrainingRun.objects.create(cleaning_run=cleaning, status=RunStatus.SUCCEEDED)
        served = ModelRun.objects.create(
            training_run=training,
            cleaning_run=cleaning,
            algorithm="blend",
            status=RunStatus.SUCCEEDED,
            precomputed=True,
        )
        order = list(products.values())
        Recommendation.objects.bulk_create(
            Recommendation(
                model_run=served,
                customer=customers[i],
                rank=rank,
                product=order[(i + rank - 1) % 6],
                score=round(1 - rank / 10, 2),
                reason=f"because K{i:02d}",
            )
            for i in MODEL_CUSTOMERS
            for rank in range(1, 5)
        )
        champions = segments["Champions"].pk
        for scope, skus in {
            "all": ["P1", "P2", "P3"],
            "trending": ["P4", "P5"],
            "country:France": ["P6", "P5"],
            f"segment:{champions}": ["P2", "P3"],
        }.items():
            PopularList.objects.bulk_create(
                PopularList(
                    model_run=served,
                    scope=scope,
                    rank=rank,
                    product=products[sku],
                    score=round(0.5 - rank / 20, 3),
                )
                for rank, sku in enumerate(skus, start=1)
            )
        model_promote(served, reason="test: the blend serves")
    return CoreShop(
        customers=customers, products=products, segments=segments, run=run, model=served
    )
