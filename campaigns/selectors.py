"""Reads of campaigns: the audience step by step, the preview, each recipient's products, lists,
recipients, the audit log and the audience export.

Audience (``campaign_audience``)
--------------------------------
Computed in this order, each step reported with the size after it:

1. the base: the members of the include segments (union) in the segmentation run (every
   customer scored in it when no segment is chosen), or a lookalike / propensity audience
   (campaigns/services/audiences.py);
2. minus the members of the exclude segments (exclusion wins over inclusion);
3. AND the extra rule conditions (segments/engine/rules.py, evaluated as rule segments are);
4. consent: only customers whose consent field for the channel is true (CONSENT_FIELD);
5. the frequency cap: customers sent ``frequency_cap`` or more campaigns (treatment recipients
   with ``sent_at``, other campaigns) in the ``frequency_cap_days`` before ``as_of`` are dropped;
6. the control group: a random ``control_share`` of what is left is held out (never contacted,
   measured the same way). The order is a permutation of the sorted customer ids drawn from
   ``numpy.random.default_rng(control_seed)`` (PCG64, stable across platforms and numpy
   versions), so the same campaign on the same eligible set always gives the same split;
7. the recipient limit, over both groups, taking the first customers of each group in that
   random order so the control share is kept (limit 1,000 at 10%: 900 treated, 100 control).

From step 6 on, a step's ``size`` is the treatment group (the customers who will be contacted);
``removed`` is always the previous step's size minus this one's.

Ranked audiences (``rank_by``): when a recipient limit cuts the audience, steps 6 and 7 swap.
6. the limit keeps the ``recipient_limit`` customers with the highest score (``p_alive``: the
   lowest), customers without a score last, ties by customer id; the scores are those of the
   prediction run of the segmentation run the audience is computed on, so a launch and its
   resumption rank on the same scores. This step's ``size`` is both groups;
7. the control group is drawn at random *among the kept customers*, exactly as in step 6 above
   (same seed, same rounding), so treatment and control have the same score profile and the
   comparison stays fair. Its ``size`` is the treatment group.
Without a cut (no limit, or an audience within it) the ranking changes nothing.

A launched campaign's audience is computed on the segmentation run it recorded at launch and as
of its launch time, so a resumed launch materialises exactly the audience the first attempt did.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from django.db.models import Count, Max, Prefetch, QuerySet
from django.utils import timezone

from campaigns.models import (
    RANK_LOWEST_FIRST,
    RANK_PHRASE,
    AudienceSource,
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    CampaignRunKind,
    CampaignStatus,
    Channel,
    RankBy,
    RecipientGroup,
)
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import Customer, Event, EventKind, Product
from recommendations.models import PopularList, Recommendation
from recommendations.selectors import (
    FALLBACK_CATEGORY,
    FALLBACK_COUNTRY,
    FALLBACK_POPULAR,
    FALLBACK_SEGMENT,
    FALLBACK_TRENDING,
    MODEL,
    RecommendedProduct,
    serving_model_id,
)
from segments.engine.rules import RuleError, describe_rule
from segments.models import Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.selectors import features_frame, rule_members, segmentation_current

IdArray = npt.NDArray[np.int64]

# Ids per IN (...) list: well below SQLite's 32,766 bound parameters per statement.
ID_CHUNK = 5_000
# The preview's power figures are for this relative uplift of the conversion rate (+10%).
TARGET_UPLIFT = 0.1
# Staff's own product list fills a recipient's list when the recommender has too few of them.
CAMPAIGN_PICK = "campaign"
CAMPAIGN_PICK_REASON = "chosen for this campaign"
# Without filters, a customer's first 2k model rows nearly always hold k active products; the
# few customers left short are read again in full (so the answer equals the serving selector's).
RANK_WINDOW = 2


# -- audience -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceStep:
    label: str
    size: int
    removed: int


@dataclass(frozen=True)
class Audience:
    """steps: the funnel; treatment_ids / control_ids: customer pks in the random order the
    control split drew (the launch materialises these, the preview samples the first ones);
    run: the segmentation run it was computed on; as_of: the reference time of the cap;
    ranked_by: the score the recipient limit kept the top customers by ("" when it did not
    rank: no ranking chosen, or nothing to cut)."""

    steps: list[AudienceStep]
    treatment_ids: list[int]
    control_ids: list[int]
    run: SegmentationRun | None = None
    as_of: datetime | None = None
    ranked_by: str = ""

    @property
    def size(self) -> int:
        """Recipients: the treatment group plus the control group."""
        return len(self.treatment_ids) + len(self.control_ids)

    @property
    def customer_ids(self) -> list[int]:
        return [*self.treatment_ids, *self.control_ids]


def round_half_up(value: float) -> int:
    """Python's round() goes to even (round(2.5) == 2); group sizes round halves up."""
    return math.floor(value + 0.5)


