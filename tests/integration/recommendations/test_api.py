"""Recommendations API: scopes and roles, k and filters, fallbacks for unknown customers, 404 for
unknown products, the model registry with promote / roll back for admins (CSRF included)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from ecomsite.models import Scope
from recommendations.models import ModelPromotion, TrainingRun
from tests.integration.recommendations.serving_data import build_shop

pytestmark = pytest.mark.django_db

READ = [Scope.RECOMMENDATIONS_READ]
URLS = [
    "/api/v1/customers/C1/recommendations/",
    "/api/v1/products/P1/similar/",
    "/api/v1/models/",
]


@pytest.fixture
def shop():
    return build_shop()


@pytest.fixture
def reader(api_client):
    return api_client(READ)


def _session(user, *, csrf: bool = False) -> APIClient:
    api = APIClient(enforce_csrf_checks=csrf)
    api.force_login(user)
    return api


def _csrf_token(api: APIClient) -> str:
    """A CSRF token for the logged-in session, as a staff page would hold one."""
    api.get("/models/")  # any page sets the CSRF cookie
    return api.cookies["csrftoken"].value


@pytest.mark.parametrize("url", URLS)
def test_reading_needs_the_recommendations_scope(shop, api_client, url, viewer_user, plain_user):
    assert APIClient().get(url).status_code == 401
    wrong = api_client([Scope.CATALOG_READ, Scope.SEGMENTS_READ]).get(url)
    assert wrong.status_code == 403
    assert (
        wrong.json()["detail"]
        == "This endpoint needs a token with the 'recommendations:read' scope."
    )
    assert api_client(READ).get(url).status_code == 200
    assert _session(viewer_user).get(url).status_code == 200  # staff viewers by session
    assert _session(plain_user).get(url).status_code == 403


def test_a_customers_recommendations(shop, reader):
    response = reader.get("/api/v1/customers/C1/recommendations/?k=3")
    assert response.status_code == 200
    assert response.json() == {
        "customer_id": "C1",
        "customer_known": True,
        "basis": "known customer",
        "model": {"id": shop.model.pk, "algorithm": "blend"},
        "count": 3,
        "results": [
            {
                "product_id": "P1",
                "title": "Candle",
                "category": "Candles",
                "price": 2.5,
                "score": pytest.approx(0.9),
                "reason": "you buy this about every 30 days",
                "source": "model",
            },
            {
                "product_id": "P2",
                "title": "Mug",
                "category": "Mugs",
                "price": 4.0,
                "score": pytest.approx(0.7),
                "reason": "often bought with Candle",
                "source": "model",
            },
            {
                "product_id": "P3",
                "title": "Lantern",
                "category": "Candles",
                "price": 12.0,
                "score": pytest.approx(0.6),
                "reason": "customers like you bought this",
                "source": "model",
            },
        ],
    }


def test_default_k_is_10_and_the_list_is_filled_up(shop, reader):
    body = reader.get("/api/v1/customers/C1/recommendations/").json()
    assert [(r["product_id"], r["source"]) for r in body["results"]] == [
        ("P1", "model"),
        ("P2", "model"),
        ("P3", "model"),
        ("P5", "fallback: country"),
        ("P4", "fallback: country"),
        ("P6", "fallback: trending"),
    ]
    assert body["count"] == 6


@pytest.mark.parametrize(
    ("query", "skus"),
    [
        ("category=Mugs", ["P2", "P7"]),
        ("category=Candles&k=1", ["P1"]),
        ("exclude_purchased=true&k=2", ["P2", "P3"]),
        ("exclude_purchased=false&k=2", ["P1", "P2"]),
    ],
)
def test_filters(shop, reader, query, skus):
    from django.utils import timezone

    from ecomsite.models import Event, EventKind

    Event.objects.create(
        customer=shop.customers["C1"],
        product=shop.products["P1"],
        kind=EventKind.PURCHASE,
        occurred_at=timezone.now(),
        idempotency_key="bought-P1",
    )
    body = reader.get(f"/api/v1/customers/C1/recommendations/?{query}").json()
    assert [r["product_id"] for r in body["results"]] == skus


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("k=0", "k", "Ensure this value is greater than or equal to 1."),
        ("k=101", "k", "Ensure this value is less than or equal to 100."),
        ("k=ten", "k", "A valid integer is required."),
        ("exclude_purchased=perhaps", "exclude_purchased", "Must be a valid boolean."),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(shop, reader, query, field, message):
    for url in ("/api/v1/customers/C1/recommendations/", "/api/v1/products/P1/similar/"):
        if field != "k" and "similar" in url:
            continue
        response = reader.get(f"{url}?{query}")
        assert response.status_code == 400
        assert response.json() == {field: [message]}


def test_an_unknown_customer_gets_fallbacks_saying_so_not_a_404(shop, reader):
    response = reader.get("/api/v1/customers/SOMEONE%20NEW/recommendations/?k=3")
    assert response.status_code == 200
    body = response.json()
    assert (body["customer_id"], body["customer_known"], body["basis"]) == (
        "SOMEONE NEW",
        False,
        "unknown customer",
    )
    assert [(r["product_id"], r["source"]) for r in body["results"]] == [
        ("P6", "fallback: trending"),
        ("P5", "fallback: trending"),
        ("P4", "fallback: popular"),
    ]


def test_inactive_products_are_never_returned(shop, reader):
    bodies = [
        reader.get(f"/api/v1/customers/{c}/recommendations/?k=100").json()
        for c in ("C1", "C2", "C3", "unknown")
    ]
    bodies += [reader.get(f"/api/v1/customers/C1/recommendations/?category={c}").json()
               for c in ("Candles", "Mugs")]  # fmt: skip
    bodies += [reader.get(f"/api/v1/products/{p}/similar/?k=100").json() for p in ("P1", "P7")]
    listed = {r["product_id"] for body in bodies for r in body["results"]}
    assert "PX" not in listed
    assert listed == {"P1", "P2", "P3", "P4", "P5", "P6", "P7"}


def test_similar_products_and_a_clear_404_for_unknown_products(shop, reader):
    body = reader.get("/api/v1/products/P1/similar/?k=5").json()
    assert body["product_id"] == "P1"
    assert body["title"] == "Candle"
    assert body["model"] == {"id": shop.model.pk, "algorithm": "blend"}
    assert [(r["product_id"], r["source"], r["reason"]) for r in body["results"]] == [
        ("P3", "model", "bought by the same customers"),
        ("P2", "model", "bought by the same customers"),
    ]
    new = reader.get("/api/v1/products/P7/similar/").json()
    assert [(r["product_id"], r["source"]) for r in new["results"]] == [
        ("P2", "fallback: category")
    ]
    missing = reader.get("/api/v1/products/NOPE/similar/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No product with the id 'NOPE'."}


def test_before_any_promotion_the_answer_is_503_with_the_reason(reader):
    build_shop(promote=False)
    for url in URLS[:2]:
        response = reader.get(url)
        assert response.status_code == 503
        assert response.json() == {
            "detail": "No recommendation model serves yet: train one and promote it first."
        }


def test_model_runs_list_with_metrics_and_the_serving_flag(shop, reader):
    body = reader.get("/api/v1/models/").json()
    assert body["count"] == 3
    runs = {r["algorithm"]: r for r in body["results"]}
    assert [r["algorithm"] for r in body["results"]] == ["als", "blend", "popularity"]
    assert {name: r["serving"] for name, r in runs.items()} == {
        "als": False,
        "blend": True,
        "popularity": False,
    }
    blend = runs["blend"]
    assert blend["summary"]["all_items"]["ndcg"] == pytest.approx(0.2512)
    assert blend["summary"]["new_items"]["recall"] == pytest.approx(0.072)
    assert blend["params"] == {"repeat_weight": 0.6, "cf": "item_knn"}
    assert blend["metrics"]["all"]["recall"] == pytest.approx(0.19)
    assert (blend["train_seconds"], blend["precomputed"], blend["training_run"]) == (
        12.25,
        True,
        shop.training.pk,
    )
    detail = reader.get(f"/api/v1/models/{shop.model.pk}/").json()
    assert detail == blend
    assert reader.get("/api/v1/models/999999/").status_code == 404


def test_promote_and_roll_back_are_for_admins_only(
    shop, api_client, viewer_user, editor_user, staff_user
):
    url = f"/api/v1/models/{shop.other.pk}/promote/"
    every_scope = api_client(list(Scope.values))
    assert APIClient().post(url).status_code == 401
    assert every_scope.post(url).status_code == 403  # never a partner token
    assert every_scope.post("/api/v1/models/rollback/").status_code == 403
    for user in (viewer_user, editor_user):
        response = _session(user).post(url)
        assert response.status_code == 403
        assert response.json()["detail"] == "Only staff with the right role may do this."
    assert ModelPromotion.objects.count() == 1
    # an admin's session without the CSRF token is refused too
    admin = _session(staff_user, csrf=True)
    refused = admin.post(url)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert ModelPromotion.objects.count() == 1


def test_an_admin_promotes_and_rolls_back_and_answers_follow(
    shop, staff_user, reader, django_capture_on_commit_callbacks
):
    admin = _session(staff_user, csrf=True)
    token = _csrf_token(admin)
    before = reader.get("/api/v1/customers/C1/recommendations/?k=2").json()
    assert before["model"]["id"] == shop.model.pk
    # when the admin promotes "other" (the switch clears caches on commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/api/v1/models/{shop.other.pk}/promote/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model_run"], body["previous"], body["automatic"]) == (
        shop.other.pk,
        shop.model.pk,
        False,
    )
    assert (body["reason"], body["created_by"]) == ("Promoted by hand by staff", "staff")
    # then it serves, and the (cached) recommendations switched with it
    after = reader.get("/api/v1/customers/C1/recommendations/?k=2").json()
    assert after["model"] == {"id": shop.other.pk, "algorithm": "als"}
    assert [r["product_id"] for r in after["results"]] == ["P6", "P5"]
    serving = [r["id"] for r in reader.get("/api/v1/models/").json()["results"] if r["serving"]]
    assert serving == [shop.other.pk]
    # when the admin rolls back
    with django_capture_on_commit_callbacks(execute=True):
        back = admin.post("/api/v1/models/rollback/", HTTP_X_CSRFTOKEN=token)
    assert back.status_code == 200
    assert (back.json()["model_run"], back.json()["previous"]) == (shop.model.pk, shop.other.pk)
    again = reader.get("/api/v1/customers/C1/recommendations/?k=2").json()
    assert [r["product_id"] for r in again["results"]] == ["P1", "P2"]


def test_roll_back_with_nothing_before_is_a_409(shop, staff_user):
    response = _session(staff_user).post("/api/v1/models/rollback/")
    assert response.status_code == 409
    assert response.json() == {"detail": "There is no earlier serving model to roll back to."}


def test_promoting_a_run_whose_rows_were_pruned_queues_precompute_then_promote(
    shop, staff_user, django_capture_on_commit_callbacks
):
    # given "other" lost its rows to pruning
    shop.other.precomputed = False
    shop.other.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _session(staff_user).post(f"/api/v1/models/{shop.other.pk}/promote/")
    assert response.status_code == 202
    assert response.json() == {
        "detail": f"Precomputing the recommendations of als #{shop.other.pk}; "
        "it serves once they are written.",
        "model_run": shop.other.pk,
    }
    assert len(callbacks) == 1  # the precompute-then-promote task, sent after commit
    assert ModelPromotion.objects.first().model_run_id == shop.model.pk  # nothing switched yet


def test_a_run_without_a_fitted_model_cannot_be_promoted(shop, staff_user):
    shop.other.artifact = ""
    shop.other.save()
    response = _session(staff_user).post(f"/api/v1/models/{shop.other.pk}/promote/")
    assert response.status_code == 400
    assert response.json() == {"detail": f"{shop.other} cannot serve: it has no fitted model."}


def test_training_runs_read_with_the_scope_and_start_for_admins(
    shop, api_client, viewer_user, staff_user, django_capture_on_commit_callbacks
):
    url = "/api/v1/training-runs/"
    assert APIClient().get(url).status_code == 401
    assert api_client([Scope.CATALOG_READ]).get(url).status_code == 403
    listed = api_client(READ).get(url).json()
    assert [r["id"] for r in listed["results"]] == [shop.training.pk]
    assert listed["results"][0]["model_runs"] == [
        shop.popularity.pk,
        shop.model.pk,
        shop.other.pk,
    ]
    # starting: admins only, never a token
    assert api_client(list(Scope.values)).post(url).status_code == 403
    assert _session(viewer_user).post(url).status_code == 403
    admin = _session(staff_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin.post(url)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["created_by"], body["progress"]) == ("pending", "staff", 0.0)
    assert response["Location"].endswith(f"/api/v1/training-runs/{body['id']}/")
    assert len(callbacks) == 1  # the training task, sent after commit
    detail = api_client(READ).get(f"/api/v1/training-runs/{body['id']}/").json()
    assert (detail["id"], detail["status"], detail["model_runs"]) == (body["id"], "pending", [])
    # one round at a time
    busy = admin.post(url)
    assert busy.status_code == 409
    assert busy.json() == {
        "detail": f"Training #{body['id']} is still pending; wait for it to finish."
    }


def test_an_admin_starts_a_deep_model_round(
    shop, staff_user, django_capture_on_commit_callbacks, monkeypatch
):
    from recommendations import tasks

    sent: list[tuple[str, int]] = []
    for name in ("training_run_execute_task", "deep_training_run_execute_task"):
        monkeypatch.setattr(
            getattr(tasks, name), "delay_on_commit", lambda pk, name=name: sent.append((name, pk))
        )
    admin = _session(staff_user)
    assert admin.post("/api/v1/training-runs/", {"deep": "yes"}, format="json").status_code == 400
    response = admin.post("/api/v1/training-runs/", {"deep": True}, format="json")
    assert response.status_code == 202
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.params["deep"] is True
    assert run.params["algorithms"] == ["sequence", "ncf", "ranker"]
    assert run.params["budget_seconds"] == 900.0
    assert sent == [("deep_training_run_execute_task", run.pk)]


def test_the_schema_documents_the_endpoints(shop, staff_user):
    schema = _session(staff_user).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    recommendations = paths["/api/v1/customers/{external_id}/recommendations/"]["get"]
    assert {p["name"] for p in recommendations["parameters"]} == {
        "external_id",
        "k",
        "exclude_purchased",
        "category",
    }
    assert set(recommendations["responses"]) == {"200", "503"}
    assert set(paths["/api/v1/products/{external_id}/similar/"]["get"]["responses"]) == {
        "200",
        "404",
        "503",
    }
    assert set(paths["/api/v1/models/{id}/promote/"]["post"]["responses"]) == {"200", "202"}
    assert "post" in paths["/api/v1/models/rollback/"]
    assert set(paths["/api/v1/training-runs/"]) == {"get", "post"}
    assert "get" in paths["/api/v1/training-runs/{id}/"]


# -- end to end through the training services ---------------------------------------------------


def test_trained_served_promoted_by_hand_and_rolled_back(
    settings, tmp_path, reader, staff_user, django_capture_on_commit_callbacks
):
    from recommendations.models import ModelRun, Recommendation
    from tests.integration.recommendations.training_shop import (
        EVERY_ALGORITHM,
        TOP_N,
        shop_events,
        small_training_settings,
        trained_pipeline,
    )

    small_training_settings(settings, tmp_path)
    # given the pipeline trained every algorithm and promoted the chosen one
    shop_events()
    with django_capture_on_commit_callbacks(execute=True):
        pipeline = trained_pipeline()
    serving = ModelPromotion.objects.get().model_run
    runs = reader.get("/api/v1/models/?page_size=50").json()["results"]
    assert {r["algorithm"] for r in runs} == EVERY_ALGORITHM
    assert [r["id"] for r in runs if r["serving"]] == [serving.pk]
    row = next(r for r in runs if r["id"] == serving.pk)
    assert row["summary"]["all_items"]["ndcg"] == pytest.approx(serving.metrics["all"]["ndcg"])
    assert row["summary"]["new_items"]["recall"] == pytest.approx(serving.metrics["new"]["recall"])
    assert row["training_run"] == pipeline.training_run_id

    def stored(run: ModelRun, customer: str) -> list[tuple[str, str]]:
        return list(
            Recommendation.objects.filter(
                model_run=run, customer__external_id=customer, product__is_active=True
            )
            .order_by("rank")
            .values_list("product__external_id", "reason")
        )

    # then a buyer's list is the model's precomputed rows, reasons included
    buyer = (
        Recommendation.objects.filter(model_run=serving)
        .values_list("customer__external_id", flat=True)
        .first()
    )
    assert len(stored(serving, buyer)) == TOP_N
    body = reader.get(f"/api/v1/customers/{buyer}/recommendations/?k={TOP_N}").json()
    assert body["model"] == {"id": serving.pk, "algorithm": serving.algorithm}
    assert [(r["product_id"], r["reason"]) for r in body["results"]] == stored(serving, buyer)
    assert {r["source"] for r in body["results"]} == {"model"}
    # an unknown customer gets the trending and all-time lists
    unknown = reader.get("/api/v1/customers/nobody/recommendations/?k=5").json()
    assert unknown["count"] == 5
    assert {r["source"] for r in unknown["results"]} <= {"fallback: trending", "fallback: popular"}

    # when an admin promotes another run, whose rows were never written: 202, precompute, switch
    other = ModelRun.objects.filter(training_run=pipeline.training_run, algorithm="als").get()
    assert not other.precomputed
    admin = _session(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/api/v1/models/{other.pk}/promote/")
    assert response.status_code == 202
    other.refresh_from_db()
    assert other.precomputed
    body = reader.get(f"/api/v1/customers/{buyer}/recommendations/?k={TOP_N}").json()
    assert body["model"] == {"id": other.pk, "algorithm": "als"}
    assert [(r["product_id"], r["reason"]) for r in body["results"]] == stored(other, buyer)
    # and rolls back: the first model serves again, its rows kept for exactly this
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post("/api/v1/models/rollback/").status_code == 200
    body = reader.get(f"/api/v1/customers/{buyer}/recommendations/?k={TOP_N}").json()
    assert body["model"]["id"] == serving.pk
    assert [(r["product_id"], r["reason"]) for r in body["results"]] == stored(serving, buyer)

    # retrain now: 202 at once; the round (run inline here) then reads as finished
    with django_capture_on_commit_callbacks(execute=True):
        started = admin.post("/api/v1/training-runs/")
    assert started.status_code == 202
    status = reader.get(f"/api/v1/training-runs/{started.json()['id']}/").json()
    assert (status["status"], status["progress"]) == ("succeeded", 1.0), status["error"]
    assert len(status["model_runs"]) == len(EVERY_ALGORITHM)
