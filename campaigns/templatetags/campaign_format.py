"""Display helpers for the campaign pages: differences of rates in percentage points, signed
relative uplifts and amounts of money."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

DASH = "–"
MINUS = "\u2212"


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _signed(number: float, text: str) -> str:
    if number > 0:
        return f"+{text}"
    if number < 0:
        return f"{MINUS}{text}"
    return text


@register.filter
def points(value: Any, digits: int = 1) -> str:
    """A difference of two rates in percentage points: 0.0123 → "+1.2 pp"."""
    number = _number(value)
    if number is None:
        return DASH
    return _signed(number, f"{abs(number) * 100:,.{int(digits)}f} pp")


@register.filter
def signed_percent(value: Any, digits: int = 1) -> str:
    """A relative change: 0.123 → "+12.3%"."""
    number = _number(value)
    if number is None:
        return DASH
    return _signed(number, f"{abs(number) * 100:,.{int(digits)}f}%")


@register.filter
def money(value: Any) -> str:
    """£1,234.50 (negative amounts with a minus sign)."""
    number = _number(value)
    if number is None:
        return DASH
    return f"{MINUS if number < 0 else ''}£{abs(number):,.2f}"


@register.filter
def signed_money(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return _signed(number, f"£{abs(number):,.2f}")


@register.filter
def decimal(value: Any, digits: int = 2) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return f"{number:,.{int(digits)}f}"
