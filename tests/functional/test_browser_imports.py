"""Uploading a file in a real browser: the import runs on a Celery worker, not in the request,
and the report page follows it until it has finished."""

from __future__ import annotations

import csv
import re

import pytest

from ecomsite.models import ImportBatch, RunStatus

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

IMPORT_TIMEOUT_MS = 60_000
DETAIL_URL = re.compile(r"/imports/(\d+)/$")


def test_admin_uploads_a_file_and_watches_the_import_finish(
    page, log_in, shop_admin, celery_worker, sample_path
):
    log_in(page, shop_admin)
    # when an admin uploads the sample file through the form
    page.goto("/imports/new/")
    page.locator("input[name=file]").set_input_files(sample_path)
    page.locator("select[name=format]").select_option("online-retail")
    page.get_by_role("button", name="Upload and import").click()
    # then they are sent to the import's page, which follows its progress
    expect(page).to_have_url(DETAIL_URL)
    batch_id = int(DETAIL_URL.search(page.url)[1])  # type: ignore[index]
    expect(page.locator("progress#bar")).to_be_attached()
    # until the worker has finished it
    expect(page.locator("#status")).to_have_text("Succeeded", timeout=IMPORT_TIMEOUT_MS)
    expect(page.locator("#rows_accepted")).to_have_text("76")
    expect(page.locator("#rows_duplicate")).to_have_text("4")
    expect(page.locator("#rows_rejected")).to_have_text("7")
    # and the rejected rows can be downloaded
    link = page.get_by_role("link", name=re.compile("rejected rows", re.I))
    expect(link).to_be_visible()
    with page.expect_download() as download_info:
        link.click()
    with open(download_info.value.path(), newline="", encoding="utf-8") as rejected:
        rows = list(csv.reader(rejected))
    assert len(rows) == 1 + 7, rows  # a header and the 7 rejected rows
    # the import ran on the worker thread, not inside the upload request
    batch = ImportBatch.objects.get(pk=batch_id)
    assert batch.status == RunStatus.SUCCEEDED, batch.error
    assert batch.task_id in celery_worker.task_ids
    assert celery_worker.eager_task_ids == []
    assert page.js_errors == []
