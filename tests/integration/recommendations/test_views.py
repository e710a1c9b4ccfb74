"""Staff pages: the recommendation cards on customer and product pages, the Models page (runs with
metrics beside popularity, serving model, history chart data, comparison), promote / roll back
for admins with CSRF, and the training progress JSON."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from ecomsite.models import RunStatus
from recommendations.models import ModelPromotion, TrainingRun
from recommendations.services.registry import model_promote
from tests.integration.recommendations.serving_data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return build_shop()


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _rows(html: str, table_id: str) -> list[str]:
    """The text of each body row of the section with this id (tags stripped, spaces squeezed)."""
    section = html.split(f'id="{table_id}"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


# -- customer and product pages -----------------------------------------------------------------


def test_the_customer_page_shows_recommendations_with_reasons_and_sources(shop, viewer_client):
    html = _text(viewer_client.get("/customers/C1/"))
    assert "Recommended for C1" in html
    assert f"blend #{shop.model.pk}" in html
    assert _rows(html, "recommendations") == [
        "1 Candle Candles £2.50 you buy this about every 30 days 0.900 model",
        "2 Mug Mugs £4.00 often bought with Candle 0.700 model",
        "3 Lantern Candles £12.00 customers like you bought this 0.600 model",
        "4 Doormat Home £9.99 popular in United Kingdom 0.450 fallback: country",
        "5 Tea towel Kitchen £3.25 popular in United Kingdom 0.400 fallback: country",
        "6 Vase Home £15.00 trending now 0.450 fallback: trending",
    ]
    assert 'href="/products/P1/"' in html


def test_a_customer_new_to_the_model_is_told_so(shop, viewer_client):
    html = _text(viewer_client.get("/customers/C2/"))
    assert "The model has no list for this customer yet" in html
    rows = _rows(html, "recommendations")
    assert rows[0] == "1 Lantern Candles £12.00 popular in your segment (Champions) 0.450 " + (
        "fallback: segment"
    )


def test_the_cards_say_when_no_model_serves(viewer_client):
    build_shop(promote=False)
    assert "No model serves yet, so there are no recommendations" in _text(
        viewer_client.get("/customers/C1/")
    )
    assert "No model serves yet, so there are no similar products" in _text(
        viewer_client.get("/products/P1/")
    )


def test_the_product_page_shows_similar_products(shop, viewer_client):
    html = _text(viewer_client.get("/products/P1/"))
    assert _rows(html, "similar") == [
        "1 Lantern Candles £12.00 0.700 model",
        "2 Mug Mugs £4.00 0.400 model",
    ]
    new = _text(viewer_client.get("/products/P7/"))
    assert "popular products of its category stand in" in new
    assert _rows(new, "similar") == ["1 Mug Mugs £4.00 0.400 fallback: category"]


# -- the Models page ----------------------------------------------------------------------------


def _model_rows(html: str) -> dict[int, str]:
    table = html.split('class="model-runs"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    found = re.findall(r'<tr data-run="(\d+)"[^>]*>(.*?)</tr>', body, re.S)
    return {int(pk): " ".join(re.sub(r"<[^>]+>", " ", row).split()) for pk, row in found}


def test_the_models_page_lists_runs_with_metrics_beside_popularity(shop, viewer_client):
    html = _text(viewer_client.get("/models/"))
    rows = _model_rows(html)
    t = shop.training.pk
    assert list(rows) == [shop.other.pk, shop.model.pk, shop.popularity.pk]
    # run (training round), NDCG/recall on all and new items, popularity (all items), seconds
    assert rows[shop.model.pk] == (
        f"#{shop.model.pk} blend (#{t}) chosen 0.2512 0.1900 0.0610 0.0720 0.1000 0.0800 12.3 "
        "Serving"
    )
    assert rows[shop.other.pk] == (
        f"#{shop.other.pk} als (#{t}) 0.1800 0.1500 0.0800 0.0900 0.1000 0.0800 30.0 –"
    )
    assert rows[shop.popularity.pk] == (
        f"#{shop.popularity.pk} popularity (#{t}) 0.1100 0.0850 0.0210 0.0310 0.1000 0.0800 1.5 –"
    )
    assert "chosen" not in rows[shop.other.pk]
    # the serving card: which model, how it came to serve, its figures beside popularity
    serving = html.split('id="serving"', 1)[1].split("</section>", 1)[0]
    assert f"blend #{shop.model.pk}" in serving
    assert "promoted by hand" in serving
    assert "test: the blend serves" in serving
    # a viewer gets no promote or roll-back buttons
    assert "Promote" not in html
    assert "Roll back" not in html


def test_admins_get_promote_buttons_for_other_succeeded_runs(shop, staff_client):
    html = _text(staff_client.get("/models/"))
    assert f'action="/models/{shop.other.pk}/promote/"' in html
    assert f'action="/models/{shop.popularity.pk}/promote/"' in html
    assert f'action="/models/{shop.model.pk}/promote/"' not in html  # it serves already
    assert 'action="/models/rollback/"' not in html  # nothing served before


def test_the_history_chart_has_each_training_rounds_chosen_model_and_popularity(
    shop, viewer_client
):
    html = _text(viewer_client.get("/models/"))
    data = json.loads(
        re.search(
            r'<script id="model-history" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert data["runs"] == [shop.training.pk]
    assert data["chosen"] == ["blend"]
    assert data["chosen_ndcg"] == [pytest.approx(0.2512)]
    assert data["chosen_recall"] == [pytest.approx(0.19)]
    assert data["popularity_ndcg"] == [pytest.approx(0.1)]
    assert data["popularity_recall"] == [pytest.approx(0.08)]
    assert 'data-chart="history"' in html


def test_comparing_two_runs_side_by_side_marks_the_best(shop, viewer_client):
    url = f"/models/compare/?run={shop.model.pk}&run={shop.other.pk}"
    html = _text(viewer_client.get(url))
    assert "<h1>Compare model runs</h1>" in html
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert f"#{shop.model.pk} blend" in head and f"#{shop.other.pk} als" in head
    assert head.index("blend") < head.index("als")  # in the order chosen

    def row(marker: str) -> str:
        found = re.search(rf'<tr data-{marker}">(.*?)</tr>', html, re.S)
        assert found, marker
        return found.group(1)

    ndcg_all = row('metric="ndcg-all_items')
    assert "<strong>0.2512</strong>" in ndcg_all and "0.1800" in ndcg_all
    assert "pop. 0.1000" in ndcg_all
    ndcg_new = row('metric="ndcg-new_items')
    assert "<strong>0.0800</strong>" in ndcg_new and "0.0610" in ndcg_new
    assert "0.6" in row('param="repeat_weight')
    assert "64" in row('param="factors')
    chart = json.loads(
        re.search(
            r'<script id="compare-chart" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert [r["label"] for r in chart["runs"]] == [
        f"#{shop.model.pk} blend",
        f"#{shop.other.pk} als",
    ]
    assert chart["runs"][0]["data"] == [
        pytest.approx(0.2512),
        pytest.approx(0.19),
        pytest.approx(0.061),
        pytest.approx(0.072),
    ]


def test_a_deep_model_run_shows_its_training_curves(shop, viewer_client):
    history = [
        {"epoch": 1, "loss": 5.5, "val_loss": 5.1, "val_ndcg": 0.21, "seconds": 3.2},
        {"epoch": 2, "loss": 4.25, "val_loss": 4.5, "val_ndcg": 0.26, "seconds": 3.1},
        {"epoch": 3, "loss": 3.75, "val_loss": 4.6, "val_ndcg": 0.255, "seconds": 3.0},
    ]
    shop.other.metrics = {**shop.other.metrics, "history": history}
    shop.other.save(update_fields=["metrics"])
    html = _text(viewer_client.get(f"/models/compare/?run={shop.other.pk}&run={shop.model.pk}"))
    curves = json.loads(
        re.search(
            r'<script id="training-curves" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    # Only the run with a history has curves: losses on the left axis, metrics on the right.
    assert [c["run"] for c in curves] == [shop.other.pk]
    assert curves[0]["epochs"] == [1, 2, 3]
    assert [(s["label"], s["axis"], s["data"]) for s in curves[0]["series"]] == [
        ("loss", "y", [5.5, 4.25, 3.75]),
        ("val loss", "y", [5.1, 4.5, 4.6]),
        ("val ndcg", "y2", [0.21, 0.26, 0.255]),
    ]
    assert f'id="chart-curves-{shop.other.pk}"' in html
    assert f'id="chart-curves-{shop.model.pk}"' not in html
    table = html.split(f"Training figures per epoch of run #{shop.other.pk}", 1)[1]
    table = table.split("</table>", 1)[0]
    cells = [
        " ".join(re.sub(r"<[^>]+>", " ", r).split())
        for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]
    assert cells[1:] == [
        "1 5.5000 5.1000 0.2100",
        "2 4.2500 4.5000 0.2600",
        "3 3.7500 4.6000 0.2550",
    ]


def test_comparing_nothing_or_too_many(shop, viewer_client):
    assert "Choose runs to compare" in _text(viewer_client.get("/models/compare/"))
    ids = ",".join(str(pk) for pk in [shop.model.pk, shop.other.pk, shop.popularity.pk, 98, 99])
    html = _text(viewer_client.get(f"/models/compare/?run={ids}"))
    assert "5 runs were chosen; the first 4 are compared." in html


# -- promote and roll back ----------------------------------------------------------------------


def test_promote_and_roll_back_need_the_admin_role(shop, viewer_client, client, editor_user):
    assert client.post("/models/rollback/").status_code == 403  # viewer_client is `client`
    assert client.post(f"/models/{shop.other.pk}/promote/").status_code == 403
    editor = Client()
    editor.force_login(editor_user)
    assert editor.post(f"/models/{shop.other.pk}/promote/").status_code == 403
    anonymous = Client()
    response = anonymous.post(f"/models/{shop.other.pk}/promote/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert ModelPromotion.objects.count() == 1


def test_an_admin_promotes_and_rolls_back_with_the_csrf_token(
    shop, staff_user, django_capture_on_commit_callbacks
):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    assert browser.post(f"/models/{shop.other.pk}/promote/").status_code == 403
    assert ModelPromotion.objects.count() == 1
    page = _text(browser.get("/models/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/models/{shop.other.pk}/promote/", {"csrfmiddlewaretoken": token})
    assert (response.status_code, response["Location"]) == (302, "/models/")
    html = _text(browser.get("/models/"))
    assert f"als #{shop.other.pk} now serves recommendations." in html
    assert _model_rows(html)[shop.other.pk].endswith("Serving")
    assert f"Roll back to blend #{shop.model.pk}" in html
    # the customer page follows at once
    assert "1 Vase Home £15.00" in _rows(_text(browser.get("/customers/C1/")), "recommendations")[0]
    with django_capture_on_commit_callbacks(execute=True):
        back = browser.post("/models/rollback/", {"csrfmiddlewaretoken": token})
    html = _text(browser.get(back["Location"]))
    assert f"Rolled back: blend #{shop.model.pk} serves recommendations again." in html
    assert ModelPromotion.objects.first().model_run_id == shop.model.pk


def test_roll_back_with_nothing_before_says_so(shop, staff_client):
    html = _text(staff_client.post("/models/rollback/", follow=True))
    assert "There is no earlier serving model to roll back to." in html


def test_promoting_a_run_whose_rows_were_pruned_waits_for_the_precompute(
    shop, staff_client, django_capture_on_commit_callbacks
):
    shop.other.precomputed = False
    shop.other.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(f"/models/{shop.other.pk}/promote/")
    assert len(callbacks) == 1
    assert response["Location"] == f"/models/?awaiting={shop.other.pk}"
    html = _text(staff_client.get(response["Location"]))
    assert f"Precomputing the recommendations of als #{shop.other.pk}: it serves once" in html
    assert f'data-awaiting="{shop.other.pk}"' in html  # models.js reloads until it serves
    # while the worker writes the rows, the run says so instead of offering a button
    shop.other.progress_message = "Precomputing: recommendations"
    shop.other.save()
    html = _text(staff_client.get(response["Location"]))
    assert "a worker is precomputing its recommendations (Precomputing: recommendations)" in html
    assert _model_rows(html)[shop.other.pk].endswith("Precomputing")
    assert f'action="/models/{shop.other.pk}/promote/"' not in html
    # once it serves, the page says so and stops reloading
    shop.other.precomputed = True
    shop.other.save()
    with django_capture_on_commit_callbacks(execute=True):
        model_promote(shop.other, reason="precomputed")
    html = _text(staff_client.get(response["Location"]))
    assert f"als #{shop.other.pk} now serves recommendations." in html
    assert "data-awaiting" not in html


def test_promoting_a_failed_run_is_refused(shop, staff_client):
    shop.other.status = RunStatus.FAILED
    shop.other.error = "training #1 failed: out of memory"
    shop.other.save()
    row = _model_rows(_text(staff_client.get("/models/")))[shop.other.pk]
    assert row.endswith("30.0 Failed")  # its status instead of a button
    html = _text(staff_client.post(f"/models/{shop.other.pk}/promote/", follow=True))
    assert "cannot serve: it has no fitted model." in html
    assert ModelPromotion.objects.count() == 1


# -- retrain now --------------------------------------------------------------------------------


def test_train_deep_models_is_for_admins(
    shop, staff_client, viewer_user, django_capture_on_commit_callbacks
):
    viewer = Client()
    viewer.force_login(viewer_user)
    assert "Train deep models" not in _text(viewer.get("/models/"))
    assert viewer.post("/models/retrain/", {"deep": "1"}).status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/models/retrain/", {"deep": "1"})
    assert len(callbacks) == 1
    run = TrainingRun.objects.order_by("-pk").first()
    assert run.params["deep"] is True and run.params["algorithms"] == ["sequence", "ncf", "ranker"]
    html = _text(staff_client.get(response["Location"]))
    assert f"Deep-model training #{run.pk} started; this page follows it." in html
    assert "Train deep models" in html


def test_retrain_now_is_for_admins_and_the_page_follows_the_round(
    shop, staff_client, viewer_user, django_capture_on_commit_callbacks
):
    viewer = Client()
    viewer.force_login(viewer_user)
    assert "Retrain now" not in _text(viewer.get("/models/"))
    assert viewer.post("/models/retrain/").status_code == 403
    assert "Retrain now" in _text(staff_client.get("/models/"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/models/retrain/")
    assert len(callbacks) == 1
    run = TrainingRun.objects.order_by("-pk").first()
    assert run.status == RunStatus.PENDING
    html = _text(staff_client.get(response["Location"]))
    assert f"Training #{run.pk} started; this page follows it." in html
    live = html.split('id="training-live"', 1)[1].split("</section>", 1)[0]
    assert 'data-live="1"' in live and f"Training #{run.pk}" in live
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Retrain now</button>", html)
    # a second start while it is pending is refused with the reason
    html = _text(staff_client.post("/models/retrain/", follow=True))
    assert f"Training #{run.pk} is still pending; wait for it to finish." in html
    assert TrainingRun.objects.count() == 2


# -- training progress --------------------------------------------------------------------------


def test_the_training_progress_json(shop, viewer_client):
    running = TrainingRun.objects.create(
        cleaning_run=shop.training.cleaning_run,
        status=RunStatus.RUNNING,
        progress=0.25,
        progress_message="Tuning als (2/6)",
    )
    assert viewer_client.get(f"/models/training/{running.pk}/progress.json").json() == {
        "id": running.pk,
        "status": "running",
        "status_label": "Running",
        "progress": 0.25,
        "message": "Tuning als (2/6)",
        "finished": False,
        "succeeded": False,
        "error": "",
        "model_runs": 0,
    }
    html = _text(viewer_client.get("/models/"))
    live = html.split('id="training-live"', 1)[1].split("</section>", 1)[0]
    assert 'data-live="1"' in live
    assert f"/models/training/{running.pk}/progress.json" in live
    assert "Tuning als (2/6)" in live
    assert viewer_client.get("/models/training/999999/progress.json").status_code == 404


def test_pages_need_a_login(shop):
    for url in (
        "/models/",
        "/models/compare/",
        f"/models/training/{shop.training.pk}/progress.json",
    ):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
