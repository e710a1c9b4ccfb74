"""One import goes through a real Celery worker process over Redis (CI sets REDIS_URL)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from ecomsite.models import ImportBatch, RunStatus
from ecomsite.services.imports import import_upload_start

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)"),
]
ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("a worker process can share only a server database with the test run")
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def worker(transactional_db):
    env = {**os.environ, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ecomsite",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_upload_is_imported_by_a_worker_over_redis(worker, staff_user, sample_path):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    # when staff upload a file (the task is sent to Redis once the transaction commits)
    batch = import_upload_start(
        upload=SimpleUploadedFile("sample.csv", sample_path.read_bytes()),
        format="online-retail",
        created_by=staff_user,
    )
    # then the worker process claims and finishes it
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.is_finished:
            break
        time.sleep(0.5)
    else:
        worker.terminate()
        pytest.fail(f"the worker did not finish the import:\n{worker.communicate(timeout=20)[0]}")
    assert batch.status == RunStatus.SUCCEEDED, batch.error
    assert batch.task_id  # recorded by the worker when it claimed the run
    assert (
        batch.rows_received,
        batch.rows_accepted,
        batch.rows_duplicate,
        batch.rows_rejected,
    ) == (
        87,
        76,
        4,
        7,
    )
    assert ImportBatch.objects.count() == 1
