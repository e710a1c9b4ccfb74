"""Staff pages of the predictive scores: the Predictions page (the run in use, its fit and
data-sufficiency verdict, the backtest against the naive baseline with calibration charts), the
dashboard's score histograms and a customer's scores with intervals and warnings. Runs are built
row by row with known metrics, plus one wiring test through the pipeline on the sample file."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from ecomsite.models import CleaningRun, Customer, RunStatus
from ecomsite.services.imports import import_file
from segments.models import CustomerScore, FeatureRun, PredictionRun
from segments.services.pipeline import pipeline_start

pytestmark = pytest.mark.django_db

AS_OF = datetime(2011, 8, 31, 16, 45, tzinfo=UTC)
REASONS = ["fewer than 30 repeat buyers (12)", "calibration shorter than 90 days (61)"]


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.PREDICTIVE_BOOTSTRAP = 20


def _deciles(predicted: list[float], actual: list[float]) -> list[dict[str, float]]:
    return [
        {"decile": i + 1, "customers": 25, "mean_predicted": p, "mean_actual": a}
        for i, (p, a) in enumerate(zip(predicted, actual, strict=True))
    ]


BACKTEST: dict[str, Any] = {
    "calibration_end": "2011-06-02T16:45:01+00:00",
    "holdout_days": 90.0,
    "customers": 250,
    "sufficient": True,
    "reasons": [],
    "metrics": {
        "model": {
            "orders": {"mae": 0.798031, "rmse": 1.158119, "spearman": 0.495377},
            "revenue": {"mae": 395.899418, "rmse": 1310.977182, "spearman": 0.486195},
            "churn": {
                "auc": 0.74584,
                "brier": 0.200546,
                "mean_predicted": 0.524224,
                "share_actual": 0.509378,
            },
        },
        "baseline": {
            "orders": {"mae": 0.825108, "rmse": 1.134002, "spearman": 0.521337},
            "revenue": {"mae": 379.718656, "rmse": 1149.206723, "spearman": 0.532988},
            "churn": {
                "auc": 0.733967,
                "brier": 0.207221,
                "mean_predicted": 0.429449,
                "share_actual": 0.509378,
            },
        },
    },
    "totals": {
        "predicted_orders": 2874.8,
        "predicted_revenue": 1263596.18,
        "baseline_orders": 3288.36,
        "baseline_revenue": 1464942.8,
        "actual_orders": 2793.0,
        "actual_revenue": 1398513.47,
    },
    "deciles": {
        "orders": _deciles([0.1 * i for i in range(1, 11)], [0.12 * i for i in range(1, 11)]),
        "revenue": _deciles([10.0 * i for i in range(1, 11)], [9.0 * i for i in range(1, 11)]),
        "churn": _deciles([0.08 * i for i in range(1, 11)], [0.07 * i for i in range(1, 11)]),
    },
}


def _histogram(low: float, high: float, median: float, mean: float) -> dict[str, Any]:
    step = (high - low) / 20
    return {
        "edges": [round(low + step * i, 4) for i in range(21)],
        "counts": [30, 25, 20, 15, 12, 10, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 9],
        "median": median,
        "mean": mean,
    }


DISTRIBUTIONS: dict[str, Any] = {
    "clv": _histogram(10.0, 1010.0, 221.35, 429.68),
    "expected_orders": _histogram(0.0, 4.0, 0.66, 0.97),
    "churn_risk": _histogram(0.0, 1.0, 0.59, 0.545),
    "p_alive": _histogram(0.0, 1.0, 1.0, 0.999),
    "expected_order_value": _histogram(52.0, 1052.0, 392.86, 397.44),
    "next_order_days": _histogram(3.0, 503.0, 128.1, 186.9),
}


def _metrics(*, sufficient: bool = True, backtest: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "seconds": 24.4,
        "model": "mbgnbd",
        "merge_same_day": True,
        "level": 0.8,
        "bootstrap": 200,
        "fit": {
            "bgnbd": {"r": 0.718566, "alpha": 66.466761, "a": 2.2e-05, "b": 50.982556},
            "gamma_gamma": {"p": 2.452617, "q": 3.455345, "gamma": 393.298366},
            "customers": 250,
            "repeat_buyers": 120 if sufficient else 12,
            "calibration_days": 273.3,
            "converged": True,
            "sufficient": sufficient,
            "reasons": [] if sufficient else REASONS,
        },
        "distributions": DISTRIBUTIONS,
        "backtest": BACKTEST if backtest is None else backtest,
    }


def _prediction_run(**metrics: Any) -> PredictionRun:
    """A succeeded prediction run (and the cleaning and feature runs it hangs on)."""
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.SUCCEEDED, as_of=AS_OF
    )
    built = _metrics(**metrics)
    return PredictionRun.objects.create(
        feature_run=features,
        status=RunStatus.SUCCEEDED,
        finished_at=datetime(2011, 9, 1, 3, 0, tzinfo=UTC),
        as_of=AS_OF,
        horizon_days=90,
        customers=250,
        sufficient=built["fit"]["sufficient"],
        metrics=built,
    )


def _score(run: PredictionRun, customer: Customer, **fields: Any) -> CustomerScore:
    values: dict[str, Any] = {
        "expected_orders": 1.42,
        "expected_orders_lo": 1.1,
        "expected_orders_hi": 1.8,
        "orders_pred_lo": 0,
        "orders_pred_hi": 3,
        "clv": 123.4,
        "clv_lo": 80.2,
        "clv_hi": 170.4,
        "revenue_pred_lo": 0.0,
        "revenue_pred_hi": 412.0,
        "expected_order_value": 86.9,
        "expected_order_value_lo": 71.5,
        "expected_order_value_hi": 101.25,
        "p_alive": 0.93,
        "p_alive_lo": 0.9,
        "p_alive_hi": 0.96,
        "churn_risk": 0.3125,
        "churn_risk_lo": 0.28,
        "churn_risk_hi": 0.35,
        "next_order_days": 29.0,
        "next_order_days_lo": 22.0,
        "next_order_days_hi": 37.0,
        "next_order_date": datetime(2011, 9, 29, 16, 45, tzinfo=UTC),
        "no_repeat": False,
        "short_history": False,
        "sufficient": run.sufficient,
    }
    values.update(fields)
    return CustomerScore.objects.create(run=run, customer=customer, **values)


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _text(page: str) -> str:
    """The page's visible words with tags dropped and whitespace squeezed."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()
    return re.sub(r"\s+([.,;:)])", r"\1", re.sub(r"\(\s+", "(", text))


