"""Partner API tokens: created with scopes, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone

from ecomsite.exceptions import ValidationFailed
from ecomsite.models import PartnerToken, Scope

TOKEN_PREFIX = "ecs_"
# last_used_at is a hint for staff, not an audit log: write it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def partner_token_create(
    *,
    name: str,
    scopes: Sequence[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[PartnerToken, str]:
    """Create a token. Returns it with the raw secret, which is not stored: show it once."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationFailed(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(Scope.values)}"
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = PartnerToken(
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        key_hash=_hash(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    return token, raw


def partner_token_authenticate(*, raw: str) -> PartnerToken | None:
    """The active, unexpired token with this secret, or None."""
    token = PartnerToken.objects.filter(key_hash=_hash(raw), is_active=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.expires_at and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        _touch(token, now)
    return token


def _touch(token: PartnerToken, now: datetime) -> None:
    """Record the use. When the minute rolls over, every web process serving the token sees a
    stale last_used_at at once; only the one that wins the cache key writes (one UPDATE per
    token and minute with a shared cache), so a busy token does not queue a burst of writes —
    on SQLite each would wait for the single write lock in the middle of serving a request."""
    seconds = int(LAST_USED_RESOLUTION.total_seconds())
    if cache.add(f"partner-token-used:{token.pk}", 1, timeout=seconds):
        PartnerToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def partner_token_revoke(*, token: PartnerToken) -> None:
    PartnerToken.objects.filter(pk=token.pk).update(is_active=False, updated_at=timezone.now())
    token.is_active = False
