"""The dashboard's figures, aggregated in the database and cached until new events arrive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from ecomsite.engine.catalog import FEES
from ecomsite.models import Customer, Event, EventKind, ImportBatch, Product

T = TypeVar("T")
CACHE_SECONDS = 6 * 60 * 60
SALES_KINDS = (EventKind.PURCHASE, EventKind.RETURN)

# Net line value: quantity is negative on returns, so purchases minus returns add up by themselves.
LINE_VALUE = ExpressionWrapper(
    F("quantity") * F("unit_price"), output_field=DecimalField(max_digits=20, decimal_places=4)
)
# Fees, postage and manual adjustments are not sales of merchandise.
MERCHANDISE = ~Q(product__category=FEES)


def _cached(name: str, compute: Callable[[], T]) -> T:
    """Cache by the newest event id: any new event (import, API) makes fresh figures."""
    version = Event.objects.aggregate(v=Max("id"))["v"] or 0
    return cache.get_or_set(f"dashboard:{name}:{version}", compute, CACHE_SECONDS)  # type: ignore[return-value]


@dataclass(frozen=True)
class DashboardFigures:
    customers: int
    products: int
    events: int
    orders: int
    revenue: float
    anonymous_event_share: float  # share of all events without a customer
    anonymous_revenue_share: float  # share of net merchandise revenue from anonymous buyers
    first_event_at: datetime | None
    last_event_at: datetime | None


def dashboard_figures() -> DashboardFigures:
    def compute() -> DashboardFigures:
        totals = Event.objects.aggregate(
            events=Count("id"),
            anonymous=Count("id", filter=Q(customer__isnull=True)),
            first=Min("occurred_at"),
            last=Max("occurred_at"),
        )
        sales = Event.objects.filter(MERCHANDISE, kind__in=SALES_KINDS).aggregate(
            revenue=Sum(LINE_VALUE),
            anonymous_revenue=Sum(LINE_VALUE, filter=Q(customer__isnull=True)),
            orders=Count("order_id", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
        )
        revenue = float(sales["revenue"] or 0)
        return DashboardFigures(
            customers=Customer.objects.count(),
            products=Product.objects.count(),
            events=totals["events"],
            orders=sales["orders"],
            revenue=revenue,
            anonymous_event_share=totals["anonymous"] / totals["events"]
            if totals["events"]
            else 0.0,
            anonymous_revenue_share=float(sales["anonymous_revenue"] or 0) / revenue
            if revenue
            else 0.0,
            first_event_at=totals["first"],
            last_event_at=totals["last"],
        )

    return _cached("figures", compute)


def sales_over_time(*, period: str = "month") -> list[dict[str, Any]]:
    """Per month (or week): buying customers, orders and net merchandise revenue.
    Rows: {"period": "2011-01-01", "customers": int, "orders": int, "revenue": float}."""
    trunc = {"month": TruncMonth, "week": TruncWeek}[period]

    def compute() -> list[dict[str, Any]]:
        rows = (
            Event.objects.filter(MERCHANDISE, kind__in=SALES_KINDS)
            .annotate(period=trunc("occurred_at"))
            .values("period")
            .annotate(
                customers=Count("customer", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
                orders=Count("order_id", distinct=True, filter=Q(kind=EventKind.PURCHASE)),
                revenue=Sum(LINE_VALUE),
            )
            .order_by("period")
        )
        return [
            {
                "period": row["period"].date().isoformat(),
                "customers": row["customers"],
                "orders": row["orders"],
                "revenue": round(float(row["revenue"] or 0), 2),
            }
            for row in rows
        ]

    return _cached(f"sales:{period}", compute)


def top_products(*, limit: int = 10) -> list[dict[str, Any]]:
    """Best sellers by net merchandise revenue: external_id, title, category, revenue, units."""

    def compute() -> list[dict[str, Any]]:
        rows = (
            Event.objects.filter(MERCHANDISE, kind__in=SALES_KINDS)
            .values("product__external_id", "product__title", "product__category")
            .annotate(revenue=Sum(LINE_VALUE), units=Sum("quantity"))
            .order_by("-revenue")[:limit]
        )
        return [
            {
                "external_id": row["product__external_id"],
                "title": row["product__title"] or row["product__external_id"],
                "category": row["product__category"],
                "revenue": round(float(row["revenue"] or 0), 2),
                "units": row["units"],
            }
            for row in rows
        ]

    return _cached(f"top-products:{limit}", compute)


def top_categories(*, limit: int = 12) -> list[dict[str, Any]]:
    """Categories by net merchandise revenue: category ("Uncategorised" when blank), revenue."""

    def compute() -> list[dict[str, Any]]:
        rows = (
            Event.objects.filter(MERCHANDISE, kind__in=SALES_KINDS)
            .values("product__category")
            .annotate(revenue=Sum(LINE_VALUE))
            .order_by("-revenue")[:limit]
        )
        return [
            {
                "category": row["product__category"] or "Uncategorised",
                "revenue": round(float(row["revenue"] or 0), 2),
            }
            for row in rows
        ]

    return _cached(f"top-categories:{limit}", compute)


def last_finished_import() -> ImportBatch | None:
    return (
        ImportBatch.objects.filter(finished_at__isnull=False)
        .exclude(source="api")
        .order_by("-finished_at")
        .first()
    )