def _ids(values: Any) -> IdArray:
    """Sorted unique int64 customer ids from any iterable of ints."""
    array = np.fromiter((int(v) for v in values), dtype=np.int64)
    return np.unique(array)


def _members(run: SegmentationRun, segment_ids: Sequence[int]) -> IdArray:
    rows = SegmentMembership.objects.filter(run=run, segment_id__in=list(segment_ids))
    return _ids(rows.values_list("customer_id", flat=True).iterator(chunk_size=ID_CHUNK))


def _need_run(run: SegmentationRun | None) -> SegmentationRun:
    if run is None:
        raise ValidationFailed(
            "No segmentation has run yet: run the pipeline first (it computes the segments)."
        )
    return run


def audience_run(campaign: Campaign) -> SegmentationRun | None:
    """The segmentation run a campaign's audience is computed on: the one recorded at launch for
    a launched campaign, the one in use otherwise."""
    launched = campaign.status in (CampaignStatus.RUNNING, CampaignStatus.COMPLETED)
    if launched and campaign.segmentation_run_id:
        return campaign.segmentation_run
    return segmentation_current()


def _names(segments: Sequence[Segment]) -> str:
    return ", ".join(s.name for s in segments)


def _base(campaign: Campaign, run: SegmentationRun | None) -> tuple[str, IdArray]:
    source = campaign.audience_source
    params = campaign.audience_params or {}
    if source == AudienceSource.LOOKALIKE:
        from campaigns.services import audiences

        seed = Segment.objects.filter(pk=int(params.get("seed_segment") or 0)).first()
        if seed is None:
            raise ValidationFailed("The lookalike's seed segment no longer exists.")
        size = int(params.get("size") or 0)
        ids = audiences.lookalike_customer_ids(seed_segment=seed, size=size, run=_need_run(run))
        return f"Lookalike: {seed.name} and its {size:,} most similar customers", _ids(ids)
    if source == AudienceSource.PROPENSITY:
        from campaigns.services import audiences

        products = [str(p) for p in params.get("products") or []]
        category = str(params.get("category") or "")
        share = float(params.get("top_share") or 0)
        ids = audiences.propensity_customer_ids(
            products=products, category=category, top_share=share
        )
        what = " and ".join(
            filter(None, [", ".join(products), f"the category {category}" if category else ""])
        )
        return f"Most likely buyers of {what} (top {share:.1%})", _ids(ids)
    run = _need_run(run)
    include = list(campaign.include_segments.all()) if campaign.pk else []
    if not include:
        return f"Everyone scored in segmentation #{run.pk}", _ids(features_frame(run).index)
    return f"In {_names(include)}", _members(run, [s.pk for s in include])


def _step(steps: list[AudienceStep], label: str, size: int) -> None:
    before = steps[-1].size if steps else size
    steps.append(AudienceStep(label=label, size=size, removed=before - size))


def consenting_ids(channel: str) -> IdArray:
    """Every customer who consented to the channel."""
    from campaigns.models import CONSENT_FIELD

    field_name = CONSENT_FIELD[Channel(channel)]
    rows = Customer.objects.filter(**{field_name: True}).values_list("pk", flat=True)
    return _ids(rows.iterator(chunk_size=ID_CHUNK))


def capped_ids(campaign: Campaign, *, as_of: datetime) -> IdArray:
    """Customers already sent `frequency_cap` or more other campaigns in the window before
    `as_of` (empty without a cap)."""
    if not campaign.frequency_cap:
        return np.empty(0, dtype=np.int64)
    since = as_of - timedelta(days=campaign.frequency_cap_days)
    rows = (
        CampaignRecipient.objects.filter(
            group=RecipientGroup.TREATMENT, sent_at__gte=since, sent_at__lt=as_of
        )
        .exclude(campaign_id=campaign.pk)
        .values("customer_id")
        .annotate(sent=Count("id"))
        .filter(sent__gte=campaign.frequency_cap)
        .values_list("customer_id", flat=True)
    )
    return _ids(rows)


