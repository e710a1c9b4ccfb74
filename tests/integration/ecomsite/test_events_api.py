"""POST /api/v1/events/: per-item answers, harmless resends, clear 400s."""

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from ecomsite.models import Event, ImportBatch, ImportSource

pytestmark = pytest.mark.django_db
URL = "/api/v1/events/"


def _event(n: int, **extra: object) -> dict[str, object]:
    return {
        "customer_id": f"c{n % 3}",
        "product_id": f"p{n % 5}",
        "kind": "purchase",
        "quantity": 1,
        "unit_price": "9.99",
        "timestamp": f"2024-06-01T10:{n % 60:02d}:00Z",
        "order_id": f"o{n}",
        "idempotency_key": f"evt-{n}",
        **extra,
    }


@pytest.fixture
def writer(api_client) -> APIClient:
    return api_client(scopes=["events:write"])


def test_batch_is_answered_per_item(writer):
    # given two good events, one repeated inside the batch, and two bad ones
    events = [_event(1), _event(2), _event(1), {"product_id": "p1", "kind": "buy"}, "oops"]
    # when
    response = writer.post(URL, {"events": events}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 2)
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "accepted"),
        (1, "accepted"),
        (2, "duplicate"),
        (3, "rejected"),
        (4, "rejected"),
    ]
    assert body["results"][3]["reason"] == "unknown_kind"
    assert (
        body["results"][3]["message"]
        == "unknown kind 'buy' (expected view, cart, purchase or return)"
    )
    assert body["results"][4] == {
        "index": 4,
        "status": "rejected",
        "idempotency_key": "",
        "reason": "malformed_json",
        "message": "not a JSON object",
    }
    assert Event.objects.count() == 2
    batch = ImportBatch.objects.get(pk=body["import_batch"])
    assert batch.source == ImportSource.API
    assert batch.partner_token.name == "partner"
    assert (
        batch.rows_received,
        batch.rows_accepted,
        batch.rows_duplicate,
        batch.rows_rejected,
    ) == (5, 2, 1, 2)


def test_resending_a_batch_is_harmless(writer):
    events = [_event(n) for n in range(10)]
    first = writer.post(URL, events, format="json")  # a bare array is accepted too
    again = writer.post(URL, {"events": events}, format="json")
    assert first.json()["accepted"] == 10
    assert (again.json()["accepted"], again.json()["duplicate"]) == (0, 10)
    assert Event.objects.count() == 10


def test_events_without_keys_are_deduplicated_by_content(writer):
    event = _event(1)
    del event["idempotency_key"]
    writer.post(URL, [event], format="json")
    again = writer.post(URL, [event], format="json").json()
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["idempotency_key"].startswith("gen-")


@override_settings(EVENTS_API_MAX_BATCH=1000)
def test_too_large_a_batch_is_refused(writer):
    response = writer.post(URL, {"events": [_event(n) for n in range(1001)]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"events": ["Ensure this field has no more than 1000 elements."]}
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("{not json", "application/json", "JSON parse error"),
        ('{"rows": []}', "application/json", "Send a JSON object"),
        ('"text"', "application/json", "Send a JSON object"),
        ('{"events": []}', "application/json", "This list may not be empty."),
        ('{"events": {"a": 1}}', "application/json", "Expected a list of items but got type"),
        ("a,b", "text/csv", 'Unsupported media type "text/csv" in request.'),
    ],
)
def test_malformed_bodies_get_a_clear_400(writer, body, content_type, expected):
    response = writer.post(URL, data=body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert expected in json.dumps(response.json(), ensure_ascii=False).replace('\\"', '"')


def test_list_needs_events_read(api_client):
    assert api_client(scopes=["events:write"]).get(URL).status_code == 403
    reader = api_client(scopes=["events:read"])
    response = reader.get(URL)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_staff_session_posts_need_csrf(staff_user):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(staff_user)
    response = api.post(URL, [_event(1)], format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
