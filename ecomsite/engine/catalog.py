"""Product categories from titles, for shops whose exports carry none (the Online Retail file).

A transparent keyword rule list, checked in order: the first matching rule names the category.
Words are matched whole, so "CARD" does not match "CARDHOLDER". Stock codes that are fees or
adjustments (NON_PRODUCT_CODE_PATTERN) get FEES whatever their title says.
"""

from __future__ import annotations

import re

import pandas as pd

# Stock codes that are not merchandise in the Online Retail export and shops like it:
# postage (POST, DOT, C2), manual lines (M), discounts (D), fees, adjustments, samples, vouchers.
NON_PRODUCT_CODE_PATTERN = re.compile(
    r"^(POST|DOT|C2|M|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|ADJUST\w*|TEST\w*|GIFT_\w+)$",
    re.IGNORECASE,
)

FEES = "Fees & adjustments"
OTHER = "Other"

# (category, words). Seasonal first: a "CHRISTMAS TREE T-LIGHT HOLDER" is a Christmas item.
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "WREATH")),
    ("Easter", ("EASTER", "BUNNY", "CHICK", "EGG")),
    (
        "Jewellery & accessories",
        (
            "NECKLACE",
            "EARRINGS",
            "BRACELET",
            "BANGLE",
            "RING",
            "CHARM",
            "BROOCH",
            "HAIR",
            "DIAMANTE",
            "BEAD",
            "BEADS",
            "BEADED",
            "PURSE",
            "UMBRELLA",
            "JEWELLED",
            "PEARL",
        ),
    ),
    (
        "Candles & lighting",
        (
            "CANDLE",
            "CANDLES",
            "T-LIGHT",
            "T-LIGHTS",
            "TEALIGHT",
            "LANTERN",
            "LIGHT",
            "LIGHTS",
            "LAMP",
            "INCENSE",
            "CANDLESTICK",
            "CANDELABRA",
            "NIGHTLIGHT",
        ),
    ),
    (
        "Bags & storage",
        (
            "BAG",
            "BAGS",
            "SHOPPER",
            "STORAGE",
            "BASKET",
            "BOX",
            "BOXES",
            "TIN",
            "TINS",
            "CASE",
            "CASES",
            "DRAWER",
            "CABINET",
            "HOLDALL",
            "RUCKSACK",
            "TRUNK",
        ),
    ),
    (
        "Kitchen & dining",
        (
            "CAKESTAND",
            "CAKESTANDS",
            "MUG",
            "MUGS",
            "CUP",
            "CUPS",
            "SAUCER",
            "PLATE",
            "PLATES",
            "BOWL",
            "BOWLS",
            "TEA",
            "TEAPOT",
            "COFFEE",
            "CAKE",
            "CAKES",
            "CUTLERY",
            "SPOON",
            "SPOONS",
            "JAR",
            "JARS",
            "LUNCH",
            "KITCHEN",
            "BAKING",
            "PANTRY",
            "APRON",
            "NAPKINS",
            "TRAY",
            "DISH",
            "JUG",
            "GLASS",
            "GLASSES",
            "BOTTLE",
            "DINNER",
            "CHOPSTICKS",
            "BREAD",
            "COOKIE",
            "JAM",
            "EGGCUP",
            "TOWEL",
            "TOWELS",
            "OVEN",
            "PAN",
            "COASTER",
            "COASTERS",
            "PLACEMAT",
            "PLACEMATS",
            "BEAKERS",
            "POPCORN",
            "TISSUES",
            "PEGS",
        ),
    ),
    (
        "Stationery & cards",
        (
            "CARD",
            "CARDS",
            "PAPER",
            "NOTEBOOK",
            "PENCIL",
            "PENCILS",
            "PEN",
            "PENS",
            "STICKERS",
            "STICKER",
            "WRAP",
            "ENVELOPE",
            "ENVELOPES",
            "TAPE",
            "ERASER",
            "ERASERS",
            "NOTE",
            "BOOK",
            "CALENDAR",
            "JOURNAL",
            "STATIONERY",
            "RIBBONS",
            "RIBBON",
        ),
    ),
    (
        "Party & celebration",
        (
            "PARTY",
            "BIRTHDAY",
            "BUNTING",
            "BALLOON",
            "BALLOONS",
            "GARLAND",
            "CONFETTI",
            "WEDDING",
            "HEN",
        ),
    ),
    (
        "Toys & games",
        (
            "TOY",
            "TOYS",
            "GAME",
            "GAMES",
            "JIGSAW",
            "PUZZLE",
            "DOLL",
            "DOLLY",
            "SKIPPING",
            "SPACEBOY",
            "PLAYHOUSE",
            "TEDDY",
            "DOMINOES",
            "CRAYONS",
            "CHILDRENS",
            "CHILDS",
            "KIDS",
            "SKITTLES",
            "LADDERS",
            "BLOCK",
            "GLOBE",
            "INFLATABLE",
            "PIGGY",
            "DUCKS",
        ),
    ),
    ("Crafts & sewing", ("SEWING", "CROCHET", "KNITTING", "PAINT", "KIT", "BUTTONS", "CRAFT")),
    (
        "Garden & outdoor",
        (
            "GARDEN",
            "PLANT",
            "PLANTER",
            "BIRD",
            "FEEDER",
            "WATERING",
            "PARASOL",
            "PICNIC",
            "FLOWER POT",
            "POT",
            "TRELLIS",
        ),
    ),
    ("Bath & beauty", ("BATH", "BATHROOM", "SOAP", "SPONGE", "WASHBAG", "MIRROR", "COSMETIC")),
    (
        "Textiles & cushions",
        (
            "CUSHION",
            "CUSHIONS",
            "COVER",
            "THROW",
            "BLANKET",
            "QUILT",
            "HOT WATER BOTTLE",
            "FELT",
            "FELTCRAFT",
            "DOORMAT",
            "MAT",
            "WARMER",
        ),
    ),
    (
        "Home decor",
        (
            "FRAME",
            "SIGN",
            "CLOCK",
            "HOOK",
            "HOOKS",
            "HANGER",
            "HANGERS",
            "DECORATION",
            "ORNAMENT",
            "HANGING",
            "WALL",
            "MAGNET",
            "MAGNETS",
            "KNOB",
            "DOORSTOP",
            "VASE",
            "PLAQUE",
            "HEART",
            "STAR",
            "TILE",
            "COAT",
            "PHOTO",
            "MOBILE",
            "CHANDELIER",
            "SHELF",
            "DOOR",
        ),
    ),
)

