"""Synthetic e-commerce behaviour: a catalogue, customers and a stream of event frames.

Pure numpy/pandas (no Django). Everything is vectorised and fully determined by `SyntheticParams`:
the same params give identical frames, whatever `chunk_size` is used to read them.

The model
---------
* Catalogue. Products are spread over categories with Dirichlet category sizes (every category has
  at least one product). Popularity is Zipf-like, ``(rank + 1) ** -ZIPF_EXPONENT`` over a random
  ranking, so a few products take most of the attention (long tail). Prices are log-normal with a
  log-mean and spread drawn per category, rounded to a ``.99`` ending.
* Customers. Each has a country (Zipf-weighted over `SyntheticParams.countries`, the first most
  common), latent category preferences (a concentrated Dirichlet whose mean follows the catalogue's
  category popularity, mixed with a little of that global mix so nothing is impossible), an activity
  rate (log-normal: many light customers, a few heavy ones) and a purchase propensity (log-normal
  multiplier on the conversion rate).
* Sessions. A session belongs to a customer drawn in proportion to activity, or is anonymous
  (ANONYMOUS_SHARE of sessions). It has 1 + negative-binomial views. The session has a main
  category drawn from the customer's preferences (the global mix for anonymous visitors); each
  view stays in it with probability SESSION_STICKINESS, otherwise draws a category afresh. Within
  a category the product is drawn by popularity. Each view is carted with a small probability;
  a session with a cart converts with the customer's conversion rate into one order (one order_id)
  whose lines are the carted products (the first surely, the others with LINE_KEEP). Quantities are
  small positive integers (mostly 1-3); a line's unit_price is the list price, occasionally
  discounted. Anonymous visitors cart and convert much less.
* Repeat buying. Every customer keeps a ring buffer of their last HISTORY_SLOTS purchased products
  (updated after each block of sessions, so only earlier purchases count). A share of a registered
  customer's views are "buy again" views of a product from that history, carted more often.
* Returns. A small share of purchase lines is returned a few days later: kind "return", the same
  order_id, product and unit_price, negative quantity (usually the whole line).
* Time. Session starts follow an hourly intensity over [start, start + days): an hour-of-day
  profile, a weekly pattern (Sunday peak, Saturday dip) and a yearly shape (mild winter high,
  summer low, a Black-Friday-to-Christmas peak). Starts are drawn as the order statistics of that
  distribution, so sessions come out in chronological order; events inside a session follow with
  gamma-distributed gaps between views.

Streaming and exactness
-----------------------
Sessions are generated in fixed blocks of SESSION_BLOCK sessions, each block from its own random
streams (seeded with ``[seed, stream, block]``), so memory depends on the block and the chunk size,
never on the total. A cheap first pass replays only the per-session event counts to find how many
sessions give exactly `SyntheticParams.events` events (the last session is cut short) and the sum of
the exponential spacings that place session starts; the second pass generates the events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ecomsite.engine import columns as col

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]

SOURCE = "synthetic"

# --- Model constants ------------------------------------------------------------------------------
ZIPF_EXPONENT = 1.1  # product popularity ~ (rank + 1) ** -ZIPF_EXPONENT
CATEGORY_SIZE_ALPHA = 3.0  # Dirichlet concentration of category sizes (products per category)
PRICE_LOG_MEAN = float(np.log(12.0))  # centre of the per-category log-mean price (currency units)
PRICE_LOG_MEAN_SPREAD = 0.7  # sd across categories of the log-mean price
PRICE_LOG_SD_RANGE = (0.35, 0.75)  # per-category sd of log price, uniform in this range
PREFERENCE_CONCENTRATION = 0.35  # Dirichlet alpha per category (times category share * categories)
PREFERENCE_EXPLORATION = 0.1  # share of the global category mix blended into each preference
ACTIVITY_LOG_SD = 1.1  # customers' activity rates are log-normal(0, this)
PROPENSITY_LOG_SD = 0.4  # customers' conversion multiplier is log-normal(mean 1, this sd of log)
COUNTRY_ZIPF_EXPONENT = 1.3  # country i has weight (i + 1) ** -this

SESSION_BLOCK = 4096  # sessions generated per block (memory unit; also the repeat-history lag)
ANONYMOUS_SHARE = 0.08  # share of sessions without a customer
EXTRA_VIEWS_N = 1.5  # views per session = 1 + NegativeBinomial(EXTRA_VIEWS_N, EXTRA_VIEWS_P)
EXTRA_VIEWS_P = 0.3  # ... mean 1 + 1.5 * 0.7 / 0.3 = 4.5 views
SESSION_STICKINESS = 0.7  # probability a view stays in the session's main category
REPEAT_VIEW_SHARE = 0.15  # share of a registered customer's views that revisit a bought product
CART_RATE = 0.12  # probability a view is carted
REPEAT_CART_RATE = 0.40  # ... a "buy again" view
ANONYMOUS_CART_RATE = 0.04  # ... an anonymous view
CONVERSION_RATE = 0.40  # probability a session with a cart buys (times the customer's propensity)
ANONYMOUS_CONVERSION_RATE = 0.15
MAX_CONVERSION_RATE = 0.95
LINE_KEEP = 0.8  # probability a further carted product is in the order (the first always is)
DISCOUNT_RATE = 0.1  # share of order lines sold below list price
DISCOUNT_RANGE = (0.1, 0.3)  # discount fraction, uniform in this range
QUANTITY_VALUES = np.array([1, 2, 3, 4, 5, 6, 10, 12], dtype=np.int64)
QUANTITY_PROBABILITIES = np.array([0.56, 0.22, 0.1, 0.04, 0.03, 0.02, 0.02, 0.01])
RETURN_RATE = 0.06  # share of order lines returned
PARTIAL_RETURN_RATE = 0.25  # share of returns that send back only part of the line
RETURN_MIN_DAYS = 2.0  # return delay = RETURN_MIN_DAYS + Gamma(shape, scale) days
RETURN_DELAY_SHAPE = 2.0
RETURN_DELAY_SCALE_DAYS = 3.0
HISTORY_SLOTS = 8  # purchased products remembered per customer for repeat buying
VIEW_GAP_MIN_S = 5.0  # seconds between views = VIEW_GAP_MIN_S + Gamma(shape, scale)
VIEW_GAP_SHAPE = 1.5
VIEW_GAP_SCALE_S = 30.0
CHECKOUT_MIN_S = 30.0  # seconds from the last view to the order = min + Exponential(mean)
CHECKOUT_MEAN_S = 90.0
DEDUPE_ROUNDS = 12  # redraw rounds for a product carted twice in one session

# Relative session intensity by hour of day (UTC), day of week (Monday first).
HOURLY_PROFILE = np.array(
    [0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05,
     1.15, 1.1, 1.0, 0.95, 0.95, 1.0, 1.1, 1.25, 1.35, 1.25, 0.9, 0.5]
)  # fmt: skip
WEEKLY_PROFILE = np.array([1.0, 0.97, 0.95, 0.97, 0.92, 0.85, 1.12])

_NS_PER_S = 1_000_000_000
_NS_PER_US = 1_000
_S_PER_DAY = 86_400.0

# Random stream tags: [seed, tag, block] seeds each generator.
_STREAM_WORLD = 0
_STREAM_SHAPE = 1
_STREAM_DETAIL = 2
_STREAM_CLOSE = 3

_VIEW, _CART, _PURCHASE, _RETURN = (
    col.EVENT_KINDS.index(kind) for kind in (col.VIEW, col.CART, col.PURCHASE, col.RETURN)
)
_KINDS: ObjectArray = np.array(col.EVENT_KINDS, dtype=object)

_CATEGORY_NOUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Home & Kitchen", ("Mug", "Teapot", "Cutting Board", "Storage Jar", "Tea Towel", "Candle")),
    ("Electronics", ("Headphones", "Charger", "Speaker", "Power Bank", "Smart Plug", "Keyboard")),
    ("Books", ("Novel", "Cookbook", "Atlas", "Biography", "Puzzle Book", "Travel Guide")),
    ("Toys & Games", ("Jigsaw", "Board Game", "Plush Bear", "Building Set", "Kite", "Yo-Yo")),
    ("Beauty", ("Face Cream", "Lip Balm", "Shampoo", "Perfume", "Hand Soap", "Bath Bomb")),
    ("Sports & Outdoors", ("Water Bottle", "Yoga Mat", "Backpack", "Tent", "Skipping Rope", "Cap")),
    ("Garden", ("Plant Pot", "Watering Can", "Seed Kit", "Bird Feeder", "Trowel", "Lantern")),
    ("Fashion", ("Scarf", "T-Shirt", "Tote Bag", "Sunglasses", "Wallet", "Socks")),
    ("Grocery", ("Coffee", "Tea Selection", "Chocolate", "Olive Oil", "Honey", "Granola")),
    ("Health", ("Vitamins", "First Aid Kit", "Thermometer", "Hot Water Bottle", "Massage Ball")),
    ("Pet Supplies", ("Dog Lead", "Cat Toy", "Pet Bed", "Chew Stick", "Food Bowl", "Pet Brush")),
    ("Stationery", ("Notebook", "Pen Set", "Desk Organiser", "Greeting Card", "Planner")),
)
_GENERIC_NOUNS = ("Item", "Set", "Kit", "Pack", "Bundle", "Collection")
_ADJECTIVES = ("Classic", "Vintage", "Modern", "Deluxe", "Mini", "Large",
               "Eco", "Retro", "Premium", "Everyday", "Compact", "Handmade")  # fmt: skip
_COLOURS = ("Red", "Blue", "Green", "Black", "White", "Oak",
            "Ceramic", "Cotton", "Steel", "Glass", "Pink", "Grey")  # fmt: skip


@dataclass(frozen=True)
class SyntheticParams:
    """What to generate.

    customers, products: sizes of the catalogue; events: exact number of events (all kinds) that
    `generate_events` yields; seed: everything is a function of the params; start: ISO date or
    datetime (UTC unless it carries an offset) of the first possible timestamp; days: length of the
    period, timestamps fall in [start, start + days); categories: number of product categories
    (at most `products`); countries: customers' countries, the first the most common.
    """

    customers: int = 2_000
    products: int = 500
    events: int = 100_000
    seed: int = 0
    start: str = "2024-01-01"
    days: int = 365
    categories: int = 12
    countries: tuple[str, ...] = (
        "United Kingdom",
        "Germany",
        "France",
        "Spain",
        "Netherlands",
        "Ireland",
    )

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if self.products < 1:
            raise ValueError("products must be at least 1")
        if self.events < 0:
            raise ValueError("events must not be negative")
        if self.seed < 0:
            raise ValueError("seed must not be negative")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if not 1 <= self.categories <= self.products:
            raise ValueError("categories must be between 1 and the number of products")
        if not self.countries or any(not c for c in self.countries):
            raise ValueError("countries must be a non-empty tuple of non-empty names")
        if any(len(c) > col.MAX_COUNTRY_LENGTH for c in self.countries):
            raise ValueError(f"country names are at most {col.MAX_COUNTRY_LENGTH} characters")
        _start_ns(self.start)  # raises ValueError when it is not a date


def _start_ns(start: str) -> int:
    """Nanoseconds since the epoch of `start` (ISO date/datetime; naive means UTC)."""
    try:
        parsed: object = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start {start!r} is not an ISO date") from exc
    if not isinstance(parsed, pd.Timestamp):  # "NaT", ""
        raise ValueError(f"start {start!r} is not an ISO date")
    stamp = parsed
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value)


def category_names(params: SyntheticParams) -> list[str]:
    """The `params.categories` category names, in category-index order."""
    names = [name for name, _ in _CATEGORY_NOUNS[: params.categories]]
    names += [f"Category {i + 1}" for i in range(len(names), params.categories)]
    return names


@dataclass(frozen=True, eq=False)
class _World:
    """Catalogue, customers and their latent traits; P products, N customers, C categories."""

    params: SyntheticParams
    start_ns: int
    end_ns: int  # exclusive
    fingerprint: str  # short hash of params, part of every idempotency key
    category_names: tuple[str, ...]  # (C,)
    product_ids: ObjectArray  # (P,) "SKU00001", ...
    product_titles: ObjectArray  # (P,)
    product_category: IntArray  # (P,) category index
    product_category_names: ObjectArray  # (P,)
    price: FloatArray  # (P,) list price, > 0
    category_cum: FloatArray  # (C,) cumulative global category mix (popularity mass), last = 1
    products_by_category: IntArray  # (P,) product indices sorted by category
    product_flat_cum: FloatArray  # (P,) category + cumulative popularity within the category
    customer_ids: ObjectArray  # (N + 1,) "C000001", ..., and None for anonymous (index -1)
    customer_country: ObjectArray  # (N + 1,) country, and "" for anonymous (index -1)
    preferences: FloatArray  # (N, C) rows sum to 1
    preference_flat_cum: FloatArray  # (N * C,) customer + cumulative preference
    activity_cum: FloatArray  # (N,) cumulative share of sessions, last = 1
    conversion: FloatArray  # (N + 1,) P(order | cart) per customer, anonymous last
    hour_cum: FloatArray  # (days * 24,) cumulative session intensity per hour, last = 1
    hour_weight: FloatArray  # (days * 24,) session probability per hour


def _cumulative(weights: FloatArray) -> FloatArray:
    """Cumulative distribution of non-negative weights along the last axis; last value exactly 1."""
    cum = np.cumsum(weights, axis=-1)
    cum = cum / cum[..., -1:]
    cum[..., -1] = 1.0
    return cum


def _seasonal_weights(start_ns: int, days: int) -> FloatArray:
    """Relative session intensity for each hour of the period: (days * 24,), sums to 1."""
    hours = pd.date_range(pd.Timestamp(start_ns, unit="ns", tz="UTC"), periods=days * 24, freq="h")
    hour_of_day = np.asarray(hours.hour, dtype=np.int64)
    weekday = np.asarray(hours.dayofweek, dtype=np.int64)
    doy = np.asarray(hours.dayofyear, dtype=np.float64)
    yearly = (
        1.0
        + 0.12 * np.cos(2.0 * np.pi * (doy - 15.0) / 365.25)  # winter high, summer low
        + 0.9 * np.exp(-0.5 * ((doy - 332.0) / 16.0) ** 2)  # Black Friday / Cyber Monday
        + 0.6 * np.exp(-0.5 * ((doy - 350.0) / 7.0) ** 2)  # last orders before Christmas
        - 0.5 * ((doy >= 359.0) & (doy < 361.0))  # Christmas day and Boxing Day lull
    )
    weights = HOURLY_PROFILE[hour_of_day] * WEEKLY_PROFILE[weekday] * yearly
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _build_world(params: SyntheticParams) -> _World:
    """Draw the catalogue and customers (deterministic in params; size O(P + N * C + days * 24))."""
    rng = np.random.default_rng([params.seed, _STREAM_WORLD])
    n_products, n_customers, n_categories = params.products, params.customers, params.categories

    # Products: categories (each non-empty), Zipf popularity, log-normal prices per category.
    sizes = rng.dirichlet(np.full(n_categories, CATEGORY_SIZE_ALPHA))
    category = np.concatenate(
        [np.arange(n_categories), rng.choice(n_categories, n_products - n_categories, p=sizes)]
    ).astype(np.int64)
    rng.shuffle(category)
    rank = rng.permutation(n_products)
    popularity = (rank + 1.0) ** -ZIPF_EXPONENT
    popularity /= popularity.sum()
    log_mean = rng.normal(PRICE_LOG_MEAN, PRICE_LOG_MEAN_SPREAD, n_categories)
    log_sd = rng.uniform(*PRICE_LOG_SD_RANGE, n_categories)
    raw_price = np.exp(rng.normal(log_mean[category], log_sd[category]))
    price = np.maximum(np.round(raw_price) - 0.01, 0.49).round(2)

    names = category_names(params)
    nouns = [dict(_CATEGORY_NOUNS).get(name, _GENERIC_NOUNS) for name in names]
    adjective = rng.integers(0, len(_ADJECTIVES), n_products)
    colour = rng.integers(0, len(_COLOURS), n_products)
    noun = rng.integers(0, 1 << 30, n_products)
    titles = [
        f"{_ADJECTIVES[a]} {_COLOURS[c]} {nouns[k][n % len(nouns[k])]}"
        for a, c, k, n in zip(
            adjective.tolist(), colour.tolist(), category.tolist(), noun.tolist(), strict=True
        )
    ]
    width = max(5, len(str(n_products)))
    product_ids = np.array([f"SKU{i:0{width}d}" for i in range(1, n_products + 1)], dtype=object)

    order = np.argsort(category, kind="stable").astype(np.int64)
    sorted_category = category[order]
    sorted_pop = popularity[order]
    within = np.cumsum(sorted_pop)
    starts = np.searchsorted(sorted_category, np.arange(n_categories))
    ends = np.append(starts[1:], n_products)
    base = np.concatenate([[0.0], within])[starts]  # popularity before each category
    mass = within[ends - 1] - base  # (C,) popularity mass per category
    product_flat_cum = sorted_category + (within - base[sorted_category]) / mass[sorted_category]
    product_flat_cum[ends - 1] = np.arange(n_categories) + 1.0
    category_mix = mass / mass.sum()

    # Customers: country, concentrated category preferences, activity, purchase propensity.
    country_weight = (np.arange(len(params.countries)) + 1.0) ** -COUNTRY_ZIPF_EXPONENT
    country = rng.choice(
        len(params.countries), n_customers, p=country_weight / country_weight.sum()
    )
    alpha = np.maximum(PREFERENCE_CONCENTRATION * n_categories * category_mix, 1e-3)
    gammas = rng.gamma(alpha, size=(n_customers, n_categories))
    totals = gammas.sum(axis=1, keepdims=True)
    dirichlet = np.where(totals > 0, gammas / np.where(totals > 0, totals, 1.0), category_mix)
    preferences = (1.0 - PREFERENCE_EXPLORATION) * dirichlet + PREFERENCE_EXPLORATION * category_mix
    preferences /= preferences.sum(axis=1, keepdims=True)
    preference_flat_cum = (
        np.arange(n_customers, dtype=np.float64)[:, None] + _cumulative(preferences)
    ).ravel()
    activity = rng.lognormal(0.0, ACTIVITY_LOG_SD, n_customers)
    propensity = rng.lognormal(-0.5 * PROPENSITY_LOG_SD**2, PROPENSITY_LOG_SD, n_customers)
    conversion = np.append(
        np.minimum(CONVERSION_RATE * propensity, MAX_CONVERSION_RATE), ANONYMOUS_CONVERSION_RATE
    )
    c_width = max(6, len(str(n_customers)))
    customer_ids = np.array(
        [f"C{i:0{c_width}d}" for i in range(1, n_customers + 1)] + [None], dtype=object
    )
    countries = np.array(list(params.countries) + [""], dtype=object)

    start_ns = _start_ns(params.start)
    hour_weight = _seasonal_weights(start_ns, params.days)
    names_arr = np.array(names, dtype=object)
    return _World(
        params=params,
        start_ns=start_ns,
        end_ns=start_ns + params.days * 86_400 * _NS_PER_S,
        fingerprint=hashlib.blake2b(repr(params).encode("utf-8"), digest_size=4).hexdigest(),
        category_names=tuple(names),
        product_ids=product_ids,
        product_titles=np.array(titles, dtype=object),
        product_category=category,
        product_category_names=names_arr[category],
        price=price,
        category_cum=_cumulative(category_mix),
        products_by_category=order,
        product_flat_cum=product_flat_cum,
        customer_ids=customer_ids,
        customer_country=countries[np.append(country, len(params.countries))],
        preferences=preferences,
        preference_flat_cum=preference_flat_cum,
        activity_cum=_cumulative(activity),
        conversion=conversion,
        hour_cum=_cumulative(hour_weight),
        hour_weight=hour_weight,
    )


def generate_catalogue(params: SyntheticParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catalogue behind `generate_events(params)`.

    Returns (products, customers):
    products: `params.products` rows; product_id (str "SKU00001", ...), product_title (str),
    product_category (str), price (float64 list price in currency units, > 0);
    customers: `params.customers` rows; customer_id (str "C000001", ...), customer_country (str).
    """
    world = _build_world(params)
    products = pd.DataFrame(
        {
            col.PRODUCT_ID: world.product_ids,
            col.PRODUCT_TITLE: world.product_titles,
            col.PRODUCT_CATEGORY: world.product_category_names,
            "price": world.price,
        }
    )
    customers = pd.DataFrame(
        {
            col.CUSTOMER_ID: world.customer_ids[:-1],
            col.CUSTOMER_COUNTRY: world.customer_country[:-1],
        }
    )
    return products, customers