def control_split(ids: IdArray, *, seed: int, share: float) -> tuple[IdArray, IdArray]:
    """(treatment, control): `ids` (sorted, unique) in the seed's random order, the first
    round(share x n) held out as control."""
    order = ids[np.random.default_rng(seed).permutation(len(ids))]
    held = round_half_up(share * len(ids))
    return order[held:], order[:held]


def rank_scores(run: SegmentationRun, rank_by: str) -> pd.Series:
    """Every scored customer's `rank_by` score (index customer pk; NaN: no score) in the
    prediction run of `run`; ValidationFailed when that run has none."""
    frame = features_frame(run) if run.prediction_run_id else None
    if frame is None or rank_by not in frame.columns:
        raise ValidationFailed(
            f"Ranking by {RANK_PHRASE[RankBy(rank_by)]} needs predictive scores, and "
            f"segmentation #{run.pk} has none: run the pipeline (its predict step scores "
            "customers) or choose no ranking."
        )
    return frame[rank_by]


def top_by_score(
    ids: IdArray, scores: pd.Series, *, limit: int, lowest_first: bool = False
) -> IdArray:
    """The `limit` ids with the highest scores (`lowest_first`: the lowest), ids without a
    finite score last, ties broken by the smaller id; returned sorted (as control_split
    takes them), so the result depends only on the ids and their scores."""
    values = scores.reindex(ids).to_numpy(dtype=np.float64)
    missing = ~np.isfinite(values)
    key = np.where(missing, 0.0, values if lowest_first else -values)
    order = np.lexsort((ids, key, missing))  # the last key sorts first
    return np.sort(ids[order[:limit]])


def campaign_audience(
    campaign: Campaign, *, run: SegmentationRun | None = None, as_of: datetime | None = None
) -> Audience:
    """The campaign's audience, step by step (module docstring). ValidationFailed when it cannot
    be computed (no segmentation yet, conditions referring to unknown features or segments)."""
    run = run or audience_run(campaign)
    as_of = as_of or campaign.launched_at or timezone.now()
    steps: list[AudienceStep] = []
    label, ids = _base(campaign, run)
    _step(steps, label, len(ids))

    excluded = list(campaign.exclude_segments.all()) if campaign.pk else []
    if excluded:
        ids = np.setdiff1d(ids, _members(_need_run(run), [s.pk for s in excluded]))
        _step(steps, f"Not in {_names(excluded)}", len(ids))
    else:
        _step(steps, "No excluded segments", len(ids))

    if campaign.conditions:
        try:
            matching = rule_members(campaign.conditions, _need_run(run))
            description = describe_rule(campaign.conditions)
        except RuleError as exc:
            raise ValidationFailed(f"The conditions are not valid: {exc}") from exc
        ids = np.intersect1d(ids, _ids(matching))
        _step(steps, f"Matching {description}", len(ids))
    else:
        _step(steps, "No extra conditions", len(ids))

    ids = np.intersect1d(ids, consenting_ids(campaign.channel))
    _step(steps, f"Consented to {Channel(campaign.channel).label.lower()}", len(ids))

    if campaign.frequency_cap:
        ids = np.setdiff1d(ids, capped_ids(campaign, as_of=as_of))
        days = campaign.frequency_cap_days
        label = f"At most {campaign.frequency_cap} campaign(s) in {days} days"
        _step(steps, f"{label}: those at the cap left out", len(ids))
    else:
        _step(steps, "No frequency cap", len(ids))

    share = campaign.control_share
    limit = campaign.recipient_limit
    ranked_by = campaign.rank_by if limit and len(ids) > limit else ""
    if ranked_by and limit:
        scores = rank_scores(_need_run(run), ranked_by)
        lowest_first = ranked_by in RANK_LOWEST_FIRST
        ids = top_by_score(ids, scores, limit=limit, lowest_first=lowest_first)
        phrase = RANK_PHRASE[RankBy(ranked_by)]
        label = f"Recipient limit {limit:,}, ranked by {phrase}: the top {limit:,} kept"
        _step(steps, label, len(ids))
        treatment, control = control_split(ids, seed=campaign.control_seed, share=share)
        label = f"Control group: {len(control):,} ({share:.0%}) drawn at random among them"
        _step(steps, label, len(treatment))
    else:
        treatment, control = control_split(ids, seed=campaign.control_seed, share=share)
        _step(steps, f"Control group: {len(control):,} ({share:.0%}) held out", len(treatment))
        if limit and len(treatment) + len(control) > limit:
            held = round_half_up(share * limit)
            treatment, control = treatment[: limit - held], control[:held]
            _step(steps, f"Recipient limit {limit:,} (control {held:,})", len(treatment))
        else:
            label = f"Within the limit {limit:,}" if limit else "No recipient limit"
            _step(steps, label, len(treatment))

    return Audience(
        steps=steps,
        treatment_ids=[int(i) for i in treatment],
        control_ids=[int(i) for i in control],
        run=run,
        as_of=as_of,
        ranked_by=ranked_by,
    )


