"""Partner tokens over `Authorization: Bearer <token>`; staff use their browser session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from ecomsite.models import PartnerToken
from ecomsite.services.tokens import partner_token_authenticate


class PartnerPrincipal:
    """request.user for a token call: authenticated, never staff, identified by its token."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True

    def __init__(self, token: PartnerToken) -> None:
        self.token = token
        self.pk = None
        self.id = None
        self.username = f"partner:{token.name}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False


class PartnerTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request: HttpRequest) -> tuple[PartnerPrincipal, PartnerToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Malformed token.") from exc
        token = partner_token_authenticate(raw=raw)
        if token is None:
            raise AuthenticationFailed("Invalid, revoked or expired token.")
        return PartnerPrincipal(token), token

    def authenticate_header(self, request: HttpRequest) -> str:
        return 'Bearer realm="api"'


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ecomsite.api.authentication.PartnerTokenAuthentication"
    name = "partnerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner token (`ecs_…`); each endpoint names its scope.",
        }
