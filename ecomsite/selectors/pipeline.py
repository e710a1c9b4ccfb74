"""Bulk reads for the pipeline: all raw events as one frame (clean_columns.RAW_COLUMNS)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Max

from ecomsite.engine import clean_columns as cc
from ecomsite.models import Event, Product

# Rows read, converted to columns and dropped at a time: ~100 MB of Python tuples on SQLite,
# ~25 MB of CSV on PostgreSQL. Only the compact columns of the chunks are kept, so the peak is
# the finished frame plus one chunk (10M events: ~1.3 GB), not every row as Python objects.
FETCH_ROWS = 250_000


def events_data_version() -> int:
    """The newest Event.id: a pipeline run with the same version has nothing new to do."""
    return int(Event.objects.aggregate(v=Max("id"))["v"] or 0)


def _event_sql(up_to: int) -> str:
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        # Exact integer microseconds since the epoch (timestamptz's own resolution; EXTRACT is
        # numeric): no timestamp text to write, send and parse (~7 s of 10M events).
        occurred_at = "(EXTRACT(EPOCH FROM occurred_at) * 1000000)::bigint"
    else:
        # Plain text: selected as a bare column it would go through Django's per-value datetime
        # converter (~1 µs a row); pandas parses the text in bulk.
        occurred_at = "CAST(occurred_at AS TEXT)"
    return (
        f"SELECT id, COALESCE(customer_id, {cc.ANONYMOUS}), product_id, kind, quantity, "
        f"unit_price, {occurred_at}, order_id, session_id FROM {q(Event._meta.db_table)} "
        f"WHERE id <= {int(up_to)} ORDER BY id"
    )


_EVENT_NAMES = [cc.EVENT_ID, cc.CUSTOMER, cc.PRODUCT, cc.KIND, cc.QUANTITY, cc.UNIT_PRICE,
                cc.TIMESTAMP, cc.ORDER_ID, cc.SESSION_ID]  # fmt: skip
_INT_NAMES = (cc.EVENT_ID, cc.CUSTOMER, cc.PRODUCT, cc.QUANTITY)
_TEXT_NAMES = (cc.KIND, cc.ORDER_ID, cc.SESSION_ID)


def events_raw_frame(*, up_to: int) -> pd.DataFrame:
    """Every raw event with id <= up_to, with its product's SKU and category, as the cleaning
    engine's raw frame. PostgreSQL streams it with COPY, SQLite with fetchmany; both in chunks of
    FETCH_ROWS rows that are turned into typed columns at once."""
    chunks = _postgres_chunks(up_to) if connection.vendor == "postgresql" else _sqlite_chunks(up_to)
    parts: dict[str, list[Any]] = {name: [] for name in _EVENT_NAMES}
    for chunk in chunks:
        for name, values in _typed_columns(chunk).items():
            parts[name].append(values)
    if not parts[cc.EVENT_ID]:
        empty = _typed_columns(pd.DataFrame({name: [] for name in _EVENT_NAMES}, dtype=object))
        for name, values in empty.items():
            parts[name].append(values)
    columns: dict[str, Any] = {}
    for name in _EVENT_NAMES:
        pieces = parts.pop(name)  # the chunks of a column are freed as soon as it is joined
        columns[name] = np.concatenate(pieces)
        del pieces
    columns[cc.TIMESTAMP] = pd.DatetimeIndex(columns[cc.TIMESTAMP]).tz_localize("UTC")
    products = pd.DataFrame.from_records(
        list(Product.objects.values_list("id", "external_id", "category")),
        columns=["id", cc.SKU, cc.CATEGORY],
    ).set_index("id")
    product = pd.Series(columns[cc.PRODUCT])
    columns[cc.SKU] = product.map(products[cc.SKU]).fillna("").astype(str).to_numpy()
    columns[cc.CATEGORY] = product.map(products[cc.CATEGORY]).fillna("").astype(str).to_numpy()
    # copy=False: the columns become the frame's blocks as they are (no consolidating copy).
    return pd.DataFrame({name: columns[name] for name in cc.RAW_COLUMNS}, copy=False)


def _sqlite_chunks(up_to: int) -> Iterator[pd.DataFrame]:
    with connection.cursor() as cursor:
        cursor.execute(_event_sql(up_to))
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield _object_frame(rows)


def _object_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows as a frame of object columns, values as the driver returned them."""
    table = np.array(rows, dtype=object)  # (rows, columns); faster than zip(*rows)
    return pd.DataFrame({name: table[:, i] for i, name in enumerate(_EVENT_NAMES)})


def _postgres_chunks(up_to: int) -> Iterator[pd.DataFrame]:
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({_event_sql(up_to)}) TO STDOUT WITH (FORMAT csv)") as copy:
            block: list[bytes] = []
            for row in copy:  # COPY TO sends one row per message
                block.append(bytes(row))
                if len(block) == FETCH_ROWS:
                    yield _csv_frame(block)
                    block = []
            if block:
                yield _csv_frame(block)


def _csv_frame(block: list[bytes]) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(b"".join(block)),
        names=_EVENT_NAMES,
        dtype={
            cc.KIND: "object",
            cc.ORDER_ID: "object",
            cc.SESSION_ID: "object",
            cc.TIMESTAMP: "int64",
        },
        keep_default_na=False,
        na_values={cc.UNIT_PRICE: [""]},
    )
    micros = frame[cc.TIMESTAMP].to_numpy(dtype=np.int64)
    frame[cc.TIMESTAMP] = (micros * 1000).view("datetime64[ns]")  # naive UTC
    return frame


def _typed_columns(chunk: pd.DataFrame) -> dict[str, Any]:
    """One chunk's columns in the raw frame's dtypes: ids and quantity int64, unit_price float64
    (NaN when unknown or not a number), timestamp datetime64[ns] (naive UTC), text as str
    ("" for NULL). Equal text values within the chunk share one str object: the SQLite driver
    makes a new object per value, and 10M copies of "view" alone would take ~500 MB."""
    columns: dict[str, Any] = {}
    for name in _INT_NAMES:
        columns[name] = chunk[name].to_numpy(dtype=np.int64)
    columns[cc.UNIT_PRICE] = (
        pd.to_numeric(chunk[cc.UNIT_PRICE], errors="coerce").astype("float64").to_numpy()
    )
    # ISO 8601 text (SQLite) is parsed; datetime64 values (PostgreSQL) are taken as UTC.
    stamps = pd.to_datetime(chunk[cc.TIMESTAMP], format="ISO8601", utc=True)
    columns[cc.TIMESTAMP] = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    for name in _TEXT_NAMES:
        text = chunk[name].fillna("").astype(str).to_numpy(dtype=object)
        codes, uniques = pd.factorize(text)
        columns[name] = np.asarray(uniques, dtype=object).take(codes)
    return columns
