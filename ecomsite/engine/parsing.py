"""Turn raw rows of a supported import format into a validated event frame.

Readers (ecomsite/services/readers.py) hand over *raw chunks*: DataFrames of the file's own columns,
values as read (str, or JSON scalars for JSONL/API), plus `row_number` (1-based line or index) and
`raw` (the row's text, kept for rejection reports). The parsers here are pure and vectorised; each
returns a ParsedChunk: the valid rows as an event frame (columns.EVENT_COLUMNS), the rejected rows
with a reason code and a message, and counts of accepted rows per data-quality class.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import columns as col
from .catalog import NON_PRODUCT_CODE_PATTERN, categorise_titles

RAW = "raw"

# Rejection reason codes (ecomsite.models.RejectionReason mirrors them for display).
MALFORMED_ROW = "malformed_row"
MALFORMED_JSON = "malformed_json"
MISSING_INVOICE = "missing_invoice"
MISSING_PRODUCT = "missing_product"
BAD_DATE = "bad_date"
BAD_QUANTITY = "bad_quantity"
BAD_PRICE = "bad_price"
UNKNOWN_KIND = "unknown_kind"
TOO_LONG = "too_long"
REJECTION_REASONS = {
    MALFORMED_ROW: "Malformed row",
    MALFORMED_JSON: "Malformed JSON",
    MISSING_INVOICE: "Missing invoice number",
    MISSING_PRODUCT: "Missing product code",
    BAD_DATE: "Bad date",
    BAD_QUANTITY: "Bad quantity",
    BAD_PRICE: "Bad price",
    UNKNOWN_KIND: "Unknown event kind",
    TOO_LONG: "Value too long",
}

# Data-quality classes among *accepted* rows: dirty but real, kept for cleaning to decide on.
Q_RETURN = "returns"
Q_ANONYMOUS = "anonymous"
Q_ZERO_PRICE = "zero_price"
Q_NEGATIVE_PRICE = "negative_price"
Q_NEGATIVE_QUANTITY = "negative_quantity"
Q_NON_PRODUCT = "non_product_code"
Q_MISSING_TITLE = "missing_description"
QUALITY_CLASSES = {
    Q_RETURN: "Returns / cancellations",
    Q_ANONYMOUS: "Anonymous (no customer id)",
    Q_ZERO_PRICE: "Zero unit price",
    Q_NEGATIVE_PRICE: "Negative unit price",
    Q_NEGATIVE_QUANTITY: "Negative quantity outside a return",
    Q_NON_PRODUCT: "Non-product code (postage, fees, adjustments)",
    Q_MISSING_TITLE: "Missing product description",
}

# Online Retail: the columns of the original export, and the timezone its dates are written in.
ONLINE_RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
ONLINE_RETAIL_TIMEZONE = "Europe/London"
ONLINE_RETAIL_SOURCE = "online-retail"

# Integer columns in the database are 32-bit signed; prices fit DecimalField(14, 4).
MAX_ABS_QUANTITY = 2**31 - 1
MAX_ABS_PRICE = 1e10


@dataclass(frozen=True)
class ParsedChunk:
    """events: event frame of valid rows; rejected: row_number, reason, message, raw;
    quality: accepted rows per class in QUALITY_CLASSES (missing keys mean 0)."""

    events: pd.DataFrame
    rejected: pd.DataFrame
    quality: dict[str, int] = field(default_factory=dict)


class _Rejector:
    """Collects the first failing reason per row, in the order checks are made."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(None, index=index, dtype=object)
        self.message = pd.Series(None, index=index, dtype=object)

    def reject(self, mask: pd.Series, reason: str, messages: pd.Series | str) -> None:
        mask = mask & self.reason.isna()
        if not mask.any():
            return
        self.reason[mask] = reason
        if isinstance(messages, str):
            self.message[mask] = messages
        else:
            self.message[mask] = messages[mask]

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def frame(self, raw: pd.DataFrame) -> pd.DataFrame:
        bad = ~self.ok
        return pd.DataFrame(
            {
                col.ROW_NUMBER: raw.loc[bad, col.ROW_NUMBER].astype("int64"),
                "reason": self.reason[bad],
                "message": self.message[bad],
                RAW: raw.loc[bad, RAW] if RAW in raw else "",
            }
        ).reset_index(drop=True)


