"""import_events: each dirty-row class of the Online Retail sample counted; re-imports add none."""

import gzip
import shutil
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ecomsite.models import Customer, Event, ImportBatch, Product, RunStatus
from ecomsite.services.imports import import_file

pytestmark = pytest.mark.django_db


def test_online_retail_sample_counts_add_up(sample_path):
    # when the 87-row sample is imported
    batch = import_file(path=sample_path, format="online-retail")
    # then 76 rows are stored, 4 exact repeats are duplicates, 7 bad rows are rejected with reasons
    assert batch.status == RunStatus.SUCCEEDED
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
    assert Event.objects.count() == 76
    assert dict(batch.rejections.values_list("row_number", "reason")) == {
        82: "bad_date",
        83: "missing_product",
        84: "bad_quantity",
        85: "bad_price",
        86: "missing_invoice",
        87: "malformed_row",
        88: "bad_quantity",
    }
    assert batch.quality == {
        "returns": 2,
        "anonymous": 7,
        "zero_price": 2,
        "negative_price": 2,
        "negative_quantity": 1,
        "non_product_code": 7,
        "missing_description": 2,
    }
    assert batch.progress == 1.0


def test_online_retail_rows_become_customers_products_and_events(sample_path):
    import_file(path=sample_path, format="online-retail")
    assert Event.objects.filter(kind="return").count() == 2
    assert Event.objects.filter(customer__isnull=True).count() == 7
    france = Customer.objects.get(external_id="12583")
    assert france.country == "France"
    assert france.first_seen_at.isoformat() == "2010-12-01T08:45:00+00:00"
    heart = Product.objects.get(external_id="85123A")
    assert heart.title == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert heart.price == Decimal("2.5500")
    # a product first seen without a description keeps an empty title rather than a made-up one
    assert Product.objects.get(external_id="22139").title == ""
    line = Event.objects.get(order_id="C536383")
    assert (line.kind, line.quantity, line.unit_price, line.customer.external_id) == (
        "return",
        -1,
        Decimal("4.6500"),
        "15311",
    )


def test_reimport_adds_nothing(sample_path):
    import_file(path=sample_path, format="online-retail")
    second = import_file(path=sample_path, format="online-retail")
    assert Event.objects.count() == 76
    assert (second.rows_accepted, second.rows_duplicate, second.rows_rejected) == (0, 80, 7)


def test_gzip_file_imports_like_the_plain_one(sample_path, tmp_path):
    gz = tmp_path / "sample.csv.gz"
    with sample_path.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    batch = import_file(path=gz)  # format detected from the header
    assert batch.format == "online-retail"
    assert batch.rows_accepted == 76
    # the same rows as the plain file: nothing new
    assert import_file(path=sample_path).rows_accepted == 0


def test_generic_csv_with_dirty_rows(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id,session_id,product_title,product_category\n"
        "c1,p1,view,,,2024-05-01T10:00:00Z,,s1,Mug,kitchen\n"
        "c1,p1,cart,1,,2024-05-01T10:01:00Z,,s1,,\n"
        "c1,p1,purchase,2,4.50,2024-05-01T10:02:00Z,o1,s1,,\n"
        ",p2,view,,,2024-05-01T11:00:00Z,,s2,Bowl,kitchen\n"
        "c2,p2,teleport,,,2024-05-01T11:00:00Z,,s3,,\n"
        "c2,,view,,,2024-05-01T11:00:00Z,,s3,,\n"
        "c1,p1,purchase,2,4.50,2024-05-01T10:02:00Z,o1,s1,,\n"
    )
    batch = import_file(path=path, format="csv")
    assert (
        batch.rows_received,
        batch.rows_accepted,
        batch.rows_duplicate,
        batch.rows_rejected,
    ) == (
        7,
        4,
        1,
        2,
    )
    assert batch.quality == {"anonymous": 1}
    assert Product.objects.get(external_id="p1").category == "kitchen"
    assert Product.objects.get(external_id="p1").price == Decimal("4.5")
    assert set(batch.rejections.values_list("reason", flat=True)) == {
        "unknown_kind",
        "missing_product",
    }


def test_product_title_comes_from_a_sale_not_a_stock_adjustment(tmp_path):
    # The real export notes adjustments on the product's own code before any sale of it.
    path = tmp_path / "retail.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536001,23209,mailout,-12,12/1/2010 8:26,0,,United Kingdom\n"
        "536002,23209,LUNCH BAG VINTAGE DOILY,10,12/1/2010 9:02,1.65,17850,United Kingdom\n"
        "536003,23999,?,5,12/1/2010 9:05,0,,United Kingdom\n"
    )
    import_file(path=path, format="online-retail")
    assert Product.objects.get(external_id="23209").title == "LUNCH BAG VINTAGE DOILY"
    # Without any sale the only title seen is kept (staff can correct it in the admin).
    assert Product.objects.get(external_id="23999").title == "?"


def test_jsonl_import(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"customer_id": "c1", "product_id": "p1", "kind": "purchase", "quantity": 3, '
        '"unit_price": 2.5, "timestamp": "2024-05-01T10:02:00+01:00", "idempotency_key": "k1"}\n'
        "not json\n"
        '{"customer_id": 42, "product_id": "p1", "kind": "view", "timestamp": "2024-05-02"}\n'
    )
    batch = import_file(path=path)
    assert batch.format == "jsonl"
    assert (batch.rows_accepted, batch.rows_rejected) == (2, 1)
    event = Event.objects.get(idempotency_key="k1")
    assert event.occurred_at.isoformat() == "2024-05-01T09:02:00+00:00"
    assert Customer.objects.filter(external_id="42").exists()


def test_wrong_format_fails_the_batch_with_a_clear_error(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,age\nann,3\n")
    batch = import_file(path=path, format="online-retail")
    assert batch.status == RunStatus.FAILED
    assert "missing column(s) InvoiceNo, StockCode" in batch.error
    assert Event.objects.count() == 0


def test_command_prints_the_report(sample_path):
    out = StringIO()
    call_command("import_events", str(sample_path), "--no-progress", stdout=out)
    text = out.getvalue()
    assert "87 rows read = 76 accepted + 4 duplicate + 7 rejected" in text
    assert "rejected bad_quantity: 2" in text
    assert "accepted but flagged returns: 2" in text


def test_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command(
            "import_events", str(tmp_path / "nope.csv"), "--no-progress", stdout=StringIO()
        )


def test_command_fails_loudly_on_unknown_format(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,age\nann,3\n")
    with pytest.raises(CommandError, match="failed: .*missing column"):
        call_command(
            "import_events",
            str(path),
            "--format",
            "online-retail",
            "--no-progress",
            stdout=StringIO(),
        )
    assert ImportBatch.objects.get().status == RunStatus.FAILED