def _json(page: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page)
    assert found, f"no json_script {element_id}"
    return json.loads(found[1])


def _canvases(page: str) -> dict[str, dict[str, str]]:
    """data-chart name → the canvas's attributes."""
    out = {}
    for tag in re.findall(r"<canvas\b[^>]*>", page):
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        out[attributes["data-chart"]] = {k: html.unescape(v) for k, v in attributes.items()}
    return out


# -- access -------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/predictions/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/predictions/"


def test_users_without_a_role_are_refused(client, plain_user):
    client.force_login(plain_user)
    assert client.get("/predictions/").status_code == 403


def test_viewers_read_the_page_from_the_menu(viewer_client):
    page = _page(viewer_client.get("/predictions/"))
    assert re.search(r'<a href="/predictions/" aria-current="page">Predictions</a>', page)
    assert "<h1>Predictions</h1>" in page


# -- the Predictions page -----------------------------------------------------------------------


def test_without_a_prediction_run_the_page_points_to_the_pipeline(viewer_client):
    page = _page(viewer_client.get("/predictions/"))
    text = _text(page)
    assert "No predictions yet." in text
    assert "An editor can run the pipeline from the Pipeline page." in text
    assert 'href="/pipeline/"' in page
    assert "<canvas" not in page and "chart.umd.min.js" not in page


