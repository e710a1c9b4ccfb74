"""Set-based writes for large frames: INSERT ... ON CONFLICT in one executemany per chunk.

The ORM's bulk_create builds a model instance per row and cannot say how many rows a conflicting
insert skipped; imports need both speed (10M-row files) and exact accepted/duplicate counts,
so these helpers write plain SQL that SQLite (3.24+) and PostgreSQL both understand, and
return rowcounts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import pandas as pd
from django.db import OperationalError, connection
from django.db.models import Field, Model
from django.utils import timezone

T = TypeVar("T")

# SQLite caps bound variables per statement (32,766 since 3.32); keep IN (...) lists well below.
IN_QUERY_BATCH = 5_000


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


Rows = Sequence[Sequence[Any]]


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name
    return field


def _names(model: type[Model], fields: Sequence[str]) -> list[str]:
    return [connection.ops.quote_name(_field(model, name).column) for name in fields]


def db_datetimes(values: pd.Series) -> list[str | None]:
    """UTC datetimes (datetime64[ns, UTC]) as the text each backend stores or parses.

    SQLite: naive UTC text exactly as Django writes it (so that text comparisons in queries agree);
    PostgreSQL: ISO 8601 with offset, cast by the server to timestamptz.
    """
    utc = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if connection.vendor == "sqlite":
        text = utc.dt.strftime("%Y-%m-%d %H:%M:%S").copy()
        fractional = utc.dt.microsecond != 0
        if fractional.any():
            text[fractional] = utc[fractional].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        text = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return text.where(utc.notna(), None).tolist()


def db_now() -> str:
    return db_datetimes(pd.Series([pd.Timestamp(timezone.now())]).dt.tz_convert("UTC"))[0] or ""


def db_floats(values: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in values.tolist()]


def insert_ignoring_conflicts(
    model: type[Model], fields: Sequence[str], rows: Rows, *, conflict: str | Sequence[str]
) -> int:
    """INSERT the rows; rows whose `conflict` field value already exists (or repeats an earlier
    row) are skipped. Returns how many rows were inserted."""
    if not rows:
        return 0
    names = _names(model, fields)
    target = ", ".join(_names(model, [conflict] if isinstance(conflict, str) else conflict))
    if connection.vendor == "postgresql":
        return _copy_then_insert(model, names, rows, target)
    placeholders = ", ".join(["%s"] * len(names))
    sql = (
        f"INSERT INTO {_table(model)} ({', '.join(names)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({target}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return max(cursor.rowcount, 0)


def _copy_then_insert(model: type[Model], names: list[str], rows: Rows, target: str) -> int:
    """PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.
    Row-by-row statements (even pipelined) managed ~11k rows/s here; COPY more than doubles it."""
    table = _table(model)
    temp = connection.ops.quote_name(f"_load_{model._meta.db_table}")
    columns = ", ".join(names)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {temp} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # Key order makes concurrent loaders wait on each other instead of deadlocking.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {temp} ORDER BY {target} "
            f"ON CONFLICT ({target}) DO NOTHING"
        )
        inserted = max(cursor.rowcount, 0)
        cursor.execute(f"DROP TABLE {temp}")
    return inserted


def upsert_filling_blanks(
    model: type[Model],
    fields: Sequence[str],
    rows: Rows,
    *,
    conflict: str,
    fill: Sequence[str],
) -> dict[str, int]:
    """INSERT the rows; where the `conflict` value exists, fill the `fill` fields that are blank
    ('' or NULL) in the stored row from non-blank new values, and leave everything else as it was.
    Returns {conflict value: pk} for every row.

    Concurrency: rows are inserted in key order with ON CONFLICT DO NOTHING, and an existing row is
    locked (updated) only when it has a blank to fill, in pk order. An upsert that locks every
    conflicting row in arrival order (ON CONFLICT DO UPDATE) deadlocked under 4 concurrent API
    clients on PostgreSQL (bench/bench_api.py)."""
    if not rows:
        return {}
    fields = list(fields)
    key_at = fields.index(conflict)
    ordered = sorted(rows, key=lambda row: str(row[key_at]))
    insert_ignoring_conflicts(model, fields, ordered, conflict=conflict)
    new_values = {str(row[key_at]): row for row in ordered}
    ids: dict[str, int] = {}
    fills: dict[str, list[tuple[Any, int]]] = {name: [] for name in fill}
    manager = model._default_manager
    keys = list(new_values)
    for start in range(0, len(keys), IN_QUERY_BATCH):
        part = keys[start : start + IN_QUERY_BATCH]
        for key, pk, *stored in manager.filter(**{f"{conflict}__in": part}).values_list(
            conflict, "pk", *fill
        ):
            ids[key] = pk
            row = new_values[key]
            for name, old in zip(fill, stored, strict=True):
                new = row[fields.index(name)]
                if old in (None, "") and new not in (None, ""):
                    fills[name].append((new, pk))
    table = _table(model)
    pk_column = connection.ops.quote_name(model._meta.pk.column)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        for name, changes in fills.items():
            if not changes:
                continue
            column = _names(model, [name])[0]
            blank = (
                f"{column} IS NULL"
                if _is_decimal(model, name)
                else f"({column} IS NULL OR {column} = '')"
            )
            ordered_changes: Rows = sorted(changes, key=lambda change: change[1])
            cursor.executemany(
                f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s AND {blank}",
                ordered_changes,
            )
    return ids


def _is_decimal(model: type[Model], name: str) -> bool:
    return _field(model, name).get_internal_type() == "DecimalField"


# A load that adds this many rows refreshes the planner's statistics at once (see analyze_tables):
# small, because even a few thousand rows behind "empty" statistics get nested-loop plans.
ANALYZE_AFTER_ROWS = 1_000


def analyze_tables(*models: type[Model]) -> None:
    """PostgreSQL: refresh planner statistics after a bulk load. Autovacuum gets there eventually,
    but until then a table whose statistics say "empty" (e.g. vacuumed after deletes) gets
    nested-loop plans: one UPDATE after a 320k-row import ran for over 10 minutes. ANALYZE samples
    a fixed number of rows (about a second) and also counts this transaction's own rows."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {_table(model)}")


def with_retries(work: Callable[[], T], *, attempts: int = 3) -> T:
    """Run `work` again after a transient database error (deadlock, serialization failure,
    SQLite busy), with a short randomised back-off. Only for idempotent work outside an
    enclosing transaction."""
    for attempt in range(attempts):
        try:
            return work()
        except OperationalError as exc:
            if attempt == attempts - 1 or connection.in_atomic_block or not _transient(exc):
                raise
            time.sleep(0.05 * 2**attempt + random.random() * 0.05)
    raise AssertionError("unreachable")


def _transient(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate in {"40P01", "40001"} or "database is locked" in str(exc)


def id_map(model: type[Model], field: str, values: Iterable[str]) -> dict[str, int]:
    """{value of `field`: primary key} for the given values that exist."""
    unique = list(dict.fromkeys(values))
    found: dict[str, int] = {}
    manager = model._default_manager
    for start in range(0, len(unique), IN_QUERY_BATCH):
        part = unique[start : start + IN_QUERY_BATCH]
        found.update(manager.filter(**{f"{field}__in": part}).values_list(field, "pk"))
    return found
