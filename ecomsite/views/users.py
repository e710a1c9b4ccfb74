"""Users and roles, for admins."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import FormView, ListView

from ecomsite.exceptions import DomainError
from ecomsite.forms import UserCreateForm, UserRoleForm
from ecomsite.roles import Role, user_role
from ecomsite.services.users import user_create, user_role_set

from .base import RoleRequiredMixin


class UserListView(RoleRequiredMixin, ListView):
    required_role = Role.ADMIN
    template_name = "ecomsite/user_list.html"
    context_object_name = "users"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Any]:
        return get_user_model().objects.prefetch_related("groups").order_by("username")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = [(u, user_role(u)) for u in context["users"]]
        return context


class UserCreateView(RoleRequiredMixin, FormView):
    required_role = Role.ADMIN
    template_name = "ecomsite/user_form.html"
    form_class = UserCreateForm

    def form_valid(self, form: UserCreateForm) -> HttpResponse:
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data.get("email", ""),
                password=form.cleaned_data["password1"],
                role=form.cleaned_data["role"],
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"Created {user.get_username()} as {user_role(user).label}.")  # type: ignore[union-attr]
        return redirect("user-list")


class UserRoleUpdateView(RoleRequiredMixin, FormView):
    required_role = Role.ADMIN
    template_name = "ecomsite/user_role_form.html"
    form_class = UserRoleForm

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.subject = get_object_or_404(get_user_model(), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        role = user_role(self.subject)
        return {"role": role.group_name if role else "", "is_active": self.subject.is_active}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(subject=self.subject, **kwargs)

    def form_valid(self, form: UserRoleForm) -> HttpResponse:
        try:
            user_role_set(
                user=self.subject,
                role=form.cleaned_data["role"],
                is_active=form.cleaned_data["is_active"],
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"Saved {self.subject.get_username()}.")
        return redirect("user-list")