def empty_rejections() -> pd.DataFrame:
    return pd.DataFrame(
        {
            col.ROW_NUMBER: pd.Series(dtype="int64"),
            "reason": pd.Series(dtype=object),
            "message": pd.Series(dtype=object),
            RAW: pd.Series(dtype=object),
        }
    )


def _text(series: pd.Series) -> pd.Series:
    """Strip strings; None/NaN become ''. Numbers from JSON become their text."""
    out = series.astype(object).where(series.notna(), "")
    return out.map(lambda v: v if isinstance(v, str) else _scalar_text(v)).str.strip()


def _scalar_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quote(values: pd.Series) -> pd.Series:
    return "'" + values.str.slice(0, 60) + "'"


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    if name in raw:
        return raw[name]
    return pd.Series(None, index=raw.index, dtype=object)


def _numbers(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.where(text != "", None), errors="coerce")


def _check_quantity(rej: _Rejector, text: pd.Series, default: int | None) -> pd.Series:
    if default is not None:
        text = text.where(text != "", str(default))
    number = _numbers(text)
    rej.reject(number.isna(), BAD_QUANTITY, "quantity " + _quote(text) + " is not a number")
    rej.reject(
        number.notna() & (number != number.round()),
        BAD_QUANTITY,
        "quantity " + _quote(text) + " is not a whole number",
    )
    rej.reject(
        number.abs() > MAX_ABS_QUANTITY, BAD_QUANTITY, "quantity " + _quote(text) + " out of range"
    )
    return number


def _check_price(rej: _Rejector, text: pd.Series, required: bool) -> pd.Series:
    number = _numbers(text)
    non_numeric = number.isna() & (text != "")
    rej.reject(non_numeric, BAD_PRICE, "unit price " + _quote(text) + " is not a number")
    if required:
        rej.reject(text == "", BAD_PRICE, "missing unit price")
    rej.reject(
        number.abs() >= MAX_ABS_PRICE, BAD_PRICE, "unit price " + _quote(text) + " out of range"
    )
    return number


def _check_length(rej: _Rejector, text: pd.Series, limit: int, label: str) -> None:
    rej.reject(text.str.len() > limit, TOO_LONG, f"{label} longer than {limit} characters")


def _content_keys(prefix: str, parts: Iterable[pd.Series]) -> pd.Series:
    """Stable idempotency keys from a row's content: same content, same key, in any file."""
    joined = None
    for part in parts:
        text = part.astype(str)
        joined = text if joined is None else joined + "\x1f" + text
    assert joined is not None
    keys = [prefix + hashlib.sha1(v.encode("utf-8")).hexdigest() for v in joined.tolist()]
    return pd.Series(keys, index=joined.index, dtype=object)


