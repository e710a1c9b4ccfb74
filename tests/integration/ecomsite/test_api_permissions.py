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


@pytest.fixture
def throttle_rate():
    """throttle_rate("3/min", clock): CallerRateThrottle with that rate and a fake clock
    (a one-item list of seconds since the epoch), over an empty cache; restored afterwards."""
    from django.core.cache import cache
    from rest_framework.settings import api_settings

    from ecomsite.api.throttling import CallerRateThrottle

    def apply(rate: str, clock: list[float]) -> None:
        CallerRateThrottle.THROTTLE_RATES = {
            **api_settings.DEFAULT_THROTTLE_RATES,
            "caller": rate,
        }
        CallerRateThrottle.timer = staticmethod(lambda: clock[0])  # type: ignore[method-assign]
        cache.clear()

    yield apply
    CallerRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    del CallerRateThrottle.timer  # back to SimpleRateThrottle.timer (time.time)
    cache.clear()


def test_throttling_limits_a_token(api_client, throttle_rate):
    clock = [1_800_000_000.0 + 1.0]  # one second into a minute window
    throttle_rate("3/min", clock)
    client = api_client(scopes=["catalog:read"])
    responses = [client.get("/api/v1/customers/") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    # Three requests this window: the next is allowed once the window has passed.
    assert responses[-1]["Retry-After"] == "59"
    other = api_client(scopes=["catalog:read"])  # a budget per token
    assert other.get("/api/v1/customers/").status_code == 200


def test_throttling_counts_over_a_sliding_minute(api_client, throttle_rate):
    window = 1_800_000_000.0  # a multiple of 60: a minute window starts here
    clock = [window + 30.0]
    throttle_rate("10/min", clock)
    client = api_client(scopes=["catalog:read"])
    codes = [client.get("/api/v1/customers/").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    # Halfway through the next window, half of the last one still counts: 10 · 0.5 = 5 of 10.
    clock[0] = window + 90.0
    codes = [client.get("/api/v1/customers/").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # Two windows later nothing of the first counts any more.
    clock[0] = window + 180.0
    codes = [client.get("/api/v1/customers/").status_code for _ in range(10)]
    assert codes == [200] * 10


def test_throttle_state_is_two_counters_whatever_the_rate(api_client, throttle_rate):
    # DRF's own throttle keeps a timestamp per request of the last period in one entry.
    from django.core.cache import cache

    from ecomsite.models import PartnerToken

    window = 1_800_000_000.0
    clock = [window + 5.0]
    throttle_rate("100000/min", clock)
    client = api_client(scopes=["catalog:read"])
    for _ in range(25):
        assert client.get("/api/v1/customers/").status_code == 200
    token = PartnerToken.objects.get()
    key = f"throttle_caller_token-{token.pk}:{int(window // 60)}"
    assert cache.get(key) == 25
    assert cache.get(f"throttle_caller_token-{token.pk}") is None


def test_token_use_is_recorded_once_a_minute(db, django_assert_num_queries):
    from datetime import timedelta

    from django.core.cache import cache

    from ecomsite.models import PartnerToken
    from ecomsite.services.tokens import partner_token_authenticate, partner_token_create

    cache.clear()
    token, raw = partner_token_create(name="shop front", scopes=["catalog:read"])
    assert token.last_used_at is None
    with django_assert_num_queries(2):  # read + the first use's UPDATE
        assert partner_token_authenticate(raw=raw) == token
    first = PartnerToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # within the minute: read only
        partner_token_authenticate(raw=raw)
    # A minute later another web process may already have written it (the cache key says so):
    # a stale row is then left alone rather than written twice.
    PartnerToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    with django_assert_num_queries(1):
        partner_token_authenticate(raw=raw)
    cache.clear()  # the key expired: this process writes
    with django_assert_num_queries(2):
        partner_token_authenticate(raw=raw)
    assert PartnerToken.objects.get(pk=token.pk).last_used_at > first
