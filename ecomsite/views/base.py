"""Access control for staff pages: login required everywhere, then a minimum role."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.http import HttpRequest

from ecomsite.roles import Role, has_role


class RoleRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Anonymous users go to the login page; signed-in users below `required_role` get the 403
    page. Views that change something set `required_role` to EDITOR or ADMIN."""

    required_role: Role = Role.VIEWER
    request: HttpRequest

    def test_func(self) -> bool:
        return has_role(self.request.user, self.required_role)

    def get_permission_denied_message(self) -> str:
        return f"This needs the {self.required_role.label.lower()} role."

    @property
    def raise_exception(self) -> bool:  # type: ignore[override]
        return bool(self.request.user.is_authenticated)
