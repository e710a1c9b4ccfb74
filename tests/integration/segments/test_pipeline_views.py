"""Staff pages of the pipeline: runs with a start button and live progress, data-quality reports,
schedules. Roles, CSRF, a run started from the page (Celery eager), busy and failed runs."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.test import Client
from django_celery_beat.models import PeriodicTask

from ecomsite.models import CleaningRun, RunStatus
from ecomsite.services.imports import import_file
from segments.models import FeatureRun, PipelineRun, PipelineTrigger
from segments.services.pipeline import pipeline_start

pytestmark = pytest.mark.django_db

NIGHTLY = "Nightly pipeline: clean → features → segment → train"
# What the cleaning rules catch in tests/data/online_retail_sample.csv (76 stored events): 7
# anonymous lines (3 of them the "B" bad-debt adjustments), 7 non-product lines (POST, D, M,
# BANK CHARGES, B x3), the cancellation C536383 with no earlier purchase, one -10 purchase, four
# purchases at £0 or less, and two outliers (56 units at £0, the £11,062.06 adjustment).
RULE_ROWS = {
    "duplicate": 0,
    "anonymous": 7,
    "non_product": 7,
    "return_matched": 0,
    "return_unmatched": 1,
    "negative_quantity": 1,
    "zero_price": 4,
    "unknown_price": 0,
    "outlier": 2,
}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def nightly() -> PeriodicTask:
    """The nightly beat entry of segments/migrations/0002, renamed by 0004. Made again here
    because the browser tests (transactional) flush the database, data migrations included."""
    importlib.import_module("segments.migrations.0002_nightly_pipeline").create(apps, None)
    importlib.import_module("segments.migrations.0004_nightly_pipeline_trains").rename(apps, None)
    return PeriodicTask.objects.get(name=NIGHTLY)


@pytest.fixture
def sample(sample_path):
    return import_file(path=sample_path, format="online-retail")


@pytest.fixture
def completed(sample) -> PipelineRun:
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


@pytest.fixture
def editor_client(client, editor_user):
    client.force_login(editor_user)
    return client


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _messages(page: str) -> list[str]:
    block = re.search(r'<ul class="messages".*?</ul>', page, re.S)
    return re.findall(r"<li[^>]*>(.*?)</li>", block[0], re.S) if block else []


def _rule_rows(page: str) -> dict[str, int]:
    rows = re.findall(
        r'<tr data-rule="(\w+)">.*?<td class="num" data-part="rows">([\d,]+)</td>', page, re.S
    )
    return {name: int(count.replace(",", "")) for name, count in rows}


# -- who may see and do what --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/pipeline/", "/pipeline/1/progress.json", "/data-quality/", "/data-quality/1/"]
)
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_start_and_schedules_go_to_log_in(client, nightly):
    for response in (
        client.post("/pipeline/start/"),
        client.get("/schedules/"),
        client.post(f"/schedules/{nightly.pk}/enabled/", {"enabled": "0"}),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not PipelineRun.objects.exists()


def test_viewers_read_the_pages_but_cannot_start_a_run(viewer_client, completed):
    # given a completed run, a viewer sees it and its report
    page = _page(viewer_client.get("/pipeline/"))
    assert f"Latest run: #{completed.pk}" in page
    assert f'href="/data-quality/{completed.cleaning_run.pk}/"' in page
    # but no start button
    assert "Run pipeline now" not in page and 'action="/pipeline/start/"' not in page
    _page(viewer_client.get("/data-quality/"))
    _page(viewer_client.get(f"/data-quality/{completed.cleaning_run.pk}/"))
    # and the server refuses the start itself
    response = viewer_client.post("/pipeline/start/", {"force": "1"})
    assert response.status_code == 403
    assert PipelineRun.objects.count() == 1


def test_the_pipeline_page_is_in_the_menu(viewer_client):
    page = _page(viewer_client.get("/pipeline/"))
    assert re.search(r'<a href="/pipeline/"\s+aria-current="page">Pipeline</a>', page)
    quality = _page(viewer_client.get("/data-quality/"))
    assert re.search(r'<a href="/pipeline/"\s+aria-current="page">Pipeline</a>', quality)


def test_schedules_are_for_admins_only(client, viewer_user, editor_user, nightly):
    for user in (viewer_user, editor_user):
        client.force_login(user)
        assert client.get("/schedules/").status_code == 403
        response = client.post(f"/schedules/{nightly.pk}/enabled/", {"enabled": "0"})
        assert response.status_code == 403
    nightly.refresh_from_db()
    assert nightly.enabled is True


def test_start_needs_a_csrf_token(editor_user, sample):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor_user)
    # a forged form without the token is refused
    assert browser.post("/pipeline/start/", {"force": "1"}).status_code == 403
    assert not PipelineRun.objects.exists()
    # the page's own form carries one
    page = _page(browser.get("/pipeline/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]  # type: ignore[index]
    response = browser.post("/pipeline/start/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert PipelineRun.objects.count() == 1


def test_schedule_toggle_needs_a_csrf_token(staff_user, nightly):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    url = f"/schedules/{nightly.pk}/enabled/"
    assert browser.post(url, {"enabled": "0"}).status_code == 403
    nightly.refresh_from_db()
    assert nightly.enabled is True


# -- running the pipeline from the page ---------------------------------------------------------


def test_an_editor_starts_a_run_that_completes_with_its_report(
    editor_client, editor_user, sample, django_capture_on_commit_callbacks
):
    # given the imported sample, the editor sees the start button
    page = _page(editor_client.get("/pipeline/"))
    assert "Run pipeline now" in page and "No pipeline has run yet." in page
    # when they start a run (Celery runs the chain eagerly once the request commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post("/pipeline/start/")
    assert (response.status_code, response["Location"]) == (302, "/pipeline/")
    run = PipelineRun.objects.get()
    assert (run.trigger, run.created_by, run.status) == (
        PipelineTrigger.UI,
        editor_user,
        RunStatus.SUCCEEDED,
    )
    # then the page shows it done, every step succeeded, and links its report
    page = _page(editor_client.get("/pipeline/"))
    assert f"Pipeline #{run.pk} started; this page follows it." in _messages(page)
    assert f"Latest run: #{run.pk}" in page
    assert 'data-live="0"' in page  # finished: nothing to poll
    assert f"From <strong>pipeline #{run.pk}</strong>" in page
    assert page.count('<span class="status status-succeeded" data-part="status">') == 5
    report_url = f"/data-quality/{run.cleaning_run.pk}/"
    assert f'href="{report_url}"' in page
    # and the report shows what each rule caught, as stored
    report = _page(editor_client.get(report_url))
    assert _rule_rows(report) == RULE_ROWS
    assert RULE_ROWS == {rule["name"]: rule["rows"] for rule in run.cleaning_run.report["rules"]}
    assert "9.2%" in report  # 7 anonymous of 76 events
    assert re.search(
        r'<tr data-total="rows">\s*<th scope="row">Events</th>\s*'
        r'<td class="num">76</td><td class="num">65</td><td class="num">-11</td>',
        report,
    )
    assert 'data-chart="rules"' in report and 'id="quality-chart"' in report
    assert "vendor/chartjs-4.5.1/chart.umd.min.js" in report
    # the examples name real customers and products: the unmatched return of 15311
    assert '<a href="/customers/15311/">15311</a>' in report
    assert '<a href="/products/35004C/">35004C</a>' in report
    assert "C536383" in report


def test_a_start_without_new_data_is_skipped_unless_forced(
    editor_client, completed, django_capture_on_commit_callbacks
):
    response = editor_client.post("/pipeline/start/", follow=True)
    skipped = PipelineRun.objects.latest("pk")
    assert skipped.skipped is True
    page = _page(response)
    assert (
        f"Pipeline #{skipped.pk} skipped: no new events since pipeline #{completed.pk}. "
        "Tick “even without new data” to run it anyway." in _messages(page)
    )
    assert '<span class="status status-skipped">Skipped</span>' in page
    # with the box ticked the run goes ahead
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post("/pipeline/start/", {"force": "1"})
    forced = PipelineRun.objects.latest("pk")
    assert (forced.skipped, forced.status, forced.params["force"]) == (
        False,
        RunStatus.SUCCEEDED,
        True,
    )


def test_a_second_start_while_one_is_in_progress_shows_the_busy_message(editor_client, sample):
    busy = PipelineRun.objects.create(trigger=PipelineTrigger.SCHEDULE, status=RunStatus.RUNNING)
    # the page shows it live and the button disabled
    page = _page(editor_client.get("/pipeline/"))
    assert 'data-live="1"' in page
    assert f'data-progress-url="/pipeline/{busy.pk}/progress.json"' in page
    assert "disabled" in re.search(r"<button[^>]*>Run pipeline now", page)[0]  # type: ignore[index]
    # a start posted anyway (another tab, a double click) is answered with a message
    response = editor_client.post("/pipeline/start/", {"force": "1"}, follow=True)
    page = _page(response)
    assert f"Pipeline #{busy.pk} is still running; wait for it to finish." in _messages(page)
    assert PipelineRun.objects.count() == 1


def test_progress_json_moves_within_the_running_step(viewer_client, sample):
    cleaning = CleaningRun.objects.create(
        status=RunStatus.SUCCEEDED, progress=1.0, metrics={"seconds": 1.25}
    )
    features = FeatureRun.objects.create(
        cleaning_run=cleaning, status=RunStatus.RUNNING, progress=0.5, progress_message="Reading"
    )
    run = PipelineRun.objects.create(
        trigger=PipelineTrigger.API,
        status=RunStatus.RUNNING,
        progress=1 / 5,
        cleaning_run=cleaning,
        feature_run=features,
    )
    data = viewer_client.get(f"/pipeline/{run.pk}/progress.json").json()
    assert data["progress"] == pytest.approx((1 + 0.5) / 5, abs=1e-4)
    assert (data["status"], data["finished"], data["message"]) == (
        "running",
        False,
        "Features: Reading",
    )
    assert [(s["step"], s["status"], s["seconds"]) for s in data["steps"]] == [
        ("clean", "succeeded", 1.25),
        ("features", "running", None),
        ("predict", "not_started", None),
        ("segment", "not_started", None),
        ("train", "not_started", None),
    ]
    assert data["report_url"] == f"/data-quality/{cleaning.pk}/"


def test_a_failed_step_shows_its_error_and_that_the_previous_results_stay(
    viewer_client, completed, monkeypatch, tmp_path
):
    # given new data and a features step that breaks
    extra = tmp_path / "more.csv"
    extra.write_text(
        "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n"
        "17850,85123A,purchase,2,2.55,2011-01-05T10:00:00Z,X1\n"
    )
    import_file(path=extra, format="csv")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("segments.services.features.customer_features", broken)
    with pytest.raises(RuntimeError):
        pipeline_start(trigger=PipelineTrigger.SCHEDULE, sync=True)
    failed = PipelineRun.objects.latest("pk")
    # then the page names the failed step and its error, and the results still in use
    page = _page(viewer_client.get("/pipeline/"))
    assert "<strong>Failed at the features step:</strong> features step failed: disk full" in page
    assert f"Nothing was replaced: the results of pipeline #{completed.pk} stay in use." in page
    assert "Features step:</span> RuntimeError: disk full" in page
    assert f"From <strong>pipeline #{completed.pk}</strong>" in page
    assert failed.pk != completed.pk


def test_a_cleaning_run_without_a_report_says_so(viewer_client):
    run = CleaningRun.objects.create(status=RunStatus.FAILED, error="MemoryError")
    page = _page(viewer_client.get(f"/data-quality/{run.pk}/"))
    assert "This cleaning run has no report: it failed." in page
    assert "MemoryError" in page
    assert viewer_client.get("/data-quality/999999/").status_code == 404


def test_the_report_list_and_the_dashboard_link_the_latest_report(viewer_client, completed):
    cleaning = completed.cleaning_run
    listing = _page(viewer_client.get("/data-quality/"))
    assert f'<a href="/data-quality/{cleaning.pk}/">Cleaning #{cleaning.pk}</a>' in listing
    assert re.search(r'<td class="num">76</td>\s*<td class="num">65</td>', listing)
    dashboard = _page(viewer_client.get("/"))
    assert "65 of 76 events usable" in dashboard
    assert f'<a href="/data-quality/{cleaning.pk}/">Read the data-quality report</a>' in dashboard


# -- schedules ----------------------------------------------------------------------------------


def test_admins_see_the_nightly_schedule_in_words(staff_client, nightly):
    page = _page(staff_client.get("/schedules/"))
    assert NIGHTLY in page
    assert "At 02:30 AM" in page and "(UTC)" in page and "<code>30 2 * * *</code>" in page
    assert "<code>segments.tasks.pipeline_scheduled_task</code>" in page
    assert f'href="/admin/django_celery_beat/periodictask/{nightly.pk}/change/"' in page
    assert "celery -A ecomsite beat" in page
    assert '<span class="status status-succeeded">Enabled</span>' in page


def test_admins_disable_and_enable_a_schedule(staff_client, nightly):
    response = staff_client.post(f"/schedules/{nightly.pk}/enabled/", {"enabled": "0"}, follow=True)
    nightly.refresh_from_db()
    assert nightly.enabled is False
    assert f"“{NIGHTLY}” is disabled." in _messages(_page(response))
    staff_client.post(f"/schedules/{nightly.pk}/enabled/", {"enabled": "1"})
    nightly.refresh_from_db()
    assert nightly.enabled is True
    assert staff_client.post("/schedules/999999/enabled/", {"enabled": "1"}).status_code == 404
