"""Predictions API: prediction runs (list, detail, current), a run's scores (filters, ordering,
pagination), the scores on the customer detail, the predictions:read scope, and the admin pages.

Most tests use a hand-made prediction run with known scores (one_run); one runs the pipeline on
the Online Retail sample and checks the API against what the predict step stored."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from ecomsite.engine.synthetic import SyntheticParams
from ecomsite.models import CleaningRun, Customer, RunStatus, Scope
from ecomsite.services.synthetic import synthetic_events_store
from segments.models import CustomerScore, FeatureRun, PipelineTrigger, PredictionRun
from segments.services.pipeline import pipeline_start
from segments.services.predictions import SCORE_FEATURES

pytestmark = pytest.mark.django_db

AS_OF = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
# customer → (clv, churn_risk, expected_orders, p_alive, flags); P6 bought nothing (no score)
SCORES = {
    "P1": (500.0, 0.10, 5.0, 0.95, {"sufficient": True}),
    "P2": (120.0, 0.80, 0.6, 0.40, {"sufficient": True}),
    "P3": (300.0, 0.75, 1.5, 0.70, {"no_repeat": True}),
    "P4": (None, 0.50, 1.0, 0.90, {"sufficient": True}),
    "P5": (50.0, 0.95, 0.1, 0.20, {"short_history": True}),
}
FIT = {
    "bgnbd": {"r": 0.8, "alpha": 40.0, "a": 0.9, "b": 3.1},
    "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 16.0},
    "customers": 5,
    "repeat_buyers": 3,
    "calibration_days": 300.0,
    "converged": True,
    "sufficient": True,
    "reasons": [],
}
BACKTEST = {
    "calibration_end": "2024-03-03T00:00:00",
    "holdout_days": 90.0,
    "customers": 4,
    "metrics": {"model": {"orders_mae": 0.9}, "baseline": {"orders_mae": 1.1}},
    "deciles": {"churn_risk": [{"decile": 1, "predicted": 0.1, "actual": 0.0}]},
}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


def _score(run: PredictionRun, customer: Customer, values: tuple) -> CustomerScore:  # type: ignore[type-arg]
    clv, churn, orders, alive, flags = values
    return CustomerScore.objects.create(
        run=run,
        customer=customer,
        clv=clv,
        clv_lo=None if clv is None else clv * 0.8,
        clv_hi=None if clv is None else clv * 1.25,
        churn_risk=churn,
        churn_risk_lo=churn - 0.05,
        churn_risk_hi=churn + 0.04,
        expected_orders=orders,
        expected_orders_lo=orders / 2,
        expected_orders_hi=orders * 2,
        p_alive=alive,
        p_alive_lo=alive - 0.1,
        p_alive_hi=alive,
        expected_order_value=None if clv is None else 100.0,
        expected_order_value_lo=None if clv is None else 90.0,
        expected_order_value_hi=None if clv is None else 110.0,
        next_order_days=30.0,
        next_order_days_lo=20.0,
        next_order_days_hi=45.0,
        next_order_date=AS_OF + dt.timedelta(days=30),
        orders_pred_lo=0,
        orders_pred_hi=int(orders * 2),
        revenue_pred_lo=0.0,
        revenue_pred_hi=None if clv is None else clv * 2,
        no_repeat=flags.get("no_repeat", False),
        short_history=flags.get("short_history", False),
        sufficient=flags.get("sufficient", False),
    )


def _run(**fields) -> PredictionRun:  # type: ignore[no-untyped-def]
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(cleaning_run=cleaning, status=RunStatus.SUCCEEDED)
    return PredictionRun.objects.create(feature_run=features, **fields)


@pytest.fixture
def one_run() -> PredictionRun:
    customers = {name: Customer.objects.create(external_id=name) for name in [*SCORES, "P6"]}
    run = _run(
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        as_of=AS_OF,
        horizon_days=90,
        customers=len(SCORES),
        sufficient=True,
        metrics={
            "model": "mbgnbd",
            "level": 0.8,
            "bootstrap": 200,
            "seconds": 1.5,
            "fit": FIT,
            "backtest": BACKTEST,
            "distributions": {"clv": {"edges": [0, 250, 500], "counts": [2, 2], "median": 210}},
        },
    )
    for name, values in SCORES.items():
        _score(run, customers[name], values)
    return run


@pytest.fixture
def reader() -> APIClient:
    return APIClient()


@pytest.fixture
def partner(api_client) -> APIClient:  # type: ignore[no-untyped-def]
    return api_client([Scope.PREDICTIONS_READ, Scope.CATALOG_READ])


def _ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [row["customer_id"] for row in body["results"]]


# -- scopes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/predictions/",
        "/api/v1/predictions/{run}/",
        "/api/v1/predictions/current/",
        "/api/v1/predictions/{run}/scores/",
        "/api/v1/predictions/current/scores/",
    ],
)
def test_predictions_need_the_predictions_scope(api_client, viewer_user, plain_user, one_run, path):
    url = path.format(run=one_run.pk)
    # anonymous: 401; a token without the scope (even catalog and segments): 403
    assert APIClient().get(url).status_code == 401
    other = api_client([Scope.CATALOG_READ, Scope.SEGMENTS_READ, Scope.CAMPAIGNS_READ])
    refused = other.get(url)
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "This endpoint needs a token with the 'predictions:read' scope."
    )
    # a token with it, and a viewer's session: 200; a signed-in user with no role: 403
    assert api_client([Scope.PREDICTIONS_READ]).get(url).status_code == 200
    viewer = APIClient()
    viewer.force_login(viewer_user)
    assert viewer.get(url).status_code == 200
    nobody = APIClient()
    nobody.force_login(plain_user)
    assert nobody.get(url).status_code == 403


# -- runs ---------------------------------------------------------------------------------------


def test_runs_newest_first_with_the_one_in_use(partner, one_run):
    # given an older failed run and a newer running one beside the succeeded one
    failed = _run(status=RunStatus.FAILED, error="boom")
    running = _run(status=RunStatus.RUNNING, progress=0.4, progress_message="Intervals")
    PredictionRun.objects.filter(pk=failed.pk).update(
        created_at=one_run.created_at - dt.timedelta(days=1)
    )
    # when the runs are listed
    body = partner.get("/api/v1/predictions/").json()
    # then newest first, paginated, and only the succeeded one is in use
    assert body["count"] == 3
    rows = body["results"]
    assert [r["id"] for r in rows] == [running.pk, one_run.pk, failed.pk]
    assert [r["in_use"] for r in rows] == [False, True, False]
    assert [r["status"] for r in rows] == ["running", "succeeded", "failed"]
    listed = rows[1]
    assert listed["url"] == f"http://testserver/api/v1/predictions/{one_run.pk}/"
    assert listed["scores_url"] == f"http://testserver/api/v1/predictions/{one_run.pk}/scores/"
    assert (listed["as_of"], listed["horizon_days"]) == ("2024-06-01T00:00:00Z", 90)
    assert (listed["customers"], listed["sufficient"]) == (5, True)
    assert "fit" not in listed  # the detail carries the reports
    assert rows[0]["progress_message"] == "Intervals" and rows[2]["error"] == "boom"


def test_detail_and_current_carry_fit_backtest_and_distributions(partner, one_run):
    detail = partner.get(f"/api/v1/predictions/{one_run.pk}/").json()
    assert detail["fit"] == FIT
    assert detail["backtest"] == BACKTEST
    assert detail["distributions"]["clv"]["counts"] == [2, 2]
    assert (detail["model"], detail["level"], detail["bootstrap"]) == ("mbgnbd", 0.8, 200)
    assert (detail["sufficient"], detail["in_use"]) == (True, True)
    assert partner.get("/api/v1/predictions/current/").json() == detail


def test_current_before_any_run_is_a_clear_404(partner):
    _run(status=RunStatus.RUNNING)
    response = partner.get("/api/v1/predictions/current/")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "No prediction run has succeeded yet: start the pipeline first."
    )
    assert partner.get("/api/v1/predictions/current/scores/").status_code == 404
    assert partner.get("/api/v1/predictions/999/").status_code == 404
    assert partner.get("/api/v1/predictions/abc/scores/").status_code == 404


# -- scores -------------------------------------------------------------------------------------


def test_scores_with_their_intervals(partner, one_run):
    body = partner.get(f"/api/v1/predictions/{one_run.pk}/scores/").json()
    assert body["run"] == {
        "run": one_run.pk,
        "as_of": "2024-06-01T00:00:00Z",
        "horizon_days": 90,
        "level": 0.8,
    }
    # by customer by default; P6 has no score
    assert (body["count"], _ids(body)) == (5, ["P1", "P2", "P3", "P4", "P5"])
    first = body["results"][0]
    assert first == {
        "customer_id": "P1",
        "expected_orders": {"value": 5.0, "lo": 2.5, "hi": 10.0},
        "clv": {"value": 500.0, "lo": 400.0, "hi": 625.0},
        "expected_order_value": {"value": 100.0, "lo": 90.0, "hi": 110.0},
        "p_alive": {"value": 0.95, "lo": pytest.approx(0.85), "hi": 0.95},
        "churn_risk": {"value": 0.1, "lo": pytest.approx(0.05), "hi": pytest.approx(0.14)},
        "next_order_days": {"value": 30.0, "lo": 20.0, "hi": 45.0},
        "next_order_date": "2024-07-01T00:00:00Z",
        "orders_pred": {"lo": 0, "hi": 10},
        "revenue_pred": {"lo": 0.0, "hi": 1000.0},
        "flags": {"no_repeat": False, "short_history": False, "sufficient": True},
    }
    assert isinstance(first["orders_pred"]["hi"], int)  # whole orders
    # a score the model cannot give is null, interval and all
    p4 = body["results"][3]
    assert p4["clv"] == {"value": None, "lo": None, "hi": None}
    assert p4["revenue_pred"] == {"lo": 0.0, "hi": None}
    # the run in use's scores are the same
    assert partner.get("/api/v1/predictions/current/scores/").json() == body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"churn_risk__gte": "0.75"}, ["P2", "P3", "P5"]),
        ({"churn_risk__gte": "0.7", "clv__gte": "100"}, ["P2", "P3"]),
        ({"clv__lte": "120"}, ["P2", "P5"]),  # P4 has no clv: never matches
        ({"p_alive__lte": "0.5"}, ["P2", "P5"]),
        ({"expected_orders__gte": "1", "expected_orders__lte": "1.5"}, ["P3", "P4"]),
        ({"sufficient": "true"}, ["P1", "P2", "P4"]),
        ({"sufficient": "false"}, ["P3", "P5"]),
        ({"no_repeat": "true"}, ["P3"]),
        ({"short_history": "1"}, ["P5"]),
        ({"customer_id": "P4"}, ["P4"]),
        ({"ordering": "-clv"}, ["P1", "P3", "P2", "P5", "P4"]),  # no clv last
        ({"ordering": "clv"}, ["P5", "P2", "P3", "P1", "P4"]),
        ({"ordering": "-churn_risk"}, ["P5", "P2", "P3", "P4", "P1"]),
        ({"ordering": "expected_orders"}, ["P5", "P2", "P4", "P3", "P1"]),
        ({"ordering": "p_alive"}, ["P5", "P2", "P3", "P4", "P1"]),
        ({"ordering": "-p_alive", "churn_risk__gte": "0.5"}, ["P4", "P3", "P2", "P5"]),
    ],
)
def test_scores_filter_and_order(partner, one_run, query, expected):
    response = partner.get(f"/api/v1/predictions/{one_run.pk}/scores/", query)
    assert response.status_code == 200, response.json()
    assert _ids(response.json()) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"ordering": "monetary"}, "ordering"),
        ({"clv__gte": "lots"}, "clv__gte"),
        ({"clv__gt": "10"}, "clv__gt"),  # unknown filters are refused, not ignored
        ({"sufficient": "maybe"}, "sufficient"),
    ],
)
def test_bad_filters_are_a_400_naming_them(partner, one_run, query, field):
    response = partner.get(f"/api/v1/predictions/{one_run.pk}/scores/", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_scores_are_paginated_with_a_capped_page_size(partner, one_run):
    page = partner.get(
        f"/api/v1/predictions/{one_run.pk}/scores/",
        {"ordering": "-clv", "page_size": 2, "page": 2},
    ).json()
    assert (page["count"], _ids(page)) == (5, ["P2", "P5"])
    assert "page=3" in page["next"] and "page_size=2" in page["next"]
    # asking for more than 1,000 a page gets 1,000 (all five here)
    capped = partner.get(f"/api/v1/predictions/{one_run.pk}/scores/", {"page_size": 50_000})
    assert len(capped.json()["results"]) == 5


# -- the customer detail ------------------------------------------------------------------------


def test_the_customer_detail_carries_the_scores(partner, one_run):
    body = partner.get("/api/v1/customers/P3/").json()
    assert body["external_id"] == "P3"
    scores = body["scores"]
    assert (scores["run"], scores["as_of"], scores["horizon_days"]) == (
        one_run.pk,
        "2024-06-01T00:00:00Z",
        90,
    )
    assert scores["level"] == 0.8
    assert scores["clv"] == {"value": 300.0, "lo": 240.0, "hi": 375.0}
    assert scores["churn_risk"] == {"value": 0.75, "lo": 0.7, "hi": pytest.approx(0.79)}
    assert scores["orders_pred"] == {"lo": 0, "hi": 3}
    assert scores["revenue_pred"] == {"lo": 0.0, "hi": 600.0}
    assert scores["next_order_date"] == "2024-07-01T00:00:00Z"
    assert scores["flags"] == {"no_repeat": True, "short_history": False, "sufficient": False}
    # a customer without a purchase has none
    assert partner.get("/api/v1/customers/P6/").json()["scores"] is None


def test_the_customer_detail_without_a_run_has_null_scores(partner):
    Customer.objects.create(external_id="P1")
    assert partner.get("/api/v1/customers/P1/").json()["scores"] is None


def test_the_scores_on_the_customer_detail_need_the_predictions_scope(
    api_client, viewer_user, one_run
):
    # a catalog-only token reads the customer, not the scores
    catalog = api_client([Scope.CATALOG_READ]).get("/api/v1/customers/P1/")
    assert catalog.status_code == 200
    assert catalog.json()["external_id"] == "P1" and "scores" not in catalog.json()
    # the predictions scope alone does not open the customer endpoint
    assert api_client([Scope.PREDICTIONS_READ]).get("/api/v1/customers/P1/").status_code == 403
    # a viewer's session sees both; the list stays as it was (no scores)
    viewer = APIClient()
    viewer.force_login(viewer_user)
    assert viewer.get("/api/v1/customers/P1/").json()["scores"]["clv"]["value"] == 500.0
    listed = viewer.get("/api/v1/customers/").json()["results"]
    assert listed and all("scores" not in row for row in listed)
    assert APIClient().get("/api/v1/customers/P1/").status_code == 401


# -- the real predict step ----------------------------------------------------------------------


def test_the_api_serves_what_the_predict_step_stored(partner, settings):
    # given the pipeline up to the segmentation on a synthetic shop
    settings.PREDICTIVE_BOOTSTRAP = 40
    params = SyntheticParams(
        customers=250, products=60, events=6_000, seed=1, start="2024-01-01", days=120
    )
    synthetic_events_store(params=params)
    pipeline = pipeline_start(trigger=PipelineTrigger.CLI, sync=True, until="segment")
    assert pipeline.status == RunStatus.SUCCEEDED, pipeline.error
    run = pipeline.prediction_run
    # when the run in use and its scores are read
    current = partner.get("/api/v1/predictions/current/").json()
    body = partner.get("/api/v1/predictions/current/scores/", {"ordering": "-clv"}).json()
    # then it is the pipeline's, with its fit report, backtest and a histogram per score
    assert (current["id"], current["in_use"], current["status"]) == (run.pk, True, "succeeded")
    assert current["customers"] == run.customers == body["count"]
    assert run.customers > 100
    assert current["fit"] == run.metrics["fit"]
    assert set(current["fit"]["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert current["backtest"] == run.metrics["backtest"]
    assert set(current["distributions"]) == set(SCORE_FEATURES)
    # every score equals the stored row, highest predicted revenue first
    stored = {s.customer.external_id: s for s in CustomerScore.objects.filter(run=run)}
    clvs = [row["clv"]["value"] for row in body["results"]]
    assert None not in clvs and clvs == sorted(clvs, reverse=True)
    for row in body["results"]:
        score = stored[row["customer_id"]]
        for name in ("clv", "churn_risk", "expected_orders", "p_alive"):
            assert row[name] == {
                "value": getattr(score, name),
                "lo": getattr(score, f"{name}_lo"),
                "hi": getattr(score, f"{name}_hi"),
            }
        assert row["orders_pred"] == {"lo": score.orders_pred_lo, "hi": score.orders_pred_hi}
        assert row["flags"]["no_repeat"] is score.no_repeat
    # and the customer detail shows the same as its row
    top = body["results"][0]
    detail = partner.get(f"/api/v1/customers/{top['customer_id']}/").json()["scores"]
    assert detail["run"] == run.pk and detail["clv"] == top["clv"]
    assert detail["horizon_days"] == 90


# -- admin --------------------------------------------------------------------------------------


def test_admin_pages_of_runs_and_scores_load(admin_client, one_run):
    score = CustomerScore.objects.get(customer__external_id="P2")
    pages = [
        "/admin/segments/predictionrun/",
        f"/admin/segments/predictionrun/{one_run.pk}/change/",
        "/admin/segments/customerscore/",
        f"/admin/segments/customerscore/{score.pk}/change/",
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url
    # scores: searched by the customer's id, filtered by the flags; both read-only
    found = admin_client.get("/admin/segments/customerscore/", {"q": "P2"})
    assert found.context["cl"].result_count == 1
    flagged = admin_client.get("/admin/segments/customerscore/", {"no_repeat__exact": "1"})
    assert [s.customer.external_id for s in flagged.context["cl"].result_list] == ["P3"]
    runs = admin_client.get("/admin/segments/predictionrun/", {"sufficient__exact": "1"})
    assert list(runs.context["cl"].result_list) == [one_run]
    assert "Succeeded" in runs.content.decode()
    assert admin_client.get("/admin/segments/customerscore/add/").status_code == 403
    assert admin_client.get("/admin/segments/predictionrun/add/").status_code == 403
