"""Staff accounts and their roles (role = membership of one role group; admins are superusers,
so they also reach the Django admin)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from ecomsite.exceptions import ValidationFailed
from ecomsite.roles import ROLE_BY_GROUP, Role, user_role


def _admins_left(excluding: AbstractUser) -> int:
    User = get_user_model()
    return (
        User.objects.filter(is_active=True, is_superuser=True).exclude(pk=excluding.pk).count()
        + User.objects.filter(is_active=True, groups__name=Role.ADMIN.group_name)
        .exclude(pk=excluding.pk)
        .exclude(is_superuser=True)
        .count()
    )


@transaction.atomic
def user_role_set(*, user: AbstractUser, role: Role | None, is_active: bool = True) -> AbstractUser:
    """Give `user` exactly one role (None: no access) and set whether the account is active.
    Refuses to leave the shop without an active admin."""
    current = user_role(user)
    losing_admin = current == Role.ADMIN and (role != Role.ADMIN or not is_active)
    if losing_admin and _admins_left(excluding=user) == 0:
        raise ValidationFailed("At least one active admin must remain.")
    user.groups.remove(*Group.objects.filter(name__in=ROLE_BY_GROUP))
    if role is not None:
        # get_or_create: the groups come from a data migration, but a flushed database lacks them
        user.groups.add(Group.objects.get_or_create(name=role.group_name)[0])
    user.is_superuser = role == Role.ADMIN
    user.is_staff = role == Role.ADMIN
    user.is_active = is_active
    user.save(update_fields=["is_superuser", "is_staff", "is_active"])
    if hasattr(user, "_ecomsite_role"):
        delattr(user, "_ecomsite_role")
    return user


@transaction.atomic
def user_create(*, username: str, password: str, role: Role, email: str = "") -> AbstractUser:
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationFailed(f"The username {username!r} is taken.")
    user = User.objects.create_user(username=username, email=email, password=password)
    return user_role_set(user=user, role=role)