# -- content ------------------------------------------------------------------------------------

_PRODUCT_FIELDS = ("product__external_id", "product__title", "product__category", "product__price")


def _item(row: Mapping[str, Any], *, reason: str, source: str) -> RecommendedProduct:
    price = row["product__price"]
    return RecommendedProduct(
        product_id=row["product__external_id"],
        title=row["product__title"],
        category=row["product__category"],
        price=None if price is None else float(price),
        score=float(row["score"]),
        reason=reason,
        source=source,
    )


class ContentReader:
    """Each recipient's top-k products from a model run's precomputed rows, for many customers
    at once: the serving selector's answer (recommendations/selectors.py
    customer_recommendations: model rows of active products by rank, then the category, RFM
    segment, country, trending and all-time fallback lists), with one query for a batch's model
    rows instead of two per customer. Fallback lists are read once per reader.

    category: only products of this category; products: only these product pks (staff's list,
    in their order: when the recommender has too few of them, the rest of the list fills in,
    "chosen for this campaign")."""

    def __init__(
        self,
        *,
        model_id: int,
        k: int,
        category: str = "",
        products: Sequence[int] = (),
        segmentation_run_id: int | None = None,
    ) -> None:
        self.model_id = model_id
        self.k = k
        self.category = category
        self.products = list(products)
        self.segmentation_run_id = segmentation_run_id
        self._lists: dict[str, list[dict[str, Any]]] = {}
        self._picks: list[dict[str, Any]] | None = None

    def _filtered(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        rows = rows.filter(product__is_active=True)
        if self.category:
            rows = rows.filter(product__category=self.category)
        if self.products:
            rows = rows.filter(product_id__in=self.products)
        return rows

    def _model_rows(self, customer_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        fields = ("customer_id", "product_id", "score", "reason", *_PRODUCT_FIELDS)
        found: dict[int, list[dict[str, Any]]] = defaultdict(list)
        rows = self._filtered(
            Recommendation.objects.filter(model_run_id=self.model_id, customer_id__in=customer_ids)
        )
        window = None if self.category or self.products else self.k * RANK_WINDOW
        first = rows.filter(rank__lte=window) if window else rows
        for row in first.order_by("customer_id", "rank").values(*fields):
            found[row["customer_id"]].append(row)
        if window:
            short = [c for c in customer_ids if len(found[c]) < self.k]
            for start in range(0, len(short), ID_CHUNK):
                part = short[start : start + ID_CHUNK]
                more = rows.filter(customer_id__in=part, rank__gt=window)
                for row in more.order_by("customer_id", "rank").values(*fields):
                    found[row["customer_id"]].append(row)
        return found

    def _list(self, scope: str) -> list[dict[str, Any]]:
        if scope not in self._lists:
            rows = self._filtered(
                PopularList.objects.filter(model_run_id=self.model_id, scope=scope)
            )
            self._lists[scope] = list(
                rows.order_by("rank").values("product_id", "score", *_PRODUCT_FIELDS)
            )
        return self._lists[scope]

    def _staff_picks(self) -> list[dict[str, Any]]:
        if self._picks is None:
            found = {
                row["pk"]: row
                for row in Product.objects.filter(pk__in=self.products, is_active=True).values(
                    "pk", "external_id", "title", "category", "price"
                )
            }
            self._picks = [
                {
                    "product_id": pk,
                    "score": 0.0,
                    **{f"product__{k}": v for k, v in found[pk].items() if k != "pk"},
                }
                for pk in self.products
                if pk in found and (not self.category or found[pk]["category"] == self.category)
            ]
        return self._picks

    def _rfm_segments(self, customer_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        if self.segmentation_run_id is None or not customer_ids:
            return {}
        rows = SegmentMembership.objects.filter(
            run_id=self.segmentation_run_id,
            customer_id__in=customer_ids,
            segment__kind=SegmentKind.RFM,
        ).values_list("customer_id", "segment_id", "segment__name")
        return {customer: (segment, name) for customer, segment, name in rows}

    def read(self, customers: Sequence[tuple[int, str]]) -> dict[int, list[RecommendedProduct]]:
        """{customer pk: up to k products, best first} for (pk, country) pairs (at most
        ID_CHUNK of them)."""
        ids = [pk for pk, _ in customers]
        model_rows = self._model_rows(ids)
        short = [pk for pk in ids if len(model_rows[pk]) < self.k]
        segments = self._rfm_segments(short)
        answer: dict[int, list[RecommendedProduct]] = {}
        for pk, country in customers:
            rows = model_rows[pk][: self.k]
            items = [_item(row, reason=row["reason"], source=MODEL) for row in rows]
            if len(items) < self.k:
                taken = {row["product_id"] for row in rows}
                items += self._fallbacks(segments.get(pk), country, taken, self.k - len(items))
            answer[pk] = items
        return answer

    def _fallbacks(
        self, segment: tuple[int, str] | None, country: str, taken: set[int], need: int
    ) -> list[RecommendedProduct]:
        scopes: list[tuple[str, str, str]] = []
        if self.category:
            name = self.category
            scopes.append((f"category:{name}", FALLBACK_CATEGORY, f"popular in {name}"))
        if segment is not None:
            scopes.append(
                (
                    f"segment:{segment[0]}",
                    FALLBACK_SEGMENT,
                    f"popular in your segment ({segment[1]})",
                )
            )
        if country:
            scopes.append((f"country:{country}", FALLBACK_COUNTRY, f"popular in {country}"))
        scopes.append(("trending", FALLBACK_TRENDING, "trending now"))
        scopes.append(("all", FALLBACK_POPULAR, "a best seller"))
        items: list[RecommendedProduct] = []
        seen = set(taken)
        for scope, source, reason in scopes:
            for row in self._list(scope):
                if row["product_id"] in seen:
                    continue
                seen.add(row["product_id"])
                items.append(_item(row, reason=reason, source=source))
                if len(items) == need:
                    return items
        if self.products:
            for row in self._staff_picks():
                if row["product_id"] in seen:
                    continue
                seen.add(row["product_id"])
                items.append(_item(row, reason=CAMPAIGN_PICK_REASON, source=CAMPAIGN_PICK))
                if len(items) == need:
                    break
        return items


def content_reader(
    campaign: Campaign, *, model_id: int, segmentation_run_id: int | None
) -> ContentReader:
    products = list(campaign.content_products.values_list("pk", flat=True)) if campaign.pk else []
    if products:
        # Staff's order: the ids as they chose them (the m2m keeps no order, so by SKU).
        products = list(
            Product.objects.filter(pk__in=products)
            .order_by("external_id")
            .values_list("pk", flat=True)
        )
    return ContentReader(
        model_id=model_id,
        k=campaign.content_k,
        category=campaign.content_category,
        products=products,
        segmentation_run_id=segmentation_run_id,
    )


def stored_products(items: Sequence[RecommendedProduct]) -> list[dict[str, Any]]:
    """A recipient's products as CampaignRecipient.products stores them."""
    return [
        {
            "product": item.product_id,
            "title": item.title,
            "score": round(item.score, 6),
            "reason": item.reason,
            "source": item.source,
        }
        for item in items
    ]


# -- preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignPreview:
    """What the builder shows before a launch.

    overlap: other scheduled or running campaigns sharing recipients, as (campaign, shared
    customers), most shared first; profile: the audience against everyone scored (analytics'
    audience_profile; None without a segmentation run or an empty audience); samples: the first
    treated customers with the products they would get (empty lists when no model serves:
    content_error says why); baseline_rate: the share of the audience who bought in the last
    ``attribution_days`` of the shop's data (the expected control conversion rate), and
    control: the power of the split for it (campaigns/engine/stats.py control_power)."""

    audience: Audience
    overlap: list[tuple[Campaign, int]]
    profile: Any
    samples: list[tuple[Customer, list[RecommendedProduct]]]
    control: Any
    baseline_rate: float | None
    content_error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> list[AudienceStep]:
        return self.audience.steps


def baseline_rate(customer_ids: Sequence[int], *, days: int) -> float | None:
    """The share of these customers with a purchase in the last `days` days of the shop's data
    (up to its newest purchase, not the wall clock: the demo data are historical). None for no
    customers or no purchases at all."""
    if not customer_ids:
        return None
    newest = Event.objects.filter(kind=EventKind.PURCHASE).aggregate(at=Max("occurred_at"))["at"]
    if newest is None:
        return None
    buyers = Event.objects.filter(
        kind=EventKind.PURCHASE,
        occurred_at__gt=newest - timedelta(days=days),
        customer__isnull=False,
    ).values_list("customer_id", flat=True)
    bought = np.intersect1d(_ids(customer_ids), _ids(buyers.distinct()))
    return len(bought) / len(customer_ids)


def campaign_overlap(campaign: Campaign, audience: Audience) -> list[tuple[Campaign, int]]:
    """Other scheduled or running campaigns and how many of this audience they share (running
    ones by their recipients, scheduled ones by their audience now)."""
    mine = _ids(audience.customer_ids)
    if not len(mine):
        return []
    others = Campaign.objects.filter(
        status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING]
    ).exclude(pk=campaign.pk)
    found: list[tuple[Campaign, int]] = []
    for other in others:
        if other.status == CampaignStatus.RUNNING:
            theirs = _ids(other.recipients.values_list("customer_id", flat=True).iterator(ID_CHUNK))
        else:
            try:
                theirs = _ids(campaign_audience(other).customer_ids)
            except ValidationFailed:
                continue
        shared = len(np.intersect1d(mine, theirs))
        if shared:
            found.append((other, shared))
    found.sort(key=lambda pair: (-pair[1], pair[0].pk))
    return found


def ranking_notes(campaign: Campaign, audience: Audience) -> list[str]:
    """What a ranked audience's preview says about the ranking and the scores behind it."""
    phrase = RANK_PHRASE[RankBy(campaign.rank_by)]
    if not audience.ranked_by:
        why = "there is no recipient limit" if not campaign.recipient_limit else "it fits"
        return [f"Ranked by {phrase}, but {why}: the whole audience is kept."]
    predictions = audience.run.prediction_run if audience.run is not None else None
    notes = [
        f"Ranked by {phrase}: the limit keeps the top {audience.size:,} customers (those "
        "without a score last); the control group is drawn at random among them, so the "
        "comparison stays fair."
    ]
    if predictions is not None:
        start = f" from {predictions.as_of:%d %b %Y}" if predictions.as_of else ""
        notes.append(
            f"Scores of predictions #{predictions.pk}: the next {predictions.horizon_days} "
            f"days{start}."
        )
        if not predictions.sufficient:
            reasons = "; ".join((predictions.metrics or {}).get("fit", {}).get("reasons", []))
            notes.append(
                "These predictions are not trusted"
                + (f" ({reasons})" if reasons else "")
                + ": the ranking may be little better than a random sample."
            )
    return notes


def campaign_preview(campaign: Campaign, *, samples: int = 5) -> CampaignPreview:
    """The builder's preview (CampaignPreview). ValidationFailed as campaign_audience."""
    from campaigns.engine.stats import control_power
    from campaigns.services import audiences

    audience = campaign_audience(campaign)
    notes: list[str] = []
    profile = None
    if audience.run is not None and audience.size:
        profile = audiences.audience_profile(customer_ids=audience.customer_ids, run=audience.run)
    content_error = ""
    sample_rows: list[tuple[Customer, list[RecommendedProduct]]] = []
    picked = audience.treatment_ids[:samples]
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=picked)}
    model_id = serving_model_id()
    if campaign.channel == Channel.AD_AUDIENCE:
        content_error = "Ad audiences carry no products."
    elif model_id is None:
        content_error = "No recommendation model serves yet: train one and promote it first."
    if picked:
        products: dict[int, list[RecommendedProduct]] = {}
        if not content_error and model_id is not None:
            reader = content_reader(
                campaign,
                model_id=model_id,
                segmentation_run_id=audience.run.pk if audience.run else None,
            )
            products = reader.read([(pk, customers[pk].country) for pk in picked])
        sample_rows = [(customers[pk], products.get(pk, [])) for pk in picked]
    rate = baseline_rate(audience.customer_ids, days=campaign.attribution_days)
    if rate is None or rate == 0:
        notes.append("No purchases in the audience's recent history: the baseline is a guess.")
    if campaign.rank_by:
        notes.extend(ranking_notes(campaign, audience))
    control = control_power(
        n_treatment=len(audience.treatment_ids),
        n_control=len(audience.control_ids),
        baseline_rate=rate or 0.0,
        target_uplift=TARGET_UPLIFT,
    )
    return CampaignPreview(
        audience=audience,
        overlap=campaign_overlap(campaign, audience),
        profile=profile,
        samples=sample_rows,
        control=control,
        baseline_rate=rate,
        content_error=content_error,
        notes=notes,
    )


