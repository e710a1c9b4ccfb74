"""Reads of cleaning runs for the staff pages: the data-quality report shaped for display.

A report (CleaningRun.report, written by ecomsite/engine/cleaning.py) holds per rule the rows it
flagged, their revenue before cleaning and a few example events, plus before/after totals. Here
the rows become shares of all events, the examples' customer indices become the customers'
external ids, and the totals get labels in a fixed order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from ecomsite.engine.clean_columns import ANONYMOUS
from ecomsite.models import CleaningRun, Customer, RunStatus

# Totals as the engine names them (engine/cleaning.py: Totals) → label, unit. Keys a report lacks
# are left out; keys not listed here are shown under their own name, after these.
TOTAL_LABELS: dict[str, tuple[str, str]] = {
    "rows": ("Events", "count"),
    "customers": ("Customers", "count"),
    "orders": ("Orders (purchases)", "count"),
    "units": ("Units", "count"),
    "revenue": ("Net revenue", "money"),
}


@dataclass(frozen=True)
class ExampleRow:
    event_id: int
    customer: str | None  # the customer's external id (None: anonymous, or no longer stored)
    anonymous: bool
    sku: str
    kind: str
    quantity: int | float | None
    unit_price: float | None
    timestamp: datetime | str | None
    order_id: str

    # Ids with a slash cannot be part of a page address (the pages take one path segment).
    @property
    def customer_linkable(self) -> bool:
        return bool(self.customer) and "/" not in (self.customer or "")

    @property
    def sku_linkable(self) -> bool:
        return bool(self.sku) and "/" not in self.sku


@dataclass(frozen=True)
class RuleRow:
    name: str
    label: str
    short_label: str
    rows: int
    share: float  # of all events before cleaning, 0–1
    revenue: float  # the flagged rows' revenue before cleaning (shop currency)
    examples: list[ExampleRow]

    @property
    def percent(self) -> float:
        return self.share * 100


@dataclass(frozen=True)
class TotalRow:
    key: str
    label: str
    unit: str  # "count" or "money"
    before: float | int | None
    after: float | int | None

    @property
    def change(self) -> float | int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class QualityReport:
    run: CleaningRun
    rules: list[RuleRow]
    totals: list[TotalRow]
    events_before: int
    events_after: int | None

    @property
    def usable_share(self) -> float | None:
        if self.events_after is None or not self.events_before:
            return None
        return self.events_after / self.events_before

    @property
    def usable_percent(self) -> float | None:
        share = self.usable_share
        return None if share is None else share * 100

    def chart(self) -> dict[str, Any]:
        """The bar chart's data (rows per rule), for json_script."""
        return {
            "labels": [rule.short_label for rule in self.rules],
            "rows": [rule.rows for rule in self.rules],
            "shares": [rule.share for rule in self.rules],
        }


def cleaning_run_list() -> QuerySet[CleaningRun]:
    return CleaningRun.objects.order_by("-created_at", "-pk")


def cleaning_run_latest() -> CleaningRun | None:
    """The newest cleaning run that produced a report."""
    return (
        CleaningRun.objects.filter(status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .first()
    )


def cleaning_report(run: CleaningRun) -> QualityReport | None:
    """The run's data-quality report for display, or None while it has none (pending, running,
    failed)."""
    report: Mapping[str, Any] = run.report or {}
    if not report.get("rules"):
        return None
    before: Mapping[str, Any] = report.get("before") or {}
    after: Mapping[str, Any] = report.get("after") or {}
    events_before = int(before.get("rows") or run.events_seen or 0)
    customers = _customer_ids(report["rules"])
    rules = [
        RuleRow(
            name=rule["name"],
            label=rule.get("label") or rule["name"],
            short_label=(rule.get("label") or rule["name"]).split(" (")[0],
            rows=int(rule.get("rows") or 0),
            share=int(rule.get("rows") or 0) / events_before if events_before else 0.0,
            revenue=float(rule.get("revenue") or 0.0),
            examples=[_example(example, customers) for example in rule.get("examples") or []],
        )
        for rule in report["rules"]
    ]
    keys = [key for key in TOTAL_LABELS if key in before or key in after]
    keys += [key for key in {**before, **after} if key not in TOTAL_LABELS]
    totals = [
        TotalRow(
            key=key,
            label=TOTAL_LABELS.get(key, (key.replace("_", " ").capitalize(), "count"))[0],
            unit=TOTAL_LABELS.get(key, ("", "count"))[1],
            before=before.get(key),
            after=after.get(key),
        )
        for key in keys
    ]
    events_after = after.get("rows")
    return QualityReport(
        run=run,
        rules=rules,
        totals=totals,
        events_before=events_before,
        events_after=int(events_after) if events_after is not None else None,
    )


def _customer_ids(rules: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Customer.pk → external id for every customer quoted in the examples."""
    pks = {
        int(example["customer"])
        for rule in rules
        for example in rule.get("examples") or []
        if example.get("customer") is not None and int(example["customer"]) != ANONYMOUS
    }
    if not pks:
        return {}
    return dict(Customer.objects.filter(pk__in=pks).values_list("pk", "external_id"))


def _example(example: Mapping[str, Any], customers: Mapping[int, str]) -> ExampleRow:
    customer = example.get("customer")
    anonymous = customer is None or int(customer) == ANONYMOUS
    timestamp: datetime | str | None = example.get("timestamp")
    if isinstance(timestamp, str):
        try:
            timestamp = datetime.fromisoformat(timestamp)
        except ValueError:
            pass  # shown as stored
    return ExampleRow(
        event_id=int(example.get("event_id") or 0),
        customer=None if customer is None or anonymous else customers.get(int(customer)),
        anonymous=anonymous,
        sku=str(example.get("sku") or ""),
        kind=str(example.get("kind") or ""),
        quantity=example.get("quantity"),
        unit_price=example.get("unit_price"),
        timestamp=timestamp,
        order_id=str(example.get("order_id") or ""),
    )
