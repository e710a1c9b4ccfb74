"""Campaigns in a real browser on the Online Retail sample (plus a few months of earlier
purchases, so that the pipeline's train step has a history to learn from and promotes a model)
after a pipeline run: an editor builds a campaign step by step while the preview follows every
change, launches it (a Celery worker in a thread materialises the recipients), and reads its
page: recipients with their products, then results with charts once purchases arrive in the
attribution window. A partner token exports the audience; a viewer can read but not launch.

After the run, four customers are scored: 12583 and 17850 form the "Keepers" cluster, 17908 is
"Champions" and 15311 "Lost" (RFM); 15311 spent £137.70, the others over £300. The serving model
("repeat") recommends each customer what they buy again, e.g. 12583 the Bakelike alarm clocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientGroup
from ecomsite.models import Customer, Scope
from ecomsite.roles import Role
from ecomsite.services.imports import import_file
from ecomsite.services.tokens import partner_token_create
from ecomsite.services.users import user_create
from recommendations.services.registry import serving_model
from segments.services.pipeline import pipeline_start

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

# Three months of purchases before the sample's December: each customer buys the same few
# products every month, so the train step has customers who bought before and after its cutoff.
HISTORY_ITEMS = {
    "17850": ["85123A", "71053", "84406B", "22752"],
    "12583": ["22728", "22727", "22726", "85123A"],
    "17908": ["22111", "21866", "22866", "71053"],
    "15311": ["85123A", "22728", "22111"],
}
HISTORY = "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n" + "".join(
    f"{customer},{sku},purchase,6,2.55,2010-{month:02d}-1{day}T10:00:00Z,H{customer}{month}{day}\n"
    for customer, skus in HISTORY_ITEMS.items()
    for month in (6, 7, 8)
    for day, sku in enumerate(skus)
)
LAUNCH_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Editor:
    username: str
    password: str


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def shop(transactional_db, sample_path, tmp_path) -> Iterator[None]:
    history = tmp_path / "history.csv"
    history.write_text(HISTORY)
    import_file(path=sample_path, format="online-retail")
    import_file(path=history, format="csv")
    run = pipeline_start(trigger="cli", sync=True)
    assert run.segmentation_run is not None, run.error
    assert serving_model() is not None
    Customer.objects.update(email_consent=True)
    yield


@pytest.fixture
def shop_editor(transactional_db) -> Editor:
    editor = Editor(username="erin-editor", password="pw-erin-editor-browser-1")
    user_create(username=editor.username, password=editor.password, role=Role.EDITOR)
    return editor


def _purchases(path, lines: list[tuple[str, str, int, str]]) -> None:
    """Purchases as a generic CSV import: (customer, SKU, quantity, ISO time)."""
    rows = [
        f"{customer},{sku},purchase,{quantity},2.55,{at},W{i}"
        for i, (customer, sku, quantity, at) in enumerate(lines)
    ]
    path.write_text(
        "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n"
        + "\n".join(rows)
        + "\n"
    )
    import_file(path=path, format="csv")


def test_editor_builds_previews_launches_and_reads_a_campaign(
    page, log_in, charts_drawn, shop_editor, shop, celery_worker, tmp_path
):
    log_in(page, shop_editor)
    page.get_by_label("Main").get_by_role("link", name="Campaigns").click()
    expect(page.locator("h1")).to_have_text("Campaigns")
    expect(page.locator(".empty-state")).to_contain_text("No campaign yet.")
    page.get_by_role("link", name="New campaign").click()

    # 1. basics
    expect(page.locator("h1")).to_have_text("New campaign")
    page.get_by_label("Name").fill("Come back for more")
    page.get_by_label("Goal").fill("Bring December buyers back in the new year")
    page.get_by_label("Email").check()
    page.get_by_role("button", name="Save and continue").click()

    # 2. audience, with the preview following each change
    expect(page.locator(".messages")).to_contain_text("Created the draft “Come back for more”")
    expect(page.locator('[aria-current="step"]')).to_contain_text("Audience")
    preview = page.locator("#campaign-preview")
    # nothing chosen yet: the form says why it cannot preview
    expect(preview).to_contain_text("Cannot preview yet")
    include = page.locator("fieldset[data-source=segments]")
    include.get_by_label(re.compile(r"^Keepers \(Cluster\) · 2 customers")).check()
    steps = page.locator("#preview-steps li")
    expect(steps.first).to_contain_text("In Keepers")
    expect(steps.first.locator(".funnel-size")).to_have_text("2")
    include.get_by_label(re.compile(r"^Champions \(RFM\)")).check()
    include.get_by_label(re.compile(r"^Lost \(RFM\)")).check()
    expect(steps.first.locator(".funnel-size")).to_have_text("4")
    expect(page.locator("#preview-treatment")).to_have_text("4")  # 10% of 4 rounds to 0
    # an extra condition from the segments' builder: net revenue over £200 leaves out 15311
    page.get_by_role("button", name="+ Feature").click()
    page.get_by_label("Value", exact=True).fill("200")
    expect(preview).to_contain_text("Matching monetary > 200")
    expect(page.locator("#preview-steps li", has_text="Matching")).to_contain_text("3")
    expect(page.locator("#preview-treatment")).to_have_text("3")
    page.get_by_role("button", name="Remove this condition").click()
    expect(page.locator("#preview-treatment")).to_have_text("4")
    # the audience against everyone, and who would get what
    expect(page.locator("#preview-profile")).to_be_visible()
    expect(page.locator("#preview-samples li[data-customer]")).to_have_count(4)
    page.get_by_role("button", name="Save and continue").click()

    # 3. content: three products each, the preview shows them
    expect(page.locator('[aria-current="step"]')).to_contain_text("Content")
    page.get_by_label("Products per recipient").fill("3")
    page.get_by_label("Subject").fill("We kept these for you")
    sample = page.locator('#preview-samples li[data-customer="12583"]')
    expect(sample.locator("ol li")).to_have_count(3)
    expect(sample).to_contain_text("ALARM CLOCK BAKELIKE PINK")
    page.get_by_role("button", name="Save and continue").click()

    # 4. control group: half held out, too few to detect +10%
    expect(page.locator('[aria-current="step"]')).to_contain_text("Control group")
    page.get_by_label("Control group (%)").fill("50")
    expect(page.locator("#preview-control")).to_have_text("2")
    expect(page.locator("#preview-treatment")).to_have_text("2")
    expect(page.locator("#preview-power-verdict")).to_contain_text("Too small to detect")
    expect(page.locator("#preview-mde")).to_contain_text("pp")
    page.get_by_role("button", name="Save and continue").click()

    # 5. schedule: launch now, confirmed on the next page
    expect(page.locator('[aria-current="step"]')).to_contain_text("Schedule")
    page.get_by_label("Launch now").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Launch the campaign")
    expect(page.locator(".confirm-card")).to_contain_text(
        "goes to 2 customers by email now; 2 are held out as the control group."
    )
    page.get_by_role("button", name="Launch now").click()

    # the campaign's page follows the launch until the worker has finished, then reloads
    expect(page.locator("h1")).to_contain_text("Come back for more")
    expect(page.locator("#launch-status")).to_have_text("Succeeded", timeout=LAUNCH_TIMEOUT_MS)
    expect(page.locator("#campaign-status")).to_have_text("Running")
    campaign = Campaign.objects.get(name="Come back for more")
    assert campaign.status == CampaignStatus.RUNNING
    assert celery_worker.task_ids and not celery_worker.eager_task_ids
    recipients = page.locator("table.recipient-table tbody tr")
    expect(recipients).to_have_count(4)
    expect(recipients.filter(has_text="Control")).to_have_count(2)
    expect(recipients.filter(has_text="never (held out)")).to_have_count(2)
    row_12583 = recipients.filter(has_text="12583")
    expect(row_12583.locator(".product-chip")).to_have_count(3)
    expect(row_12583).to_contain_text("ALARM CLOCK BAKELIKE")
    audit = page.locator("table.audit-table tbody tr")
    expect(audit.filter(has_text="Launched")).to_contain_text("erin-editor")
    expect(audit.filter(has_text="Created")).to_have_count(1)
    expect(page.locator("#results-note")).to_contain_text("So far")

    # a week on: both treated customers bought, one of the control group did
    groups = dict(
        CampaignRecipient.objects.filter(campaign=campaign).values_list(
            "customer__external_id", "group"
        )
    )
    treated = sorted(c for c, g in groups.items() if g == RecipientGroup.TREATMENT)
    control = sorted(c for c, g in groups.items() if g == RecipientGroup.CONTROL)
    launched = timezone.now() - timedelta(days=7)
    Campaign.objects.filter(pk=campaign.pk).update(launched_at=launched)
    bought = (launched + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _purchases(
        tmp_path / "window.csv",
        [(treated[0], "22111", 4, bought), (treated[1], "85123A", 2, bought)]
        + [(control[0], "22728", 1, bought)],
    )
    page.reload()
    drawn = {c["chart"] for c in charts_drawn(page)}
    assert drawn == {"groups", "uplift", "revenue", "items"}
    conversion = page.locator('.results-table tr[data-metric="conversion_rate"]')
    expect(conversion.locator("td")).to_have_text(
        ["100.0%", "50.0%", "+50.0 pp", re.compile(r" to "), "+100.0%", re.compile(r"\d")]
    )
    revenue = page.locator('.results-table tr[data-metric="revenue_per_recipient"]')
    # treatment (4 + 2) x £2.55 / 2 = £7.65; control £2.55 / 2 = £1.27
    expect(revenue.locator("td").nth(0)).to_have_text("£7.65")
    expect(revenue.locator("td").nth(1)).to_have_text(re.compile(r"^£1\.2[78]$"))
    assert page.js_errors == []

    # a partner with campaigns:read exports the audience
    _, raw = partner_token_create(name="ad-partner", scopes=[Scope.CAMPAIGNS_READ])
    exported = page.request.get(
        f"/api/v1/campaigns/{campaign.pk}/audience/",
        headers={"Authorization": f"Bearer {raw}"},
    ).json()
    assert exported["count"] == 4
    assert sorted(r["external_id"] for r in exported["results"]) == sorted(groups)
    assert {r["external_id"]: r["group"] for r in exported["results"]} == groups


def test_a_viewer_reads_the_list_but_cannot_build_or_launch(page, log_in, shop_viewer, shop):
    from campaigns.services.campaigns import campaign_create
    from segments.models import Segment

    campaign = campaign_create(
        user=None,
        data={
            "name": "Keepers only",
            "subject": "Hello",
            "include_segments": [Segment.objects.get(name="Keepers").pk],
        },
    )
    log_in(page, shop_viewer)
    page.goto("/campaigns/")
    row = page.locator(f'tr[data-campaign="{campaign.pk}"]')
    expect(row).to_contain_text("Draft")
    expect(row).to_contain_text("In Keepers")
    expect(page.get_by_role("link", name="New campaign")).to_have_count(0)
    row.get_by_role("link", name="Keepers only").click()
    expect(page.locator("h1")).to_contain_text("Keepers only")
    expect(page.get_by_role("link", name="Launch…")).to_have_count(0)
    expect(page.locator("#results-note")).to_contain_text("Results appear once the campaign")
    response = page.goto(f"/campaigns/{campaign.pk}/launch/")
    assert response is not None and response.status == 403
    assert page.js_errors == []
