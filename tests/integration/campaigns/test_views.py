"""Campaign staff pages on the core tests' small shop (K01..K20, segments Alpha = K01..K10,
Beta = K06..K15, Excluded = K09..K12, Champions = K01..K05, a serving model for K01..K15):
roles on every page, the builder step by step with its live preview, launch and cancel with
their confirmations and CSRF, the campaign's page with recipients, results and audit log."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from campaigns.models import (
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
)
from campaigns.services.campaigns import campaign_create, campaign_launch
from segments.models import SegmentationRun
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db

BIG_SPENDERS = {"feature": "monetary", "cmp": ">", "value": 100}


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path / "shop")


@pytest.fixture
def editor_client(client, editor_user):
    client.force_login(editor_user)
    return client


@pytest.fixture
def draft(shop, editor_user) -> Campaign:
    """Alpha but not Excluded: K01..K08, 25% held out (six treated, two control)."""
    return campaign_create(
        user=editor_user,
        data={
            "name": "Spring candles",
            "goal": "Sell spring candles",
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


def _text(response) -> str:
    return response.content.decode()


# -- roles --------------------------------------------------------------------------------------

READ_PAGES = [
    "/campaigns/",
    "/campaigns/{pk}/",
    "/campaigns/{pk}/progress.json",
    "/campaigns/{pk}/audience.csv",
]
EDITOR_PAGES = [
    "/campaigns/new/",
    "/campaigns/{pk}/edit/",
    "/campaigns/{pk}/audience/",
    "/campaigns/{pk}/content/",
    "/campaigns/{pk}/control/",
    "/campaigns/{pk}/schedule/",
    "/campaigns/{pk}/preview.json",
    "/campaigns/{pk}/launch/",
    "/campaigns/{pk}/cancel/",
]


@pytest.mark.parametrize("url", READ_PAGES + EDITOR_PAGES)
def test_anonymous_visitors_go_to_the_login_page(client, draft, url):
    response = client.get(url.format(pk=draft.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", READ_PAGES + EDITOR_PAGES)
def test_users_without_a_role_see_nothing(client, plain_user, draft, url):
    client.force_login(plain_user)
    assert client.get(url.format(pk=draft.pk)).status_code == 403


@pytest.mark.parametrize("url", READ_PAGES)
def test_viewers_read(viewer_client, draft, url):
    assert viewer_client.get(url.format(pk=draft.pk)).status_code == 200


@pytest.mark.parametrize("url", EDITOR_PAGES)
def test_viewers_cannot_build_launch_or_cancel(viewer_client, draft, url):
    assert viewer_client.get(url.format(pk=draft.pk)).status_code == 403


@pytest.mark.parametrize(
    "url", ["/campaigns/{pk}/launch/", "/campaigns/{pk}/cancel/", "/campaigns/{pk}/audience/"]
)
def test_viewers_cannot_post_either(viewer_client, draft, url):
    assert (
        viewer_client.post(url.format(pk=draft.pk), {"audience_source": "segments"}).status_code
        == 403
    )
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT


@pytest.mark.parametrize("url", EDITOR_PAGES)
def test_editors_build(editor_client, draft, url):
    assert editor_client.get(url.format(pk=draft.pk)).status_code == 200


def test_viewers_see_no_buttons(viewer_client, draft):
    page = _text(viewer_client.get(f"/campaigns/{draft.pk}/"))
    assert "Launch…" not in page and "Cancel campaign…" not in page
    assert "New campaign" not in _text(viewer_client.get("/campaigns/"))


def test_launch_and_cancel_need_the_csrf_token(editor_user, draft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor_user)
    assert client.post(f"/campaigns/{draft.pk}/launch/").status_code == 403
    assert client.post(f"/campaigns/{draft.pk}/cancel/").status_code == 403
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT
    # the confirmation pages carry the token
    page = _text(client.get(f"/campaigns/{draft.pk}/launch/"))
    assert 'name="csrfmiddlewaretoken"' in page


# -- the builder --------------------------------------------------------------------------------


def test_the_builder_step_by_step(shop, editor_client, editor_user):
    # basics: creates the draft, then the audience step
    response = editor_client.post(
        "/campaigns/new/", {"name": "Mugs for France", "goal": "", "channel": "email"}
    )
    campaign = Campaign.objects.get(name="Mugs for France")
    assert response["Location"] == f"/campaigns/{campaign.pk}/audience/"
    assert campaign.status == CampaignStatus.DRAFT and campaign.created_by == editor_user
    # the steps after the audience wait for one
    gated = editor_client.get(f"/campaigns/{campaign.pk}/content/")
    assert gated["Location"] == f"/campaigns/{campaign.pk}/audience/"

    # audience: Beta, not Excluded, with monetary > 100 (i > 5): K06..K08, K13..K15
    page = _text(editor_client.get(f"/campaigns/{campaign.pk}/audience/"))
    assert 'id="id_definition"' in page and 'id="segment-builder"' in page
    assert "Beta (Cluster) · 10 customers" in page
    response = editor_client.post(
        f"/campaigns/{campaign.pk}/audience/",
        {
            "audience_source": "segments",
            "include_segments": shop.segment_ids("Beta"),
            "exclude_segments": shop.segment_ids("Excluded"),
            "conditions": json.dumps(BIG_SPENDERS),
            "top_share": "5",
        },
    )
    assert response["Location"] == f"/campaigns/{campaign.pk}/content/"
    campaign.refresh_from_db()
    assert list(campaign.include_segments.all()) == [shop.segments["Beta"]]
    assert campaign.conditions == BIG_SPENDERS

    # content: two products per recipient, only mugs
    response = editor_client.post(
        f"/campaigns/{campaign.pk}/content/",
        {
            "content_k": "2",
            "content_category": "Mugs",
            "content_products": "",
            "subject": "Mugs!",
            "message": "Hello",
        },
    )
    assert response["Location"] == f"/campaigns/{campaign.pk}/control/"

    # control group & limits, in percent on the page, a share on the campaign
    response = editor_client.post(
        f"/campaigns/{campaign.pk}/control/",
        {
            "control_share": "20",
            "frequency_cap": "2",
            "frequency_cap_days": "7",
            "recipient_limit": "",
            "attribution_days": "21",
        },
    )
    assert response["Location"] == f"/campaigns/{campaign.pk}/schedule/"
    campaign.refresh_from_db()
    assert campaign.control_share == pytest.approx(0.2)
    assert (campaign.content_k, campaign.content_category) == (2, "Mugs")
    assert (campaign.frequency_cap, campaign.attribution_days) == (2, 21)

    # schedule: keep it as a draft
    response = editor_client.post(f"/campaigns/{campaign.pk}/schedule/", {"when": "save"})
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    audit = CampaignAuditEntry.objects.filter(campaign=campaign).order_by("pk")
    assert [e.action for e in audit] == [AuditAction.CREATED] + [AuditAction.CHANGED] * 3
    assert audit[3].changes["control_share"] == [0.1, 0.2]


def test_the_audience_step_needs_segments_or_conditions(shop, draft, editor_client):
    response = editor_client.post(
        f"/campaigns/{draft.pk}/audience/", {"audience_source": "segments"}
    )
    assert response.status_code == 200
    assert "a campaign never goes to everyone by default" in _text(response)


def test_service_refusals_show_on_the_form(shop, draft, editor_client):
    response = editor_client.post(
        f"/campaigns/{draft.pk}/content/",
        {"content_k": "2", "content_products": "P1 NOPE", "subject": "x"},
    )
    assert response.status_code == 200
    assert "Unknown product(s): NOPE." in _text(response)


def test_scheduling_and_back_to_draft(draft, editor_client):
    response = editor_client.post(
        f"/campaigns/{draft.pk}/schedule/",
        {"when": "schedule", "scheduled_at": "2099-05-01T09:30"},
    )
    assert response["Location"] == f"/campaigns/{draft.pk}/"
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.SCHEDULED
    page = _text(editor_client.get(f"/campaigns/{draft.pk}/schedule/"))
    assert "Scheduled to launch on <strong>1 May 2099 09:30</strong>" in page
    past = editor_client.post(
        f"/campaigns/{draft.pk}/schedule/", {"when": "schedule", "scheduled_at": "2001-05-01T09:30"}
    )
    assert "Choose a time in the future." in _text(past)
    editor_client.post(f"/campaigns/{draft.pk}/schedule/", {"when": "save"})
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.DRAFT and draft.scheduled_at is None


def test_launch_now_goes_to_the_confirmation(draft, editor_client):
    response = editor_client.post(f"/campaigns/{draft.pk}/schedule/", {"when": "launch"})
    assert response["Location"] == f"/campaigns/{draft.pk}/launch/"


def test_a_running_campaign_cannot_be_edited(launched, editor_client):
    response = editor_client.get(f"/campaigns/{launched.pk}/content/", follow=True)
    assert response.redirect_chain[-1][0] == f"/campaigns/{launched.pk}/"
    assert "is running: it can no longer be changed" in _text(response)


# -- the live preview ---------------------------------------------------------------------------


def test_preview_of_the_saved_campaign(shop, draft, editor_client):
    body = editor_client.get(f"/campaigns/{draft.pk}/preview.json").json()
    assert [(s["label"], s["size"]) for s in body["steps"][:2]] == [
        ("In Alpha", 10),
        ("Not in Excluded", 8),
    ]
    assert (body["treatment"], body["control"]) == (6, 2)
    assert body["samples"][0]["url"] == f"/customers/{body['samples'][0]['customer_id']}/"
    assert len(body["samples"][0]["products"]) == 2


def test_preview_follows_unsaved_fields_and_equals_the_saved_result(
    shop, draft, editor_client, editor_user
):
    # Beta instead of Alpha, and no exclusion: K06..K15, 25% held out
    fields = {
        "step": "audience",
        "audience_source": "segments",
        "include_segments": shop.segment_ids("Beta"),
        "conditions": "",
        "top_share": "5",
    }
    live = editor_client.post(f"/campaigns/{draft.pk}/preview.json", fields).json()
    assert live["steps"][0] == {"label": "In Beta", "size": 10, "removed": 0}
    assert (live["treatment"], live["control"]) == (7, 3)
    # nothing was saved
    draft.refresh_from_db()
    assert list(draft.include_segments.all()) == [shop.segments["Alpha"]]
    assert CampaignAuditEntry.objects.filter(campaign=draft).count() == 1
    # saving the same values previews the same
    editor_client.post(f"/campaigns/{draft.pk}/audience/", fields)
    saved = editor_client.get(f"/campaigns/{draft.pk}/preview.json").json()
    assert saved["steps"] == live["steps"]
    assert saved["samples"] == live["samples"]

    # content: the unsaved category shows in the sample products
    mugs = editor_client.post(
        f"/campaigns/{draft.pk}/preview.json",
        {"step": "content", "content_k": "1", "content_category": "Mugs", "subject": "x"},
    ).json()
    assert all(
        len(s["products"]) == 1 and s["products"][0]["category"] == "Mugs" for s in mugs["samples"]
    )
    # control: a 50% control group
    half = editor_client.post(
        f"/campaigns/{draft.pk}/preview.json",
        {
            "step": "control",
            "control_share": "50",
            "frequency_cap_days": "7",
            "attribution_days": "14",
        },
    ).json()
    assert (half["treatment"], half["control"]) == (5, 5)


def test_preview_errors(shop, draft, editor_client):
    invalid = editor_client.post(
        f"/campaigns/{draft.pk}/preview.json",
        {
            "step": "control",
            "control_share": "80",
            "frequency_cap_days": "7",
            "attribution_days": "14",
        },
    )
    assert invalid.status_code == 400
    assert "control_share" in invalid.json()["errors"]
    SegmentationRun.objects.all().delete()
    none = editor_client.get(f"/campaigns/{draft.pk}/preview.json")
    assert none.status_code == 409
    assert "No segmentation has run yet" in none.json()["error"]


# -- launch, cancel, the campaign's page -------------------------------------------------------


def test_launch_through_the_confirmation(draft, editor_client, django_capture_on_commit_callbacks):
    page = _text(editor_client.get(f"/campaigns/{draft.pk}/launch/"))
    assert "goes to 6 customers by email now; 2 are held out as the control group." in page
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(f"/campaigns/{draft.pk}/launch/", follow=True)
    assert response.redirect_chain[-1][0] == f"/campaigns/{draft.pk}/"
    page = _text(response)
    assert "Launching “Spring candles”: launch run #" in page
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.RUNNING
    assert CampaignRecipient.objects.filter(campaign=draft).count() == 8
    # a second click resumes nothing and creates nothing
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(f"/campaigns/{draft.pk}/launch/")
    assert CampaignRun.objects.filter(campaign=draft).count() == 1
    assert CampaignRecipient.objects.filter(campaign=draft).count() == 8


def test_the_campaign_page_after_the_launch(launched, viewer_client):
    page = _text(viewer_client.get(f"/campaigns/{launched.pk}/"))
    assert '<span class="status status-running" id="campaign-status">Running</span>' in page
    assert 'id="launch-status" class="status status-succeeded">Succeeded</span>' in page
    figures = re.search(r'id="recipient-figures">(.*?)</div>\s*</div>\s*</div>', page, re.S)
    assert figures is not None
    assert '>6</div><div class="label">recipients (treatment)' in page
    assert '>2</div><div class="label">held out (control)' in page
    # eight recipient rows, each with its products
    rows = re.findall(r"<tr><td><a href=\"/customers/(K\d\d)/\">", page)
    assert sorted(rows) == [f"K0{i}" for i in range(1, 9)]
    assert "never (held out)" in page
    # results so far, with their charts' data
    assert "So far: the attribution window runs" in page
    charts = json.loads(
        re.search(
            r'id="campaign-results-charts" type="application/json">(.*?)</script>', page
        ).group(1)
    )
    assert set(charts) >= {"conversion", "revenue", "items", "uplifts"}
    assert 'data-chart="groups"' in page
    # the audit log: created, launched, by the editor
    audit = re.search(r'<table class="audit-table">(.*?)</table>', page, re.S).group(1)
    assert audit.count("<td>editor</td>") == 2
    assert "Launched" in audit and "Created" in audit
    # the launch is over: nothing to poll
    assert 'data-live="0"' in page


def test_progress_json(launched, viewer_client):
    body = viewer_client.get(f"/campaigns/{launched.pk}/progress.json").json()
    assert body["campaign_status"] == "running"
    assert body["status"] == "succeeded" and body["finished"] is True
    assert body["progress"] == 1.0


def test_audience_csv_from_the_page(launched, viewer_client):
    response = viewer_client.get(f"/campaigns/{launched.pk}/audience.csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "external_id,group,hashed_email,products"
    assert len(lines) == 9
    export = CampaignAuditEntry.objects.get(campaign=launched, action=AuditAction.EXPORTED)
    assert export.actor is not None and export.actor_label == export.actor.get_username()
    assert export.changes == {"format": "csv"}
    # The audit log on the page shows it.
    page = _text(viewer_client.get(f"/campaigns/{launched.pk}/"))
    assert "Audience exported" in page and "format: csv" in page


def test_cancel_through_the_confirmation(draft, editor_client):
    page = _text(editor_client.get(f"/campaigns/{draft.pk}/cancel/"))
    assert "“Spring candles” will never launch." in page
    response = editor_client.post(f"/campaigns/{draft.pk}/cancel/", follow=True)
    assert "Cancelled “Spring candles”." in _text(response)
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.CANCELLED
    # a cancelled campaign cannot be launched: the refusal is a message, not an error page
    refused = editor_client.post(f"/campaigns/{draft.pk}/launch/", follow=True)
    assert "A cancelled campaign cannot be launched." in _text(refused)


def test_the_list(launched, shop, editor_user, viewer_client):
    campaign_create(
        user=editor_user, data={"name": "Later", "include_segments": shop.segment_ids("Beta")}
    )
    page = _text(viewer_client.get("/campaigns/"))
    rows = re.findall(r'<tr data-campaign="(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    later, spring = rows[0][1], rows[1][1]
    assert "Later" in later and "Draft" in later and "In Beta" in later
    assert "Spring candles" in spring and "Running" in spring
    assert "In Alpha; not in Excluded" in spring
    assert '<td class="num">6</td>' in spring and '<td class="num">2</td>' in spring
    running = _text(viewer_client.get("/campaigns/?status=running"))
    assert "Spring candles" in running and "Later" not in running


def test_a_propensity_audience_through_the_builder(shop, draft, editor_client):
    fields = {
        "audience_source": "propensity",
        "propensity_products": "P1, P3",
        "propensity_category": "",
        "top_share": "50",
        "exclude_segments": shop.segment_ids("Excluded"),
    }
    live = editor_client.post(
        f"/campaigns/{draft.pk}/preview.json", {"step": "audience", **fields}
    ).json()
    assert live["steps"][0]["label"] == "Most likely buyers of P1, P3 (top 50.0%)"
    response = editor_client.post(f"/campaigns/{draft.pk}/audience/", fields)
    assert response["Location"] == f"/campaigns/{draft.pk}/content/"
    draft.refresh_from_db()
    assert draft.audience_source == "propensity"
    assert draft.audience_params == {"products": ["P1", "P3"], "category": "", "top_share": 0.5}
    saved = editor_client.get(f"/campaigns/{draft.pk}/preview.json").json()
    assert saved["steps"] == live["steps"]
    # the form shows the saved parameters again, in percent
    page = _text(editor_client.get(f"/campaigns/{draft.pk}/audience/"))
    assert 'value="P1, P3"' in page and 'name="top_share" value="50.0"' in page
    # a propensity audience needs products or a category
    refused = editor_client.post(
        f"/campaigns/{draft.pk}/audience/", {"audience_source": "propensity", "top_share": "5"}
    )
    assert "Give products, a category, or both." in _text(refused)
