"""Imports pages: staff upload a file, a Celery task imports it, the page follows the progress."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ecomsite.models import Event, ImportBatch, ImportSource, RunStatus

pytestmark = pytest.mark.django_db


def _upload(client, sample_path, django_capture_on_commit_callbacks, fmt="online-retail"):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            "/imports/new/",
            {"file": SimpleUploadedFile("sample.csv", sample_path.read_bytes()), "format": fmt},
        )


def test_staff_upload_runs_the_import_as_a_task(
    staff_client, staff_user, sample_path, django_capture_on_commit_callbacks
):
    response = _upload(staff_client, sample_path, django_capture_on_commit_callbacks)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{batch.pk}/"
    assert (batch.source, batch.created_by, batch.status) == (
        ImportSource.UPLOAD,
        staff_user,
        RunStatus.SUCCEEDED,
    )
    assert batch.rows_accepted == 76
    assert Event.objects.count() == 76
    # the detail page shows the report and the progress endpoint says it is finished
    page = staff_client.get(response["Location"]).content.decode()
    assert "Rejected rows" in page and "Missing product code" not in page  # codes are shown as such
    assert "missing_product" in page
    progress = staff_client.get(f"/imports/{batch.pk}/progress.json").json()
    assert progress["finished"] is True
    assert (progress["status"], progress["rows_received"], progress["rows_rejected"]) == (
        "succeeded",
        87,
        7,
    )


def test_the_task_is_enqueued_only_after_commit(
    staff_client, sample_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff_client.post(
            "/imports/new/",
            {
                "file": SimpleUploadedFile("sample.csv", sample_path.read_bytes()),
                "format": "online-retail",
            },
        )
    assert len(callbacks) == 1
    assert ImportBatch.objects.get().status == RunStatus.PENDING


def test_rejected_rows_download_as_csv(
    staff_client, sample_path, django_capture_on_commit_callbacks
):
    _upload(staff_client, sample_path, django_capture_on_commit_callbacks)
    batch = ImportBatch.objects.get()
    response = staff_client.get(f"/imports/{batch.pk}/rejected.csv")
    assert response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "row_number,reason,message,raw"
    assert len(lines) == 8
    assert lines[1].startswith("82,bad_date,bad InvoiceDate '2010-13-45 25:99',")


def test_an_empty_file_is_refused_with_a_message(staff_client):
    response = staff_client.post(
        "/imports/new/", {"file": SimpleUploadedFile("empty.csv", b""), "format": "csv"}
    )
    assert response.status_code == 200
    assert "The submitted file is empty." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_a_finished_batch_is_not_run_again(sample_path):
    from ecomsite.services.imports import import_batch_execute, import_file

    batch = import_file(path=sample_path)
    assert import_batch_execute(batch_id=batch.pk) is None


def test_a_redelivered_task_redoes_its_own_batch_without_double_counting(sample_path):
    from ecomsite.services.imports import import_batch_create, import_batch_execute

    # given a batch whose first attempt stored everything and then the worker died
    batch = import_batch_create(path=sample_path, format="online-retail", source="cli")
    import_batch_execute(batch_id=batch.pk, task_id="t-1")
    ImportBatch.objects.filter(pk=batch.pk).update(status=RunStatus.RUNNING)
    # when the same task id is delivered again
    redo = import_batch_execute(batch_id=batch.pk, task_id="t-1")
    # then the report is rebuilt and still credits the batch with its own rows
    assert redo is not None
    assert (redo.rows_accepted, redo.rows_duplicate, redo.rows_rejected) == (76, 4, 7)
    assert redo.rejections.count() == 7
    # and another task id may not steal a running batch
    ImportBatch.objects.filter(pk=batch.pk).update(status=RunStatus.RUNNING)
    assert import_batch_execute(batch_id=batch.pk, task_id="t-2") is None


@pytest.mark.parametrize("url", ["/", "/imports/", "/imports/new/"])
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", ["/", "/imports/", "/imports/new/"])
def test_pages_refuse_non_staff(client, plain_user, url):
    client.force_login(plain_user)
    assert client.get(url).status_code == 403


def test_non_staff_cannot_upload(client, plain_user, sample_path):
    client.force_login(plain_user)
    response = client.post(
        "/imports/new/",
        {"file": SimpleUploadedFile("s.csv", sample_path.read_bytes()), "format": "online-retail"},
    )
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_upload_form_needs_csrf(staff_user, sample_path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(
        "/imports/new/",
        {"file": SimpleUploadedFile("s.csv", sample_path.read_bytes()), "format": "online-retail"},
    )
    assert response.status_code == 403


def test_api_upload_answers_202_with_the_batch(
    staff_api_client, sample_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api_client.post(
            "/api/v1/imports/upload/",
            {
                "file": SimpleUploadedFile("s.csv", sample_path.read_bytes()),
                "format": "online-retail",
            },
            format="multipart",
        )
    assert response.status_code == 202
    batch_id = response.json()["id"]
    assert response["Location"].endswith(f"/api/v1/imports/{batch_id}/")
    detail = staff_api_client.get(f"/api/v1/imports/{batch_id}/").json()
    assert (detail["status"], detail["rows_accepted"]) == ("succeeded", 76)
    rejections = staff_api_client.get(f"/api/v1/imports/{batch_id}/rejections/").json()
    assert rejections["count"] == 7
