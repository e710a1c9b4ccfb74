from __future__ import annotations

from django.http import HttpRequest

from ecomsite.roles import Role, user_role


def role(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role and what it may do, so templates can hide the rest."""
    current = user_role(getattr(request, "user", None))
    return {
        "role": current,
        "can_edit": current is not None and current >= Role.EDITOR,
        "can_admin": current is not None and current >= Role.ADMIN,
    }