def test_the_page_shows_the_run_the_fit_and_what_the_scores_mean(viewer_client):
    run = _prediction_run()
    page = _page(viewer_client.get("/predictions/"))
    text = _text(page)
    # the run: when, model, horizon, customers, verdict
    assert "31 Aug 2011 prediction date" in text
    assert "90 days horizon of the predictions" in text
    assert "250 customers scored" in text
    assert "Sufficient data for the fit" in text
    assert f"Predictions #{run.pk}, finished" in text
    assert "MBG/NBD + Gamma-Gamma, fitted by maximum likelihood" in text
    assert "250 customers, 120 of them with a repeat order, over 273 days of purchases" in text
    assert "80% intervals from 200 bootstrap replicates" in text
    assert "Not enough data" not in text
    # the fitted parameters (four significant digits) and what they imply
    for name, value in [("r", "0.7186"), ("α", "66.47"), ("a", "2.2e-05"), ("b", "50.98")]:
        assert f"MBG/NBD {name} {value}" in text
    for name, value in [("p", "2.453"), ("q", "3.455"), ("γ", "393.3")]:
        assert f"Gamma-Gamma {name} {value}" in text
    # 0.718566 / 66.466761 × 90 = 0.973; 2.452617 × 393.298366 / 2.455345 = 392.86
    assert "while active, customers order 0.97 times in 90 days on average" in text
    assert "the population's mean order value is £392.86" in text
    # every score explained, with its median and mean
    assert (
        "Churn risk (no order in 90 days) Probability that the customer places no order "
        "within the next 90 days" in text
    )
    assert "P(active) ≈ 1 for everyone" in text
    assert "Predicted revenue, next 90 days Expected revenue from the customer over the next " in (
        text
    )
    assert "£221.35 £429.68" in text  # the clv's median and mean
    assert "59.0% 54.5%" in text  # churn risk's


def test_the_backtest_compares_the_model_with_the_naive_baseline(viewer_client):
    _prediction_run()
    page = _page(viewer_client.get("/predictions/"))
    text = _text(page)
    assert (
        "fitted on purchases up to 2 Jun 2011 and asked to predict the 90 days that followed, "
        "for the 250 customers" in text
    )
    assert "Naive baseline: next period at the calibration period's rate." in text
    # wins: orders MAE, churn AUC, Brier, and the mean predicted closer to the actual 50.9%
    assert "The model beats the baseline on 4 of 9 measures; the baseline wins 5." in text
    assert "4 of 9 backtest measures where the model beats the naive baseline" in text
    rows = [
        "Orders",
        "Mean absolute error 0.798 0.825 model",
        "Root mean squared error 1.158 1.134 baseline",
        "Spearman rank correlation 0.495 0.521 baseline",
        "Revenue",
        "Mean absolute error £395.90 £379.72 baseline",
        "Root mean squared error £1,310.98 £1,149.21 baseline",
        "Spearman rank correlation 0.486 0.533 baseline",
        "Churn risk",
        "AUC 0.746 0.734 model",
        "Brier score 0.201 0.207 model",
        "Mean predicted churn risk 52.4% 42.9% model",
    ]
    table = _text(re.search(r'<table class="prediction-metrics".*?</table>', page, re.S)[0])
    position = 0
    for row in rows:
        found = table.find(row, position)
        assert found >= 0, (row, table)
        position = found + len(row)
    assert "50.9% did not order" in table
    assert "2,793 orders and £1,398,513 actually; the model predicted 2,875 orders" in text


def test_the_calibration_charts_get_both_series_per_decile(viewer_client):
    _prediction_run()
    page = _page(viewer_client.get("/predictions/"))
    canvases = _canvases(page)
    assert set(canvases) == {"calibration-orders", "calibration-revenue", "calibration-churn"}
    assert canvases["calibration-revenue"]["data-key"] == "deciles.revenue"
    assert canvases["calibration-revenue"]["data-kind"] == "money"
    assert canvases["calibration-churn"]["data-kind"] == "percent"
    assert {c["data-chart-type"] for c in canvases.values()} == {"calibration"}
    assert {c["data-source"] for c in canvases.values()} == {"prediction-charts"}
    charts = _json(page, "prediction-charts")
    assert charts["deciles"] == BACKTEST["deciles"]
    assert "vendor/chartjs-4.5.1/chart.umd.min.js" in page and "js/charts.js" in page
    # each chart has its figures as a table too
    text = _text(page)
    assert "Decile Customers Mean predicted Mean actual 1 25 0.10 0.12 2 25 0.20 0.24" in text
    assert "10 25 £100.00 £90.00" in text
    assert "10 25 80.0% 70.0%" in text


def test_insufficient_data_is_said_prominently_with_its_reasons(viewer_client):
    _prediction_run(sufficient=False)
    page = _page(viewer_client.get("/predictions/"))
    alert = re.search(r'<section class="card prediction-alert".*?</section>', page, re.S)
    assert alert, "no warning"
    assert page.index("prediction-alert") < page.index('class="figures"')  # above the figures
    alert_text = _text(alert[0])
    assert alert_text.startswith("Not enough data to trust these scores")
    assert re.findall(r"<li>(.*?)</li>", alert[0]) == REASONS
    assert "Not sufficient data for the fit" in _text(page)