def latent_preferences(params: SyntheticParams) -> pd.DataFrame:
    """The customers' latent category preferences (ground truth for evaluating segmentation):
    (customers x categories) float64 frame indexed by customer_id, columns `category_names`,
    each row a probability distribution."""
    world = _build_world(params)
    return pd.DataFrame(
        world.preferences,
        index=pd.Index(world.customer_ids[:-1], name=col.CUSTOMER_ID),
        columns=list(world.category_names),
    )


# --- Sampling helpers -----------------------------------------------------------------------------


def _global_category(world: _World, u: FloatArray) -> IntArray:
    """Categories drawn from the global mix; u: uniforms in [0, 1), same shape as the result."""
    found = np.searchsorted(world.category_cum, u, side="right")
    return np.minimum(found, world.params.categories - 1).astype(np.int64)


def _preferred_category(world: _World, customer: IntArray, u: FloatArray) -> IntArray:
    """Categories drawn from each customer's preferences (customer: indices >= 0)."""
    n_categories = world.params.categories
    found = np.searchsorted(world.preference_flat_cum, customer + u, side="right")
    return np.clip(found - customer * n_categories, 0, n_categories - 1).astype(np.int64)


def _product_in(world: _World, category: IntArray, u: FloatArray) -> IntArray:
    """Products drawn by popularity within the given categories."""
    found = np.searchsorted(world.product_flat_cum, category + u, side="right")
    found = np.minimum(found, world.params.products - 1)
    return world.products_by_category[found]


