"""The bundled Online Retail file, whole: every row accounted for, and a re-import adds nothing."""

from pathlib import Path

import pytest

from ecomsite.models import Customer, Event, Product, RunStatus
from ecomsite.services.imports import import_file

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
REAL_FILE = Path(__file__).resolve().parents[3] / "data" / "online_retail_2010-12_2011-08.csv.gz"


def test_real_file_import_counts_add_up_and_reimport_adds_nothing():
    batch = import_file(path=REAL_FILE, format="online-retail")
    assert batch.status == RunStatus.SUCCEEDED
    assert batch.rows_received == 320_705
    assert batch.rows_received == batch.rows_accepted + batch.rows_duplicate + batch.rows_rejected
    # measured on the file: 2,484 lines repeat an earlier line exactly; none is malformed
    assert (batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected) == (318_221, 2_484, 0)
    assert batch.quality["anonymous"] == 88_652
    assert batch.quality["returns"] == 5_847
    assert Event.objects.count() == 318_221
    assert (Customer.objects.count(), Product.objects.count()) == (3_360, 3_680)

    again = import_file(path=REAL_FILE, format="online-retail")
    assert (again.rows_accepted, again.rows_duplicate) == (0, 320_705)
    assert Event.objects.count() == 318_221