def test_a_skipped_backtest_says_why_and_draws_no_chart(viewer_client):
    _prediction_run(backtest={"skipped": "less than 90 days of purchases before the last 90"})
    page = _page(viewer_client.get("/predictions/"))
    text = _text(page)
    assert "No backtest for this run: less than 90 days of purchases before the last 90." in text
    assert "prediction-metrics" not in page
    assert "<canvas" not in page and "chart.umd.min.js" not in page
    # the rest of the page is still there
    assert "Gamma-Gamma γ 393.3" in text


def test_the_run_in_use_is_the_newest_that_succeeded(viewer_client):
    older = _prediction_run()
    newer = _prediction_run(sufficient=False)
    PredictionRun.objects.filter(pk=older.pk).update(finished_at=datetime(2011, 8, 1, tzinfo=UTC))
    PredictionRun.objects.create(feature_run=newer.feature_run, status=RunStatus.FAILED)
    text = _text(_page(viewer_client.get("/predictions/")))
    assert f"Predictions #{newer.pk}, finished" in text


# -- the dashboard ------------------------------------------------------------------------------


@pytest.fixture
def sample(sample_path):
    return import_file(path=sample_path, format="online-retail")


def test_the_dashboard_draws_a_histogram_per_score_with_its_median(viewer_client, sample):
    run = _prediction_run()
    page = _page(viewer_client.get("/"))
    text = _text(page)
    assert (
        f"Prediction run #{run.pk}: 250 customers scored on their purchases up to 31 Aug 2011, "
        "looking 90 days ahead." in text
    )
    section = page[page.index('id="predictions-title"') : page.index("<h2>Last import</h2>")]
    assert 'href="/predictions/"' in section
    canvases = {k: v for k, v in _canvases(page).items() if k.startswith("score-")}
    names = ["clv", "expected_orders", "churn_risk", "p_alive", "expected_order_value"]
    names.append("next_order_days")
    assert list(canvases) == [f"score-{name}" for name in names]
    assert {c["data-chart-type"] for c in canvases.values()} == {"histogram"}
    assert canvases["score-clv"]["data-key"] == "scores.clv"
    assert canvases["score-clv"]["aria-label"] == (
        "Customers by predicted revenue, next 90 days; median £221.35"
    )
    assert canvases["score-churn_risk"]["aria-label"].endswith("median 59.0%")
    assert canvases["score-next_order_days"]["aria-label"].endswith("median 128.1")
    scores = _json(page, "dashboard-charts")["scores"]
    assert list(scores) == names
    assert scores["clv"] == {
        "edges": DISTRIBUTIONS["clv"]["edges"],
        "counts": DISTRIBUTIONS["clv"]["counts"],
        "median": 221.35,
        "unit": "currency",
        "open_ended": True,
    }
    assert scores["p_alive"]["open_ended"] is False
    assert "Not enough data to trust these scores" not in text


def test_the_dashboard_skips_an_empty_histogram_and_warns_when_insufficient(viewer_client, sample):
    run = _prediction_run(sufficient=False)
    metrics = run.metrics
    metrics["distributions"]["expected_order_value"] = {"edges": [], "counts": [], "median": None}
    PredictionRun.objects.filter(pk=run.pk).update(metrics=metrics)
    page = _page(viewer_client.get("/"))
    text = _text(page)
    assert "Predicted order value: no values to chart." in text
    assert "score-expected_order_value" not in _canvases(page)
    assert "expected_order_value" not in _json(page, "dashboard-charts")["scores"]
    assert "Not enough data to trust these scores. See why" in text


def test_the_dashboard_without_predictions_says_so(viewer_client, sample):
    page = _page(viewer_client.get("/"))
    assert "No predictions yet: the pipeline's predict step makes them" in _text(page)
    assert not [name for name in _canvases(page) if name.startswith("score-")]
    assert _json(page, "dashboard-charts")["scores"] == {}


# -- the customer page --------------------------------------------------------------------------