_RULES = [
    (
        name,
        re.compile(r"(?<![A-Z0-9])(?:" + "|".join(re.escape(w) for w in words) + r")(?![A-Z0-9])"),
    )
    for name, words in CATEGORY_RULES
]


def categorise_titles(titles: pd.Series, stock_codes: pd.Series | None = None) -> pd.Series:
    """One category per row (str): the first rule whose word appears in the upper-cased title,
    FEES for non-product stock codes, OTHER when nothing matches, "" when the title is empty
    (so that a later row with a title can still fill the product's blank category).
    Vectorised per rule over the distinct titles."""
    upper = titles.fillna("").astype(str).str.upper()
    unique = pd.Series(upper.unique())
    result = pd.Series(OTHER, index=unique.index, dtype=object)
    open_ = pd.Series(True, index=unique.index)
    for name, pattern in _RULES:
        hit = open_ & unique.str.contains(pattern)
        result[hit] = name
        open_ &= ~hit
    result[unique.str.strip() == ""] = ""
    categories = upper.map(dict(zip(unique, result, strict=True)))
    if stock_codes is not None:
        fees = stock_codes.fillna("").astype(str).str.match(NON_PRODUCT_CODE_PATTERN)
        categories = categories.where(~fees, FEES)
    return categories.astype(object)
