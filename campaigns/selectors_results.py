"""Reads of campaign results for the detail page and the API.

``campaign_results(campaign)``: the stored figures once the attribution window has closed and
they were computed after it; otherwise measured live (briefly cached) and flagged provisional
while the window is open. Figures and formulas: campaigns/services/results.py and
campaigns/engine/stats.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from campaigns.engine.stats import Comparison
from campaigns.models import Campaign
from campaigns.services.results import RESULTS_VERSION, campaign_results_measure

# Live figures are recomputed at most this often per campaign (100k recipients take seconds).
LIVE_CACHE_SECONDS = 5 * 60

# (key in results["uplift"], label) in display order.
UPLIFT_METRICS = (
    ("conversion_rate", "Conversion rate"),
    ("revenue_per_recipient", "Revenue per recipient"),
    ("items_per_recipient", "Items per recipient"),
)


@dataclass(frozen=True)
class RecommendedFigures:
    """Purchases of the recipients' own recommended items in the window (kept, net of returns)."""

    purchases: int
    units: int
    revenue: float
    buyers: int
    revenue_share: float | None  # of the group's revenue


@dataclass(frozen=True)
class GroupResults:
    recipients: int
    converters: int
    conversion_rate: float | None
    revenue: float
    revenue_per_recipient: float | None
    items: int
    items_per_recipient: float | None
    purchases: int
    recommended: RecommendedFigures


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class CampaignResults:
    """A campaign's results. provisional: the attribution window is still open (figures so far).
    conversion / revenue / items: treatment versus control (None without two recipients in each
    group); revenue is the bootstrap comparison, revenue_welch the Welch one beside it.
    incremental_buyers / incremental_revenue: the differences times the treatment group's size."""

    campaign_id: int
    window_start: dt.datetime
    window_end: dt.datetime
    attribution_days: int
    as_of: dt.datetime
    complete: bool
    data_through: dt.datetime | None
    computed_at: dt.datetime
    stored: bool  # read from Campaign.results (else measured live)
    confidence: float
    treatment: GroupResults
    control: GroupResults
    conversion: Comparison | None
    revenue: Comparison | None
    revenue_welch: Comparison | None
    items: Comparison | None
    incremental_buyers: Interval | None
    incremental_revenue: Interval | None
    raw: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)

    @property
    def provisional(self) -> bool:
        return not self.complete

    @property
    def uplifts(self) -> list[tuple[str, str, Comparison]]:
        """(key, label, comparison) of the metrics that have one, in display order."""
        found = {
            "conversion_rate": self.conversion,
            "revenue_per_recipient": self.revenue,
            "items_per_recipient": self.items,
        }
        rows = []
        for key, label in UPLIFT_METRICS:
            comparison = found[key]
            if comparison is not None:
                rows.append((key, label, comparison))
        return rows

    @property
    def data_incomplete(self) -> bool:
        """The newest stored event is older than the window's end (imports lag behind)."""
        return self.data_through is None or self.data_through < self.as_of

    def as_dict(self) -> dict[str, Any]:
        """The results dict (campaigns/services/results.py) plus provisional / stored flags."""
        return {**self.raw, "provisional": self.provisional, "stored": self.stored}


def campaign_results(campaign: Campaign) -> CampaignResults | None:
    """Results of a launched campaign (None before launch): stored once final, else live."""
    if campaign.launched_at is None:
        return None
    stored = campaign.results or {}
    if (
        stored.get("version") == RESULTS_VERSION
        and stored.get("window", {}).get("complete")
        and stored.get("window", {}).get("start") == campaign.launched_at.isoformat()
        and stored.get("window", {}).get("days") == campaign.attribution_days
    ):
        return results_from_dict(campaign.pk, stored, stored=True)
    # Keyed by the recipient count too: while a launch is still materialising recipients, every
    # batch starts fresh figures.
    key = (
        f"campaigns:results:{campaign.pk}:{campaign.launched_at.timestamp()}:"
        f"{campaign.attribution_days}:{campaign.recipients.count()}"
    )
    live = cache.get(key)
    if live is None:
        live = campaign_results_measure(campaign)
        cache.set(key, live, LIVE_CACHE_SECONDS)
    return results_from_dict(campaign.pk, live, stored=False)


def results_from_dict(
    campaign_id: int, data: Mapping[str, Any], *, stored: bool
) -> CampaignResults:
    window = data["window"]
    uplift = data["uplift"]
    incremental = data.get("incremental", {})
    return CampaignResults(
        campaign_id=campaign_id,
        window_start=_time(window["start"]),
        window_end=_time(window["end"]),
        attribution_days=int(window["days"]),
        as_of=_time(window["as_of"]),
        complete=bool(window["complete"]),
        data_through=_time(window["data_through"]) if window.get("data_through") else None,
        computed_at=_time(data["computed_at"]),
        stored=stored,
        confidence=float(data["confidence"]),
        treatment=_group(data["groups"]["treatment"]),
        control=_group(data["groups"]["control"]),
        conversion=_comparison(uplift.get("conversion_rate")),
        revenue=_comparison(uplift.get("revenue_per_recipient")),
        revenue_welch=_comparison(uplift.get("revenue_per_recipient_welch")),
        items=_comparison(uplift.get("items_per_recipient")),
        incremental_buyers=_interval(incremental.get("buyers")),
        incremental_revenue=_interval(incremental.get("revenue")),
        raw=data,
    )


def _time(value: str) -> dt.datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO time: {value!r}")
    return parsed


def _group(data: Mapping[str, Any]) -> GroupResults:
    return GroupResults(
        **{k: v for k, v in data.items() if k != "recommended"},
        recommended=RecommendedFigures(**data["recommended"]),
    )


_COMPARISON_FIELDS = {f.name for f in dataclasses.fields(Comparison)}


def _comparison(data: Mapping[str, Any] | None) -> Comparison | None:
    if not data:
        return None
    return Comparison(**{k: v for k, v in data.items() if k in _COMPARISON_FIELDS})


def _interval(values: Sequence[float] | None) -> Interval | None:
    if not values:
        return None
    estimate, low, high = values
    return Interval(float(estimate), float(low), float(high))
