"""Every endpoint: anonymous 401, wrong scope 403, right scope allowed; staff-only stays so."""

import pytest
from rest_framework.test import APIClient

from tests.factories import CustomerFactory, ImportBatchFactory, ProductFactory

pytestmark = pytest.mark.django_db

SCOPED = [
    ("get", "/api/v1/events/", "events:read"),
    ("post", "/api/v1/events/", "events:write"),
    ("get", "/api/v1/customers/", "catalog:read"),
    ("get", "/api/v1/customers/C1/", "catalog:read"),
    ("get", "/api/v1/products/", "catalog:read"),
    ("get", "/api/v1/products/SKU-1/", "catalog:read"),
]
STAFF_ONLY = [
    ("get", "/api/v1/imports/"),
    ("get", "/api/v1/imports/{batch}/"),
    ("get", "/api/v1/imports/{batch}/rejections/"),
    ("post", "/api/v1/imports/upload/"),
]
AUTHENTICATED = [("get", "/api/v1/schema/"), ("get", "/api/v1/docs/")]


@pytest.fixture
def objects():
    CustomerFactory(external_id="C1")
    ProductFactory(external_id="SKU-1")
    return {"batch": ImportBatchFactory().pk}


def _call(client: APIClient, method: str, url: str):
    if method == "post":
        return client.post(
            url,
            {"events": [{"product_id": "x", "kind": "view", "timestamp": "2024-01-01"}]},
            format="json",
        )
    return client.get(url)


@pytest.mark.parametrize(
    ("method", "url"), [(m, u) for m, u, _ in SCOPED] + STAFF_ONLY + AUTHENTICATED
)
def test_anonymous_callers_get_401(objects, method, url):
    response = _call(APIClient(), method, url.format(**objects))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("method", "url", "scope"), SCOPED)
def test_tokens_need_the_scope(api_client, objects, method, url, scope):
    others = [
        s for s in ("events:write", "events:read", "catalog:read", "segments:read") if s != scope
    ]
    assert _call(api_client(scopes=others), method, url).status_code == 403
    assert _call(api_client(scopes=[scope]), method, url).status_code in (200, 201)


@pytest.mark.parametrize(("method", "url"), STAFF_ONLY)
def test_staff_only_endpoints_refuse_every_token(api_client, objects, method, url):
    every_scope = [
        "events:write",
        "events:read",
        "catalog:read",
        "segments:read",
        "recommendations:read",
        "campaigns:read",
    ]
    assert _call(api_client(scopes=every_scope), method, url.format(**objects)).status_code == 403


@pytest.mark.parametrize(("method", "url"), [(m, u) for m, u, _ in SCOPED] + STAFF_ONLY)
def test_signed_in_non_staff_get_403(plain_user, objects, method, url):
    api = APIClient()
    api.force_login(plain_user)
    assert _call(api, method, url.format(**objects)).status_code == 403


@pytest.mark.parametrize(
    ("method", "url"), [(m, u) for m, u, _ in SCOPED] + STAFF_ONLY[:3] + AUTHENTICATED
)
def test_staff_sessions_may_use_the_api(staff_api_client, objects, method, url):
    assert _call(staff_api_client, method, url.format(**objects)).status_code == 200


def test_bad_tokens_get_401(api_client):
    for header in ("Bearer nope", "Bearer", "Bearer a b"):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=header)
        assert api.get("/api/v1/customers/").status_code == 401


def test_revoked_and_expired_tokens_get_401(db):
    import datetime as dt

    from django.utils import timezone

    from ecomsite.services.tokens import partner_token_create, partner_token_revoke

    revoked, raw_revoked = partner_token_create(name="old", scopes=["catalog:read"])
    partner_token_revoke(token=revoked)
    _, raw_expired = partner_token_create(
        name="late", scopes=["catalog:read"], expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    for raw in (raw_revoked, raw_expired):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert api.get("/api/v1/customers/").status_code == 401


def test_lists_are_paginated(api_client):
    for n in range(3):
        CustomerFactory(external_id=f"C{n}")
    body = api_client(scopes=["catalog:read"]).get("/api/v1/customers/?page_size=2").json()
    assert body["count"] == 3
    assert [c["external_id"] for c in body["results"]] == ["C0", "C1", "C2"]
    assert body["next"] is None


def test_schema_documents_the_bearer_scheme(staff_api_client):
    response = staff_api_client.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["partnerToken"]["scheme"] == "bearer"
    assert "/api/v1/events/" in schema["paths"]


def test_throttling_limits_a_token(api_client, settings):
    from rest_framework.settings import api_settings

    from ecomsite.api.throttling import CallerRateThrottle

    CallerRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "caller": "3/min"}
    try:
        from django.core.cache import cache

        cache.clear()
        client = api_client(scopes=["catalog:read"])
        codes = [client.get("/api/v1/customers/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    finally:
        CallerRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
