"""Display helpers for the segment pages: shares, signed changes and feature values by unit."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

DASH = "–"


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.2817 → "28.2%"."""
    number = _number(value)
    if number is None:
        return DASH
    return f"{number * 100:,.{int(digits)}f}%"


@register.filter
def signed(value: Any) -> str:
    """A change in customers: "+12", "−3" (a real minus sign), "0"; None → "–"."""
    number = _number(value)
    if number is None:
        return DASH
    if number > 0:
        return f"+{number:,.0f}"
    if number < 0:
        return f"\u2212{-number:,.0f}"
    return "0"


@register.filter
def feature_value(value: Any, unit: str = "") -> str:
    """A customer feature for a table: £ for currency, % for shares, else a plain number with at
    most one decimal (exact amounts: tables never shorten money)."""
    number = _number(value)
    if number is None:
        return DASH
    if unit == "currency":
        return f"{'-' if number < 0 else ''}£{abs(number):,.2f}"
    if unit == "share":
        return f"{number * 100:,.1f}%"
    if unit == "ratio":
        return f"{number:,.2f}"
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.1f}"