def _localise(naive: pd.Series, timezone: str) -> pd.Series:
    """Local wall-clock times to UTC. In the autumn's repeated hour we take standard time;
    a time in spring's skipped hour moves forward (a shop's clock can't show it)."""
    values = naive.dt.tz_localize(
        timezone, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    return values.dt.tz_convert("UTC")


def quality_counts(events: pd.DataFrame, *, titles_expected: bool = False) -> dict[str, int]:
    """Count accepted rows per data-quality class (see QUALITY_CLASSES).

    Missing descriptions count only where the format always carries one (Online Retail)."""
    is_return = events[col.KIND] == col.RETURN
    price = events[col.UNIT_PRICE]
    counts = {
        Q_RETURN: int(is_return.sum()),
        Q_ANONYMOUS: int(events[col.CUSTOMER_ID].isna().sum()),
        Q_ZERO_PRICE: int((price == 0).sum()),
        Q_NEGATIVE_PRICE: int((price < 0).sum()),
        Q_NEGATIVE_QUANTITY: int(((events[col.QUANTITY] < 0) & ~is_return).sum()),
        Q_NON_PRODUCT: int(events[col.PRODUCT_ID].str.match(NON_PRODUCT_CODE_PATTERN).sum()),
    }
    if titles_expected:
        counts[Q_MISSING_TITLE] = int((events[col.PRODUCT_TITLE] == "").sum())
    return {name: count for name, count in counts.items() if count}


def _finish(
    raw: pd.DataFrame,
    rej: _Rejector,
    values: Mapping[str, pd.Series | str | float],
    *,
    titles_expected: bool = False,
) -> ParsedChunk:
    ok = rej.ok
    data = {}
    for name in col.EVENT_COLUMNS:
        value = values[name]
        data[name] = value[ok] if isinstance(value, pd.Series) else value
    events = pd.DataFrame(data, index=raw.index[ok], columns=list(col.EVENT_COLUMNS))
    events[col.QUANTITY] = events[col.QUANTITY].astype("int64")
    events[col.UNIT_PRICE] = events[col.UNIT_PRICE].astype("float64")
    events[col.ROW_NUMBER] = events[col.ROW_NUMBER].astype("int64")
    events = events.reset_index(drop=True)
    return ParsedChunk(
        events=events,
        rejected=rej.frame(raw),
        quality=quality_counts(events, titles_expected=titles_expected),
    )


def parse_online_retail(
    raw: pd.DataFrame, *, timezone: str = ONLINE_RETAIL_TIMEZONE
) -> ParsedChunk:
    """Rows of the UCI Online Retail export (ONLINE_RETAIL_COLUMNS, strings) to events.

    InvoiceNo → order_id (a leading 'C' marks a cancellation → kind "return"); StockCode and
    Description → product; CustomerID → customer ("17850.0" is read as "17850"; empty → anonymous,
    kept); Country → the customer's country; InvoiceDate is local time in `timezone`.
    """
    rej = _Rejector(raw.index)
    invoice = _text(_column(raw, "InvoiceNo"))
    stock = _text(_column(raw, "StockCode")).str.upper()
    title = _text(_column(raw, "Description"))
    date_text = _text(_column(raw, "InvoiceDate"))
    customer = _text(_column(raw, "CustomerID")).str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    country = _text(_column(raw, "Country"))

    rej.reject(invoice == "", MISSING_INVOICE, "missing InvoiceNo")
    rej.reject(stock == "", MISSING_PRODUCT, "missing StockCode")
    _check_length(rej, invoice, col.MAX_ID_LENGTH, "InvoiceNo")
    _check_length(rej, stock, col.MAX_ID_LENGTH, "StockCode")
    _check_length(rej, customer, col.MAX_ID_LENGTH, "CustomerID")

    naive = pd.to_datetime(date_text, format="ISO8601", errors="coerce")
    retry = naive.isna() & (date_text != "")
    if retry.any():
        # The original UCI spreadsheet export writes US dates: "12/1/2010 8:26".
        naive[retry] = pd.to_datetime(date_text[retry], format="%m/%d/%Y %H:%M", errors="coerce")
    naive = pd.to_datetime(naive)
    rej.reject(naive.isna(), BAD_DATE, "bad InvoiceDate " + _quote(date_text))
    timestamp = _localise(naive, timezone)

    quantity = _check_quantity(rej, _text(_column(raw, "Quantity")), default=None)
    price = _check_price(rej, _text(_column(raw, "UnitPrice")), required=True)

    kind = pd.Series(
        np.where(invoice.str.upper().str.startswith("C"), col.RETURN, col.PURCHASE), index=raw.index
    )
    ok = rej.ok
    keys = pd.Series("", index=raw.index, dtype=object)
    if ok.any():
        keys[ok] = _content_keys(
            "or-",
            [
                invoice[ok],
                stock[ok],
                quantity[ok].astype("int64"),
                timestamp[ok].dt.strftime("%Y-%m-%dT%H:%M:%S"),
                price[ok].round(4),
                customer[ok],
            ],
        )
    return _finish(
        raw,
        rej,
        {
            col.CUSTOMER_ID: customer.where(customer != "", None),
            col.PRODUCT_ID: stock,
            col.KIND: kind,
            col.QUANTITY: quantity,
            col.UNIT_PRICE: price,
            col.TIMESTAMP: timestamp,
            col.ORDER_ID: invoice,
            # The export has no sessions; an invoice is the closest thing to one visit.
            col.SESSION_ID: invoice,
            col.SOURCE: ONLINE_RETAIL_SOURCE,
            col.IDEMPOTENCY_KEY: keys,
            col.PRODUCT_TITLE: title.str.slice(0, col.MAX_TITLE_LENGTH),
            # The export has no categories: derive them from the titles (engine/catalog.py).
            col.PRODUCT_CATEGORY: categorise_titles(title, stock),
            col.CUSTOMER_COUNTRY: country.str.slice(0, col.MAX_COUNTRY_LENGTH),
            col.ROW_NUMBER: raw[col.ROW_NUMBER],
        },
        titles_expected=True,
    )


KIND_ALIASES = {
    "view": col.VIEW,
    "cart": col.CART,
    "add_to_cart": col.CART,
    "purchase": col.PURCHASE,
    "return": col.RETURN,
}


def parse_generic(raw: pd.DataFrame, *, default_source: str) -> ParsedChunk:
    """Rows of the generic format (columns.GENERIC_COLUMNS; any may be absent) to events.

    Required: product_id, kind (view/cart/purchase/return), timestamp (ISO 8601; no offset = UTC).
    quantity defaults to 1; unit_price may be empty; customer_id empty → anonymous.
    Without an idempotency_key the key is derived from the row's content.
    """
    rej = _Rejector(raw.index)
    customer = _text(_column(raw, col.CUSTOMER_ID))
    product = _text(_column(raw, col.PRODUCT_ID))
    kind_text = _text(_column(raw, col.KIND))
    time_text = _text(_column(raw, col.TIMESTAMP))
    order = _text(_column(raw, col.ORDER_ID))
    session = _text(_column(raw, col.SESSION_ID))
    source = _text(_column(raw, col.SOURCE))
    source = source.where(source != "", default_source).str.slice(0, col.MAX_SOURCE_LENGTH)
    key = _text(_column(raw, col.IDEMPOTENCY_KEY))

    rej.reject(product == "", MISSING_PRODUCT, "missing product_id")
    kind = kind_text.str.lower().map(KIND_ALIASES)
    rej.reject(
        kind.isna(),
        UNKNOWN_KIND,
        "unknown kind " + _quote(kind_text) + " (expected view, cart, purchase or return)",
    )
    timestamp = pd.to_datetime(time_text, format="ISO8601", errors="coerce", utc=True)
    rej.reject(timestamp.isna(), BAD_DATE, "bad timestamp " + _quote(time_text))
    quantity = _check_quantity(rej, _text(_column(raw, col.QUANTITY)), default=1)
    price = _check_price(rej, _text(_column(raw, col.UNIT_PRICE)), required=False)
    for text, limit, label in (
        (customer, col.MAX_ID_LENGTH, "customer_id"),
        (product, col.MAX_ID_LENGTH, "product_id"),
        (order, col.MAX_ID_LENGTH, "order_id"),
        (session, col.MAX_ID_LENGTH, "session_id"),
        (key, col.MAX_KEY_LENGTH, "idempotency_key"),
    ):
        _check_length(rej, text, limit, label)

    ok = rej.ok
    keys = key.copy()
    derive = ok & (key == "")
    if derive.any():
        keys[derive] = _content_keys(
            "gen-",
            [
                source[derive],
                customer[derive],
                product[derive],
                kind[derive],
                quantity[derive].astype("int64"),
                price[derive].round(4),
                timestamp[derive].dt.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                order[derive],
                session[derive],
            ],
        )
    return _finish(
        raw,
        rej,
        {
            col.CUSTOMER_ID: customer.where(customer != "", None),
            col.PRODUCT_ID: product,
            col.KIND: kind,
            col.QUANTITY: quantity,
            col.UNIT_PRICE: price,
            col.TIMESTAMP: timestamp,
            col.ORDER_ID: order,
            col.SESSION_ID: session,
            col.SOURCE: source,
            col.IDEMPOTENCY_KEY: keys,
            col.PRODUCT_TITLE: _text(_column(raw, col.PRODUCT_TITLE)).str.slice(
                0, col.MAX_TITLE_LENGTH
            ),
            col.PRODUCT_CATEGORY: _text(_column(raw, col.PRODUCT_CATEGORY)).str.slice(
                0, col.MAX_CATEGORY_LENGTH
            ),
            col.CUSTOMER_COUNTRY: _text(_column(raw, col.CUSTOMER_COUNTRY)).str.slice(
                0, col.MAX_COUNTRY_LENGTH
            ),
            col.ROW_NUMBER: raw[col.ROW_NUMBER],
        },
    )
