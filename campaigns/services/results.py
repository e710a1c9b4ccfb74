"""Campaign results: treatment versus control over the attribution window.

``campaign_results_measure`` reads; ``campaign_results_compute`` measures and stores the figures
in ``Campaign.results`` (+ ``results_computed_at``); ``campaign_results_run_execute`` does the same
under a ``CampaignRun`` of kind "results" (for a Celery task: status, progress, error).

What is measured
----------------
Recipients are the campaign's ``CampaignRecipient`` rows, in their group (treatment: sent a
message; control: held out, never contacted, measured the same way). The window is
[launched_at, launched_at + attribution_days), cut at "now" while it is still open (then the
figures are provisional: ``window.complete`` is false). Raw ``Event`` rows of the recipients in
the window are read in one query (``values_list``; no per-recipient queries) and everything else
is pandas:

* **Purchase lines**: events of kind "purchase" with quantity > 0. Lines of non-product SKUs
  (postage, fees, adjustments: ``catalog.NON_PRODUCT_CODE_PATTERN`` or the fees category) are
  left out, as the cleaning leaves them out of revenue. Revenue = quantity × unit price (an
  unknown price counts 0, as in the cleaning).
* **Returns are netted off within the window**: per (recipient, product), the units of "return"
  events in the window at or after the pair's first purchase in the window are subtracted from
  the units bought in the window, never below 0; revenue is reduced in proportion (at the pair's
  average price). This mirrors the cleaning's matching (same customer, same product, a return
  only takes from earlier purchases) restricted to the window: returns of goods bought before the
  campaign are not the campaign's doing and are ignored.
* Per recipient: **items** = units kept, **revenue** = revenue kept, **converted** = kept at least
  one unit (bought at least once in the window and did not return everything); **purchases** =
  purchase lines of the products kept. Recipients with no event count with zeros.
* **Recommended items**: the products in the recipient's ``products`` (the recommended items at
  launch, by external id). Per group: purchase lines, units, revenue of them and the recipients
  who kept at least one. Control recipients' lists are what they *would* have been sent, so the
  control figures are the baseline of "would have bought the recommendation anyway".

Raw events are read as stored; the cleaning's duplicate and outlier flags are not applied (the
import's idempotency keys already keep re-sent events out). Both groups are measured the same
way, so anything left in adds noise, not bias.

Uplift (campaigns/engine/stats.py for the formulas): conversion rate by Newcombe's hybrid score
interval (relative uplift: Katz log interval); revenue per recipient by the percentile bootstrap
(heavy-tailed; Welch stored beside it as ``revenue_per_recipient_welch``); items per recipient by
the percentile bootstrap too (wholesale orders of hundreds of units make it heavier-tailed than
revenue, and a few of them in one group break Welch's normal approximation). 95% intervals.
``incremental``: the differences scaled to the treatment group (extra buyers and extra revenue
the campaign brought, with the same intervals).

The stored dict (``RESULTS_VERSION`` 1; JSON-safe; times ISO 8601)::

    {"version": 1, "computed_at", "confidence": 0.95,
     "window": {"start", "end", "days", "as_of", "complete", "data_through"},
     "groups": {"treatment": GROUP, "control": GROUP},
     "uplift": {"conversion_rate": CMP | None, "revenue_per_recipient": CMP | None,
                "revenue_per_recipient_welch": CMP | None, "items_per_recipient": CMP | None},
     "incremental": {"buyers": [estimate, low, high] | None, "revenue": [...] | None}}
    GROUP = {"recipients", "converters", "conversion_rate", "revenue", "revenue_per_recipient",
             "items", "items_per_recipient", "purchases",
             "recommended": {"purchases", "units", "revenue", "buyers", "revenue_share"}}
    CMP = engine Comparison.to_dict(): treatment, control, difference, ci_low, ci_high, relative,
          relative_ci_low, relative_ci_high, p_value, method, confidence, n_treatment, n_control,
          significant

Cost: one query over the recipients (with their product lists) and one over their events in the
window; pandas group-bys after that. 100k recipients take a few seconds, most of it reading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import FloatField, Max
from django.db.models.functions import Cast
from django.utils import timezone

from campaigns.engine.stats import (
    BOOTSTRAP,
    CONFIDENCE,
    WELCH,
    Comparison,
    compare_means,
    compare_proportions,
)
from campaigns.models import Campaign, CampaignRecipient, CampaignRun, RecipientGroup
from ecomsite.engine.catalog import FEES, NON_PRODUCT_CODE_PATTERN
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import Event, EventKind
from ecomsite.services.runs import run_claim, run_fail, run_succeed

RESULTS_VERSION = 1
READ_CHUNK = 10_000  # recipient rows per fetch: ~10k small JSON lists, a few MB
GROUPS = (RecipientGroup.TREATMENT, RecipientGroup.CONTROL)

_ZERO_WITHOUT_EVENTS = (
    "items",
    "revenue",
    "purchases",
    "rec_purchases",
    "rec_units",
    "rec_revenue",
)


def campaign_results_window(
    campaign: Campaign, *, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(start, end, as_of) of the attribution window: as_of = min(now, end). ValidationFailed
    when the campaign has not been launched."""
    if campaign.launched_at is None:
        raise ValidationFailed(f"{campaign} has not been launched: there are no results yet.")
    start = campaign.launched_at
    end = start + dt.timedelta(days=campaign.attribution_days)
    now = now or timezone.now()
    return start, end, max(start, min(now, end))


