"""Segments, data-quality and pipeline API: scopes, roles, and figures that add up."""

import pytest
from rest_framework.test import APIClient

from ecomsite.engine.synthetic import SyntheticParams
from ecomsite.models import RunStatus, Scope
from ecomsite.services.synthetic import synthetic_events_store
from segments import selectors
from segments.models import (
    PipelineRun,
    PipelineTrigger,
    Segment,
    SegmentKind,
    SegmentMembership,
)
from segments.services.pipeline import pipeline_start

pytestmark = pytest.mark.django_db

RULE = {
    "op": "and",
    "children": [
        {"feature": "frequency", "cmp": ">=", "value": 2},
        {"op": "not", "child": {"in_segment": "Lost"}},
    ],
}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


def _generate(seed: int, start: str, days: int) -> None:
    params = SyntheticParams(
        customers=250, products=60, events=6_000, seed=seed, start=start, days=days
    )
    synthetic_events_store(params=params)


@pytest.fixture
def one_run():
    _generate(seed=1, start="2024-01-01", days=120)
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run.segmentation_run


@pytest.fixture
def two_runs(one_run):
    _generate(seed=2, start="2024-05-01", days=60)
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return one_run, run.segmentation_run


@pytest.fixture
def editor_api(editor_user):
    api = APIClient()
    api.force_login(editor_user)
    return api


@pytest.fixture
def viewer_api(viewer_user):
    api = APIClient()
    api.force_login(viewer_user)
    return api


def test_reading_segments_needs_the_segments_scope(api_client, one_run):
    assert APIClient().get("/api/v1/segments/").status_code == 401
    assert api_client([Scope.CATALOG_READ]).get("/api/v1/segments/").status_code == 403
    response = api_client([Scope.SEGMENTS_READ]).get("/api/v1/segments/")
    assert response.status_code == 200
    body = response.json()
    assert body["run"] == one_run.pk
    by_kind = {
        kind: [s for s in body["results"] if s["kind"] == kind] for kind in ("rfm", "cluster")
    }
    assert by_kind["rfm"] and by_kind["cluster"]
    scored = sum(s["size"] for s in by_kind["rfm"])
    assert (
        scored
        == SegmentMembership.objects.filter(run=one_run, segment__kind=SegmentKind.RFM).count()
    )
    # every customer with features is in exactly one cluster
    assert sum(s["size"] for s in by_kind["cluster"]) == one_run.metrics["customers"]
    assert all(s["trend"] == [s["size"]] and s["change"] is None for s in body["results"])


def test_kind_filter_and_bad_kind(api_client, one_run):
    api = api_client([Scope.SEGMENTS_READ])
    kinds = {s["kind"] for s in api.get("/api/v1/segments/?kind=rfm").json()["results"]}
    assert kinds == {"rfm"}
    assert api.get("/api/v1/segments/?kind=nope").status_code == 400


def test_segments_before_any_run_are_a_clear_404(api_client):
    response = api_client([Scope.SEGMENTS_READ]).get("/api/v1/segments/")
    assert response.status_code == 404
    assert "start the pipeline" in response.json()["detail"]


def test_detail_members_and_profile(api_client, one_run):
    api = api_client([Scope.SEGMENTS_READ])
    champions = Segment.objects.get(kind=SegmentKind.RFM, name="Champions")
    detail = api.get(f"/api/v1/segments/{champions.pk}/").json()
    size = SegmentMembership.objects.filter(run=one_run, segment=champions).count()
    assert detail["size"] == size > 0
    assert detail["history"] == [
        {"run": one_run.pk, "finished_at": detail["history"][0]["finished_at"], "size": size}
    ]

    first = api.get(f"/api/v1/segments/{champions.pk}/members/?page_size=5").json()
    assert first["count"] == size
    assert len(first["results"]) == min(5, size)
    member = first["results"][0]
    assert member["customer_id"].startswith("C")
    assert member["features"]["frequency"] >= 1

    profile = api.get(f"/api/v1/segments/{champions.pk}/profile/").json()
    assert profile["size"] == size
    frequency = next(f for f in profile["features"] if f["feature"] == "frequency")
    # Champions buy more often than the average customer
    assert frequency["members_mean"] > frequency["population_mean"]
    assert frequency["ratio"] > 1
    countries = profile["countries"]
    assert countries and sum(c["members"] for c in countries) <= 1 + 1e-9
    assert countries[0]["name"] == "United Kingdom"  # the generator's most common country
    cluster = Segment.objects.filter(kind=SegmentKind.CLUSTER).first()
    mix = api.get(f"/api/v1/segments/{cluster.pk}/profile/").json()["rfm_mix"]
    assert mix and all(0 <= row["members"] <= 1 for row in mix)
    assert api.get("/api/v1/segments/999999/").status_code == 404


