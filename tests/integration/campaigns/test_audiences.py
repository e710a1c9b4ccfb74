"""Audiences beyond segments: lookalikes of a planted seed, propensity from the serving model's
rows, and the profile of any customer set."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from campaigns.services.audiences import (
    audience_profile,
    lookalike_customer_ids,
    propensity_customer_ids,
    propensity_rank,
)
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import CleaningRun, Customer, Product, RunStatus
from recommendations.models import ModelRun, Recommendation
from recommendations.services.registry import model_promote
from segments.models import FeatureRun, Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.selectors import customers_profile, segment_profile

pytestmark = pytest.mark.django_db

SEED = 10
PLANTED = 140
OTHERS = 150


@pytest.fixture
def planted_run(tmp_path):
    """300 customers: a seed segment of 10 near A (recent, frequent, big spenders), 140 planted
    near A, 150 ordinary customers; features written as a feature run's artifact."""
    rng = np.random.default_rng(21)
    customers = Customer.objects.bulk_create(Customer(external_id=f"L{i:03d}") for i in range(300))
    ids = np.array([c.pk for c in customers], dtype=np.int64)
    n_near = SEED + PLANTED
    near = {
        "recency_days": rng.normal(4, 1, n_near).clip(0),
        "frequency": rng.integers(8, 12, n_near).astype(float),
        "monetary": rng.normal(900, 60, n_near),
        "avg_order_value": rng.normal(90, 6, n_near),
        "basket_size": rng.normal(6, 0.5, n_near),
        "return_rate": rng.uniform(0, 0.05, n_near),
        "mean_interpurchase_days": rng.normal(10, 1, n_near),
    }
    far = {
        "recency_days": rng.uniform(60, 365, OTHERS),
        "frequency": rng.integers(1, 3, OTHERS).astype(float),
        "monetary": rng.lognormal(3.5, 0.6, OTHERS),
        "avg_order_value": rng.lognormal(3, 0.4, OTHERS),
        "basket_size": rng.uniform(1, 3, OTHERS),
        "return_rate": rng.uniform(0, 0.3, OTHERS),
        "mean_interpurchase_days": np.where(
            rng.random(OTHERS) < 0.5, np.nan, rng.uniform(30, 120, OTHERS)
        ),
    }
    frame = pd.DataFrame({k: np.concatenate([near[k], far[k]]) for k in near}, index=ids)
    frame.index.name = "customer"
    frame["tenure_days"] = 400.0
    frame["top_category"] = ["Candles"] * n_near + ["Mugs"] * OTHERS
    frame.to_parquet(tmp_path / "customers.parquet", index=True)

    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, artifact_dir=str(tmp_path)
    )
    run = SegmentationRun.objects.create(
        feature_run=features, status=RunStatus.SUCCEEDED, finished_at=timezone.now()
    )
    seed = Segment.objects.create(kind=SegmentKind.RULE, name="VIP seed")
    SegmentMembership.objects.bulk_create(
        SegmentMembership(run=run, segment=seed, customer=customer) for customer in customers[:SEED]
    )
    return run, seed, ids, frame


def test_lookalike_is_the_seed_then_the_planted_customers(planted_run):
    run, seed, ids, _ = planted_run
    found = lookalike_customer_ids(seed_segment=seed, size=PLANTED, run=run)
    assert found[:SEED] == sorted(int(i) for i in ids[:SEED])
    grown = set(found[SEED:])
    assert len(found) == SEED + PLANTED and len(grown) == PLANTED
    planted = {int(i) for i in ids[SEED : SEED + PLANTED]}
    assert len(grown & planted) >= PLANTED - 5


def test_lookalike_size_beyond_the_population_takes_everyone(planted_run):
    run, seed, ids, _ = planted_run
    assert sorted(lookalike_customer_ids(seed_segment=seed, size=10_000, run=run)) == sorted(
        int(i) for i in ids
    )


def test_lookalike_refuses_an_empty_seed(planted_run):
    run, _, _, _ = planted_run
    empty = Segment.objects.create(kind=SegmentKind.RULE, name="Nobody")
    with pytest.raises(ValidationFailed, match="no scored members"):
        lookalike_customer_ids(seed_segment=empty, size=5, run=run)
    with pytest.raises(ValidationFailed, match="negative"):
        lookalike_customer_ids(seed_segment=empty, size=-1, run=run)


def test_audience_profile_compares_any_set_with_the_population(planted_run):
    run, _, ids, frame = planted_run
    chosen = [int(i) for i in ids[: SEED + PLANTED]]
    comparisons = {c.feature: c for c in audience_profile(customer_ids=chosen, run=run)}
    monetary = comparisons["monetary"]
    assert monetary.members_mean == pytest.approx(frame["monetary"].iloc[: SEED + PLANTED].mean())
    assert monetary.population_mean == pytest.approx(frame["monetary"].mean())
    assert monetary.members_median == pytest.approx(
        frame["monetary"].iloc[: SEED + PLANTED].median()
    )
    assert monetary.ratio is not None and monetary.ratio > 1.5
    # one-time buyers' missing gaps are left out, not counted as 0
    gaps = comparisons["mean_interpurchase_days"]
    assert gaps.population_mean == pytest.approx(frame["mean_interpurchase_days"].mean())


