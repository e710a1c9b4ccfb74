"""The predictive scores in a real browser: a viewer opens the Predictions page from the menu
and sees the backtest's calibration charts drawn, then the dashboard's score histograms, then a
customer's scores with that customer's bar marked in the histograms of all customers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ecomsite.models import CleaningRun, Customer, RunStatus
from ecomsite.services.imports import import_file
from segments.models import CustomerScore, FeatureRun, PredictionRun

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

CUSTOMER = "17850"
AS_OF = datetime(2011, 8, 31, 16, 45, tzinfo=UTC)
SCORES = ("clv", "expected_orders", "churn_risk", "p_alive", "expected_order_value")
HISTOGRAMS = '[...document.querySelectorAll("canvas[data-chart-type=histogram]")]'


def _histogram(low: float, high: float, median: float) -> dict[str, Any]:
    step = (high - low) / 20
    return {
        "edges": [low + step * i for i in range(21)],
        "counts": [30, 25, 20, 15, 12, 10, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 9],
        "median": median,
        "mean": median,
    }


def _deciles(scale: float) -> list[dict[str, float]]:
    return [
        {"decile": i, "customers": 10, "mean_predicted": scale * i, "mean_actual": scale * i * 0.9}
        for i in range(1, 11)
    ]


def _prediction_run() -> PredictionRun:
    """A succeeded prediction run with known histograms and backtest (the engine's own output
    is tested elsewhere; here the pages draw it)."""
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, as_of=AS_OF
    )
    error = {"mae": 0.8, "rmse": 1.1, "spearman": 0.5}
    churn = {"auc": 0.74, "brier": 0.2, "mean_predicted": 0.52, "share_actual": 0.51}
    return PredictionRun.objects.create(
        feature_run=features,
        status=RunStatus.SUCCEEDED,
        finished_at=datetime(2011, 9, 1, tzinfo=UTC),
        as_of=AS_OF,
        horizon_days=90,
        customers=100,
        sufficient=True,
        metrics={
            "model": "mbgnbd",
            "level": 0.8,
            "bootstrap": 200,
            "fit": {
                "bgnbd": {"r": 0.72, "alpha": 66.5, "a": 0.1, "b": 5.0},
                "gamma_gamma": {"p": 2.45, "q": 3.46, "gamma": 393.3},
                "customers": 100,
                "repeat_buyers": 60,
                "calibration_days": 273.3,
                "converged": True,
                "sufficient": True,
                "reasons": [],
            },
            "distributions": {
                "clv": _histogram(10.0, 1010.0, 221.0),
                "expected_orders": _histogram(0.0, 4.0, 0.66),
                "churn_risk": _histogram(0.0, 1.0, 0.59),
                "p_alive": _histogram(0.0, 1.0, 0.98),
                "expected_order_value": _histogram(52.0, 1052.0, 392.9),
                "next_order_days": _histogram(3.0, 503.0, 128.1),
            },
            "backtest": {
                "calibration_end": "2011-06-02T16:45:01+00:00",
                "holdout_days": 90.0,
                "customers": 100,
                "sufficient": True,
                "reasons": [],
                "metrics": {
                    who: {"orders": error, "revenue": error, "churn": churn}
                    for who in ("model", "baseline")
                },
                "totals": {},
                "deciles": {
                    "orders": _deciles(0.3),
                    "revenue": _deciles(40.0),
                    "churn": _deciles(0.08),
                },
            },
        },
    )


def test_viewer_sees_the_predictions_backtest_histograms_and_a_customers_scores(
    page, log_in, charts_drawn, shop_viewer, sample_path
):
    # given a shop with data and a prediction run scoring one customer
    import_file(path=sample_path, format="online-retail")
    run = _prediction_run()
    CustomerScore.objects.create(
        run=run,
        customer=Customer.objects.get(external_id=CUSTOMER),
        expected_orders=1.4,
        expected_orders_lo=1.1,
        expected_orders_hi=1.8,
        orders_pred_lo=0,
        orders_pred_hi=3,
        clv=123.4,
        clv_lo=80.0,
        clv_hi=170.0,
        churn_risk=0.31,
        churn_risk_lo=0.28,
        churn_risk_hi=0.35,
        p_alive=0.93,
        p_alive_lo=0.9,
        p_alive_hi=0.96,
        sufficient=True,
    )
    log_in(page, shop_viewer)

    # when the viewer opens Predictions from the menu
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Predictions").click()
    expect(page.locator("h1")).to_have_text("Predictions")
    expect(page.get_by_text("Naive baseline:")).to_be_visible()
    # then the three calibration charts are drawn, each with both series over ten deciles
    charts = charts_drawn(page)
    assert {c["chart"] for c in charts} == {
        "calibration-orders",
        "calibration-revenue",
        "calibration-churn",
    }, charts
    series = page.evaluate(
        """() => [...document.querySelectorAll("canvas[data-chart-type=calibration]")].map(
            (canvas) => Chart.getChart(canvas).data.datasets.map(
                (d) => [d.label, d.data.length]))"""
    )
    assert series == [[["Mean predicted", 10], ["Mean actual", 10]]] * 3

    # when they go to the dashboard, every score has its histogram with a median line
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    drawn = {c["chart"] for c in charts_drawn(page)}
    assert drawn >= {f"score-{name}" for name in (*SCORES, "next_order_days")}, drawn
    medians = page.evaluate(
        f"""() => Object.fromEntries({HISTOGRAMS}
            .map((c) => [c.dataset.chart, Chart.getChart(c).options.plugins.ecomMedian.at]))"""
    )
    # clv: median 221 in bins of 50 from 10 → 4.22 bars from the left
    assert medians["score-clv"] == pytest.approx(4.22)
    assert medians["score-churn_risk"] == pytest.approx(11.8)

    # and on the customer's page their scores, with their bar marked among all customers
    page.goto(f"/customers/{CUSTOMER}/")
    scores = page.locator("section.customer-scores")
    expect(scores).to_contain_text("£123")
    expect(scores).to_contain_text("80% interval £80–£170")
    expect(scores).to_contain_text("actually likely 0–3 orders")
    expect(scores).to_contain_text("31.0%")
    drawn = {c["chart"] for c in charts_drawn(page)}
    assert drawn >= {"score-clv", "score-churn_risk", "monthly", "categories"}, drawn
    marked = page.evaluate(
        f"""() => Object.fromEntries({HISTOGRAMS}
            .map((c) => [c.dataset.chart, Chart.getChart(c).data.datasets[0].backgroundColor
                .findIndex((colour) => colour === "#e07b39")]))"""
    )
    # £123.4 is in the bar £110–£160 (the third); a 31% risk in 30–35% (the seventh)
    assert marked == {"score-clv": 2, "score-churn_risk": 6}
    assert page.js_errors == []
