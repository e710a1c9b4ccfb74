"""factory_boy factories for every model."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from ecomsite.models import (
    Customer,
    Event,
    EventKind,
    ImportBatch,
    ImportFormat,
    ImportRejection,
    ImportSource,
    PartnerToken,
    Product,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-user-123")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:05d}")
    country = "United Kingdom"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    external_id = factory.Sequence(lambda n: f"SKU{n:05d}")
    title = factory.Sequence(lambda n: f"Product {n}")
    category = "gifts"
    price = Decimal("2.50")


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportBatch

    source = ImportSource.CLI
    format = ImportFormat.CSV
    file_name = "events.csv"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    kind = EventKind.PURCHASE
    quantity = 1
    unit_price = Decimal("2.50")
    occurred_at = factory.Sequence(
        lambda n: dt.datetime(2011, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)
    )
    order_id = factory.Sequence(lambda n: f"O{n}")
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")


class ImportRejectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportRejection

    batch = factory.SubFactory(ImportBatchFactory)
    row_number = factory.Sequence(lambda n: n + 2)
    reason = "bad_date"
    message = "bad timestamp 'x'"


class PartnerTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerToken

    name = factory.Sequence(lambda n: f"partner {n}")
    prefix = "ecs_abcdef"
    key_hash = factory.Sequence(lambda n: f"{n:064x}")
    scopes = factory.LazyFunction(list)