def test_customers_profile_of_a_segments_members_equals_its_segment_profile(planted_run):
    run, seed, ids, _ = planted_run
    by_segment = segment_profile(seed, run)
    by_ids = customers_profile([int(i) for i in ids[:SEED]], run, rfm_mix=True)
    assert by_ids == by_segment
    # unknown ids count in the size only
    assert customers_profile([int(ids[0]), 10**9], run).size == 2


# -- propensity ------------------------------------------------------------------------------------


@pytest.fixture
def served():
    """A serving model with lists for 20 customers (ranks 1-5). Target product T (Candles) and
    its category mate U (Candles):
      A1, A2, A3: T at rank 1 (gain 1; the target is their top, normalised score 1: ties by id)
      B1: U at rank 2 and T at rank 3 (category: 1/log2(3) + 1/log2(4) = 0.6309 + 0.5 = 1.1309)
      C1: T at rank 2 (0.6309); C2: T at rank 5 (1/log2(6) = 0.3869)
      everyone else (14): no target in the list."""
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    run = ModelRun.objects.create(
        cleaning_run=cleaning,
        algorithm="blend",
        status=RunStatus.SUCCEEDED,
        precomputed=True,
        artifact="/nowhere.npz",
    )
    model_promote(run, reason="test")
    fillers = Product.objects.bulk_create(
        Product(external_id=f"F{i}", category="Other", price=Decimal(1)) for i in range(5)
    )
    target = Product.objects.create(external_id="T", category="Candles", price=Decimal(3))
    mate = Product.objects.create(external_id="U", category="Candles", price=Decimal(3))
    names = ["A1", "A2", "A3", "B1", "C1", "C2"] + [f"N{i}" for i in range(14)]
    people = {n: Customer.objects.create(external_id=n) for n in names}
    special = {
        "A1": {1: (target, 0.9)},
        "A2": {1: (target, 0.5)},
        "A3": {1: (target, 0.8)},
        "B1": {2: (mate, 0.7), 3: (target, 0.6)},
        "C1": {2: (target, 0.7)},
        "C2": {5: (target, 0.1)},
    }
    rows = []
    for name, customer in people.items():
        for rank in range(1, 6):
            product, score = special.get(name, {}).get(rank, (fillers[rank - 1], 1.0 - rank / 10))
            rows.append(
                Recommendation(
                    model_run=run, customer=customer, rank=rank, product=product, score=score
                )
            )
    Recommendation.objects.bulk_create(rows)
    return {name: c.pk for name, c in people.items()}


def test_propensity_for_a_product_ranks_the_planted_buyers_first(served):
    # 20 customers with lists; top 25% → 5: the three with T at rank 1 (ties by id), then C1
    # (rank 2), then B1 (rank 3)
    found = propensity_customer_ids(products=["T"], category="", top_share=0.25)
    assert found == [served["A1"], served["A2"], served["A3"], served["C1"], served["B1"]]


def test_propensity_for_a_category_adds_up_its_products(served):
    # B1 holds U at 2 and T at 3: 1.1309 > 1.0 of a single rank-1 target
    found = propensity_customer_ids(products=[], category="Candles", top_share=0.2)
    assert found == [served["B1"], served["A1"], served["A2"], served["A3"]]


def test_propensity_takes_only_customers_with_a_target(served):
    found = propensity_customer_ids(products=["T"], category="", top_share=1.0)
    assert set(found) == {served[n] for n in ("A1", "A2", "A3", "B1", "C1", "C2")}
    assert found[-1] == served["C2"]


def test_propensity_top_share_rounds_up(served):
    # 5% of 20 customers = 1
    assert propensity_customer_ids(products=["T"], category="", top_share=0.05) == [served["A1"]]
    assert math.ceil(0.06 * 20) == 2
    assert len(propensity_customer_ids(products=["T"], category="", top_share=0.06)) == 2


def test_propensity_refuses_bad_requests(served):
    with pytest.raises(ValidationFailed, match="products or a category"):
        propensity_customer_ids(products=[], category="", top_share=0.1)
    with pytest.raises(ValidationFailed, match="top share"):
        propensity_customer_ids(products=["T"], category="", top_share=0)
    with pytest.raises(ValidationFailed, match="Unknown products: NOPE"):
        propensity_customer_ids(products=["NOPE"], category="", top_share=0.1)


def test_propensity_without_a_serving_model(db):
    with pytest.raises(ValidationFailed, match="No recommendation model"):
        propensity_customer_ids(products=["T"], category="", top_share=0.1)


def test_propensity_rank_breaks_ties_by_the_customers_normalised_score():
    # Both have the target at rank 2 (gain 0.6309); customer 7's target score is 0.9 of its top
    # 1.0, customer 3's 0.3 of 1.0: 7 first despite the larger id.
    hits = pd.DataFrame({"customer": [3, 7], "rank": [2, 2], "score": [0.3, 0.9]})
    ranked = propensity_rank(hits, pd.Series({3: 1.0, 7: 1.0}))
    assert ranked.index.tolist() == [7, 3]
    assert ranked.tolist() == pytest.approx([1 / math.log2(3)] * 2)