def campaign_results_measure(
    campaign: Campaign, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The results dict (module docstring) as of `now` (default: the current time). Reads only."""
    now = now or timezone.now()
    start, end, as_of = campaign_results_window(campaign, now=now)
    recipients, recommended = _recipients(campaign)
    events = _events(campaign, start, as_of)
    per_recipient = recipient_outcomes(recipients, events, recommended)
    groups = {
        str(group): _group_summary(per_recipient[per_recipient["group"] == group])
        for group in GROUPS
    }
    uplift, incremental = _uplift(per_recipient)
    data_through = Event.objects.aggregate(newest=Max("occurred_at"))["newest"]
    return {
        "version": RESULTS_VERSION,
        "computed_at": now.isoformat(),
        "confidence": CONFIDENCE,
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": campaign.attribution_days,
            "as_of": as_of.isoformat(),
            "complete": now >= end,
            "data_through": data_through.isoformat() if data_through else None,
        },
        "groups": groups,
        "uplift": uplift,
        "incremental": incremental,
    }


def campaign_results_compute(*, campaign: Campaign) -> dict[str, Any]:
    """Measure now and store the figures on the campaign (replacing earlier ones)."""
    now = timezone.now()
    results = campaign_results_measure(campaign, now=now)
    campaign.results = results
    campaign.results_computed_at = now
    campaign.save(update_fields=["results", "results_computed_at", "updated_at"])
    return results


def campaign_results_run_execute(*, run_id: int, task_id: str = "") -> CampaignRun | None:
    """campaign_results_compute under a CampaignRun of kind "results" (claimed, then succeeded
    with headline metrics or failed with the error). Idempotent: results are replaced wholesale."""
    run = run_claim(CampaignRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    try:
        results = campaign_results_compute(campaign=run.campaign)
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    conversion = results["uplift"]["conversion_rate"]
    run_succeed(
        run,
        message="Results computed" + ("" if results["window"]["complete"] else " (provisional)"),
        metrics={
            "recipients": sum(g["recipients"] for g in results["groups"].values()),
            "complete": results["window"]["complete"],
            "conversion_difference": conversion["difference"] if conversion else None,
        },
    )
    return run


# -- reading ---------------------------------------------------------------------------------------


def _recipients(campaign: Campaign) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(recipients: customer int64, group str; recommended: customer int64, sku str pairs)."""
    rows = (
        CampaignRecipient.objects.filter(campaign=campaign)
        .order_by()
        .values_list("customer_id", "group", "products")
        .iterator(chunk_size=READ_CHUNK)
    )
    customers: list[int] = []
    groups: list[str] = []
    pair_customers: list[int] = []
    pair_skus: list[str] = []
    for customer, group, products in rows:
        customers.append(customer)
        groups.append(group)
        skus = _skus(products)
        pair_customers += [customer] * len(skus)
        pair_skus += skus
    recipients = pd.DataFrame({"customer": np.asarray(customers, dtype=np.int64), "group": groups})
    recommended = pd.DataFrame(
        {"customer": np.asarray(pair_customers, dtype=np.int64), "sku": pair_skus}
    ).drop_duplicates()
    return recipients, recommended


def _skus(products: Any) -> list[str]:
    """External ids of a recipient's recommended items ([{"product": id, ...}] or [id, ...])."""
    skus = []
    for item in products or []:
        sku = item.get("product") if isinstance(item, dict) else item
        if sku:
            skus.append(str(sku))
    return skus


def _events(campaign: Campaign, start: dt.datetime, stop: dt.datetime) -> pd.DataFrame:
    """Purchase and return events of the campaign's recipients in [start, stop)."""
    recipients = CampaignRecipient.objects.filter(campaign=campaign).values("customer_id")
    rows = (
        Event.objects.filter(
            customer_id__in=recipients,
            kind__in=[EventKind.PURCHASE, EventKind.RETURN],
            occurred_at__gte=start,
            occurred_at__lt=stop,
        )
        .order_by()
        .annotate(price=Cast("unit_price", FloatField()))
        .values_list(
            "customer_id",
            "product__external_id",
            "product__category",
            "kind",
            "quantity",
            "price",
            "occurred_at",
        )
    )
    return events_frame(rows)


EVENT_COLUMNS = ("customer", "sku", "category", "kind", "quantity", "price", "at")


def events_frame(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows of (customer id, SKU, category, kind, quantity, unit price or None, time) as a
    frame with EVENT_COLUMNS (customer int64, quantity int64, price float64 NaN = unknown)."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(EVENT_COLUMNS))
    return frame.astype(
        {"customer": np.int64, "quantity": np.int64, "price": np.float64}, copy=False
    )


# -- measuring -------------------------------------------------------------------------------------


def recipient_outcomes(
    recipients: pd.DataFrame, events: pd.DataFrame, recommended: pd.DataFrame
) -> pd.DataFrame:
    """One row per recipient (recipients' order): customer, group, items, revenue, converted,
    purchases, rec_purchases, rec_units, rec_revenue, rec_buyer (module docstring's rules).

    recipients: customer, group; events: EVENT_COLUMNS (the recipients' events in the window);
    recommended: customer, sku pairs of each recipient's recommended items."""
    out = recipients[["customer", "group"]].reset_index(drop=True)
    product = ~events["sku"].astype(str).str.strip().str.fullmatch(NON_PRODUCT_CODE_PATTERN)
    product &= events["category"] != FEES
    events = events[product]
    buys = events[(events["kind"] == EventKind.PURCHASE) & (events["quantity"] > 0)].copy()
    returns = events[(events["kind"] == EventKind.RETURN) & (events["quantity"] != 0)]
    buys["revenue"] = buys["quantity"] * buys["price"].fillna(0.0)
    pairs = buys.groupby(["customer", "sku"], sort=False).agg(
        units=("quantity", "sum"),
        revenue=("revenue", "sum"),
        lines=("quantity", "size"),
        first=("at", "min"),
    )
    if len(returns):
        matched = returns.join(pairs["first"], on=["customer", "sku"], how="inner")
        matched = matched[matched["at"] >= matched["first"]]
        returned = matched["quantity"].abs().groupby([matched["customer"], matched["sku"]]).sum()
        returned = returned.reindex(pairs.index, fill_value=0)
    else:
        returned = pd.Series(0, index=pairs.index)
    kept_units = (pairs["units"] - returned).clip(lower=0)
    pairs["kept_units"] = kept_units
    pairs["kept_revenue"] = pairs["revenue"] * (kept_units / pairs["units"])
    pairs["kept_lines"] = np.where(kept_units > 0, pairs["lines"], 0)
    recommended_keys = pd.MultiIndex.from_frame(recommended[["customer", "sku"]])
    pairs["recommended"] = pairs.index.isin(recommended_keys)

    per_customer = pairs.groupby(level="customer").agg(
        items=("kept_units", "sum"),
        revenue=("kept_revenue", "sum"),
        purchases=("kept_lines", "sum"),
    )
    rec = pairs[pairs["recommended"]].groupby(level="customer")
    per_customer["rec_purchases"] = rec["kept_lines"].sum()
    per_customer["rec_units"] = rec["kept_units"].sum()
    per_customer["rec_revenue"] = rec["kept_revenue"].sum()
    joined = out.join(per_customer, on="customer")
    for column in _ZERO_WITHOUT_EVENTS:
        joined[column] = joined[column].fillna(0)
    for column in ("items", "purchases", "rec_purchases", "rec_units"):
        joined[column] = joined[column].astype(np.int64)
    joined["revenue"] = joined["revenue"].astype(np.float64)
    joined["rec_revenue"] = joined["rec_revenue"].astype(np.float64)
    joined["converted"] = joined["items"] > 0
    joined["rec_buyer"] = joined["rec_units"] > 0
    return joined


def _group_summary(rows: pd.DataFrame) -> dict[str, Any]:
    n = len(rows)
    revenue = float(rows["revenue"].sum())
    items = int(rows["items"].sum())
    converters = int(rows["converted"].sum())
    rec_revenue = float(rows["rec_revenue"].sum())
    return {
        "recipients": n,
        "converters": converters,
        "conversion_rate": converters / n if n else None,
        "revenue": revenue,
        "revenue_per_recipient": revenue / n if n else None,
        "items": items,
        "items_per_recipient": items / n if n else None,
        "purchases": int(rows["purchases"].sum()),
        "recommended": {
            "purchases": int(rows["rec_purchases"].sum()),
            "units": int(rows["rec_units"].sum()),
            "revenue": rec_revenue,
            "buyers": int(rows["rec_buyer"].sum()),
            "revenue_share": rec_revenue / revenue if revenue > 0 else None,
        },
    }


def _uplift(
    per_recipient: pd.DataFrame,
) -> tuple[dict[str, dict[str, Any] | None], dict[str, list[float] | None]]:
    """Comparisons treatment vs control (None unless each group has two recipients or more)."""
    treated = per_recipient[per_recipient["group"] == RecipientGroup.TREATMENT]
    control = per_recipient[per_recipient["group"] == RecipientGroup.CONTROL]
    empty: dict[str, dict[str, Any] | None] = {
        "conversion_rate": None,
        "revenue_per_recipient": None,
        "revenue_per_recipient_welch": None,
        "items_per_recipient": None,
    }
    if len(treated) < 2 or len(control) < 2:
        return empty, {"buyers": None, "revenue": None}
    conversion = compare_proportions(
        int(treated["converted"].sum()), len(treated), int(control["converted"].sum()), len(control)
    )
    revenue = compare_means(treated["revenue"], control["revenue"], method=BOOTSTRAP)
    revenue_welch = compare_means(treated["revenue"], control["revenue"], method=WELCH)
    items = compare_means(treated["items"], control["items"], method=BOOTSTRAP)
    n_t = len(treated)
    return (
        {
            "conversion_rate": conversion.to_dict(),
            "revenue_per_recipient": revenue.to_dict(),
            "revenue_per_recipient_welch": revenue_welch.to_dict(),
            "items_per_recipient": items.to_dict(),
        },
        {"buyers": _scaled(conversion, n_t), "revenue": _scaled(revenue, n_t)},
    )


def _scaled(comparison: Comparison, n: int) -> list[float]:
    """[estimate, low, high] of the difference per recipient times the treatment group's size."""
    return [comparison.difference * n, comparison.ci_low * n, comparison.ci_high * n]
