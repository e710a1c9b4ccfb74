"""Bulk reads for the pipeline: all raw events as one frame (clean_columns.RAW_COLUMNS)."""

from __future__ import annotations

import io

import pandas as pd
from django.db import connection
from django.db.models import Max

from ecomsite.engine import clean_columns as cc
from ecomsite.models import Event, Product

FETCH_ROWS = 250_000  # rows per fetchmany on SQLite: ~100 MB of tuples at a time


def events_data_version() -> int:
    """The newest Event.id: a pipeline run with the same version has nothing new to do."""
    return int(Event.objects.aggregate(v=Max("id"))["v"] or 0)


def _event_sql(up_to: int) -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT id, COALESCE(customer_id, {cc.ANONYMOUS}), product_id, kind, quantity, "
        f"unit_price, occurred_at, order_id, session_id FROM {q(Event._meta.db_table)} "
        f"WHERE id <= {int(up_to)} ORDER BY id"
    )


_EVENT_NAMES = [cc.EVENT_ID, cc.CUSTOMER, cc.PRODUCT, cc.KIND, cc.QUANTITY, cc.UNIT_PRICE,
                cc.TIMESTAMP, cc.ORDER_ID, cc.SESSION_ID]  # fmt: skip


def events_raw_frame(*, up_to: int) -> pd.DataFrame:
    """Every raw event with id <= up_to, with its product's SKU and category, as the cleaning
    engine's raw frame. PostgreSQL streams it with COPY; SQLite in batches of FETCH_ROWS."""
    if connection.vendor == "postgresql":
        buffer = io.BytesIO()
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY ({_event_sql(up_to)}) TO STDOUT WITH (FORMAT csv)"
            ) as copy:
                for block in copy:
                    buffer.write(block)
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            names=_EVENT_NAMES,
            dtype={cc.KIND: "object", cc.ORDER_ID: "object", cc.SESSION_ID: "object"},
            keep_default_na=False,
            na_values={cc.UNIT_PRICE: [""]},
        )
    else:
        parts = []
        with connection.cursor() as cursor:
            cursor.execute(_event_sql(up_to))
            while rows := cursor.fetchmany(FETCH_ROWS):
                parts.append(pd.DataFrame.from_records(rows, columns=_EVENT_NAMES))
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_EVENT_NAMES)
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], format="ISO8601", utc=True)
    for name in (cc.EVENT_ID, cc.CUSTOMER, cc.PRODUCT, cc.QUANTITY):
        frame[name] = frame[name].astype("int64")
    frame[cc.UNIT_PRICE] = pd.to_numeric(frame[cc.UNIT_PRICE], errors="coerce").astype("float64")
    for name in (cc.ORDER_ID, cc.SESSION_ID, cc.KIND):
        frame[name] = frame[name].fillna("").astype(str)
    products = pd.DataFrame.from_records(
        list(Product.objects.values_list("id", "external_id", "category")),
        columns=["id", cc.SKU, cc.CATEGORY],
    ).set_index("id")
    frame[cc.SKU] = frame[cc.PRODUCT].map(products[cc.SKU]).fillna("").astype(str)
    frame[cc.CATEGORY] = frame[cc.PRODUCT].map(products[cc.CATEGORY]).fillna("").astype(str)
    return frame[list(cc.RAW_COLUMNS)].reset_index(drop=True)
