"""Campaigns API: scopes and roles on every endpoint, the shapes of lists, details, preview,
audience export (paginated JSON and streamed CSV), results and runs, and create → change →
launch (202) → cancel through the services, on the core tests' small shop (K01..K20, segments
Alpha = K01..K10, Beta = K06..K15, Excluded = K09..K12, a serving model for K01..K15)."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from rest_framework.test import APIClient

from campaigns.models import (
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientGroup,
)
from campaigns.services.campaigns import campaign_create, campaign_launch
from ecomsite.models import Scope
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path / "shop")


@pytest.fixture
def draft(shop, editor_user) -> Campaign:
    """Alpha but not Excluded: K01..K08 (eight customers), 25% held out."""
    return campaign_create(
        user=editor_user,
        data={
            "name": "Spring candles",
            "subject": "New for spring",
            "include_segments": shop.segment_ids("Alpha"),
            "exclude_segments": shop.segment_ids("Excluded"),
            "control_share": 0.25,
            "content_k": 2,
        },
    )


@pytest.fixture
def launched(draft, editor_user, django_capture_on_commit_callbacks) -> Campaign:
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=draft, user=editor_user)
    draft.refresh_from_db()
    return draft


def _session(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


# -- permissions --------------------------------------------------------------------------------

READ = [
    ("get", "/api/v1/campaigns/"),
    ("get", "/api/v1/campaigns/{pk}/"),
    ("get", "/api/v1/campaigns/{pk}/audience/"),
    ("get", "/api/v1/campaigns/{pk}/audience.csv"),
    ("get", "/api/v1/campaigns/{pk}/results/"),
    ("get", "/api/v1/campaign-runs/"),
]
STAFF = [
    ("post", "/api/v1/campaigns/"),
    ("patch", "/api/v1/campaigns/{pk}/"),
    ("put", "/api/v1/campaigns/{pk}/"),
    ("post", "/api/v1/campaigns/{pk}/launch/"),
    ("post", "/api/v1/campaigns/{pk}/cancel/"),
    ("post", "/api/v1/campaigns/{pk}/schedule/"),
    ("get", "/api/v1/campaigns/{pk}/preview/"),
]


def _call(api: APIClient, method: str, url: str, pk: int):
    return getattr(api, method)(url.format(pk=pk), {}, format="json")


@pytest.mark.parametrize(("method", "url"), READ + STAFF)
def test_anonymous_callers_get_401(draft, method, url):
    response = _call(APIClient(), method, url, draft.pk)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(("method", "url"), READ)
def test_reading_needs_the_campaigns_scope_or_the_viewer_role(
    draft, api_client, viewer_user, plain_user, method, url
):
    others = [Scope.CATALOG_READ, Scope.SEGMENTS_READ, Scope.RECOMMENDATIONS_READ]
    assert _call(api_client(scopes=others), method, url, draft.pk).status_code == 403
    assert _call(_session(plain_user), method, url, draft.pk).status_code == 403
    assert (
        _call(api_client(scopes=[Scope.CAMPAIGNS_READ]), method, url, draft.pk).status_code == 200
    )
    assert _call(_session(viewer_user), method, url, draft.pk).status_code == 200


@pytest.mark.parametrize(("method", "url"), STAFF)
def test_changing_needs_an_editor_never_a_token(draft, api_client, viewer_user, method, url):
    every_scope = api_client(scopes=[s.value for s in Scope])
    response = _call(every_scope, method, url, draft.pk)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only staff with the right role may do this."
    assert _call(_session(viewer_user), method, url, draft.pk).status_code == 403
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT
    assert not CampaignRun.objects.exists()


def test_staff_writes_need_the_csrf_token(draft, editor_user):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(editor_user)
    response = api.post(f"/api/v1/campaigns/{draft.pk}/launch/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# -- reading ------------------------------------------------------------------------------------


def test_list_is_paginated_newest_first_and_filters_by_status(draft, editor_user, api_client):
    second = campaign_create(user=editor_user, data={"name": "Second"})
    api = api_client(scopes=[Scope.CAMPAIGNS_READ])
    body = api.get("/api/v1/campaigns/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [second.pk, draft.pk]
    assert [c["id"] for c in api.get("/api/v1/campaigns/?status=draft").json()["results"]] == [
        second.pk,
        draft.pk,
    ]
    assert api.get("/api/v1/campaigns/?status=running").json()["count"] == 0
    assert api.get("/api/v1/campaigns/?status=nope").status_code == 400


def test_detail_shows_the_whole_configuration(shop, draft, api_client):
    body = api_client(scopes=[Scope.CAMPAIGNS_READ]).get(f"/api/v1/campaigns/{draft.pk}/").json()
    assert body["url"] == f"http://testserver/api/v1/campaigns/{draft.pk}/"
    assert body["name"] == "Spring candles"
    assert body["status"] == "draft"
    assert body["channel"] == "email"
    assert body["created_by"] == "editor"
    assert body["include_segments"] == [
        {"id": shop.segments["Alpha"].pk, "name": "Alpha", "kind": "cluster"}
    ]
    assert body["exclude_segments"] == [
        {"id": shop.segments["Excluded"].pk, "name": "Excluded", "kind": "rule"}
    ]
    assert body["control_share"] == 0.25
    assert body["content_k"] == 2
    assert body["recipients"] == {"treatment": 0, "control": 0}
    assert body["launch_run"] is None
    assert (
        api_client(scopes=[Scope.CAMPAIGNS_READ]).get("/api/v1/campaigns/999/").status_code == 404
    )


def test_results_are_null_before_the_launch(draft, api_client):
    body = api_client(scopes=[Scope.CAMPAIGNS_READ]).get(f"/api/v1/campaigns/{draft.pk}/results/")
    assert body.json() == {"campaign": draft.pk, "status": "draft", "results": None}


# -- the staff operations -----------------------------------------------------------------------


def test_editor_creates_and_changes_a_draft_with_an_audit_trail(shop, editor_user):
    api = _session(editor_user)
    created = api.post(
        "/api/v1/campaigns/",
        {
            "name": "Mugs for France",
            "channel": "email",
            "subject": "Hello",
            "include_segments": shop.segment_ids("Beta"),
            "content_products": ["P2", "P4"],
            "control_share": 0.2,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert created["Location"] == body["url"]
    assert body["status"] == "draft"
    assert body["content_products"] == ["P2", "P4"]
    assert [s["name"] for s in body["include_segments"]] == ["Beta"]

    changed = api.patch(
        f"/api/v1/campaigns/{body['id']}/", {"control_share": 0.1, "content_k": 3}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["control_share"] == 0.1
    assert changed.json()["name"] == "Mugs for France"
    audit = CampaignAuditEntry.objects.filter(campaign_id=body["id"]).order_by("pk")
    assert [e.action for e in audit] == [AuditAction.CREATED, AuditAction.CHANGED]
    assert audit[1].actor_label == "editor"
    assert audit[1].changes == {"control_share": [0.2, 0.1], "content_k": [4, 3]}


def test_the_api_replaces_with_put(draft, editor_user):
    api = _session(editor_user)
    response = api.put(
        f"/api/v1/campaigns/{draft.pk}/", {"name": "Renamed", "content_k": 5}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["content_k"]) == ("Renamed", 5)
    assert api.put(f"/api/v1/campaigns/{draft.pk}/", {"content_k": 5}, format="json").json() == {
        "name": ["This field is required."]
    }


def test_domain_errors_are_400(shop, editor_user):
    api = _session(editor_user)
    unknown = api.post(
        "/api/v1/campaigns/", {"name": "X", "include_segments": [99999]}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json() == {"detail": "Unknown segment(s) in include_segments: 99999."}
    # the serializer checks types and bounds before the service sees anything
    bad = api.post("/api/v1/campaigns/", {"name": "X", "control_share": 0.9}, format="json")
    assert bad.status_code == 400
    assert "control_share" in bad.json()
    assert not Campaign.objects.exists()


def test_preview_shows_the_audience_step_by_step(shop, draft, editor_user):
    response = _session(editor_user).get(f"/api/v1/campaigns/{draft.pk}/preview/?samples=3")
    assert response.status_code == 200
    body = response.json()
    assert body["run"] == shop.run.pk
    sizes = [(s["label"], s["size"], s["removed"]) for s in body["steps"]]
    assert sizes[:2] == [("In Alpha", 10, 0), ("Not in Excluded", 8, 2)]
    assert (body["size"], body["treatment"], body["control"]) == (8, 6, 2)
    assert len(body["samples"]) == 3
    sample = body["samples"][0]
    assert set(sample) == {"customer_id", "country", "products"}
    assert len(sample["products"]) == 2
    assert set(sample["products"][0]) == {
        "product_id",
        "title",
        "category",
        "price",
        "score",
        "reason",
        "source",
    }
    assert body["control_power"]["n_treatment"] == 6
    assert body["control_power"]["n_control"] == 2
    assert {"mde", "power_at_target", "large_enough"} <= set(body["control_power"])
    assert body["profile"] is not None and body["profile"][0]["feature"]
    assert (
        _session(editor_user).get(f"/api/v1/campaigns/{draft.pk}/preview/?samples=0").status_code
        == 400
    )


def test_launch_is_202_with_its_run_and_idempotent(
    shop, draft, editor_user, api_client, django_capture_on_commit_callbacks
):
    api = _session(editor_user)
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(f"/api/v1/campaigns/{draft.pk}/launch/")
    assert first.status_code == 202
    run = first.json()
    assert first["Location"] == run["url"]
    assert run["url"] == f"http://testserver/api/v1/campaign-runs/{run['id']}/"
    assert run["kind"] == "launch" and run["campaign"] == draft.pk
    # eager Celery ran the launch on commit: eight recipients, two held out
    assert CampaignRecipient.objects.filter(campaign=draft).count() == 8
    assert (
        CampaignRecipient.objects.filter(campaign=draft, group=RecipientGroup.CONTROL).count() == 2
    )

    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"/api/v1/campaigns/{draft.pk}/launch/")
    assert again.status_code == 202
    assert again.json()["id"] == run["id"]
    assert CampaignRun.objects.filter(campaign=draft).count() == 1
    assert CampaignRecipient.objects.filter(campaign=draft).count() == 8

    reader = api_client(scopes=[Scope.CAMPAIGNS_READ])
    status = reader.get(run["url"]).json()
    assert status["status"] == "succeeded"
    detail = reader.get(f"/api/v1/campaigns/{draft.pk}/").json()
    assert detail["status"] == "running"
    assert detail["recipients"] == {"treatment": 6, "control": 2}
    assert detail["launch_run"]["id"] == run["id"]


def test_cancel_then_launch_is_409(draft, editor_user):
    api = _session(editor_user)
    cancelled = api.post(f"/api/v1/campaigns/{draft.pk}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    refused = api.post(f"/api/v1/campaigns/{draft.pk}/launch/")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "A cancelled campaign cannot be launched."}
    assert (
        api.patch(f"/api/v1/campaigns/{draft.pk}/", {"name": "Again"}, format="json").status_code
        == 409
    )


def test_schedule_needs_a_future_time(draft, editor_user):
    api = _session(editor_user)
    past = api.post(
        f"/api/v1/campaigns/{draft.pk}/schedule/", {"at": "2001-01-01T10:00:00Z"}, format="json"
    )
    assert past.status_code == 400
    assert past.json() == {"detail": "Choose a launch time in the future."}
    later = api.post(
        f"/api/v1/campaigns/{draft.pk}/schedule/", {"at": "2099-06-01T10:00:00Z"}, format="json"
    )
    assert later.status_code == 200
    assert later.json()["status"] == "scheduled"
    assert later.json()["scheduled_at"] == "2099-06-01T10:00:00Z"


# -- the audience export ------------------------------------------------------------------------


def test_audience_export_is_paginated_json(shop, launched, api_client):
    api = api_client(scopes=[Scope.CAMPAIGNS_READ], name="Ad network")
    first = api.get(f"/api/v1/campaigns/{launched.pk}/audience/?page_size=5").json()
    assert first["count"] == 8
    assert first["next"].endswith("page=2&page_size=5")
    second = api.get(first["next"]).json()
    rows = first["results"] + second["results"]
    assert len(rows) == 8 and second["next"] is None
    stored = CampaignRecipient.objects.filter(campaign=launched).order_by("pk")
    assert [r["external_id"] for r in rows] == [r.customer.external_id for r in stored]
    assert [r["group"] for r in rows] == [r.group for r in stored]
    assert sorted(r["external_id"] for r in rows) == [f"K0{i}" for i in range(1, 9)]
    k01 = next(r for r in rows if r["external_id"] == "K01")
    assert k01["hashed_email"] == hashlib.sha256(b"k01@example.com").hexdigest()
    assert k01["products"] == ["P2", "P3"]  # the serving model's top two for K01
    # Every page read is audited, naming the partner token.
    exports = CampaignAuditEntry.objects.filter(campaign=launched, action=AuditAction.EXPORTED)
    assert sorted(
        (e.actor_label, e.actor_id, e.changes["page"], e.changes["rows"]) for e in exports
    ) == [
        ("partner token Ad network", None, 1, 5),
        ("partner token Ad network", None, 2, 3),
    ]
    assert {e.changes["format"] for e in exports} == {"json"}


def test_audience_export_streams_csv(launched, api_client):
    response = api_client(scopes=[Scope.CAMPAIGNS_READ]).get(
        f"/api/v1/campaigns/{launched.pk}/audience.csv"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == (
        f'attachment; filename="campaign-{launched.pk}-spring-candles-audience.csv"'
    )
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["external_id", "group", "hashed_email", "products"]
    assert len(rows) == 9
    k01 = next(r for r in rows if r[0] == "K01")
    assert k01[3] == "P2 P3"
    export = CampaignAuditEntry.objects.get(campaign=launched, action=AuditAction.EXPORTED)
    assert (export.actor_label, export.changes) == ("partner token partner", {"format": "csv"})


def test_results_after_the_launch(launched, api_client):
    body = (
        api_client(scopes=[Scope.CAMPAIGNS_READ])
        .get(f"/api/v1/campaigns/{launched.pk}/results/")
        .json()
    )
    assert body["status"] == "running"
    results = body["results"]
    assert results["provisional"] is True
    assert results["groups"]["treatment"]["recipients"] == 6
    assert results["groups"]["control"]["recipients"] == 2
    assert set(results["uplift"]) >= {"conversion_rate", "revenue_per_recipient"}


def test_the_schema_documents_the_campaign_endpoints(staff_user):
    schema = _session(staff_user).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/campaigns/"]) == {"get", "post"}
    assert {"get", "put", "patch"} <= set(paths["/api/v1/campaigns/{id}/"])
    for operation in ("launch", "cancel", "schedule"):
        assert "post" in paths[f"/api/v1/campaigns/{{id}}/{operation}/"]
    assert set(paths["/api/v1/campaigns/{id}/launch/"]["post"]["responses"]) == {"202"}
    for reading in ("preview", "audience", "results"):
        assert "get" in paths[f"/api/v1/campaigns/{{id}}/{reading}/"]
    assert (
        "text/csv"
        in paths["/api/v1/campaigns/{id}/audience.csv"]["get"]["responses"]["200"]["content"]
    )
    audience = paths["/api/v1/campaigns/{id}/audience/"]["get"]["parameters"]
    assert {p["name"] for p in audience} >= {"page", "page_size"}
