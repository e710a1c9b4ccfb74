"""Categories from product titles: first matching rule wins, whole words, fees by stock code."""

import pandas as pd
import pytest

from ecomsite.engine.catalog import FEES, OTHER, categorise_titles


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "Candles & lighting"),
        ("CHRISTMAS TREE T-LIGHT HOLDER", "Christmas"),
        ("JUMBO BAG RED RETROSPOT", "Bags & storage"),
        ("SET 7 BABUSHKA NESTING BOXES", "Bags & storage"),
        ("ALARM CLOCK BAKELIKE PINK", "Home decor"),
        ("5 STRAND GLASS NECKLACE CRYSTAL", "Jewellery & accessories"),
        ("PACK OF 12 RED RETROSPOT TISSUES", "Kitchen & dining"),
        ("CARDHOLDER GINGHAM", OTHER),  # "CARD" is matched as a whole word only
        ("", ""),
    ],
)
def test_titles(title, category):
    assert categorise_titles(pd.Series([title])).tolist() == [category]


def test_fee_codes_win_over_titles():
    titles = pd.Series(["POSTAGE", "Discount", "PAPER CHAIN KIT 50'S CHRISTMAS"])
    codes = pd.Series(["POST", "D", "22086"])
    assert categorise_titles(titles, codes).tolist() == [FEES, FEES, "Christmas"]


def test_missing_titles_stay_blank():
    assert categorise_titles(pd.Series([None, "  "])).tolist() == ["", ""]
