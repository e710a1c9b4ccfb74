"""The model registry: which model run serves, promotion (automatic or by hand) and roll back.

The serving model is the model run of the newest ModelPromotion. A run can be promoted only when
it succeeded and its recommendations are precomputed (`ModelRun.precomputed`), so inserting the
promotion row is the whole switch: readers see either the old model's rows or the new one's."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction

from ecomsite.exceptions import DomainError, ValidationFailed
from ecomsite.models import RunStatus
from recommendations.models import ModelPromotion, ModelRun

SERVING_CACHE_KEY = "recommendations:serving"
SERVING_CACHE_SECONDS = 60


class NothingToRollBack(DomainError):
    status_code = 409


def serving_model() -> ModelRun | None:
    """The model run in service (cached briefly; every switch clears the cache)."""
    cached = cache.get(SERVING_CACHE_KEY)
    if cached is not None:
        return ModelRun.objects.filter(pk=cached).first() if cached else None
    promotion = ModelPromotion.objects.select_related("model_run").first()
    run = promotion.model_run if promotion else None
    cache.set(SERVING_CACHE_KEY, run.pk if run else 0, SERVING_CACHE_SECONDS)
    return run


def _switch_done() -> None:
    cache.delete(SERVING_CACHE_KEY)


def model_promote(
    run: ModelRun, *, reason: str, created_by: User | None = None, automatic: bool = False
) -> ModelPromotion:
    """Make `run` the serving model. ValidationFailed unless it succeeded and is precomputed."""
    if run.status != RunStatus.SUCCEEDED or not run.precomputed:
        raise ValidationFailed(
            f"{run} cannot serve: only a succeeded run with precomputed recommendations can."
        )
    with transaction.atomic():
        current = ModelPromotion.objects.select_for_update().select_related("model_run").first()
        previous = current.model_run if current else None
        promotion = ModelPromotion.objects.create(
            model_run=run,
            previous=previous,
            automatic=automatic,
            reason=reason[:300],
            created_by=created_by,
        )
        transaction.on_commit(_switch_done)
    return promotion


def model_roll_back(*, created_by: User | None = None) -> ModelPromotion:
    """Serve the model that served before the current one again."""
    current = ModelPromotion.objects.select_related("previous").first()
    if current is None or current.previous is None:
        raise NothingToRollBack("There is no earlier serving model to roll back to.")
    return model_promote(
        current.previous,
        reason=f"Rolled back from {current.model_run}",
        created_by=created_by,
    )
