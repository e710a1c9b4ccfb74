from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

from ecomsite.models import PartnerToken

if TYPE_CHECKING:  # runtime imports would be circular: DRF loads these classes from settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


class CallerRateThrottle(SimpleRateThrottle):
    """One request budget per token (partners) or per user (staff); rate from API_THROTTLE_RATE."""

    scope = "caller"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, PartnerToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
