"""Deny by default: a token needs the view's scope; a session needs a staff user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

from ecomsite.models import PartnerToken

if TYPE_CHECKING:  # runtime imports would be circular: DRF loads these classes from settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


def _is_staff_session(request: Request) -> bool:
    user = request.user
    return not isinstance(request.auth, PartnerToken) and bool(
        user and user.is_authenticated and user.is_active and user.is_staff
    )


class HasScope(BasePermission):
    """The view's `required_scope` (per method via `required_scopes = {"POST": ...}`) must be on
    the caller's token. Staff signed in to the web UI may use every scope."""

    message = "Your token does not have the scope this endpoint needs."

    def has_permission(self, request: Request, view: APIView) -> bool:
        scope = getattr(view, "required_scopes", {}).get(request.method) or getattr(
            view, "required_scope", None
        )
        if scope is None:
            return False
        if isinstance(request.auth, PartnerToken):
            self.message = f"This endpoint needs a token with the '{scope}' scope."
            return request.auth.has_scope(scope)
        self.message = "Only staff may use the API with a session; partners use a token."
        return _is_staff_session(request)


class IsStaffSession(BasePermission):
    """Staff-only operations: a signed-in staff user, never a partner token."""

    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return _is_staff_session(request)