def _session_starts(world: _World, u: FloatArray) -> IntArray:
    """Session start times (int64 ns since the epoch, whole microseconds) at quantiles u of the
    seasonal intensity; non-decreasing where u is."""
    hour_cum = world.hour_cum
    hour = np.minimum(np.searchsorted(hour_cum, u, side="right"), len(hour_cum) - 1)
    lower = np.where(hour > 0, hour_cum[np.maximum(hour - 1, 0)], 0.0)
    frac = np.clip((u - lower) / world.hour_weight[hour], 0.0, 1.0)
    micros = np.floor((hour + frac) * 3600.0 * 1e6).astype(np.int64)
    starts: IntArray = (world.start_ns + micros * _NS_PER_US).astype(np.int64)
    return starts


def _group_rank(groups: IntArray) -> IntArray:
    """0-based position of each element within its run of equal values (groups sorted)."""
    n = len(groups)
    index = np.arange(n, dtype=np.int64)
    if n == 0:
        return index
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(groups[1:], groups[:-1], out=new[1:])
    rank: IntArray = (index - np.maximum.accumulate(np.where(new, index, 0))).astype(np.int64)
    return rank


# --- Session shapes (first pass and second pass) --------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Shapes:
    """How many events of each kind a block's B sessions have; V = total views in the block."""

    customer: IntArray  # (B,) customer index, -1 anonymous
    n_views: IntArray  # (B,) >= 1
    first_view: IntArray  # (B,) index of each session's first view
    spacing: FloatArray  # (B,) Exp(1) spacings that place session starts
    view_session: IntArray  # (V,) session of each view
    repeat: BoolArray  # (V,) "buy again" view (registered customers only)
    cart: BoolArray  # (V,) view is followed by a cart event
    line: BoolArray  # (V,) carted product is bought (an order line)
    returned: BoolArray  # (V,) order line is later returned
    converts: BoolArray  # (B,) session places an order
    events: IntArray  # (B,) rows per session


