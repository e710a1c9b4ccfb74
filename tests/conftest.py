"""Shared fixtures: users and clients per role, partner tokens with scopes, the sample files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from ecomsite.celery import app as celery_app

DATA_DIR = Path(__file__).parent / "data"
ONLINE_RETAIL_SAMPLE = DATA_DIR / "online_retail_sample.csv"


@pytest.fixture(autouse=True)
def _celery_inline(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run inline unless a test is marked `redis` (then a real worker takes them)."""
    if request.node.get_closest_marker("redis"):
        yield
        return
    # The app reads Django settings through the CELERY_ namespace, so the prefixed key is the one
    # that counts (setting `task_always_eager` itself is shadowed by it).
    previous = celery_app.conf.task_always_eager
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Cached figures are keyed by the newest event id, which SQLite reuses after a rollback."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sample_path() -> Path:
    return ONLINE_RETAIL_SAMPLE


def _user_with_role(username: str, role_name: str | None):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from ecomsite.roles import Role
    from ecomsite.services.users import user_create

    if role_name is None:
        return get_user_model().objects.create_user(username, password=f"pw-{username}-123")
    return user_create(username=username, password=f"pw-{username}-123", role=Role[role_name])


@pytest.fixture
def staff_user(db):  # type: ignore[no-untyped-def]
    """An admin: may import, manage users, and use every API scope with a session."""
    return _user_with_role("staff", "ADMIN")


@pytest.fixture
def editor_user(db):  # type: ignore[no-untyped-def]
    return _user_with_role("editor", "EDITOR")


@pytest.fixture
def viewer_user(db):  # type: ignore[no-untyped-def]
    return _user_with_role("viewer", "VIEWER")


@pytest.fixture
def plain_user(db):  # type: ignore[no-untyped-def]
    """Signed in but in no role group: no access to anything."""
    return _user_with_role("plain", None)


@pytest.fixture
def viewer_client(client, viewer_user):  # type: ignore[no-untyped-def]
    client.force_login(viewer_user)
    return client


@pytest.fixture
def staff_client(client, staff_user):  # type: ignore[no-untyped-def]
    client.force_login(staff_user)
    return client


@pytest.fixture
def staff_api_client(staff_user) -> APIClient:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_login(staff_user)
    return api


@pytest.fixture
def api_client(db) -> Callable[..., APIClient]:  # type: ignore[no-untyped-def]
    """api_client(scopes=[...]) → an APIClient sending a new partner token with those scopes."""
    from ecomsite.services.tokens import partner_token_create

    def make(scopes: list[str] | tuple[str, ...] = (), name: str = "partner") -> APIClient:
        _, raw = partner_token_create(name=name, scopes=list(scopes))
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return api

    return make
