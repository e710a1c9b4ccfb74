"""Column names of the frames the pipeline passes around (cleaning → features → segments).

Raw frame (input of cleaning.clean_events; one row per stored Event, read from the database):

================  =====================  ===========================================================
column            dtype                  meaning
================  =====================  ===========================================================
event_id          int64                  Event.pk
customer          int64                  Customer.pk; ANONYMOUS (-1) when the event has none
product           int64                  Product.pk
sku               object (str)           Product.external_id (non-product codes are detected on it)
category          object (str)           Product.category ("" when unknown)
kind              object (str)           view / cart / purchase / return
quantity          int64                  as stored (signed; returns usually negative)
unit_price        float64                NaN when unknown
timestamp         datetime64[ns, UTC]
order_id          object (str)           "" when none
session_id        object (str)           "" when none
================  =====================  ===========================================================

Clean frame (output of cleaning; input of features): the raw columns plus

================  =====================  ===========================================================
net_quantity      int64                  purchases: quantity minus the returns matched to them
                                         (never below 0); other kinds: 0
revenue           float64                purchases: net_quantity * unit_price; other kinds: 0.0
is_duplicate      bool                   repeats an earlier event (same customer, product, kind,
                                         quantity, price, time, order); excluded
is_anonymous      bool                   customer == ANONYMOUS; kept apart, never attributed
is_outlier        bool                   quantity or price far outside the product's usual range
                                         (robust: median/MAD on log scale); excluded from features
is_non_product    bool                   postage, fees, manual adjustments; excluded from features
is_return_matched bool                   a return whose quantity was netted off earlier purchases
is_return_unmatched bool                 a return with no earlier purchase to net it against
usable            bool                   counts for features: not duplicate, anonymous, outlier or
                                         non-product
================  =====================  ===========================================================
"""

ANONYMOUS = -1

EVENT_ID = "event_id"
CUSTOMER = "customer"
PRODUCT = "product"
SKU = "sku"
CATEGORY = "category"
KIND = "kind"
QUANTITY = "quantity"
UNIT_PRICE = "unit_price"
TIMESTAMP = "timestamp"
ORDER_ID = "order_id"
SESSION_ID = "session_id"

RAW_COLUMNS = (
    EVENT_ID,
    CUSTOMER,
    PRODUCT,
    SKU,
    CATEGORY,
    KIND,
    QUANTITY,
    UNIT_PRICE,
    TIMESTAMP,
    ORDER_ID,
    SESSION_ID,
)

NET_QUANTITY = "net_quantity"
REVENUE = "revenue"
IS_DUPLICATE = "is_duplicate"
IS_ANONYMOUS = "is_anonymous"
IS_OUTLIER = "is_outlier"
IS_NON_PRODUCT = "is_non_product"
IS_RETURN_MATCHED = "is_return_matched"
IS_RETURN_UNMATCHED = "is_return_unmatched"
USABLE = "usable"

CLEAN_COLUMNS = RAW_COLUMNS + (
    NET_QUANTITY,
    REVENUE,
    IS_DUPLICATE,
    IS_ANONYMOUS,
    IS_OUTLIER,
    IS_NON_PRODUCT,
    IS_RETURN_MATCHED,
    IS_RETURN_UNMATCHED,
    USABLE,
)
