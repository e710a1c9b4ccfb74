"""Staff rule segments: create, change and retire them. Saving evaluates the rule on the
segmentation run in use at once, so the segment has members without waiting for the next
pipeline run; every later run re-evaluates it on fresh features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from ecomsite.exceptions import DomainError, ValidationFailed
from ecomsite.services.bulk import db_now, insert_ignoring_conflicts
from segments.engine.rules import RuleError, describe_rule, validate_rule
from segments.models import Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.selectors import rule_members, segmentation_current

from .segmentation import MEMBERSHIP_FIELDS

MAX_NAME = 120


class SegmentConflict(DomainError):
    status_code = 409


def _clean(name: str, definition: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    name = " ".join(str(name).split())
    if not name:
        raise ValidationFailed("A segment needs a name.")
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"A segment name has at most {MAX_NAME} characters.")
    try:
        validate_rule(definition)
    except RuleError as exc:
        raise ValidationFailed(f"The rule is not valid: {exc}") from exc
    return name, dict(definition)


def _evaluate(segment: Segment, run: SegmentationRun | None) -> pd.Index | None:
    if run is None:
        return None
    try:
        return rule_members(segment.definition, run, exclude_segment=segment.name)
    except RuleError as exc:
        raise ValidationFailed(f"The rule is not valid: {exc}") from exc


def _store(segment: Segment, run: SegmentationRun | None, ids: pd.Index | None) -> None:
    if run is None or ids is None:
        return
    SegmentMembership.objects.filter(run=run, segment=segment).delete()
    now = db_now()
    rows = [(run.pk, segment.pk, int(customer), now, now) for customer in ids]
    insert_ignoring_conflicts(
        SegmentMembership, MEMBERSHIP_FIELDS, rows, conflict=("run", "segment", "customer")
    )


def rule_segment_create(
    *, name: str, definition: Mapping[str, Any], description: str = "", created_by: User | None
) -> Segment:
    """A new rule segment with its members in the current run. ValidationFailed for a bad rule
    (including references to unknown features or segments), SegmentConflict for a taken name."""
    name, definition = _clean(name, definition)
    run = segmentation_current()
    segment = Segment(
        kind=SegmentKind.RULE,
        name=name,
        definition=definition,
        description=description.strip() or describe_rule(definition),
        created_by=created_by,
    )
    ids = _evaluate(segment, run)
    try:
        with transaction.atomic():
            segment.save()
            _store(segment, run, ids)
    except IntegrityError as exc:
        raise SegmentConflict(f"A rule segment named {name!r} already exists.") from exc
    return segment


def rule_segment_update(
    segment: Segment,
    *,
    name: str,
    definition: Mapping[str, Any],
    description: str = "",
    is_active: bool = True,
) -> Segment:
    """Change a rule segment; its members in the current run are re-evaluated (earlier runs keep
    the members they had, so the history stays what it was)."""
    if segment.kind != SegmentKind.RULE:
        raise ValidationFailed("Only rule segments can be edited; the pipeline maintains the rest.")
    name, definition = _clean(name, definition)
    segment.name, segment.definition, segment.is_active = name, definition, is_active
    segment.description = description.strip() or describe_rule(definition)
    run = segmentation_current()
    ids = _evaluate(segment, run) if is_active else None
    try:
        with transaction.atomic():
            segment.save()
            _store(segment, run, ids)
    except IntegrityError as exc:
        raise SegmentConflict(f"A rule segment named {name!r} already exists.") from exc
    return segment


def rule_segment_deactivate(segment: Segment) -> Segment:
    """Retire a rule segment: later runs stop evaluating it; past memberships stay."""
    if segment.kind != SegmentKind.RULE:
        raise ValidationFailed("Only rule segments can be retired.")
    segment.is_active = False
    segment.save(update_fields=["is_active", "updated_at"])
    return segment
