"""The pipeline's predict step on a simulated shop: scores with intervals per customer, the fit
report and backtest in the run, and rule segments on the scores ("churn risk > 0.7 AND monetary >
500")."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecomsite.models import Customer, RunStatus
from ecomsite.services.imports import import_file
from segments.models import CustomerScore, PredictionRun, SegmentMembership
from segments.selectors import customer_score, features_frame, prediction_current
from segments.services.pipeline import pipeline_start
from segments.services.predictions import SCORE_FEATURES, scores_frame
from segments.services.rules import rule_segment_create

pytestmark = pytest.mark.django_db

START = pd.Timestamp("2011-01-03 10:00")
DAYS = 300
HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.PREDICTIVE_BOOTSTRAP = 40


def _shop(path: Path, seed: int = 7) -> dict[str, list[pd.Timestamp]]:
    """120 customers buying at Gamma-distributed rates (some stop for good after an order),
    joining over the first 200 days; one order per visit, two products a line. Plus three
    planted customers: a weekly big spender, a one-time buyer from day 1, and a customer who
    bought monthly and then vanished 150 days before the end."""
    rng = np.random.default_rng(seed)
    visits: dict[str, list[pd.Timestamp]] = {}
    for n in range(120):
        first = float(rng.uniform(0, 200))
        rate = float(rng.gamma(0.9, 1 / 25.0))
        drop = float(rng.beta(1.0, 6.0))
        days, t = [first], first
        while True:
            if rng.random() < drop:
                break
            t += float(rng.exponential(1 / max(rate, 1e-6)))
            if t >= DAYS:
                break
            days.append(t)
        visits[str(20000 + n)] = [START + pd.Timedelta(days=d) for d in days]
    visits["90001"] = [START + pd.Timedelta(days=d) for d in range(3, DAYS, 7)]
    visits["90002"] = [START + pd.Timedelta(days=1)]
    visits["90003"] = [START + pd.Timedelta(days=d) for d in range(2, 150, 30)]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        invoice = 600000
        for customer, when in visits.items():
            price = "40.00" if customer == "90001" else "4.95"
            for stamp in when:
                invoice += 1
                for sku in ("85123A", "71053"):
                    out.writerow(
                        [
                            invoice,
                            sku,
                            f"PRODUCT {sku}",
                            6,
                            stamp.strftime("%Y-%m-%d %H:%M"),
                            price,
                            customer,
                            "United Kingdom",
                        ]
                    )
    return visits


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.csv"
    visits = _shop(path)
    import_file(path=path, format="online-retail")
    run = pipeline_start(trigger="cli", sync=True, until="segment")
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run, visits


def test_the_predict_step_scores_every_buyer_with_intervals(shop):
    pipeline, visits = shop
    run = pipeline.prediction_run
    assert run is not None and run.status == RunStatus.SUCCEEDED, run and run.error
    assert prediction_current() == run
    assert pipeline.segmentation_run.prediction_run == run
    # every customer with a purchase before as_of is scored once
    assert run.customers == len(visits) == CustomerScore.objects.filter(run=run).count()
    assert run.horizon_days == 90
    fit = run.metrics["fit"]
    assert fit["customers"] == len(visits)
    assert fit["sufficient"] is run.sufficient
    assert set(fit["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert run.metrics["model"] == "mbgnbd" and run.metrics["bootstrap"] == 40

    scores = pd.DataFrame.from_records(CustomerScore.objects.filter(run=run).values())
    for name in ("expected_orders", "clv", "churn_risk", "p_alive", "expected_order_value"):
        lo, mid, hi = scores[f"{name}_lo"], scores[name], scores[f"{name}_hi"]
        assert (lo <= mid + 1e-9).all() and (mid <= hi + 1e-9).all(), name
    assert scores["churn_risk"].between(0, 1).all() and scores["p_alive"].between(0, 1).all()
    assert (scores["orders_pred_lo"] <= scores["orders_pred_hi"]).all()
    assert (scores["orders_pred_lo"] == scores["orders_pred_lo"].round()).all()
    # the clv is the expected orders times the expected order value (no discounting)
    np.testing.assert_allclose(
        scores["clv"], scores["expected_orders"] * scores["expected_order_value"], rtol=1e-9
    )

    def score(external_id: str) -> CustomerScore:
        found = customer_score(Customer.objects.get(external_id=external_id))
        assert found is not None
        return found

    weekly, once, vanished = score("90001"), score("90002"), score("90003")
    # the weekly big spender: about 13 orders in 90 days, the highest value, the lowest risk
    assert 9 <= weekly.expected_orders <= 15
    assert weekly.orders_pred_lo <= 13 <= weekly.orders_pred_hi
    assert weekly.clv == max(scores["clv"])
    assert weekly.churn_risk < 0.05 and not weekly.no_repeat
    assert weekly.next_order_date is not None
    # the one-time buyer of day 1 is flagged and riskier than the weekly buyer
    assert once.no_repeat and once.churn_risk > 0.5
    # a monthly buyer silent for 150 days is less likely alive than the weekly one
    assert vanished.p_alive < weekly.p_alive and vanished.churn_risk > weekly.churn_risk

    # histograms for the dashboard cover every scored customer
    for name in SCORE_FEATURES:
        hist = run.metrics["distributions"][name]
        assert sum(hist["counts"]) == scores[name].notna().sum()
        assert len(hist["edges"]) == len(hist["counts"]) + 1


def test_the_backtest_compares_the_model_with_the_naive_baseline(shop):
    pipeline, _ = shop
    backtest = pipeline.prediction_run.metrics["backtest"]
    # fitted up to as_of − 90 days and scored on the 90 days that followed
    as_of = pd.Timestamp(pipeline.prediction_run.as_of)
    assert pd.Timestamp(backtest["calibration_end"]) == as_of - pd.Timedelta(days=90)
    assert backtest["holdout_days"] == 90
    for who in ("model", "baseline"):
        assert set(backtest["metrics"][who]) == {"orders", "revenue", "churn"}
        assert backtest["metrics"][who]["orders"]["mae"] >= 0
        assert 0 <= backtest["metrics"][who]["churn"]["auc"] <= 1
    assert backtest["totals"]["actual_orders"] > 0
    deciles = backtest["deciles"]["orders"]
    assert sum(row["customers"] for row in deciles) == backtest["customers"]
    assert [row["decile"] for row in deciles] == list(range(1, len(deciles) + 1))


def test_rule_segments_use_the_scores(shop):
    pipeline, _ = shop
    rule = {
        "op": "and",
        "children": [
            {"feature": "churn_risk", "cmp": ">", "value": 0.7},
            {"feature": "monetary", "cmp": ">", "value": 50},
        ],
    }
    segment = rule_segment_create(name="Valuable, at risk", definition=rule, created_by=None)
    features = features_frame(pipeline.segmentation_run)
    expected = features.index[(features["churn_risk"] > 0.7) & (features["monetary"] > 50)]
    assert 0 < len(expected) < len(features)
    members = SegmentMembership.objects.filter(run=pipeline.segmentation_run, segment=segment)
    assert sorted(members.values_list("customer_id", flat=True)) == sorted(expected)
    # "the top 10% by predicted value"
    top = rule_segment_create(
        name="Top 10% by predicted value",
        definition={"feature": "clv_percentile", "cmp": ">", "value": 0.9},
        created_by=None,
    )
    scored = features["clv"].dropna()
    expected_top = scored.index[scored > scored.quantile(0.9)]
    members = SegmentMembership.objects.filter(run=pipeline.segmentation_run, segment=top)
    assert sorted(members.values_list("customer_id", flat=True)) == sorted(expected_top)
    assert len(expected_top) == pytest.approx(0.1 * len(scored), abs=1)
    # the joined scores are the run's artifact, customer by customer
    stored = scores_frame(pipeline.prediction_run)
    pd.testing.assert_series_equal(
        features["clv"].dropna(), stored["clv"].loc[features["clv"].dropna().index]
    )

    # the next pipeline run re-evaluates the rule on its own scores
    second = pipeline_start(trigger="cli", sync=True, force=True, until="segment")
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.prediction_run != pipeline.prediction_run
    assert SegmentMembership.objects.filter(run=second.segmentation_run, segment=segment).count()
    assert PredictionRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 2