def test_a_customers_scores_with_their_intervals(viewer_client, sample):
    run = _prediction_run()
    customer = Customer.objects.get(external_id="17850")
    _score(run, customer)
    page = _page(viewer_client.get("/customers/17850/"))
    section = page[page.index('id="prediction-title"') :]
    text = _text(section)
    assert "On purchases up to 31 Aug 2011, for the 90 days after; ranges are 80% intervals." in (
        text
    )
    expected = [
        "Predicted revenue, next 90 days £123 80% interval £80–£170 actual spend likely £0–£412",
        "Predicted orders, next 90 days 1.4 interval 1.1–1.8 actually likely 0–3 orders",
        "Churn risk: no order in 90 days 31.2% interval 28.0%–35.0%",
        "P(active): not dropped out for good 93.0% interval 90.0%–96.0%",
        "Expected order value £86.90 interval £71.50–£101.25",
        "Next order, if still active 29 Sep 2011 median: 29 days after the prediction date",
    ]
    for line in expected:
        assert line in text, (line, text[:1500])
    assert "score-warnings" not in section
    # where the customer stands among all customers: their bar is marked
    canvases = _canvases(page)
    assert canvases["score-clv"]["data-mark"] == "123.400000"
    assert canvases["score-churn_risk"]["data-mark"] == "0.312500"
    assert canvases["score-clv"]["data-source"] == "customer-prediction-charts"
    assert set(_json(page, "customer-prediction-charts")) == {"clv", "churn_risk"}


def test_a_customers_flags_are_warnings(viewer_client, sample):
    run = _prediction_run(sufficient=False)
    customer = Customer.objects.get(external_id="17850")
    _score(run, customer, no_repeat=True, short_history=True, p_alive=1.0)
    page = _page(viewer_client.get("/customers/17850/"))
    warnings = re.search(r'<ul class="score-warnings"[^>]*>(.*?)</ul>', page, re.S)
    assert warnings
    items = [html.unescape(i) for i in re.findall(r"<li>(.*?)</li>", warnings[1])]
    assert items == [
        "No repeat order yet: the purchase rate leans on the population, and the order value "
        "rests on a single order, shrunk towards the population average.",
        "Short history: the first order was less than 14 days before the prediction date, too "
        "soon to say much about this customer.",
        "The model's fit is not sufficient, so none of these scores should be trusted: "
        + "; ".join(REASONS)
        + ".",
    ]
    assert "≈100% for most customers on a short shop history: read churn risk" in _text(page)


def test_a_customer_without_a_score_is_told_why(viewer_client, sample):
    run = _prediction_run()
    _score(run, Customer.objects.get(external_id="17850"))
    page = _page(viewer_client.get("/customers/12583/"))
    text = _text(page)
    assert (
        "No scores for this customer: no purchase before 31 Aug 2011, the prediction date of "
        "the run in use" in text
    )
    assert "score-clv" not in _canvases(page)


def test_a_customer_page_before_any_prediction_run(viewer_client, sample):
    page = _page(viewer_client.get("/customers/17850/"))
    assert "No predictions yet: the pipeline's predict step makes them" in _text(page)
    assert "customer-prediction-charts" not in page


# -- through the pipeline -----------------------------------------------------------------------


def test_the_pipeline_on_a_tiny_shop_is_flagged_everywhere(viewer_client, sample):
    # given the sample file's three buying customers, none with a repeat order
    pipeline = pipeline_start(trigger="cli", sync=True, until="segment")
    assert pipeline.status == RunStatus.SUCCEEDED, pipeline.error
    run = pipeline.prediction_run
    assert run.customers == 3 and not run.sufficient
    reasons = run.metrics["fit"]["reasons"]
    assert reasons[0] == "fewer than 30 repeat buyers (0)"
    # then the Predictions page says the data do not suffice, and why
    page = _page(viewer_client.get("/predictions/"))
    alert = re.search(r'<section class="card prediction-alert".*?</section>', page, re.S)
    assert alert and [html.unescape(r) for r in re.findall(r"<li>(.*?)</li>", alert[0])] == (
        reasons
    )
    assert "3 customers scored" in _text(page)
    # the order-value model is fitted on the three first orders (all orders' values count)
    assert "Gamma-Gamma p –" not in _text(page)
    assert run.metrics["fit"]["gamma_gamma"]["p"] is not None
    # and a scored customer's page carries the warnings
    customer = _text(_page(viewer_client.get("/customers/17850/")))
    assert "No repeat order yet" in customer
    assert "The model's fit is not sufficient" in customer
    # a customer who only returned something has no score
    returns_only = _text(_page(viewer_client.get("/customers/15311/")))
    assert "No scores for this customer: no purchase before" in returns_only
