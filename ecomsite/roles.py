"""Staff roles: viewer (read only) < editor (segments, campaigns) < admin (imports, models,
schedules, users). A user's role is the highest of their role groups; superusers are admins.

Every view and API permission checks the role server-side (ecomsite/views/base.py,
ecomsite/api/permissions.py); templates only hide what a role cannot do.
"""

from __future__ import annotations

import enum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def group_name(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.capitalize()


ROLE_BY_GROUP = {role.group_name: role for role in Role}
_CACHE_ATTR = "_ecomsite_role"


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> Role | None:
    """The user's role, or None (anonymous, inactive, or in no role group). Cached on the user."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if hasattr(user, _CACHE_ATTR):
        return getattr(user, _CACHE_ATTR)  # type: ignore[no-any-return]
    role: Role | None
    if getattr(user, "is_superuser", False):
        role = Role.ADMIN
    else:
        names = user.groups.filter(name__in=ROLE_BY_GROUP).values_list("name", flat=True)  # type: ignore[attr-defined]
        role = max((ROLE_BY_GROUP[name] for name in names), default=None)
    setattr(user, _CACHE_ATTR, role)
    return role


def has_role(user: AbstractBaseUser | AnonymousUser | None, required: Role) -> bool:
    role = user_role(user)
    return role is not None and role >= required
