"""Segments in a real browser on the Online Retail sample after a pipeline run: the list with its
sparklines and RFM grid, a segment's page with charts, members and the CSV, the movements
between two runs, and an editor building a rule segment with a live size preview.

The sample scores four customers: 17908 (£232.03, Candles & lighting) is "Champions", 12583
(France, £225, Home decor) "About to sleep", 17850 (£139.12, Candles & lighting) "Hibernating";
12583 and 17850 form the "Typical customers" cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ecomsite.roles import Role
from ecomsite.services.imports import import_file
from ecomsite.services.users import user_create
from segments.models import Segment, SegmentationRun, SegmentKind, SegmentMembership
from segments.services.pipeline import pipeline_start

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

MORE_EVENTS = (
    "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n"
    "12583,22728,purchase,40,3.75,2011-01-10T10:00:00Z,X1\n"
    "12583,22727,purchase,40,3.75,2011-01-12T10:00:00Z,X2\n"
    "15311,85123A,purchase,12,2.55,2011-01-11T10:00:00Z,X3\n"
)


@dataclass(frozen=True)
class Editor:
    username: str
    password: str


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def segmented(transactional_db, sample_path) -> SegmentationRun:
    import_file(path=sample_path, format="online-retail")
    run = pipeline_start(trigger="cli", sync=True).segmentation_run
    assert run is not None
    return run


@pytest.fixture
def shop_editor(transactional_db) -> Editor:
    editor = Editor(username="erin-editor", password="pw-erin-editor-browser-1")
    user_create(username=editor.username, password=editor.password, role=Role.EDITOR)
    return editor


def test_viewer_reads_the_segment_list_and_rfm_grid(
    page, log_in, charts_drawn, shop_viewer, segmented
):
    log_in(page, shop_viewer)
    page.goto("/segments/")
    expect(page.locator("h1")).to_have_text("Segments")
    expect(page.locator(".run-info")).to_contain_text(f"Segmentation run #{segmented.pk}")
    expect(page.locator(".run-info")).to_contain_text("4 customers scored")
    # a drawn sparkline for every segment of the run
    drawn = charts_drawn(page)
    segments = Segment.objects.filter(is_active=True)
    assert sorted(c["chart"] for c in drawn) == sorted(f"trend-{s.pk}" for s in segments)
    table = page.locator("table.segment-table")
    champions = table.locator("tr", has=page.get_by_role("link", name="Champions", exact=True))
    expect(champions.locator("td").nth(1)).to_have_text("1")
    expect(champions).to_contain_text("25.0%")
    typical = table.locator("tr", has=page.get_by_role("link", name="Typical customers"))
    expect(typical.locator("td").nth(1)).to_have_text("2")
    expect(typical).to_contain_text("50.0%")
    # the grid: 17908 alone in R 5 × FM 5, a dark Champions cell with its mean revenue
    cell = page.locator('td[data-r="5"][data-fm="5"]')
    expect(cell.locator(".cell-count")).to_have_text("1")
    expect(cell.locator(".cell-segment")).to_have_text("Champions")
    expect(cell).to_have_attribute("title", re.compile(r"mean net revenue £232\.03$"))
    expect(cell).to_have_class(re.compile("heat-dark"))
    expect(page.locator('td[data-r="1"][data-fm="1"] .cell-count')).to_have_text("0")
    # one run only: movements say so; a viewer gets no builder
    expect(page.get_by_text("Only one segmentation run so far")).to_be_visible()
    expect(page.get_by_role("link", name="New rule segment")).to_have_count(0)
    assert page.js_errors == []


def test_viewer_opens_a_segment_with_charts_members_and_export(
    page, log_in, charts_drawn, shop_viewer, segmented
):
    log_in(page, shop_viewer)
    page.goto("/segments/")
    page.locator("table.segment-table").get_by_role("link", name="Typical customers").click()
    expect(page.locator("h1")).to_contain_text("Typical customers")
    expect(page.locator(".figures")).to_contain_text(f"customers in run #{segmented.pk}")
    drawn = {c["chart"] for c in charts_drawn(page)}
    assert drawn == {"history", "profile", "categories", "countries", "rfm_mix"}
    # the profile compares members with everyone: 12583 and 17850 spent less than 17908
    expect(page.locator(".profile-table tr", has_text="Net revenue")).to_contain_text("£182.06")
    members = page.locator("table.member-table tbody tr")
    expect(members).to_have_count(2)
    expect(members.nth(0)).to_contain_text("12583")
    expect(members.nth(0)).to_contain_text("France")
    expect(members.nth(0)).to_contain_text("£225.00")
    expect(members.nth(1)).to_contain_text("17850")
    export = page.get_by_role("link", name="Export all 2 as CSV")
    href = export.get_attribute("href")
    assert href is not None and "/members.csv" in href
    csv_text = page.request.get(href).text()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("customer_id,country,recency_days,frequency,monetary")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["12583", "France"],
        ["17850", "United Kingdom"],
    ]
    # a member's id leads to their customer page
    members.nth(0).get_by_role("link", name="12583").click()
    expect(page.locator("h1")).to_contain_text("Customer 12583")
    assert page.js_errors == []


def test_viewer_sees_movements_between_two_runs(
    page, log_in, charts_drawn, shop_viewer, segmented, tmp_path
):
    extra = tmp_path / "more.csv"
    extra.write_text(MORE_EVENTS)
    import_file(path=extra, format="csv")
    second = pipeline_start(trigger="cli", sync=True, force=True).segmentation_run
    assert second is not None
    log_in(page, shop_viewer)
    page.goto("/segments/")
    expect(page.locator("ul.moves")).to_contain_text("1 customer moved About to sleep → At risk")
    page.get_by_role("link", name="All movements between RFM segments and clusters").click()
    expect(page.locator("h1")).to_have_text("Movements between segments")
    assert {c["chart"] for c in charts_drawn(page)} == {"moves"}
    changed = page.locator(".figure", has_text="customers changed segment")
    expect(changed.locator(".value")).to_have_text("2")
    labels = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-moves')).data.labels"
    )
    assert sorted(labels) == [
        "(not a customer yet) → Potential loyalists",
        "About to sleep → At risk",
        "Hibernating → At risk",
    ]
    rows = page.locator("table.moves-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="Hibernating")).to_contain_text("At risk")
    # the matrix: Hibernating (run 1) → At risk (run 2)
    matrix = page.locator("table.move-matrix")
    expect(matrix.locator('td[title="Hibernating → At risk: 1"]')).to_have_text("1")
    expect(matrix.locator('td[title="Champions → Champions: 1"]')).to_have_class(
        re.compile(r"\bstay\b")
    )
    # clusters are one click away
    page.get_by_role("link", name="Clusters").click()
    expect(page).to_have_url(re.compile(r"kind=cluster"))
    assert {c["chart"] for c in charts_drawn(page)} == {"moves"}
    expect(page.locator(".figures")).to_contain_text("customers changed cluster")
    assert page.js_errors == []


def test_editor_builds_a_rule_segment_with_a_live_preview(page, log_in, shop_editor, segmented):
    log_in(page, shop_editor)
    page.goto("/segments/")
    page.get_by_role("link", name="New rule segment").click()
    expect(page.locator("h1")).to_have_text("New rule segment")
    page.get_by_label("Name", exact=True).fill("Candle spenders")
    preview = page.locator("#rule-preview")
    expect(preview).to_contain_text("Add a condition")
    # net revenue over £200: 12583 and 17908
    page.get_by_role("button", name="+ Feature").click()
    expect(page.get_by_label("Feature", exact=True)).to_have_value("monetary")
    page.get_by_label("Value", exact=True).fill("200")
    expect(page.locator("#preview-size")).to_have_text("2")
    expect(page.locator("#preview-share")).to_have_text("50.0%")
    expect(preview).to_contain_text("monetary > 200")
    # and bought candles within a year: only 17908
    page.get_by_role("button", name="+ Bought category").click()
    page.get_by_label("bought in category").select_option("Candles & lighting")
    page.get_by_label("within").fill("365")
    expect(page.locator("#preview-size")).to_have_text("1")
    expect(preview.get_by_role("link", name="17908")).to_be_visible()
    # NOT (in segment Champions) excludes 17908: nobody is left
    page.get_by_role("button", name="+ Group").click()
    group = page.locator("fieldset.rule-group fieldset.rule-group")
    group.locator(".rule-group-head").get_by_label("not").check()
    group.get_by_role("button", name="+ In segment").click()
    group.get_by_label("is in segment").select_option("Champions")
    expect(page.locator("#preview-size")).to_have_text("0")
    expect(preview).to_contain_text('NOT in segment "Champions"')
    # a condition left without a value is pointed at, with the server's reason
    page.get_by_role("button", name="+ Feature").last.click()
    expect(preview).to_contain_text("Cannot preview: feature comparison needs a value")
    expect(page.locator(".rule-condition.rule-invalid")).to_have_count(1)
    page.locator(".rule-condition.rule-invalid").get_by_role(
        "button", name="Remove this condition"
    ).click()
    group.get_by_role("button", name="Remove this group").click()
    expect(page.locator("#preview-size")).to_have_text("1")
    # save: the segment's page with its member
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("h1")).to_contain_text("Candle spenders")
    expect(page.locator(".messages")).to_contain_text("Created the rule segment “Candle spenders”")
    expect(page.locator("code.rule-text")).to_have_text(
        "monetary > 200 AND bought Candles & lighting in the last 365 days"
    )
    members = page.locator("table.member-table tbody tr")
    expect(members).to_have_count(1)
    expect(members.first).to_contain_text("17908")
    segment = Segment.objects.get(kind=SegmentKind.RULE, name="Candle spenders")
    stored = SegmentMembership.objects.filter(segment=segment, run=segmented)
    assert list(stored.values_list("customer__external_id", flat=True)) == ["17908"]
    assert page.js_errors == []
