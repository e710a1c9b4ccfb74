"""Roles are checked server-side on every page and API call; the UI hides what a role can't do."""

import pytest
from rest_framework.test import APIClient

from ecomsite.roles import Role, user_role
from tests.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db

READ_PAGES = [
    "/",
    "/imports/",
    "/customers/",
    "/customers/C1/",
    "/products/",
    "/products/P1/",
    "/segments/",
    "/models/",
    "/campaigns/",
]
ADMIN_PAGES = ["/imports/new/", "/users/", "/users/new/", "/schedules/"]


@pytest.fixture(autouse=True)
def catalogue():
    CustomerFactory(external_id="C1")
    ProductFactory(external_id="P1")


@pytest.mark.parametrize("url", READ_PAGES)
@pytest.mark.parametrize("who", ["viewer_user", "editor_user", "staff_user"])
def test_every_role_reads(client, request, who, url):
    client.force_login(request.getfixturevalue(who))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_refuse_viewers_and_editors(client, viewer_user, editor_user, staff_user, url):
    for user, expected in ((viewer_user, 403), (editor_user, 403), (staff_user, 200)):
        client.force_login(user)
        assert client.get(url).status_code == expected, (user, url)


@pytest.mark.parametrize("url", READ_PAGES + ADMIN_PAGES)
def test_users_without_a_role_see_nothing(client, plain_user, url):
    client.force_login(plain_user)
    response = client.get(url)
    assert response.status_code == 403
    assert "You can’t do that" in response.content.decode()


def test_the_menu_hides_admin_sections_from_viewers(viewer_client):
    page = viewer_client.get("/imports/").content.decode()
    assert "Upload a file" not in page
    assert 'href="/users/"' not in page and 'href="/schedules/"' not in page
    assert "Viewer" in page


def test_the_menu_shows_admin_sections_to_admins(client, staff_user):
    client.force_login(staff_user)
    page = client.get("/imports/").content.decode()
    assert "Upload a file" in page and 'href="/users/"' in page and 'href="/admin/"' in page


def test_403_and_404_pages_fit_the_layout(viewer_client):
    denied = viewer_client.get("/imports/new/").content.decode()
    assert "You can’t do that" in denied and 'aria-label="Main"' in denied
    missing = viewer_client.get("/customers/NOPE/")
    assert missing.status_code == 404
    assert "Page not found" in missing.content.decode()


def test_session_api_follows_the_role(viewer_user):
    api = APIClient()
    api.force_login(viewer_user)
    assert api.get("/api/v1/customers/").status_code == 200
    assert api.get("/api/v1/imports/").status_code == 200
    event = {"product_id": "P1", "kind": "view", "timestamp": "2024-01-01"}
    assert api.post("/api/v1/events/", [event], format="json").status_code == 403
    assert api.post("/api/v1/imports/upload/", {}, format="multipart").status_code == 403


def test_superusers_are_admins(admin_user):
    assert user_role(admin_user) == Role.ADMIN


def test_highest_group_wins(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("two-hats")
    user.groups.add(Group.objects.get(name="viewer"), Group.objects.get(name="editor"))
    assert user_role(user) == Role.EDITOR


def test_inactive_users_have_no_role(viewer_user):
    viewer_user.is_active = False
    assert user_role(viewer_user) is None
