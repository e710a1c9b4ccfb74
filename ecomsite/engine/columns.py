"""Canonical column names for event frames passed between readers, engine and services.

An *event frame* is a pandas DataFrame with one row per behaviour event and these columns:

=================  ========================  ======================================================
column             dtype                     meaning
=================  ========================  ======================================================
customer_id        object (str or None)      the shop's customer id; None for an anonymous visitor
product_id         object (str)              the shop's product id / SKU (Online Retail: StockCode)
kind               object (str)              one of EVENT_KINDS
quantity           int64                     units, signed as in the source (returns: often < 0)
unit_price         float64 (NaN = unknown)   price per unit in the shop's currency
timestamp          datetime64[ns, UTC]       when it happened
order_id           object (str)              order or invoice id, "" when none
session_id         object (str)              visit/session id, "" when none
source             object (str)              where the row came from ("online-retail", "api", ...)
idempotency_key    object (str)              unique per real-world event; re-sending it is harmless
product_title      object (str)              optional product attributes carried on the event
product_category   object (str)
customer_country   object (str)              optional customer attribute carried on the event
row_number         int64                     1-based position in the source (line, array index)
=================  ========================  ======================================================
"""

CUSTOMER_ID = "customer_id"
PRODUCT_ID = "product_id"
KIND = "kind"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
TIMESTAMP = "timestamp"
ORDER_ID = "order_id"
SESSION_ID = "session_id"
SOURCE = "source"
IDEMPOTENCY_KEY = "idempotency_key"
PRODUCT_TITLE = "product_title"
PRODUCT_CATEGORY = "product_category"
CUSTOMER_COUNTRY = "customer_country"
ROW_NUMBER = "row_number"

EVENT_COLUMNS = (
    CUSTOMER_ID,
    PRODUCT_ID,
    KIND,
    QUANTITY,
    UNIT_PRICE,
    TIMESTAMP,
    ORDER_ID,
    SESSION_ID,
    SOURCE,
    IDEMPOTENCY_KEY,
    PRODUCT_TITLE,
    PRODUCT_CATEGORY,
    CUSTOMER_COUNTRY,
    ROW_NUMBER,
)

VIEW = "view"
CART = "cart"
PURCHASE = "purchase"
RETURN = "return"
EVENT_KINDS = (VIEW, CART, PURCHASE, RETURN)

# Field limits shared by the parsers and the database schema (ecomsite/models/shop.py).
MAX_ID_LENGTH = 64
MAX_KEY_LENGTH = 100
MAX_SOURCE_LENGTH = 32
MAX_TITLE_LENGTH = 255
MAX_CATEGORY_LENGTH = 128
MAX_COUNTRY_LENGTH = 64

# The generic CSV/JSONL/API format: these columns, by these names (README "Import formats").
GENERIC_COLUMNS = (
    CUSTOMER_ID,
    PRODUCT_ID,
    KIND,
    QUANTITY,
    UNIT_PRICE,
    TIMESTAMP,
    ORDER_ID,
    SESSION_ID,
    SOURCE,
    IDEMPOTENCY_KEY,
    PRODUCT_TITLE,
    PRODUCT_CATEGORY,
    CUSTOMER_COUNTRY,
)