def _shapes(world: _World, block: int) -> _Shapes:
    """Event counts of block `block`: a function of (params, block) only."""
    rng = np.random.default_rng([world.params.seed, _STREAM_SHAPE, block])
    n = SESSION_BLOCK
    anonymous = rng.random(n) < ANONYMOUS_SHARE
    drawn = np.searchsorted(world.activity_cum, rng.random(n), side="right")
    customer = np.where(anonymous, -1, np.minimum(drawn, world.params.customers - 1)).astype(
        np.int64
    )
    n_views = 1 + rng.negative_binomial(EXTRA_VIEWS_N, EXTRA_VIEWS_P, n).astype(np.int64)
    spacing = rng.standard_exponential(n)
    ends = np.cumsum(n_views)
    first_view = ends - n_views
    view_session = np.repeat(np.arange(n, dtype=np.int64), n_views)
    u = rng.random((4, int(ends[-1])))
    view_anonymous = anonymous[view_session]
    repeat = ~view_anonymous & (u[0] < REPEAT_VIEW_SHARE)
    cart_rate = np.where(
        view_anonymous, ANONYMOUS_CART_RATE, np.where(repeat, REPEAT_CART_RATE, CART_RATE)
    )
    cart = u[1] < cart_rate
    carted = np.flatnonzero(cart)
    has_cart = np.zeros(n, dtype=bool)
    has_cart[view_session[carted]] = True
    converts = has_cart & (rng.random(n) < world.conversion[customer])
    keep = np.zeros_like(cart)
    keep[carted] = (_group_rank(view_session[carted]) == 0) | (u[2][carted] < LINE_KEEP)
    line = keep & converts[view_session]
    returned = line & (u[3] < RETURN_RATE)
    per_view = cart.astype(np.int64) + line + returned
    events = n_views + np.add.reduceat(per_view, first_view)
    return _Shapes(
        customer=customer,
        n_views=n_views,
        first_view=first_view,
        spacing=spacing,
        view_session=view_session,
        repeat=repeat,
        cart=cart,
        line=line,
        returned=returned,
        converts=converts,
        events=events.astype(np.int64),
    )