# -- lists and details --------------------------------------------------------------------------


def campaign_list() -> QuerySet[Campaign]:
    launch_runs = CampaignRun.objects.filter(kind=CampaignRunKind.LAUNCH)
    return (
        Campaign.objects.select_related("created_by")
        .prefetch_related(
            "include_segments",
            "exclude_segments",
            "content_products",
            Prefetch("runs", queryset=launch_runs),
        )
        .order_by("-created_at", "-pk")
    )


def campaign_status_counts() -> dict[str, int]:
    """Campaigns per status (statuses without any are absent)."""
    rows = Campaign.objects.order_by().values_list("status").annotate(n=Count("pk"))
    return dict(rows)


def campaign_launch_run(campaign: Campaign) -> CampaignRun | None:
    return CampaignRun.objects.filter(campaign=campaign, kind=CampaignRunKind.LAUNCH).first()


def campaign_recipient_counts(campaign: Campaign) -> dict[str, int]:
    """Recipients per group and how many were sent: {"treatment", "control", "sent"}."""
    rows = campaign.recipients.values_list("group").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(RecipientGroup.values, 0)
    counts.update(dict(rows))
    counts["sent"] = campaign.recipients.filter(sent_at__isnull=False).count()
    return counts


def campaign_recipients(campaign: Campaign) -> QuerySet[CampaignRecipient]:
    return (
        CampaignRecipient.objects.filter(campaign=campaign)
        .select_related("customer", "message")
        .order_by("pk")
    )


