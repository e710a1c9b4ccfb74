"""Concurrent bulk calls that share customers and products must not deadlock (PostgreSQL).

bench/bench_api.py found 4 clients deadlocking on customer upserts; writes now take row locks
briefly and in key order. This test replays that pattern with threads."""

import random
import threading

import pytest
from django.db import connection, connections

from ecomsite.models import Customer, Event, Product
from ecomsite.services.ingest import events_ingest_batch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _batch(client: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(client * 100 + n)
    customers = [f"c{i}" for i in range(40)]
    rng.shuffle(customers)  # every call meets the shared customers in its own order
    return [
        {
            "customer_id": customers[i % 40],
            "product_id": f"p{rng.randrange(30)}",
            "kind": "purchase",
            "timestamp": f"2024-06-01T10:{i % 60:02d}:00Z",
            "idempotency_key": f"k-{client}-{n}-{i}",
            "customer_country": "United Kingdom",
            "product_title": f"Product {i % 30}",
        }
        for i in range(300)
    ]


def test_four_concurrent_writers_share_customers_without_deadlock():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the deadlock was PostgreSQL's")
    errors: list[BaseException] = []
    accepted: list[int] = []

    def client(number: int) -> None:
        try:
            for n in range(4):
                result = events_ingest_batch(items=_batch(number, n))
                accepted.append(result.count("accepted"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(accepted) == 4 * 4 * 300
    assert Event.objects.count() == 4800
    assert (Customer.objects.count(), Product.objects.count()) == (40, 30)
    assert not Customer.objects.filter(country="").exists()
