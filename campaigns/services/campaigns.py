"""A campaign's life: create, change, schedule, launch, cancel, complete.

Workflow (checked here, refused with InvalidTransition, 409)::

    draft ──schedule──▶ scheduled ──(its time: campaigns_due_process)──▶ running ──▶ completed
      │  ╲______________________launch_______________________________▶ ▲    (results, after
      │                                                                     the attribution
      └──────────── cancel (draft, scheduled or running) ──▶ cancelled      window)

* Only draft and scheduled campaigns can be changed; a scheduled one can be scheduled again.
* A launch moves the campaign to running and creates THE launch run (one per campaign, a
  unique constraint); its task is enqueued after the transaction commits. Launching a running
  campaign again returns the same run (a double click), and resumes it if it failed.
* Cancelling a running campaign stops its launch at the next batch; what was sent stays sent.
* Every action writes a CampaignAuditEntry: who, what, and for changes {field: [old, new]}.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from campaigns.models import (
    AudienceSource,
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRun,
    CampaignRunKind,
    CampaignStatus,
    Channel,
    RankBy,
)
from campaigns.selectors import audience_run, campaign_audience
from ecomsite.exceptions import InvalidTransition, ValidationFailed
from ecomsite.models import Product, RunStatus
from recommendations.services.registry import serving_model
from segments.engine.rules import RuleError, validate_rule
from segments.models import Segment

Actor = AbstractBaseUser | AnonymousUser | None

SCALAR_FIELDS = (
    "name",
    "goal",
    "channel",
    "audience_source",
    "audience_params",
    "conditions",
    "frequency_cap",
    "frequency_cap_days",
    "recipient_limit",
    "rank_by",
    "control_share",
    "content_k",
    "content_category",
    "subject",
    "message",
    "attribution_days",
)
SEGMENT_FIELDS = ("include_segments", "exclude_segments")
EDITABLE_FIELDS = (*SCALAR_FIELDS, *SEGMENT_FIELDS, "content_products")
MAX_ATTRIBUTION_DAYS = 365
MAX_CONTROL_SHARE = 0.5
MAX_CONTENT_K = 50

SYSTEM = "system"


# -- audit --------------------------------------------------------------------------------------


def _actor(user: Actor) -> tuple[Any, str]:
    if user is None or not user.is_authenticated:
        return None, SYSTEM
    token = getattr(user, "token", None)
    if token is not None:  # a partner token's principal (ecomsite.api.authentication)
        return None, f"partner token {token.name}"
    return user, user.get_username()


def audit_record(
    *, campaign: Campaign, user: Actor, action: str, changes: Mapping[str, Any] | None = None
) -> CampaignAuditEntry:
    actor, label = _actor(user)
    return CampaignAuditEntry.objects.create(
        campaign=campaign,
        actor=actor,
        actor_label=label,
        action=action,
        changes=dict(changes or {}),
    )


def campaign_export_record(
    *, campaign: Campaign, user: Actor, fmt: str, page: int | None = None, rows: int | None = None
) -> CampaignAuditEntry:
    """Audit one read of a campaign's audience export: the CSV stream (fmt "csv") or a page of
    the JSON export (fmt "json", with its page number and row count), by a staff user or a
    partner token (named in the entry)."""
    details: dict[str, Any] = {"format": fmt}
    if page is not None:
        details["page"] = page
    if rows is not None:
        details["rows"] = rows
    return audit_record(campaign=campaign, user=user, action=AuditAction.EXPORTED, changes=details)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    """The editable configuration as JSON values (segments by id, products by SKU, sorted)."""
    values = {name: _json(getattr(campaign, name)) for name in SCALAR_FIELDS}
    if campaign.pk:
        for name in SEGMENT_FIELDS:
            values[name] = sorted(getattr(campaign, name).values_list("pk", flat=True))
        values["content_products"] = sorted(
            campaign.content_products.values_list("external_id", flat=True)
        )
    else:
        values.update({name: [] for name in (*SEGMENT_FIELDS, "content_products")})
    return values


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }


# -- validation ---------------------------------------------------------------------------------


def _int_or_none(name: str, value: Any, *, low: int, high: int | None = None) -> int | None:
    if value in (None, ""):
        return None
    return _int(name, value, low=low, high=high)


def _int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValidationFailed(f"{name} must be a whole number.")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{name} must be a whole number.") from exc
    if number != value and not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a whole number.")
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationFailed(f"{name} must be {bounds}.")
    return number


def _segments(name: str, ids: Any) -> list[Segment]:
    if not isinstance(ids, list | tuple):
        raise ValidationFailed(f"{name} must be a list of segment ids.")
    wanted = {_int(name, i, low=1) for i in ids}
    found = list(Segment.objects.filter(pk__in=wanted))
    missing = sorted(wanted - {s.pk for s in found})
    if missing:
        raise ValidationFailed(f"Unknown segment(s) in {name}: {', '.join(map(str, missing))}.")
    return found


def _products(skus: Any) -> list[Product]:
    if not isinstance(skus, list | tuple):
        raise ValidationFailed("content_products must be a list of SKUs.")
    wanted = {str(s).strip() for s in skus if str(s).strip()}
    found = list(Product.objects.filter(external_id__in=wanted))
    missing = sorted(wanted - {p.external_id for p in found})
    if missing:
        raise ValidationFailed(f"Unknown product(s): {', '.join(missing)}.")
    return found


def _audience_params(source: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ValidationFailed("audience_params must be an object.")
    if source == AudienceSource.SEGMENTS:
        return {}
    if source == AudienceSource.LOOKALIKE:
        seed = _int("The seed segment", params.get("seed_segment"), low=1)
        if not Segment.objects.filter(pk=seed).exists():
            raise ValidationFailed(f"Unknown seed segment {seed}.")
        return {"seed_segment": seed, "size": _int("The lookalike size", params.get("size"), low=1)}
    products = params.get("products") or []
    if not isinstance(products, list | tuple):
        raise ValidationFailed("The propensity products must be a list of SKUs.")
    skus = [p.external_id for p in _products(products)]
    category = str(params.get("category") or "").strip()
    if not skus and not category:
        raise ValidationFailed("A propensity audience needs products, a category, or both.")
    try:
        share = float(params.get("top_share"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("top_share must be a number between 0 and 1.") from exc
    if not 0 < share <= 1:
        raise ValidationFailed("top_share must be above 0 and at most 1 (0.05 = the top 5%).")
    return {"products": sorted(skus), "category": category, "top_share": share}


def _clean(campaign: Campaign, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated values for the keys in `data` (model field names; ValidationFailed naming the
    first problem). Segments and products come back as objects."""
    unknown = sorted(set(data) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(f"Not editable: {', '.join(unknown)}.")
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if name == "name":
            value = " ".join(str(value or "").split())
            if not value:
                raise ValidationFailed("A campaign needs a name.")
        elif name in ("goal", "subject", "message", "content_category"):
            value = str(value or "").strip()
        elif name == "channel":
            if value not in Channel.values:
                choices = ", ".join(Channel.values)
                raise ValidationFailed(f"Unknown channel {value!r}; one of {choices}.")
        elif name == "audience_source":
            if value not in AudienceSource.values:
                raise ValidationFailed(f"Unknown audience source {value!r}.")
        elif name == "conditions":
            value = dict(value or {})
            if value:
                try:
                    validate_rule(value)
                except RuleError as exc:
                    raise ValidationFailed(f"The conditions are not valid: {exc}") from exc
        elif name == "frequency_cap":
            value = _int_or_none("The frequency cap", value, low=1)
        elif name == "frequency_cap_days":
            value = _int("The frequency cap window", value, low=1, high=365)
        elif name == "recipient_limit":
            value = _int_or_none("The recipient limit", value, low=1)
        elif name == "rank_by":
            value = value or ""
            if value not in RankBy.values:
                choices = ", ".join(v for v in RankBy.values if v)
                raise ValidationFailed(f"Unknown ranking {value!r}; one of {choices} (or none).")
        elif name == "control_share":
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise ValidationFailed("The control share must be a number.") from exc
            if not 0 <= value <= MAX_CONTROL_SHARE:
                raise ValidationFailed("The control share must be between 0 and 0.5 (50%).")
        elif name == "content_k":
            value = _int("Products per recipient", value, low=1, high=MAX_CONTENT_K)
        elif name == "attribution_days":
            value = _int("The attribution window", value, low=1, high=MAX_ATTRIBUTION_DAYS)
        elif name in SEGMENT_FIELDS:
            value = _segments(name, value)
        elif name == "content_products":
            value = _products(value)
        clean[name] = value
    source = clean.get("audience_source", campaign.audience_source)
    if "audience_params" in clean or "audience_source" in clean:
        params = clean.get("audience_params", campaign.audience_params)
        clean["audience_params"] = _audience_params(source, params)
    return clean


def _apply(campaign: Campaign, clean: Mapping[str, Any]) -> None:
    for name, value in clean.items():
        if name not in (*SEGMENT_FIELDS, "content_products"):
            setattr(campaign, name, value)
    try:
        campaign.full_clean()
    except ValidationError as exc:
        messages = [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
        raise ValidationFailed("; ".join(messages)) from exc
    campaign.save()
    for name in (*SEGMENT_FIELDS, "content_products"):
        if name in clean:
            getattr(campaign, name).set(clean[name])


# -- create / update ----------------------------------------------------------------------------


def campaign_create(*, user: Actor, data: Mapping[str, Any]) -> Campaign:
    """A draft campaign from `data` (model field names; include/exclude_segments as segment ids,
    content_products as SKUs). The audit entry lists every value given as [None, value]."""
    campaign = Campaign(created_by=_actor(user)[0])
    clean = _clean(campaign, data)
    with transaction.atomic():
        _apply(campaign, clean)
        after = campaign_snapshot(campaign)
        audit_record(
            campaign=campaign,
            user=user,
            action=AuditAction.CREATED,
            changes={name: [None, after[name]] for name in clean},
        )
    return campaign


def _lock(campaign: Campaign) -> Campaign:
    """The campaign re-read under a row lock (PostgreSQL; SQLite serialises writers anyway)."""
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def campaign_update(*, campaign: Campaign, user: Actor, data: Mapping[str, Any]) -> Campaign:
    """Change a draft or scheduled campaign; audit CHANGED with {field: [old, new]} (nothing is
    written when nothing changes)."""
    with transaction.atomic():
        current = _lock(campaign)
        if not current.is_editable:
            raise InvalidTransition(f"A {current.status} campaign can no longer be changed.")
        clean = _clean(current, data)
        before = campaign_snapshot(current)
        _apply(current, clean)
        changes = _diff(before, campaign_snapshot(current))
        if changes:
            audit_record(campaign=current, user=user, action=AuditAction.CHANGED, changes=changes)
    _refresh(campaign)
    return campaign


def _refresh(campaign: Campaign) -> None:
    """Bring the caller's instance up to date with the saved row (and its relations)."""
    campaign.refresh_from_db()
    cache = getattr(campaign, "_prefetched_objects_cache", {})
    for name in (*SEGMENT_FIELDS, "content_products"):
        cache.pop(name, None)


# -- readiness ----------------------------------------------------------------------------------


def campaign_check_ready(campaign: Campaign) -> None:
    """What a campaign needs before it can be scheduled or launched (its configuration; the
    audience itself is checked at launch). ValidationFailed naming what is missing."""
    if not campaign.name.strip():
        raise ValidationFailed("A campaign needs a name.")
    if campaign.audience_source == AudienceSource.SEGMENTS:
        if not campaign.conditions and not campaign.include_segments.exists():
            raise ValidationFailed(
                "Choose the segments to include or conditions to match: a campaign is never sent "
                "to everyone by default."
            )
    else:
        _audience_params(campaign.audience_source, campaign.audience_params)
    if campaign.channel != Channel.AD_AUDIENCE and serving_model() is None:
        raise ValidationFailed(
            "No recommendation model serves yet, so recipients would get no products: train and "
            "promote one first (ad-audience exports need none)."
        )


# -- schedule / launch / cancel -----------------------------------------------------------------


def campaign_schedule(*, campaign: Campaign, user: Actor, at: datetime) -> Campaign:
    """draft → scheduled (or a scheduled campaign to a new time). `at` must be in the future;
    the configuration must be complete (campaign_check_ready)."""
    if timezone.is_naive(at):
        at = timezone.make_aware(at, timezone.get_current_timezone())
    if at <= timezone.now():
        raise ValidationFailed("Choose a launch time in the future.")
    with transaction.atomic():
        current = _lock(campaign)
        if current.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            raise InvalidTransition(f"A {current.status} campaign cannot be scheduled.")
        campaign_check_ready(current)
        changes = {
            "status": [current.status, CampaignStatus.SCHEDULED],
            "scheduled_at": [_json(current.scheduled_at), at.isoformat()],
        }
        current.status = CampaignStatus.SCHEDULED
        current.scheduled_at = at
        current.save(update_fields=["status", "scheduled_at", "updated_at"])
        audit_record(campaign=current, user=user, action=AuditAction.SCHEDULED, changes=changes)
    _refresh(campaign)
    return campaign


def campaign_unschedule(*, campaign: Campaign, user: Actor, reason: str = "") -> Campaign:
    """scheduled → draft (to rework it; also what a scheduled launch that is refused does)."""
    with transaction.atomic():
        current = _lock(campaign)
        if current.status != CampaignStatus.SCHEDULED:
            raise InvalidTransition(f"A {current.status} campaign is not scheduled.")
        changes: dict[str, Any] = {
            "status": [CampaignStatus.SCHEDULED, CampaignStatus.DRAFT],
            "scheduled_at": [_json(current.scheduled_at), None],
        }
        if reason:
            changes["reason"] = reason
        current.status = CampaignStatus.DRAFT
        current.scheduled_at = None
        current.save(update_fields=["status", "scheduled_at", "updated_at"])
        audit_record(campaign=current, user=user, action=AuditAction.CHANGED, changes=changes)
    _refresh(campaign)
    return campaign


def campaign_launch(*, campaign: Campaign, user: Actor) -> CampaignRun:
    """Launch now: draft/scheduled → running, THE launch run created and its task enqueued after
    commit. Idempotent: a running campaign returns its launch run (resumed when it failed, so a
    relaunch never duplicates anything). InvalidTransition for cancelled/completed campaigns;
    ValidationFailed when the configuration is incomplete or the audience is empty."""
    current = Campaign.objects.get(pk=campaign.pk)
    if current.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        raise InvalidTransition(f"A {current.status} campaign cannot be launched.")
    if current.status == CampaignStatus.RUNNING:
        return _relaunch(current, user)
    campaign_check_ready(current)
    run = audience_run(current)
    now = timezone.now()
    audience = campaign_audience(current, run=run, as_of=now)
    if not audience.size:
        raise ValidationFailed(
            "The audience is empty: no customer passes every step (see the preview)."
        )
    model = serving_model()  # None only for an ad audience (campaign_check_ready)
    with transaction.atomic():
        # The conditional update is the gate: of two concurrent launches exactly one moves the
        # campaign (the other's UPDATE matches no row once the first commits) ...
        moved = Campaign.objects.filter(
            pk=current.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED]
        ).update(
            status=CampaignStatus.RUNNING,
            launched_at=now,
            segmentation_run=run,
            model_run=model,
            updated_at=now,
        )
        if not moved:
            launched = None
        else:
            # ... and the unique constraint (one launch run per campaign) backs it up.
            launched = CampaignRun.objects.create(
                campaign=current,
                kind=CampaignRunKind.LAUNCH,
                params={
                    "audience": audience.size,
                    "treatment": len(audience.treatment_ids),
                    "control": len(audience.control_ids),
                    "segmentation_run": run.pk if run else None,
                    "prediction_run": run.prediction_run_id if run else None,
                    "rank_by": current.rank_by,
                    "ranked": bool(audience.ranked_by),
                    "model_run": model.pk if model else None,
                    "steps": [[s.label, s.size, s.removed] for s in audience.steps],
                },
            )
            audit_record(
                campaign=current,
                user=user,
                action=AuditAction.LAUNCHED,
                changes={
                    "status": [current.status, CampaignStatus.RUNNING],
                    "run": launched.pk,
                    "recipients": audience.size,
                    "treatment": len(audience.treatment_ids),
                    "control": len(audience.control_ids),
                    **({"ranked_by": audience.ranked_by} if audience.ranked_by else {}),
                },
            )
            _enqueue(launched)
    if launched is None:  # lost the race to a concurrent launch: answer with its run
        return _relaunch(Campaign.objects.get(pk=current.pk), user)
    _refresh(campaign)
    return launched


def _enqueue(run: CampaignRun) -> None:
    from campaigns.tasks import campaign_launch_task

    campaign_launch_task.delay_on_commit(run.pk)


def _relaunch(campaign: Campaign, user: Actor) -> CampaignRun:
    """A launch of a running campaign: its launch run as it is, or resumed when it failed."""
    if campaign.status != CampaignStatus.RUNNING:
        raise InvalidTransition(f"A {campaign.status} campaign cannot be launched.")
    run = CampaignRun.objects.get(campaign=campaign, kind=CampaignRunKind.LAUNCH)
    if run.status != RunStatus.FAILED:
        return run
    with transaction.atomic():
        resumed = CampaignRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.PENDING, task_id="", error="", updated_at=timezone.now()
        )
        if resumed:
            audit_record(
                campaign=campaign,
                user=user,
                action=AuditAction.LAUNCHED,
                changes={"run": run.pk, "resumed": True, "previous_error": run.error[:500]},
            )
            _enqueue(run)
    run.refresh_from_db()
    return run


