"""generate_demo_data: deterministic per seed, stored like an import, or written as a file."""

from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from ecomsite.models import Customer, Event, ImportBatch, Product
from ecomsite.services.imports import import_file

pytestmark = pytest.mark.django_db
ARGS = ["--customers", "50", "--products", "30", "--events", "2000", "--no-progress"]


def _snapshot() -> list[tuple]:
    return list(
        Event.objects.order_by("idempotency_key").values_list(
            "idempotency_key",
            "customer__external_id",
            "product__external_id",
            "kind",
            "quantity",
            "occurred_at",
        )
    )


def test_same_seed_same_data_and_a_rerun_adds_nothing():
    call_command("generate_demo_data", *ARGS, "--seed", "7", stdout=StringIO())
    first = _snapshot()
    out = StringIO()
    call_command("generate_demo_data", *ARGS, "--seed", "7", stdout=out)
    assert "2,000 events generated, 0 new, 2,000 already stored" in out.getvalue()
    assert _snapshot() == first
    assert len(first) == 2000
    assert Product.objects.exclude(category="").count() == Product.objects.count()
    assert Customer.objects.filter(first_seen_at__isnull=True).count() == 0
    assert ImportBatch.objects.filter(source="generator").count() == 2


def test_another_seed_gives_other_data():
    call_command("generate_demo_data", *ARGS, "--seed", "1", stdout=StringIO())
    one = {row[1:] for row in _snapshot()}
    Event.objects.all().delete()
    call_command("generate_demo_data", *ARGS, "--seed", "2", stdout=StringIO())
    two = {row[1:] for row in _snapshot()}
    assert one != two


def test_file_output_reimports_to_the_same_events(tmp_path):
    path = tmp_path / "synthetic.csv.gz"
    call_command(
        "generate_demo_data", *ARGS, "--seed", "3", "--output", str(path), stdout=StringIO()
    )
    frame = pd.read_csv(path)
    assert len(frame) == 2000
    assert set(frame["kind"]) == {"view", "cart", "purchase", "return"}
    batch = import_file(path=path)
    assert (batch.format, batch.rows_accepted, batch.rows_rejected) == ("csv", 2000, 0)
    # the same params straight into the database collide on every key: nothing new
    out = StringIO()
    call_command("generate_demo_data", *ARGS, "--seed", "3", stdout=out)
    assert "0 new" in out.getvalue()


def test_bad_params_are_refused():
    with pytest.raises(CommandError, match="categories"):
        call_command(
            "generate_demo_data", "--products", "3", "--categories", "5", stdout=StringIO()
        )


def test_create_partner_token_command():
    out, err = StringIO(), StringIO()
    call_command(
        "create_partner_token",
        "shop",
        "--scopes",
        "events:write,catalog:read",
        stdout=out,
        stderr=err,
    )
    assert out.getvalue().startswith("ecs_")
    assert "events:write" in err.getvalue()
    with pytest.raises(CommandError, match="unknown scope"):
        call_command("create_partner_token", "x", "--scopes", "root", stdout=StringIO())