@dataclass(frozen=True)
class _Plan:
    """Outcome of the first pass."""

    sessions: int  # sessions needed for exactly params.events events (the last may be cut short)
    spacing_total: float  # sum of the spacings of those sessions plus one closing spacing


def _plan(world: _World) -> _Plan:
    """First pass: replay the blocks' event counts until they reach params.events."""
    remaining = world.params.events
    sessions = 0
    spacing_total = 0.0
    block = 0
    while True:
        shapes = _shapes(world, block)
        cumulative = np.cumsum(shapes.events)
        if cumulative[-1] >= remaining:
            used = int(np.searchsorted(cumulative, remaining)) + 1
            sessions += used
            spacing_total += float(shapes.spacing[:used].sum())
            break
        remaining -= int(cumulative[-1])
        sessions += len(shapes.events)
        spacing_total += float(shapes.spacing.sum())
        block += 1
    closing = np.random.default_rng([world.params.seed, _STREAM_CLOSE]).standard_exponential()
    return _Plan(sessions=sessions, spacing_total=spacing_total + float(closing))


# --- Second pass: the events of one block ---------------------------------------------------------


@dataclass
class _State:
    """What carries from block to block in the second pass."""

    history: IntArray  # (N, HISTORY_SLOTS) last purchased products per customer, -1 empty
    history_count: IntArray  # (N,) purchases recorded per customer so far
    sessions_before: int = 0
    orders_before: int = 0
    spacing_before: float = 0.0