def campaign_audit(campaign: Campaign) -> QuerySet[CampaignAuditEntry]:
    return CampaignAuditEntry.objects.filter(campaign=campaign).select_related("actor")


def campaigns_due(*, now: datetime | None = None) -> QuerySet[Campaign]:
    """Scheduled campaigns whose launch time has come."""
    return Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED, scheduled_at__lte=now or timezone.now()
    ).order_by("scheduled_at", "pk")


# -- audience export ----------------------------------------------------------------------------


def normalised_email(email: object) -> str:
    """Trimmed and lower-cased, as ad platforms match hashed emails; "" when absent."""
    return str(email or "").strip().lower()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else ""


def audience_export_rows(
    campaign: Campaign, start: int = 0, stop: int | None = None
) -> Iterator[dict[str, Any]]:
    """The launched audience, one dict per recipient in pk order: external_id, group,
    hashed_email (SHA-256 of the normalised email, "" when unknown) and products (SKUs in rank
    order). Streams in chunks, never the whole audience at once; `start`/`stop` select rows
    [start, stop) of that order in the database (a page of the JSON export)."""
    recipients = (
        CampaignRecipient.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list("customer__external_id", "group", "customer__attributes", "products")
    )
    rows = recipients[start:stop].iterator(chunk_size=ID_CHUNK)
    while chunk := list(itertools.islice(rows, ID_CHUNK)):
        for external_id, group, attributes, products in chunk:
            email = normalised_email((attributes or {}).get("email"))
            yield {
                "external_id": external_id,
                "group": group,
                "hashed_email": sha256_hex(email),
                "products": [p.get("product", "") for p in products or []],
            }
