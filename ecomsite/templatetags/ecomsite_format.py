"""Display helpers: money that fits a figure card."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def money_short(value: float | Decimal | None, symbol: str = "£") -> str:
    """£5.83m, £58.3k, £1,234.50 — for headline figures (tables show exact amounts)."""
    if value is None:
        return "–"
    amount = float(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1_000_000:
        return f"{sign}{symbol}{amount / 1_000_000:.2f}m"
    if amount >= 10_000:
        return f"{sign}{symbol}{amount / 1_000:.1f}k"
    text = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{sign}{symbol}{text}"
