"""Segment pages on the Online Retail sample after a pipeline run: list, RFM grid, movements,
detail with members and CSV, the rule builder's save and preview; roles and CSRF.

After one run on the sample, four customers are scored (three buyers have RFM scores):
12583 (France, £225 net) is "About to sleep", 17908 (£232.03) "Champions", 17850 (£139.12)
"Hibernating"; 15311 only returned something. Clusters: 12583 and 17850 are "Typical customers"."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.test import Client

from ecomsite.services.imports import import_file
from segments.models import Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.services.pipeline import pipeline_start
from segments.services.rules import rule_segment_create

pytestmark = pytest.mark.django_db

BIG_SPENDERS = {"feature": "monetary", "cmp": ">", "value": 200}
# New purchases after the first run: 12583 buys twice, 15311 buys for the first time.
MORE_EVENTS = (
    "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n"
    "12583,22728,purchase,40,3.75,2011-01-10T10:00:00Z,X1\n"
    "12583,22727,purchase,40,3.75,2011-01-12T10:00:00Z,X2\n"
    "15311,85123A,purchase,12,2.55,2011-01-11T10:00:00Z,X3\n"
)


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def sample(sample_path):
    return import_file(path=sample_path, format="online-retail")


@pytest.fixture
def run(sample) -> SegmentationRun:
    pipeline = pipeline_start(trigger="cli", sync=True)
    assert pipeline.segmentation_run is not None, pipeline.error
    return pipeline.segmentation_run


@pytest.fixture
def second_run(run, tmp_path) -> SegmentationRun:
    extra = tmp_path / "more.csv"
    extra.write_text(MORE_EVENTS)
    import_file(path=extra, format="csv")
    pipeline = pipeline_start(trigger="cli", sync=True, force=True)
    assert pipeline.segmentation_run is not None, pipeline.error
    return pipeline.segmentation_run


@pytest.fixture
def editor_client(client, editor_user):
    client.force_login(editor_user)
    return client


def _segment(name: str) -> Segment:
    return Segment.objects.get(name=name)


def _members(segment: Segment, run: SegmentationRun) -> set[str]:
    return set(
        SegmentMembership.objects.filter(segment=segment, run=run).values_list(
            "customer__external_id", flat=True
        )
    )


def _text(response) -> str:
    return response.content.decode()


# -- list, grid, movements ------------------------------------------------------------------------


def test_list_shows_segments_by_kind_with_sizes_and_trends(viewer_client, run):
    page = _text(viewer_client.get("/segments/"))
    assert f"Segmentation run #{run.pk}, finished" in page
    assert "4 customers scored" in page
    for title in ("RFM segments", "Clusters", "Rule segments"):
        assert f">{title} <" in page
    champions = _segment("Champions")
    # one customer of four: 25.0%, no change without an earlier run, a sparkline of one run
    row = re.search(rf'href="/segments/{champions.pk}/">Champions</a>.*?</tr>', page, re.S)
    assert row is not None
    assert ">1</td>" in row.group(0) and "25.0%" in row.group(0)
    assert 'data-chart="trend-' in row.group(0)
    assert "Customers in Champions over the last 1 run: 1" in row.group(0)
    # Typical customers: two of four
    typical = re.search(r">Typical customers</a>.*?</tr>", page, re.S)
    assert typical is not None and ">2</td>" in typical.group(0) and "50.0%" in typical.group(0)
    assert "No rule segments yet." in page
    assert "New rule segment" not in page  # a viewer builds nothing
    charts = json.loads(re.search(r'id="segment-list-charts"[^>]*>(.*?)</script>', page).group(1))
    assert charts["trends"][str(champions.pk)] == [1]
    assert [r["run"] for r in charts["runs"]] == [run.pk]
    assert "Only one segmentation run so far" in page


def test_list_rfm_grid_cells(viewer_client, run):
    page = _text(viewer_client.get("/segments/"))
    grid = re.search(r'<table class="rfm-grid">.*?</table>', page, re.S).group(0)
    assert grid.count('class="heat') == 25
    # 17908 sits in R5 × FM5 (Champions), 12583 in R3 × FM2, 17850 in R1 × FM2
    cell = re.search(r'<td class="heat heat-dark"[^>]*data-r="5" data-fm="5">.*?</td>', grid, re.S)
    assert cell is not None
    assert 'title="R 5 × FM 5 · Champions · 1 customer · mean net revenue £232.03"' in cell.group(0)
    assert '<span class="cell-count">1</span>' in cell.group(0)
    assert f'href="/segments/{_segment("Champions").pk}/"' in cell.group(0)
    empty = re.search(r'<td class="heat"[^>]*data-r="5" data-fm="1">.*?</td>', grid, re.S)
    assert empty is not None and '<span class="cell-count">0</span>' in empty.group(0)
    assert "New" in empty.group(0)


def test_list_without_a_run_says_to_run_the_pipeline(viewer_client):
    page = _text(viewer_client.get("/segments/"))
    assert "No segmentation has run yet." in page
    assert "python manage.py run_pipeline" in page
    assert "segment-list-charts" not in page


def test_movements_need_two_runs(viewer_client, run):
    page = _text(viewer_client.get("/segments/movements/"))
    assert "Only one segmentation run so far" in page
    assert "chart-moves" not in page


def test_movements_between_two_runs(viewer_client, run, second_run):
    page = _text(viewer_client.get("/segments/movements/"))
    assert f"From run #{run.pk}" in page and f"to run #{second_run.pk}" in page
    charts = json.loads(
        re.search(r'id="segment-movement-charts"[^>]*>(.*?)</script>', page).group(1)
    )
    moves = {(m["from"], m["to"]): m["customers"] for m in charts["moves"]}
    assert moves == {
        ("About to sleep", "At risk"): 1,
        ("Hibernating", "At risk"): 1,
        ("(not a customer yet)", "Potential loyalists"): 1,
    }
    # 2 of the 3 customers scored in the first run changed segment; 15311 was newly scored
    figures = re.findall(r'<div class="value">([^<]+)</div><div class="label">([^<]+)', page)
    assert ("2", "customers changed segment") in figures
    assert ("66.7%", f"of the 3 scored in run #{run.pk}") in figures
    assert ("1", "newly scored") in figures
    assert '<td>Hibernating</td><td>At risk</td><td class="num">1</td>' in page
    # the list page names the largest moves too
    listing = _text(viewer_client.get("/segments/"))
    assert "customer moved About to sleep → At risk" in listing


def test_cluster_movements(viewer_client, run, second_run):
    page = _text(viewer_client.get("/segments/movements/", {"kind": "cluster"}))
    charts = json.loads(
        re.search(r'id="segment-movement-charts"[^>]*>(.*?)</script>', page).group(1)
    )
    assert charts["kind"] == "cluster"
    assert sum(m["customers"] for m in charts["moves"]) == 4  # every cluster was renamed


# -- detail, members, CSV -------------------------------------------------------------------------


def test_detail_page(viewer_client, run):
    champions = _segment("Champions")
    page = _text(viewer_client.get(f"/segments/{champions.pk}/"))
    assert "<h1>Champions" in page
    assert "Bought recently, buy often and spend the most." in page
    assert f"customers in run #{run.pk}" in page and "25.0%" in page
    assert "£232.03" in page  # members' mean net revenue
    charts = json.loads(re.search(r'id="segment-detail-charts"[^>]*>(.*?)</script>', page).group(1))
    assert [h["size"] for h in charts["history"]] == [1]
    monetary = next(f for f in charts["features"] if f["feature"] == "monetary")
    assert monetary["members_mean"] == pytest.approx(232.03)
    assert charts["categories"][0]["name"] == "Candles & lighting"
    for chart in ("history", "profile", "categories", "countries"):
        assert f'data-chart="{chart}"' in page
    # the member table links the customer's page and shows key figures
    assert 'href="/customers/17908/">17908</a>' in page
    assert "£232.03</td>" in page
    assert "/customers/12583/" not in page
    assert f'href="/segments/{champions.pk}/members.csv?run={run.pk}"' in page
    assert "Edit</a>" not in page and "Retire" not in page


def test_detail_of_an_earlier_run(viewer_client, run, second_run):
    sleepy = _segment("About to sleep")
    now = _text(viewer_client.get(f"/segments/{sleepy.pk}/"))
    assert "No customer is in this segment" in now
    earlier = _text(viewer_client.get(f"/segments/{sleepy.pk}/", {"run": run.pk}))
    assert f"You are looking at run #{run.pk}" in earlier
    assert 'href="/customers/12583/">12583</a>' in earlier
    assert viewer_client.get(f"/segments/{sleepy.pk}/", {"run": "x"}).status_code == 404
    assert viewer_client.get(f"/segments/{sleepy.pk}/", {"run": 9999}).status_code == 404


def test_member_csv(viewer_client, run):
    typical = _segment("Typical customers")
    response = viewer_client.get(f"/segments/{typical.pk}/members.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert (
        f"segment-{typical.pk}-typical-customers-run-{run.pk}.csv"
        in (response["Content-Disposition"])
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = rows[0]
    assert header[:5] == ["customer_id", "country", "recency_days", "frequency", "monetary"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {"12583", "17850"}
    assert by_id["12583"]["country"] == "France"
    assert float(by_id["12583"]["monetary"]) == pytest.approx(225.0)
    assert float(by_id["17850"]["monetary"]) == pytest.approx(139.12)


# -- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/segments/",
        "/segments/movements/",
        "/segments/{pk}/",
        "/segments/{pk}/members.csv",
        "/segments/new/",
        "/segments/{pk}/edit/",
    ],
)
def test_anonymous_users_go_to_the_login_page(client, run, url):
    pk = _segment("Champions").pk
    response = client.get(url.format(pk=pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_preview_needs_a_login(client, run):
    response = client.post(
        "/segments/preview.json", {"definition": BIG_SPENDERS}, content_type="application/json"
    )
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_users_without_a_role_are_refused(client, plain_user, run):
    client.force_login(plain_user)
    assert client.get("/segments/").status_code == 403


def test_viewers_may_not_build_or_retire(viewer_client, viewer_user, run):
    rule = rule_segment_create(name="Big spenders", definition=BIG_SPENDERS, created_by=None)
    assert viewer_client.get("/segments/new/").status_code == 403
    assert viewer_client.get(f"/segments/{rule.pk}/edit/").status_code == 403
    posted = {"name": "Mine", "definition": json.dumps(BIG_SPENDERS)}
    assert viewer_client.post("/segments/new/", posted).status_code == 403
    assert viewer_client.post(f"/segments/{rule.pk}/edit/", posted).status_code == 403
    assert viewer_client.post(f"/segments/{rule.pk}/retire/").status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.is_active) == ("Big spenders", True)
    assert not Segment.objects.filter(name="Mine").exists()
    # and the rule segment's page offers them no buttons
    page = _text(viewer_client.get(f"/segments/{rule.pk}/"))
    assert f"/segments/{rule.pk}/edit/" not in page and "Retire" not in page


# -- rule segments ------------------------------------------------------------------------------


def test_editor_creates_a_rule_segment(editor_client, editor_user, run):
    form = _text(editor_client.get("/segments/new/"))
    builder = json.loads(re.search(r'id="segment-builder"[^>]*>(.*?)</script>', form).group(1))
    assert builder["previewUrl"] == "/segments/preview.json"
    assert "Champions" in builder["vocabulary"]["segments"]
    assert builder["vocabulary"]["categories"] == ["Candles & lighting", "Home decor"]
    response = editor_client.post(
        "/segments/new/",
        {"name": " Big  spenders ", "description": "", "definition": json.dumps(BIG_SPENDERS)},
    )
    segment = Segment.objects.get(kind=SegmentKind.RULE)
    assert response.status_code == 302
    assert response["Location"] == f"/segments/{segment.pk}/"
    assert (segment.name, segment.description) == ("Big spenders", "monetary > 200")
    assert segment.created_by == editor_user
    assert _members(segment, run) == {"12583", "17908"}
    page = _text(editor_client.get(response["Location"]))
    assert "Created the rule segment “Big spenders”." in page
    assert '<code class="rule-text">monetary &gt; 200</code>' in page
    assert 'href="/customers/12583/">12583</a>' in page
    assert f'href="/segments/{segment.pk}/edit/"' in page and "Retire" in page
    listing = _text(editor_client.get("/segments/"))
    assert f'href="/segments/{segment.pk}/">Big spenders</a>' in listing


def test_rule_segments_can_be_built_before_any_run(editor_client, sample):
    form = _text(editor_client.get("/segments/new/"))
    builder = json.loads(re.search(r'id="segment-builder"[^>]*>(.*?)</script>', form).group(1))
    assert builder["hasRun"] is False
    assert builder["vocabulary"]["segments"] == []
    response = editor_client.post(
        "/segments/new/", {"name": "Big spenders", "definition": json.dumps(BIG_SPENDERS)}
    )
    assert response.status_code == 302
    assert not SegmentMembership.objects.exists()
    # the first pipeline run evaluates it
    run = pipeline_start(trigger="cli", sync=True).segmentation_run
    assert _members(_segment("Big spenders"), run) == {"12583", "17908"}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (
            json.dumps({"op": "and", "children": [{"feature": "monetry", "cmp": ">", "value": 1}]}),
            "$.children[0]: unknown feature &#x27;monetry&#x27;",
        ),
        (json.dumps({"in_segment": "Nobody"}), "unknown segment &#x27;Nobody&#x27;"),
        (json.dumps({"op": "and", "children": []}), "needs at least one child"),
        ("{not json", "The rule could not be read (not JSON)."),
        ("", "Add at least one condition."),
    ],
)
def test_a_bad_rule_is_a_form_error(editor_client, run, definition, message):
    response = editor_client.post("/segments/new/", {"name": "Bad", "definition": definition})
    assert response.status_code == 200
    page = _text(response)
    errors = re.search(r'<div id="rule-errors"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert message in errors
    assert not Segment.objects.filter(name="Bad").exists()
    # the builder starts again from what was posted, with the error to point at
    builder = json.loads(re.search(r'id="segment-builder"[^>]*>(.*?)</script>', page).group(1))
    assert builder["error"]


def test_a_taken_name_is_an_error_on_the_name(editor_client, run):
    rule_segment_create(name="Big spenders", definition=BIG_SPENDERS, created_by=None)
    response = editor_client.post(
        "/segments/new/", {"name": "Big spenders", "definition": json.dumps(BIG_SPENDERS)}
    )
    assert response.status_code == 200
    assert "A rule segment named &#x27;Big spenders&#x27; already exists." in _text(response)
    assert Segment.objects.filter(name="Big spenders").count() == 1


def test_editor_edits_a_rule_segment(editor_client, run):
    rule = rule_segment_create(name="Big spenders", definition=BIG_SPENDERS, created_by=None)
    form = _text(editor_client.get(f"/segments/{rule.pk}/edit/"))
    assert 'value="Big spenders"' in form
    builder = json.loads(re.search(r'id="segment-builder"[^>]*>(.*?)</script>', form).group(1))
    assert builder["definition"] == BIG_SPENDERS
    assert builder["excludeSegment"] == "Big spenders"
    assert "Big spenders" not in builder["vocabulary"]["segments"]
    # the description was only the rule in words, so the form leaves it empty to follow the rule
    assert re.search(r'<textarea name="description"[^>]*>\s*</textarea>', form)
    changed = {"op": "and", "children": [BIG_SPENDERS, {"in_segment": "Champions"}]}
    response = editor_client.post(
        f"/segments/{rule.pk}/edit/",
        {"name": "Big champions", "definition": json.dumps(changed), "is_active": "on"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Big champions"
    assert rule.description == 'monetary > 200 AND in segment "Champions"'
    assert _members(rule, run) == {"17908"}


def test_pipeline_segments_cannot_be_edited_or_retired(editor_client, run):
    champions = _segment("Champions")
    assert editor_client.get(f"/segments/{champions.pk}/edit/").status_code == 404
    assert editor_client.post(f"/segments/{champions.pk}/retire/").status_code == 404


def test_editor_retires_a_rule_segment(editor_client, run):
    rule = rule_segment_create(name="Big spenders", definition=BIG_SPENDERS, created_by=None)
    assert editor_client.get(f"/segments/{rule.pk}/retire/").status_code == 405
    response = editor_client.post(f"/segments/{rule.pk}/retire/", follow=True)
    rule.refresh_from_db()
    assert rule.is_active is False
    page = _text(response)
    assert "Retired “Big spenders”" in page and ">Retired</span>" in page
    assert f'action="/segments/{rule.pk}/retire/"' not in page  # nothing left to retire
    listing = _text(editor_client.get("/segments/"))
    assert "Retired rule segments (1)" in listing


# -- preview ------------------------------------------------------------------------------------


def _preview(client: Client, body: object, **extra):
    return client.post(
        "/segments/preview.json", json.dumps(body), content_type="application/json", **extra
    )


def test_preview_answers_size_share_and_sample(viewer_client, run):
    response = _preview(viewer_client, {"definition": BIG_SPENDERS})
    assert response.status_code == 200
    assert response.json() == {
        "run": run.pk,
        "size": 2,
        "population": 4,
        "share": 0.5,
        "description": "monetary > 200",
        "sample": [
            {"id": "12583", "country": "France", "url": "/customers/12583/"},
            {"id": "17908", "country": "United Kingdom", "url": "/customers/17908/"},
        ],
    }
    # 17850 and 17908 bought candles in December 2010; the data runs to August 2011
    candles = {"bought_category": "Candles & lighting", "within_days": 365}
    assert _preview(viewer_client, {"definition": candles}).json()["size"] == 2
    candles["within_days"] = 30
    assert _preview(viewer_client, {"definition": candles}).json()["size"] == 0


def test_preview_excludes_the_segment_being_edited(viewer_client, run):
    rule_segment_create(name="Big spenders", definition=BIG_SPENDERS, created_by=None)
    tree = {"in_segment": "Big spenders"}
    assert _preview(viewer_client, {"definition": tree}).json()["size"] == 2
    refused = _preview(viewer_client, {"definition": tree, "exclude_segment": "Big spenders"})
    assert refused.status_code == 400
    assert "unknown segment 'Big spenders'" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "error", "path"),
    [
        (
            {"definition": {"op": "or", "children": [BIG_SPENDERS, {"feature": "x", "cmp": ">"}]}},
            "$.children[1]: unknown feature 'x'",
            "$.children[1]",
        ),
        (
            {"definition": {"op": "not", "child": {"bought_product": "", "within_days": 3}}},
            "$.child: bought_product must be a non-empty string",
            "$.child",
        ),
        ({"definition": []}, "$: a rule node must be an object", "$"),
        ({"rule": BIG_SPENDERS}, 'Send {"definition": a rule tree}.', ""),
    ],
)
def test_preview_of_a_bad_rule_is_a_400_naming_the_node(viewer_client, run, body, error, path):
    response = _preview(viewer_client, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert response.json()["path"] == path


def test_preview_of_a_body_that_is_not_json(viewer_client, run):
    response = viewer_client.post(
        "/segments/preview.json", "{oops", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "The request is not JSON."
    assert viewer_client.get("/segments/preview.json").status_code == 405


def test_preview_before_any_run(viewer_client):
    response = _preview(viewer_client, {"definition": BIG_SPENDERS})
    assert response.status_code == 409
    assert "No segmentation has run yet" in response.json()["error"]


# -- CSRF ---------------------------------------------------------------------------------------


def test_preview_needs_the_csrf_token(viewer_user, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer_user)
    assert _preview(client, {"definition": BIG_SPENDERS}).status_code == 403
    client.get("/segments/")  # any page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = _preview(client, {"definition": BIG_SPENDERS}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["size"] == 2


def test_saving_needs_the_csrf_token(editor_user, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor_user)
    posted = {"name": "Big spenders", "definition": json.dumps(BIG_SPENDERS)}
    assert client.post("/segments/new/", posted).status_code == 403
    assert not Segment.objects.filter(kind=SegmentKind.RULE).exists()
    form = _text(client.get("/segments/new/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = client.post("/segments/new/", {**posted, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    rule = Segment.objects.get(kind=SegmentKind.RULE)
    assert client.post(f"/segments/{rule.pk}/retire/").status_code == 403
    rule.refresh_from_db()
    assert rule.is_active is True