def test_rfm_grid_cells_add_up(api_client, one_run):
    grid = api_client([Scope.SEGMENTS_READ]).get("/api/v1/segments/rfm-grid/").json()
    assert len(grid["cells"]) == 25
    assert sum(cell["customers"] for cell in grid["cells"]) == grid["scored"]
    assert sum(cell["customers"] for cell in grid["r_by_f"]) == grid["scored"]
    champions = [c for c in grid["cells"] if c["segment"] == "Champions"]
    assert {(c["r"], c["fm"]) for c in champions} == {(4, 4), (4, 5), (5, 4), (5, 5)}
    stored = SegmentMembership.objects.filter(run=one_run, segment__name="Champions").count()
    assert sum(c["customers"] for c in champions) == stored


def test_movements_between_the_last_two_runs(api_client, two_runs):
    first, second = two_runs
    api = api_client([Scope.SEGMENTS_READ])
    body = api.get("/api/v1/segments/movements/").json()
    assert (body["from_run"], body["to_run"]) == (first.pk, second.pk)

    def rfm_members(run):
        return dict(
            SegmentMembership.objects.filter(run=run, segment__kind=SegmentKind.RFM).values_list(
                "customer_id", "segment__name"
            )
        )

    before, after = rfm_members(first), rfm_members(second)
    expected: dict[tuple[str, str], int] = {}
    for customer in before.keys() | after.keys():
        key = (
            before.get(customer, selectors.OUTSIDE),
            after.get(customer, selectors.GONE),
        )
        expected[key] = expected.get(key, 0) + 1
    assert {(f["from"], f["to"]): f["customers"] for f in body["flows"]} == expected
    assert any(f["from"] != f["to"] for f in body["flows"])

    clusters = api.get(
        f"/api/v1/segments/movements/?kind=cluster&from_run={first.pk}&to_run={second.pk}"
    )
    assert clusters.status_code == 200
    assert api.get("/api/v1/segments/movements/?kind=rule").status_code == 400


def test_movements_need_two_runs(api_client, one_run):
    response = api_client([Scope.SEGMENTS_READ]).get("/api/v1/segments/movements/")
    assert response.status_code == 404