def _remember_purchases(state: _State, customer: IntArray, product: IntArray, ts: IntArray) -> None:
    """Push order lines (customer >= 0) into the customers' purchase ring buffers, in time order."""
    order = np.lexsort((ts, customer))
    customer, product = customer[order], product[order]
    rank = _group_rank(customer)
    in_block = np.bincount(customer, minlength=len(state.history_count)).astype(np.int64)
    keep = rank >= in_block[customer] - HISTORY_SLOTS  # only the last HISTORY_SLOTS survive
    slot = (state.history_count[customer] + rank) % HISTORY_SLOTS
    state.history[customer[keep], slot[keep]] = product[keep]
    state.history_count += in_block


def _block_events(
    world: _World, shapes: _Shapes, block: int, plan: _Plan, state: _State, id_width: int
) -> dict[str, npt.NDArray[Any]]:
    """Rows of one block, sorted by (session, timestamp, kind): every event column except
    source, idempotency_key and row_number. Updates `state` for the next block."""
    rng = np.random.default_rng([world.params.seed, _STREAM_DETAIL, block])
    n = len(shapes.customer)
    customer = shapes.customer
    anonymous = customer < 0
    known = np.maximum(customer, 0)
    vs = shapes.view_session
    n_views = len(vs)

    # Products viewed: session's main category, sometimes another; popularity within category;
    # "buy again" views take a product from the customer's purchase history.
    u = rng.random(n)
    session_category = np.where(
        anonymous, _global_category(world, u), _preferred_category(world, known, u)
    )
    uv = rng.random((4, n_views))
    view_anonymous = anonymous[vs]
    own = np.where(
        view_anonymous, _global_category(world, uv[0]), _preferred_category(world, known[vs], uv[0])
    )
    view_category = np.where(uv[1] < SESSION_STICKINESS, session_category[vs], own)
    product = _product_in(world, view_category, uv[2])
    again = shapes.repeat & (state.history_count[known[vs]] > 0)
    if again.any():
        who = known[vs][again]
        available = np.minimum(state.history_count[who], HISTORY_SLOTS)
        slot = np.minimum((uv[3][again] * available).astype(np.int64), available - 1)
        product[again] = state.history[who, slot]
        view_category[again] = world.product_category[product[again]]

    # No product carted twice in one session: redraw duplicates, first within their category,
    # then (a category may have a single dominant product) from the whole catalogue.
    carted = np.flatnonzero(shapes.cart)
    for round_ in range(DEDUPE_ROUNDS):
        order = np.lexsort((carted, product[carted], vs[carted]))
        s, p = vs[carted][order], product[carted][order]
        duplicate = (s[1:] == s[:-1]) & (p[1:] == p[:-1])
        if not duplicate.any():
            break
        redo = carted[order[1:][duplicate]]
        if round_ >= DEDUPE_ROUNDS // 2:
            view_category[redo] = _global_category(world, rng.random(len(redo)))
        product[redo] = _product_in(world, view_category[redo], rng.random(len(redo)))

    # Quantities and prices.
    n_carts = len(carted)
    quantity_cum = _cumulative(QUANTITY_PROBABILITIES)
    pick = np.searchsorted(quantity_cum, rng.random(n_carts), side="right")
    cart_quantity = QUANTITY_VALUES[np.minimum(pick, len(QUANTITY_VALUES) - 1)]
    is_line = shapes.line[carted]
    lines = carted[is_line]
    line_quantity = cart_quantity[is_line]
    n_lines = len(lines)
    list_price = world.price[product]
    discounted = rng.random(n_lines) < DISCOUNT_RATE
    cut = rng.uniform(*DISCOUNT_RANGE, n_lines)
    line_price = np.where(
        discounted, np.maximum((list_price[lines] * (1.0 - cut)).round(2), 0.01), list_price[lines]
    )
    is_returned = shapes.returned[lines]
    returns = lines[is_returned]
    n_returns = len(returns)
    full = line_quantity[is_returned]
    partial = rng.random(n_returns) < PARTIAL_RETURN_RATE
    part = np.minimum(1 + (rng.random(n_returns) * full).astype(np.int64), full)
    return_quantity = np.where(partial, part, full)

    # Timing: chronological session starts, gaps between views, checkout, returns days later.
    position = state.spacing_before + np.cumsum(shapes.spacing)
    quantile = np.clip(position / plan.spacing_total, 0.0, np.nextafter(1.0, 0.0))
    session_start = _session_starts(world, quantile)
    gap = VIEW_GAP_MIN_S + rng.gamma(VIEW_GAP_SHAPE, VIEW_GAP_SCALE_S, n_views)
    gap[shapes.first_view] = 0.0
    elapsed = np.cumsum(gap)
    view_offset = elapsed - elapsed[shapes.first_view][vs]
    checkout = CHECKOUT_MIN_S + rng.exponential(CHECKOUT_MEAN_S, n)
    last_view = shapes.first_view + shapes.n_views - 1
    next_gap = np.empty(n_views)
    next_gap[:-1] = gap[1:]
    next_gap[last_view] = checkout
    cart_offset = view_offset[carted] + next_gap[carted] * rng.uniform(0.2, 0.8, n_carts)
    order_offset = view_offset[last_view] + checkout
    delay = _S_PER_DAY * (
        RETURN_MIN_DAYS + rng.gamma(RETURN_DELAY_SHAPE, RETURN_DELAY_SCALE_DAYS, n_returns)
    )
    late = rng.random(n_returns)
    last_ns = world.end_ns - _NS_PER_US

    def at(session: IntArray, seconds: FloatArray) -> IntArray:
        micros = np.floor(seconds * 1e6).astype(np.int64)
        stamps: IntArray = np.minimum(session_start[session] + micros * _NS_PER_US, last_ns)
        return stamps

    line_ts = at(vs[lines], order_offset[vs[lines]])
    bought_ts = line_ts[is_returned]
    return_ts = bought_ts + (delay * 1e6).astype(np.int64) * _NS_PER_US
    too_late = return_ts > last_ns  # near the end: back some time before the period closes
    room = (last_ns - bought_ts) // _NS_PER_US
    return_ts = np.where(
        too_late, bought_ts + (late * room).astype(np.int64) * _NS_PER_US, return_ts
    )

    session = np.concatenate([vs, vs[carted], vs[lines], vs[returns]])
    kind = np.concatenate(
        [
            np.full(n_views, _VIEW, dtype=np.int8),
            np.full(n_carts, _CART, dtype=np.int8),
            np.full(n_lines, _PURCHASE, dtype=np.int8),
            np.full(n_returns, _RETURN, dtype=np.int8),
        ]
    )
    products = np.concatenate([product, product[carted], product[lines], product[returns]])
    quantity = np.concatenate(
        [np.ones(n_views, dtype=np.int64), cart_quantity, line_quantity, -return_quantity]
    )
    unit_price = np.concatenate(
        [list_price, list_price[carted], line_price, line_price[is_returned]]
    )
    timestamp = np.concatenate(
        [at(vs, view_offset), at(vs[carted], cart_offset), line_ts, np.minimum(return_ts, last_ns)]
    )
    order = np.lexsort((kind, timestamp, session))
    session, kind, products = session[order], kind[order], products[order]

    registered_line = ~anonymous[vs[lines]]
    _remember_purchases(
        state, customer[vs[lines]][registered_line], product[lines][registered_line],
        line_ts[registered_line],
    )  # fmt: skip

    session_ids = np.array(
        [f"S{state.sessions_before + i:0{id_width}d}" for i in range(1, n + 1)], dtype=object
    )
    order_ids = np.full(n, "", dtype=object)
    converting = np.flatnonzero(shapes.converts)
    order_ids[converting] = [
        f"O{state.orders_before + i:0{id_width}d}" for i in range(1, len(converting) + 1)
    ]
    state.sessions_before += n
    state.orders_before += len(converting)
    state.spacing_before = float(position[-1])

    row_customer = customer[session]
    return {
        col.CUSTOMER_ID: world.customer_ids[row_customer],
        col.PRODUCT_ID: world.product_ids[products],
        col.KIND: _KINDS[kind],
        col.QUANTITY: quantity[order],
        col.UNIT_PRICE: unit_price[order],
        col.TIMESTAMP: timestamp[order],
        col.ORDER_ID: np.where(kind >= _PURCHASE, order_ids[session], ""),
        col.SESSION_ID: session_ids[session],
        col.PRODUCT_TITLE: world.product_titles[products],
        col.PRODUCT_CATEGORY: world.product_category_names[products],
        col.CUSTOMER_COUNTRY: world.customer_country[row_customer],
    }


