"""The pipeline in a real browser: an editor starts a run, a Celery worker (not the request) runs
clean → features → segment while the page follows it, and the data-quality report shows what
each cleaning rule caught. An admin finds the nightly schedule; a viewer gets no start button."""

from __future__ import annotations

import importlib
import re

import pytest

from ecomsite.models import RunStatus
from ecomsite.services.imports import import_file
from segments.models import PipelineRun, PipelineTrigger

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

PIPELINE_TIMEOUT_MS = 120_000
NIGHTLY = "Nightly pipeline: clean → features → segment → train"
# Rows per cleaning rule on tests/data/online_retail_sample.csv (76 events); see
# tests/integration/segments/test_pipeline_views.py for where each count comes from.
RULE_ROWS = {
    "duplicate": "0",
    "anonymous": "7",
    "non_product": "7",
    "return_matched": "0",
    "return_unmatched": "1",
    "negative_quantity": "1",
    "zero_price": "4",
    "unknown_price": "0",
    "outlier": "2",
}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def shop_editor(transactional_db):
    from ecomsite.roles import Role
    from ecomsite.services.users import user_create
    from tests.functional.conftest import Account

    account = Account(username="edith-editor", password="pw-edith-editor-browser-1")
    user_create(username=account.username, password=account.password, role=Role.EDITOR)
    return account


@pytest.fixture
def sample(transactional_db, sample_path):
    return import_file(path=sample_path, format="online-retail")


@pytest.fixture
def nightly(transactional_db):
    """The beat entry made by segments/migrations/0002 and renamed by 0004 (the flush after each
    browser test removes data-migration rows, so they are replayed here)."""
    from django.apps import apps

    importlib.import_module("segments.migrations.0002_nightly_pipeline").create(apps, None)
    importlib.import_module("segments.migrations.0004_nightly_pipeline_trains").rename(apps, None)


def test_editor_runs_the_pipeline_and_reads_the_data_quality_report(
    page, log_in, shop_editor, sample, celery_worker, charts_drawn
):
    log_in(page, shop_editor)
    page.get_by_label("Main").get_by_role("link", name="Pipeline").click()
    expect(page.locator("h1")).to_have_text("Pipeline")
    expect(page.get_by_text("No pipeline has run yet.")).to_be_visible()
    # when the editor starts a run
    page.get_by_role("button", name="Run pipeline now").click()
    expect(page.locator(".messages")).to_contain_text("started; this page follows it.")
    run = PipelineRun.objects.get()
    expect(page.locator("#latest-title")).to_have_text(f"Latest run: #{run.pk}")
    expect(page.locator("progress#pipeline-bar")).to_be_attached()
    # then the page follows it until the worker has run every step
    expect(page.locator("#pipeline-status")).to_have_text("Succeeded", timeout=PIPELINE_TIMEOUT_MS)
    steps = page.locator(".pipeline-steps [data-part=status]")
    expect(steps).to_have_text(["Succeeded"] * 5)
    expect(page.locator("#in-use-title + p")).to_contain_text(f"pipeline #{run.pk}")
    expect(page.locator("progress#pipeline-bar")).to_have_js_property("value", 1)
    run.refresh_from_db()
    assert (run.status, run.trigger) == (RunStatus.SUCCEEDED, PipelineTrigger.UI), run.error
    assert run.task_id in celery_worker.task_ids  # the chain ran on the worker
    assert celery_worker.eager_task_ids == []
    # and its data-quality report shows what each rule caught in the sample
    page.get_by_role("link", name=f"Data-quality report of run #{run.pk}").first.click()
    expect(page).to_have_url(re.compile(rf"/data-quality/{run.cleaning_run_id}/$"))
    expect(page.locator("h1")).to_contain_text(f"cleaning #{run.cleaning_run_id}")
    for rule, rows in RULE_ROWS.items():
        expect(page.locator(f'tr[data-rule="{rule}"] [data-part="rows"]')).to_have_text(rows)
    anonymous = page.locator('tr[data-rule="anonymous"]')
    expect(anonymous).to_contain_text("Anonymous events (no customer; kept apart)")
    expect(anonymous).to_contain_text("9.2%")
    expect(page.locator('tr[data-total="rows"] td')).to_have_text(["76", "65", "-11"])
    # the example of the unmatched return leads to its customer
    examples = page.locator("#examples-return_unmatched")
    expect(examples.locator("tbody tr")).to_have_count(1)
    expect(examples).to_contain_text("C536383")
    examples.get_by_role("link", name="15311").click()
    expect(page).to_have_url(re.compile(r"/customers/15311/$"))
    page.go_back()
    assert [c["chart"] for c in charts_drawn(page)] == ["rules"]
    assert page.js_errors == []


def test_admin_finds_the_nightly_schedule_and_a_viewer_no_start_button(
    page, log_in, shop_admin, shop_viewer, nightly
):
    log_in(page, shop_admin)
    page.get_by_label("Main").get_by_role("link", name="Schedules").click()
    expect(page.locator("h1")).to_have_text("Schedules")
    row = page.locator("tbody tr", has_text=NIGHTLY)
    expect(row).to_contain_text("At 02:30 AM")
    expect(row).to_contain_text("(UTC)")
    expect(row).to_contain_text("segments.tasks.pipeline_scheduled_task")
    expect(row).to_contain_text("Enabled")
    expect(row.get_by_role("link", name=f"Edit “{NIGHTLY}” in the admin")).to_have_attribute(
        "href", re.compile(r"/admin/django_celery_beat/periodictask/\d+/change/$")
    )
    expect(page.get_by_text("celery -A ecomsite beat")).to_be_visible()
    # disabling it takes one click, and says so
    row.get_by_role("button", name=f"Disable “{NIGHTLY}”").click()
    expect(page.locator(".messages")).to_contain_text(f"“{NIGHTLY}” is disabled.")
    expect(page.locator("tbody tr", has_text=NIGHTLY)).to_contain_text("Disabled")
    assert page.js_errors == []

    # a viewer reads the pipeline page but has nothing to start, and no Schedules in the menu
    page.get_by_role("button", name="Log out").click()
    log_in(page, shop_viewer)
    page.goto("/pipeline/")
    expect(page.locator("h1")).to_have_text("Pipeline")
    expect(page.get_by_role("button", name="Run pipeline now")).to_have_count(0)
    expect(page.get_by_role("link", name="Schedules")).to_have_count(0)