def campaign_cancel(*, campaign: Campaign, user: Actor) -> Campaign:
    """draft, scheduled or running → cancelled. A running launch stops at its next batch;
    recipients already sent stay sent (and count towards frequency caps)."""
    with transaction.atomic():
        current = _lock(campaign)
        if current.status not in (
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
        ):
            raise InvalidTransition(f"A {current.status} campaign cannot be cancelled.")
        changes = {"status": [current.status, CampaignStatus.CANCELLED]}
        current.status = CampaignStatus.CANCELLED
        current.cancelled_at = timezone.now()
        current.save(update_fields=["status", "cancelled_at", "updated_at"])
        audit_record(campaign=current, user=user, action=AuditAction.CANCELLED, changes=changes)
    _refresh(campaign)
    return campaign


def campaign_complete(*, campaign: Campaign, user: Actor = None) -> Campaign:
    """running → completed once its launch succeeded and the attribution window has ended:
    computes the final results (campaigns/services/results.py) and records them."""
    from campaigns.services.results import campaign_results_compute

    current = Campaign.objects.get(pk=campaign.pk)
    if current.status != CampaignStatus.RUNNING:
        raise InvalidTransition(f"A {current.status} campaign cannot be completed.")
    run = CampaignRun.objects.filter(campaign=current, kind=CampaignRunKind.LAUNCH).first()
    if run is None or run.status != RunStatus.SUCCEEDED:
        raise InvalidTransition("The campaign's launch has not finished.")
    campaign_results_compute(campaign=current)
    now = timezone.now()
    with transaction.atomic():
        done = Campaign.objects.filter(pk=current.pk, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now
        )
        if done:
            audit_record(
                campaign=current,
                user=user,
                action=AuditAction.COMPLETED,
                changes={"status": [CampaignStatus.RUNNING, CampaignStatus.COMPLETED]},
            )
    _refresh(campaign)
    return campaign