def _frame(world: _World, rows: dict[str, npt.NDArray[Any]], first_row: int) -> pd.DataFrame:
    """An event frame from block rows; first_row is the 1-based row_number of its first row."""
    n = len(rows[col.KIND])
    row_number = np.arange(first_row, first_row + n, dtype=np.int64)
    prefix = f"syn-{world.params.seed}-{world.fingerprint}-"
    data: dict[str, Any] = dict(rows)
    data[col.TIMESTAMP] = pd.to_datetime(rows[col.TIMESTAMP], unit="ns", utc=True)
    data[col.SOURCE] = np.full(n, SOURCE, dtype=object)
    data[col.IDEMPOTENCY_KEY] = np.array(
        [prefix + str(i) for i in row_number.tolist()], dtype=object
    )
    data[col.ROW_NUMBER] = row_number
    return pd.DataFrame({name: data[name] for name in col.EVENT_COLUMNS})


def generate_events(
    params: SyntheticParams, *, chunk_size: int = 200_000
) -> Iterator[pd.DataFrame]:
    """Yield the synthetic events of `params` as event frames.

    Exactly `params.events` rows in total, in frames of `chunk_size` rows (the last may be
    shorter). Columns are exactly `columns.EVENT_COLUMNS` with the dtypes documented there:
    customer_id object (str, None when anonymous), product_id/kind/order_id/session_id/source/
    idempotency_key/product_title/product_category/customer_country object (str), quantity int64
    (units; negative for returns; 1 for views), unit_price float64 (currency units), timestamp
    datetime64[ns, UTC] within [start, start + days), row_number int64 (1-based, running across
    frames). source is "synthetic"; idempotency_key is "syn-{seed}-{params hash}-{row_number}",
    unique across the output (and across different params). Sessions come in chronological order of
    their start; a session's rows are consecutive and sorted by time (its returns last).

    Deterministic: the same params give identical frames, whatever the chunk_size. Memory is
    bounded by chunk_size and SESSION_BLOCK (plus the catalogue), not by params.events.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return _generate(params, chunk_size)


def _generate(params: SyntheticParams, chunk_size: int) -> Iterator[pd.DataFrame]:
    world = _build_world(params)
    if params.events == 0:
        return
    plan = _plan(world)
    state = _State(
        history=np.full((params.customers, HISTORY_SLOTS), -1, dtype=np.int64),
        history_count=np.zeros(params.customers, dtype=np.int64),
    )
    id_width = max(7, len(str(plan.sessions)))
    remaining = params.events
    pending: list[dict[str, npt.NDArray[Any]]] = []
    pending_rows = 0
    next_row = 1
    block = 0
    while remaining > 0:
        rows = _block_events(world, _shapes(world, block), block, plan, state, id_width)
        block += 1
        count = len(rows[col.KIND])
        if count > remaining:
            rows = {name: values[:remaining] for name, values in rows.items()}
            count = remaining
        remaining -= count
        pending.append(rows)
        pending_rows += count
        if pending_rows < chunk_size and remaining > 0:
            continue
        merged = (
            pending[0]
            if len(pending) == 1
            else {name: np.concatenate([p[name] for p in pending]) for name in pending[0]}
        )
        offset = 0
        while pending_rows - offset >= chunk_size or (remaining == 0 and offset < pending_rows):
            stop = min(offset + chunk_size, pending_rows)
            piece = {name: values[offset:stop] for name, values in merged.items()}
            yield _frame(world, piece, next_row)
            next_row += stop - offset
            offset = stop
        pending_rows -= offset
        pending = [{k: v[offset:].copy() for k, v in merged.items()}] if pending_rows else []
