"""Read import files in bounded chunks of raw rows (the I/O edge of the import pipeline).

Every reader yields RawChunk objects: a DataFrame of the file's own columns with `row_number`
(the line in the file) and `raw` (the row's text), and how many bytes of the file (compressed
bytes for .gz) have been consumed, for progress. Memory is bounded by `chunk_rows`, whatever
the file size.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pandas as pd

from ecomsite.engine import columns as col
from ecomsite.engine import parsing
from ecomsite.exceptions import UnknownFormat

DEFAULT_CHUNK_ROWS = 50_000
RAW_TEXT_LIMIT = 2_000


@dataclass
class RawChunk:
    rows: pd.DataFrame
    bytes_read: int
    # Rows rejected before parsing (wrong number of fields, malformed JSON): row_number, reason, ...
    rejected: list[dict[str, object]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.rejected)


class _Counting(io.RawIOBase):
    """Wraps a binary file to count the bytes read through it (progress for .gz too)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _open_text(path: Path) -> tuple[IO[str], _Counting]:
    counter = _Counting(path.open("rb"))
    binary: IO[bytes] = io.BufferedReader(counter, buffer_size=1 << 20)
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    if is_gzip:
        binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
    # utf-8-sig drops a BOM; undecodable bytes become U+FFFD rather than aborting the import.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline=""), counter


def _csv_line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()[:RAW_TEXT_LIMIT]


def read_csv_chunks(
    path: Path, *, required: Sequence[str] = (), chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[RawChunk]:
    """CSV with a header row. Raises UnknownFormat if a required column is missing."""
    text, counter = _open_text(path)
    with text:
        reader = csv.reader(text)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in required if name not in header]
        if missing:
            raise UnknownFormat(
                f"missing column(s) {', '.join(missing)}; "
                f"the header is: {', '.join(header) or '(empty)'}"
            )
        width = len(header)
        rows: list[list[str]] = []
        numbers: list[int] = []
        rejected: list[dict[str, object]] = []
        for values in reader:
            line = reader.line_num
            if not values:
                continue  # blank line
            if len(values) != width:
                rejected.append(
                    {
                        col.ROW_NUMBER: line,
                        "reason": parsing.MALFORMED_ROW,
                        "message": f"{len(values)} fields where the header has {width}",
                        parsing.RAW: _csv_line(values),
                    }
                )
            else:
                rows.append(values)
                numbers.append(line)
            if len(rows) + len(rejected) >= chunk_rows:
                yield _csv_chunk(header, rows, numbers, rejected, counter.count)
                rows, numbers, rejected = [], [], []
        if rows or rejected:
            yield _csv_chunk(header, rows, numbers, rejected, counter.count)


def _csv_chunk(
    header: list[str],
    rows: list[list[str]],
    numbers: list[int],
    rejected: list[dict[str, object]],
    bytes_read: int,
) -> RawChunk:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame[col.ROW_NUMBER] = pd.Series(numbers, dtype="int64")
    frame[parsing.RAW] = [_csv_line(r) for r in rows]
    return RawChunk(rows=frame, bytes_read=bytes_read, rejected=rejected)


def read_jsonl_chunks(path: Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[RawChunk]:
    """One JSON object per line; blank lines are skipped; anything else is a per-row rejection."""
    text, counter = _open_text(path)
    with text:
        records: list[dict[str, object]] = []
        rejected: list[dict[str, object]] = []
        for line_number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                rejected.append(_json_rejection(line_number, f"not valid JSON: {exc}", line))
            else:
                if isinstance(value, dict):
                    value[col.ROW_NUMBER] = line_number
                    value[parsing.RAW] = line.strip()[:RAW_TEXT_LIMIT]
                    records.append(value)
                else:
                    rejected.append(_json_rejection(line_number, "not a JSON object", line))
            if len(records) + len(rejected) >= chunk_rows:
                yield RawChunk(records_frame(records), counter.count, rejected)
                records, rejected = [], []
        if records or rejected:
            yield RawChunk(records_frame(records), counter.count, rejected)


def _json_rejection(line_number: int, message: str, line: str) -> dict[str, object]:
    return {
        col.ROW_NUMBER: line_number,
        "reason": parsing.MALFORMED_JSON,
        "message": message[:500],
        parsing.RAW: line.strip()[:RAW_TEXT_LIMIT],
    }


def records_frame(records: list[dict[str, object]]) -> pd.DataFrame:
    """JSON objects (already carrying row_number and raw) to a raw frame of the generic columns."""
    names = [*col.GENERIC_COLUMNS, col.ROW_NUMBER, parsing.RAW]
    frame = (
        pd.DataFrame.from_records(records, columns=names)
        if records
        else pd.DataFrame(columns=names)
    )
    # Nested values (lists, objects) are nonsense in these columns: show them as text to the parser.
    for name in col.GENERIC_COLUMNS:
        series = frame[name]
        nested = series.map(lambda v: isinstance(v, (dict, list)))
        if nested.any():
            frame.loc[nested, name] = series[nested].map(json.dumps)
    return frame


def detect_format(path: Path) -> str:
    """Guess the import format: .jsonl/.ndjson → "jsonl"; a CSV whose header has the Online Retail
    columns → "online-retail"; any other CSV → "csv"."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    text, _ = _open_text(path)
    with text:
        header = next(csv.reader(text), [])
    if set(parsing.ONLINE_RETAIL_COLUMNS) <= {name.strip() for name in header}:
        return "online-retail"
    return "csv"
