"""Admins manage users and roles; the last admin cannot lock everyone out."""

import pytest

from ecomsite.exceptions import ValidationFailed
from ecomsite.roles import Role, user_role
from ecomsite.services.users import user_role_set

pytestmark = pytest.mark.django_db


def test_admin_creates_a_viewer(client, staff_user, django_user_model):
    client.force_login(staff_user)
    response = client.post(
        "/users/new/",
        {
            "username": "ann",
            "email": "ann@example.com",
            "password1": "a-Long-pass-2024",
            "password2": "a-Long-pass-2024",
            "role": "viewer",
        },
    )
    assert response.status_code == 302
    ann = django_user_model.objects.get(username="ann")
    assert user_role(ann) == Role.VIEWER
    assert not ann.is_staff and not ann.is_superuser
    assert ann.check_password("a-Long-pass-2024")


def test_weak_passwords_are_refused_with_a_message(client, staff_user, django_user_model):
    client.force_login(staff_user)
    response = client.post(
        "/users/new/",
        {"username": "bob", "password1": "123", "password2": "123", "role": "viewer"},
    )
    assert response.status_code == 200
    assert "This password is too short." in response.content.decode()
    assert not django_user_model.objects.filter(username="bob").exists()


def test_promote_and_demote(client, staff_user, viewer_user, django_user_model):
    client.force_login(staff_user)
    client.post(f"/users/{viewer_user.pk}/role/", {"role": "admin", "is_active": "on"})
    promoted = django_user_model.objects.get(pk=viewer_user.pk)
    assert user_role(promoted) == Role.ADMIN and promoted.is_superuser
    client.post(f"/users/{viewer_user.pk}/role/", {"role": "editor", "is_active": "on"})
    demoted = django_user_model.objects.get(pk=viewer_user.pk)
    assert user_role(demoted) == Role.EDITOR and not demoted.is_staff


def test_the_last_admin_cannot_step_down(client, staff_user):
    client.force_login(staff_user)
    response = client.post(f"/users/{staff_user.pk}/role/", {"role": "viewer", "is_active": "on"})
    assert response.status_code == 200
    assert "At least one active admin must remain." in response.content.decode()
    with pytest.raises(ValidationFailed):
        user_role_set(user=staff_user, role=Role.ADMIN, is_active=False)


def test_viewers_cannot_change_roles(client, viewer_user, staff_user):
    client.force_login(viewer_user)
    response = client.post(f"/users/{viewer_user.pk}/role/", {"role": "admin", "is_active": "on"})
    assert response.status_code == 403
    assert user_role(type(viewer_user).objects.get(pk=viewer_user.pk)) == Role.VIEWER
