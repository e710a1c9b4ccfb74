"""Customers and products: searchable lists with per-page figures, and detail summaries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from ecomsite.models import Customer, Event, EventKind, Product

from .dashboard import LINE_VALUE, MERCHANDISE, SALES_KINDS

CUSTOMER_ORDERINGS = {
    "recent": ("-last_seen_at", "external_id"),
    "id": ("external_id",),
    "first": ("first_seen_at", "external_id"),
}
PRODUCT_ORDERINGS = {
    "id": ("external_id",),
    "title": ("title", "external_id"),
    "price": ("-price",),
}


def customer_list(
    *, query: str = "", country: str = "", order: str = "recent"
) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if query:
        customers = customers.filter(external_id__icontains=query.strip())
    if country:
        customers = customers.filter(country=country)
    return customers.order_by(*CUSTOMER_ORDERINGS.get(order, CUSTOMER_ORDERINGS["recent"]))


def customer_countries() -> list[str]:
    return list(
        Customer.objects.exclude(country="")
        .values_list("country", flat=True)
        .distinct()
        .order_by("country")
    )


def _sales_figures(events: QuerySet[Event]) -> dict[str, Any]:
    """Orders, net revenue and units count merchandise only (no postage, fees, adjustments),
    as on the dashboard."""
    return events.aggregate(
        orders=Count("order_id", distinct=True, filter=Q(kind=EventKind.PURCHASE) & MERCHANDISE),
        revenue=Sum(LINE_VALUE, filter=Q(kind__in=SALES_KINDS) & MERCHANDISE),
        units=Sum("quantity", filter=Q(kind=EventKind.PURCHASE) & MERCHANDISE),
        return_lines=Count("id", filter=Q(kind=EventKind.RETURN)),
        views=Count("id", filter=Q(kind=EventKind.VIEW)),
        first_purchase=Min("occurred_at", filter=Q(kind=EventKind.PURCHASE)),
        last_purchase=Max("occurred_at", filter=Q(kind=EventKind.PURCHASE)),
    )


def customer_page_figures(*, customer_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{customer pk: {"orders", "revenue"}} for one page of a list (one grouped query)."""
    rows = (
        Event.objects.filter(MERCHANDISE, customer_id__in=list(customer_ids), kind__in=SALES_KINDS)
        .values("customer_id")
        .annotate(
            orders=Count("order_id", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
            revenue=Sum(LINE_VALUE),
        )
    )
    return {
        r["customer_id"]: {"orders": r["orders"], "revenue": float(r["revenue"] or 0)} for r in rows
    }


@dataclass(frozen=True)
class CustomerSummary:
    orders: int
    revenue: float
    units: int
    return_lines: int
    views: int
    average_order_value: float | None
    first_purchase: datetime | None
    last_purchase: datetime | None
    distinct_products: int
    monthly: list[dict[str, Any]]  # {"period", "revenue", "orders"}
    categories: list[dict[str, Any]]  # {"category", "revenue"}
    top_products: list[dict[str, Any]]  # {"external_id", "title", "units", "revenue"}


def customer_summary(*, customer: Customer) -> CustomerSummary:
    events = Event.objects.filter(customer=customer)
    figures = _sales_figures(events)
    sales = events.filter(MERCHANDISE, kind__in=SALES_KINDS)
    monthly = (
        sales.annotate(period=TruncMonth("occurred_at"))
        .values("period")
        .annotate(
            revenue=Sum(LINE_VALUE),
            orders=Count("order_id", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
        )
        .order_by("period")
    )
    categories = (
        sales.values("product__category").annotate(revenue=Sum(LINE_VALUE)).order_by("-revenue")[:8]
    )
    products = (
        sales.values("product__external_id", "product__title")
        .annotate(units=Sum("quantity"), revenue=Sum(LINE_VALUE))
        .order_by("-revenue")[:10]
    )
    revenue = float(figures["revenue"] or 0)
    return CustomerSummary(
        orders=figures["orders"],
        revenue=revenue,
        units=figures["units"] or 0,
        return_lines=figures["return_lines"],
        views=figures["views"],
        average_order_value=revenue / figures["orders"] if figures["orders"] else None,
        first_purchase=figures["first_purchase"],
        last_purchase=figures["last_purchase"],
        distinct_products=sales.filter(kind=EventKind.PURCHASE)
        .values("product")
        .distinct()
        .count(),
        monthly=_every_month(
            [
                {
                    "period": r["period"].date().isoformat(),
                    "revenue": round(float(r["revenue"] or 0), 2),
                    "orders": r["orders"],
                }
                for r in monthly
            ]
        ),
        categories=[
            {
                "category": r["product__category"] or "Uncategorised",
                "revenue": round(float(r["revenue"] or 0), 2),
            }
            for r in categories
        ],
        top_products=[
            {
                "external_id": r["product__external_id"],
                "title": r["product__title"] or r["product__external_id"],
                "units": r["units"],
                "revenue": round(float(r["revenue"] or 0), 2),
            }
            for r in products
        ],
    )


def _every_month(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Months without purchases as zero rows, so a chart's axis is continuous."""
    if not rows:
        return rows
    by_month = {row["period"]: row for row in rows}
    year, month = (int(part) for part in rows[0]["period"][:7].split("-"))
    out = []
    while True:
        key = f"{year:04d}-{month:02d}-01"
        out.append(by_month.get(key, {"period": key, "revenue": 0.0, "orders": 0}))
        if key >= rows[-1]["period"]:
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def customer_events(*, customer: Customer) -> QuerySet[Event]:
    return (
        Event.objects.filter(customer=customer)
        .select_related("product")
        .order_by("-occurred_at", "-id")
    )


def product_list(*, query: str = "", category: str = "", order: str = "id") -> QuerySet[Product]:
    products = Product.objects.all()
    if query:
        q = query.strip()
        products = products.filter(Q(external_id__icontains=q) | Q(title__icontains=q))
    if category:
        products = products.filter(category=category)
    return products.order_by(*PRODUCT_ORDERINGS.get(order, PRODUCT_ORDERINGS["id"]))


def product_categories() -> list[str]:
    return list(
        Product.objects.exclude(category="")
        .values_list("category", flat=True)
        .distinct()
        .order_by("category")
    )


def product_page_figures(*, product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{product pk: {"buyers", "units", "revenue"}} for one page of a list."""
    rows = (
        Event.objects.filter(product_id__in=list(product_ids), kind__in=SALES_KINDS)
        .values("product_id")
        .annotate(
            buyers=Count("customer", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
            units=Sum("quantity", filter=Q(kind=EventKind.PURCHASE)),
            revenue=Sum(LINE_VALUE),
        )
    )
    return {
        r["product_id"]: {
            "buyers": r["buyers"],
            "units": r["units"] or 0,
            "revenue": float(r["revenue"] or 0),
        }
        for r in rows
    }


@dataclass(frozen=True)
class ProductSummary:
    buyers: int
    orders: int
    units: int
    revenue: float
    return_lines: int
    views: int
    repeat_buyers: int  # customers who bought it in more than one order
    first_purchase: datetime | None
    last_purchase: datetime | None
    weekly: list[dict[str, Any]]  # {"period", "units", "revenue"}
    top_buyers: list[dict[str, Any]]  # {"external_id", "orders", "units"}


def product_summary(*, product: Product) -> ProductSummary:
    events = Event.objects.filter(product=product)
    figures = _sales_figures(events)
    purchases = events.filter(kind=EventKind.PURCHASE)
    per_buyer = (
        purchases.filter(customer__isnull=False)
        .values("customer__external_id")
        .annotate(orders=Count("order_id", distinct=True), units=Sum("quantity"))
    )
    weekly = (
        events.filter(kind__in=SALES_KINDS)
        .annotate(period=TruncWeek("occurred_at"))
        .values("period")
        .annotate(units=Sum("quantity"), revenue=Sum(LINE_VALUE))
        .order_by("period")
    )
    return ProductSummary(
        buyers=per_buyer.count(),
        orders=figures["orders"],
        units=figures["units"] or 0,
        revenue=float(figures["revenue"] or 0),
        return_lines=figures["return_lines"],
        views=figures["views"],
        repeat_buyers=per_buyer.filter(orders__gt=1).count(),
        first_purchase=figures["first_purchase"],
        last_purchase=figures["last_purchase"],
        weekly=[
            {
                "period": r["period"].date().isoformat(),
                "units": r["units"] or 0,
                "revenue": round(float(r["revenue"] or 0), 2),
            }
            for r in weekly
        ],
        top_buyers=[
            {"external_id": r["customer__external_id"], "orders": r["orders"], "units": r["units"]}
            for r in per_buyer.order_by("-units")[:10]
        ],
    )


def product_events(*, product: Product) -> QuerySet[Event]:
    return (
        Event.objects.filter(product=product)
        .select_related("customer")
        .order_by("-occurred_at", "-id")
    )