def test_rule_preview_counts_and_errors(api_client, one_run):
    api = api_client([Scope.SEGMENTS_READ])
    response = api.post("/api/v1/segments/preview/", {"definition": RULE}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    expected = selectors.rule_members(RULE, one_run)
    assert body["size"] == len(expected) > 0
    assert body["description"] == 'frequency >= 2 AND NOT in segment "Lost"'
    assert len(body["sample"]) == min(10, len(expected))

    bad = {"op": "and", "children": [{"feature": "frequncy", "cmp": ">", "value": 1}]}
    response = api.post("/api/v1/segments/preview/", {"definition": bad}, format="json")
    assert response.status_code == 400
    assert "$.children[0]" in response.json()["definition"][0]


def test_editors_create_update_and_retire_rule_segments(editor_api, one_run):
    response = editor_api.post(
        "/api/v1/segments/", {"name": "Repeat buyers", "definition": RULE}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    segment = Segment.objects.get(pk=body["id"])
    assert segment.kind == SegmentKind.RULE
    assert body["size"] == len(selectors.rule_members(RULE, one_run)) > 0
    assert SegmentMembership.objects.filter(run=one_run, segment=segment).count() == body["size"]
    assert body["description"] == 'frequency >= 2 AND NOT in segment "Lost"'

    again = editor_api.post(
        "/api/v1/segments/", {"name": "Repeat buyers", "definition": RULE}, format="json"
    )
    assert again.status_code == 409

    stricter = {"feature": "frequency", "cmp": ">=", "value": 4}
    response = editor_api.put(
        f"/api/v1/segments/{segment.pk}/",
        {"name": "Frequent buyers", "definition": stricter},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["size"] < body["size"]
    assert (
        SegmentMembership.objects.filter(run=one_run, segment=segment).count()
        == (response.json()["size"])
    )

    assert editor_api.delete(f"/api/v1/segments/{segment.pk}/").status_code == 204
    segment.refresh_from_db()
    assert not segment.is_active
    names = {s["name"] for s in editor_api.get("/api/v1/segments/").json()["results"]}
    assert "Frequent buyers" not in names


def test_bad_rules_and_pipeline_segments_are_refused(editor_api, one_run):
    unknown = {"in_segment": "No such segment"}
    response = editor_api.post(
        "/api/v1/segments/", {"name": "Broken", "definition": unknown}, format="json"
    )
    assert response.status_code == 400
    assert "No such segment" in response.json()["detail"]
    assert not Segment.objects.filter(name="Broken").exists()

    champions = Segment.objects.get(kind=SegmentKind.RFM, name="Champions")
    response = editor_api.put(
        f"/api/v1/segments/{champions.pk}/",
        {"name": "Champions", "definition": RULE},
        format="json",
    )
    assert response.status_code == 400
    assert editor_api.delete(f"/api/v1/segments/{champions.pk}/").status_code == 400


def test_partners_and_viewers_cannot_change_segments(api_client, viewer_api, one_run):
    partner = api_client([Scope.SEGMENTS_READ, Scope.EVENTS_WRITE])
    payload = {"name": "Sneaky", "definition": RULE}
    assert partner.post("/api/v1/segments/", payload, format="json").status_code == 403
    assert viewer_api.post("/api/v1/segments/", payload, format="json").status_code == 403
    assert viewer_api.get("/api/v1/segments/").status_code == 200
    assert not Segment.objects.filter(name="Sneaky").exists()


def test_quality_reports_need_events_read(api_client, one_run):
    assert api_client([Scope.SEGMENTS_READ]).get("/api/v1/quality-reports/").status_code == 403
    body = api_client([Scope.EVENTS_READ]).get("/api/v1/quality-reports/").json()
    assert body["count"] == 1
    report = body["results"][0]["report"]
    assert report["before"]["rows"] == 6_000
    assert {rule["name"] for rule in report["rules"]} >= {"duplicate", "anonymous", "outlier"}


def test_pipeline_runs_start_and_status(
    api_client, editor_api, one_run, django_capture_on_commit_callbacks
):
    partner = api_client([Scope.SEGMENTS_READ])
    assert partner.post("/api/v1/pipeline-runs/", {}, format="json").status_code == 403

    # no new events: recorded as skipped
    response = editor_api.post("/api/v1/pipeline-runs/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["skipped"] is True

    with django_capture_on_commit_callbacks(execute=True):
        response = editor_api.post("/api/v1/pipeline-runs/", {"force": True}, format="json")
    assert response.status_code == 202, response.content
    assert response["Location"].endswith(f"/api/v1/pipeline-runs/{response.json()['id']}/")
    status = partner.get(response["Location"]).json()  # Celery is eager in tests
    assert status["status"] == "succeeded"
    assert [step["status"] for step in status["steps"]] == ["succeeded"] * 5
    assert partner.get("/api/v1/pipeline-runs/").json()["count"] == 3


def test_a_second_start_while_one_runs_is_a_conflict(editor_api, one_run):
    PipelineRun.objects.create(trigger=PipelineTrigger.UI, status=RunStatus.RUNNING)
    response = editor_api.post("/api/v1/pipeline-runs/", {"force": True}, format="json")
    assert response.status_code == 409
    assert "still running" in response.json()["detail"]
