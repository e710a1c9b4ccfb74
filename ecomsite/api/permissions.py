"""Deny by default. A partner token needs the view's scope; a browser session needs a role:
read scopes need viewer, write scopes admin (sending events is importing data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

from ecomsite.models import PartnerToken, Scope
from ecomsite.roles import Role, has_role

if TYPE_CHECKING:  # runtime imports would be circular: DRF loads these classes from settings
    from rest_framework.request import Request
    from rest_framework.views import APIView

# The role a signed-in user needs to use a scope with their session.
SESSION_ROLE_FOR_SCOPE = {
    Scope.EVENTS_WRITE: Role.ADMIN,
    Scope.EVENTS_READ: Role.VIEWER,
    Scope.CATALOG_READ: Role.VIEWER,
    Scope.SEGMENTS_READ: Role.VIEWER,
    Scope.RECOMMENDATIONS_READ: Role.VIEWER,
    Scope.CAMPAIGNS_READ: Role.VIEWER,
    Scope.PREDICTIONS_READ: Role.VIEWER,
}


def _session_has_role(request: Request, role: Role) -> bool:
    return not isinstance(request.auth, PartnerToken) and has_role(request.user, role)


class HasScope(BasePermission):
    """The view's `required_scope` (per method via `required_scopes = {"POST": ...}`) must be on
    the caller's token; a session user needs the role SESSION_ROLE_FOR_SCOPE names."""

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
        role = SESSION_ROLE_FOR_SCOPE[Scope(scope)]
        self.message = f"This needs the {role.label.lower()} role."
        return _session_has_role(request, role)


class RoleRequired(BasePermission):
    """Staff-only operations: a signed-in user with the view's `required_role` (default admin),
    never a partner token."""

    message = "Only staff with the right role may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return _session_has_role(request, getattr(view, "required_role", Role.ADMIN))
