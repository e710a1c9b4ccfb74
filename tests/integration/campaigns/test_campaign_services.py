"""Campaign services (campaigns/services/campaigns.py): validation, the status workflow and its
refusals, and the audit log with {field: [old, new]} diffs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import (
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRun,
    CampaignStatus,
    Channel,
)
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_complete,
    campaign_create,
    campaign_launch,
    campaign_schedule,
    campaign_unschedule,
    campaign_update,
)
from campaigns.services.launch import campaign_launch_execute
from ecomsite.exceptions import InvalidTransition, ValidationFailed
from ecomsite.models import Customer
from recommendations.models import ModelPromotion
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CAMPAIGN_DELIVERY_BACKENDS = {}


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path)


def _data(shop, **extra):
    data = {"name": "Spring", "include_segments": shop.segment_ids("Alpha")}
    data.update(extra)
    return data


def _entries(campaign) -> list[tuple[str, str, dict]]:
    rows = CampaignAuditEntry.objects.filter(campaign=campaign).order_by("pk")
    return [(e.action, e.actor_label, e.changes) for e in rows]


def _soon() -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=1)


# -- create -------------------------------------------------------------------------------------


def test_create_makes_a_draft_and_audits_the_values_given(shop, staff_user):
    # when staff create a campaign
    campaign = campaign_create(
        user=staff_user,
        data=_data(
            shop,
            name="  Spring   candles ",
            channel=Channel.SMS,
            content_products=["P2", "P1"],
            control_share=0.25,
        ),
    )
    # then it is a draft of theirs with the cleaned values
    assert (campaign.status, campaign.created_by, campaign.name) == (
        CampaignStatus.DRAFT,
        staff_user,
        "Spring candles",
    )
    assert list(campaign.include_segments.all()) == [shop.segments["Alpha"]]
    assert sorted(campaign.content_products.values_list("external_id", flat=True)) == ["P1", "P2"]
    # and the audit says who created what
    assert _entries(campaign) == [
        (
            "created",
            "staff",
            {
                "name": [None, "Spring candles"],
                "include_segments": [None, [shop.segments["Alpha"].pk]],
                "channel": [None, "sms"],
                "content_products": [None, ["P1", "P2"]],
                "control_share": [None, 0.25],
            },
        )
    ]
    assert CampaignAuditEntry.objects.get().actor == staff_user


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"name": "  "}, "A campaign needs a name."),
        ({"control_share": 0.6}, "between 0 and 0.5"),
        ({"control_share": -0.1}, "between 0 and 0.5"),
        ({"control_share": "lots"}, "must be a number"),
        ({"content_k": 0}, "Products per recipient must be between 1 and 50."),
        ({"content_k": 51}, "Products per recipient must be between 1 and 50."),
        ({"content_k": 2.5}, "Products per recipient must be a whole number."),
        ({"frequency_cap": 0}, "The frequency cap must be at least 1."),
        ({"frequency_cap_days": 0}, "The frequency cap window must be between 1 and 365."),
        ({"recipient_limit": -5}, "The recipient limit must be at least 1."),
        ({"attribution_days": 400}, "The attribution window must be between 1 and 365."),
        ({"channel": "fax"}, "Unknown channel 'fax'"),
        ({"include_segments": [999_999]}, "Unknown segment(s) in include_segments: 999999."),
        ({"exclude_segments": "1"}, "exclude_segments must be a list of segment ids."),
        ({"content_products": ["P1", "NOPE"]}, "Unknown product(s): NOPE."),
        ({"conditions": {"feature": "monetary"}}, "The conditions are not valid"),
        ({"status": "running"}, "Not editable: status."),
        ({"audience_source": "astrology"}, "Unknown audience source"),
        (
            {"audience_source": "lookalike", "audience_params": {"seed_segment": 999_999}},
            "Unknown seed segment 999999.",
        ),
        (
            {"audience_source": "propensity", "audience_params": {"top_share": 0.1}},
            "needs products, a category, or both",
        ),
        (
            {"audience_source": "propensity", "audience_params": {"category": "Mugs"}},
            "top_share must be a number between 0 and 1.",
        ),
        (
            {
                "audience_source": "propensity",
                "audience_params": {"category": "Mugs", "top_share": 1.5},
            },
            "top_share must be above 0 and at most 1",
        ),
    ],
)
def test_create_refuses_invalid_values(shop, extra, message):
    with pytest.raises(ValidationFailed) as refused:
        campaign_create(user=None, data=_data(shop, **extra))
    assert message in str(refused.value)
    assert Campaign.objects.count() == 0


def test_audience_params_are_cleaned_per_source(shop):
    seed = shop.segments["Champions"].pk
    lookalike = campaign_create(
        user=None,
        data=_data(
            shop,
            audience_source="lookalike",
            audience_params={"seed_segment": str(seed), "size": 5},
        ),
    )
    assert lookalike.audience_params == {"seed_segment": seed, "size": 5}
    propensity = campaign_create(
        user=None,
        data=_data(
            shop,
            audience_source="propensity",
            audience_params={"products": ["P2", "P1"], "top_share": "0.05", "junk": 1},
        ),
    )
    assert propensity.audience_params == {
        "products": ["P1", "P2"],
        "category": "",
        "top_share": 0.05,
    }
    # switching back to segments clears them
    campaign_update(campaign=propensity, user=None, data={"audience_source": "segments"})
    assert propensity.audience_params == {}


# -- update -------------------------------------------------------------------------------------


def test_update_audits_old_and_new_values_of_what_changed(shop, staff_user):
    campaign = campaign_create(user=staff_user, data=_data(shop, content_products=["P1"]))
    # when staff change the segments, products, share and name (and resend an unchanged goal)
    campaign_update(
        campaign=campaign,
        user=staff_user,
        data={
            "name": "Summer",
            "goal": "",
            "include_segments": shop.segment_ids("Beta", "Alpha"),
            "content_products": ["P3"],
            "control_share": 0.3,
        },
    )
    # then the instance is current and the entry has exactly the changes
    assert campaign.name == "Summer" and campaign.control_share == 0.3
    alpha, beta = shop.segment_ids("Alpha", "Beta")
    assert _entries(campaign)[-1] == (
        "changed",
        "staff",
        {
            "name": ["Spring", "Summer"],
            "include_segments": [[alpha], sorted([alpha, beta])],
            "content_products": [["P1"], ["P3"]],
            "control_share": [0.1, 0.3],
        },
    )
    # and an update that changes nothing writes nothing
    campaign_update(campaign=campaign, user=staff_user, data={"name": "Summer"})
    assert len(_entries(campaign)) == 2


def test_running_cancelled_and_completed_campaigns_cannot_be_changed(shop):
    campaign = campaign_create(user=None, data=_data(shop))
    for status in (CampaignStatus.RUNNING, CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        Campaign.objects.filter(pk=campaign.pk).update(status=status)
        with pytest.raises(InvalidTransition, match=f"A {status} campaign can no longer be"):
            campaign_update(campaign=campaign, user=None, data={"name": "x"})


# -- schedule -----------------------------------------------------------------------------------


def test_schedule_and_reschedule_and_unschedule(shop, staff_user):
    campaign = campaign_create(user=staff_user, data=_data(shop))
    at = _soon()
    campaign_schedule(campaign=campaign, user=staff_user, at=at)
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.SCHEDULED, at)
    later = at + dt.timedelta(days=1)
    campaign_schedule(campaign=campaign, user=staff_user, at=later)
    campaign_unschedule(campaign=campaign, user=staff_user)
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.DRAFT, None)
    assert [(a, c) for a, _, c in _entries(campaign)[1:]] == [
        ("scheduled", {"status": ["draft", "scheduled"], "scheduled_at": [None, at.isoformat()]}),
        (
            "scheduled",
            {
                "status": ["scheduled", "scheduled"],
                "scheduled_at": [at.isoformat(), later.isoformat()],
            },
        ),
        ("changed", {"status": ["scheduled", "draft"], "scheduled_at": [later.isoformat(), None]}),
    ]


def test_schedule_refusals(shop):
    campaign = campaign_create(user=None, data=_data(shop))
    with pytest.raises(ValidationFailed, match="Choose a launch time in the future."):
        campaign_schedule(campaign=campaign, user=None, at=timezone.now() - dt.timedelta(1))
    nobody = campaign_create(user=None, data=_data(shop, include_segments=[]))
    with pytest.raises(ValidationFailed, match="never sent to everyone by default"):
        campaign_schedule(campaign=nobody, user=None, at=_soon())
    # conditions alone are an audience
    conditions = {"feature": "monetary", "cmp": ">", "value": 100}
    campaign_update(campaign=nobody, user=None, data={"conditions": conditions})
    campaign_schedule(campaign=nobody, user=None, at=_soon())
    # no model serves: emails would have no products, ad audiences need none
    ModelPromotion.objects.all().delete()
    from django.core.cache import cache

    cache.clear()
    with pytest.raises(ValidationFailed, match="No recommendation model serves yet"):
        campaign_schedule(campaign=campaign, user=None, at=_soon())
    campaign_update(campaign=campaign, user=None, data={"channel": Channel.AD_AUDIENCE})
    campaign_schedule(campaign=campaign, user=None, at=_soon())
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    with pytest.raises(InvalidTransition, match="A running campaign cannot be scheduled."):
        campaign_schedule(campaign=campaign, user=None, at=_soon())


# -- launch, cancel, complete -------------------------------------------------------------------


def test_launch_audits_the_sizes_and_records_what_it_used(shop, staff_user):
    campaign = campaign_create(user=staff_user, data=_data(shop, control_share=0.2))
    run = campaign_launch(campaign=campaign, user=staff_user)
    assert campaign.status == CampaignStatus.RUNNING and campaign.launched_at is not None
    assert (campaign.segmentation_run, campaign.model_run) == (shop.run, shop.model)
    assert run.params["audience"] == 10 and run.params["control"] == 2
    action, actor, changes = _entries(campaign)[-1]
    assert (action, actor) == ("launched", "staff")
    assert changes == {
        "status": ["draft", "running"],
        "run": run.pk,
        "recipients": 10,
        "treatment": 8,
        "control": 2,
    }


def test_launch_refuses_an_empty_audience(shop):
    Customer.objects.update(email_consent=False)
    campaign = campaign_create(user=None, data=_data(shop))
    with pytest.raises(ValidationFailed, match="The audience is empty"):
        campaign_launch(campaign=campaign, user=None)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert CampaignRun.objects.count() == 0


@pytest.mark.parametrize("status", [CampaignStatus.CANCELLED, CampaignStatus.COMPLETED])
def test_finished_campaigns_cannot_be_launched_or_cancelled(shop, status):
    campaign = campaign_create(user=None, data=_data(shop))
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    with pytest.raises(InvalidTransition, match=f"A {status} campaign cannot be launched."):
        campaign_launch(campaign=campaign, user=None)
    with pytest.raises(InvalidTransition, match=f"A {status} campaign cannot be cancelled."):
        campaign_cancel(campaign=campaign, user=None)


@pytest.mark.parametrize("status", [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, "running"])
def test_cancel_from_draft_scheduled_or_running(shop, staff_user, status):
    campaign = campaign_create(user=staff_user, data=_data(shop))
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign_cancel(campaign=campaign, user=staff_user)
    assert campaign.status == CampaignStatus.CANCELLED and campaign.cancelled_at is not None
    assert _entries(campaign)[-1] == ("cancelled", "staff", {"status": [status, "cancelled"]})


def test_complete_needs_a_finished_launch_then_stores_results(shop):
    campaign = campaign_create(user=None, data=_data(shop, control_share=0.2))
    with pytest.raises(InvalidTransition, match="A draft campaign cannot be completed."):
        campaign_complete(campaign=campaign)
    run = campaign_launch(campaign=campaign, user=None)
    with pytest.raises(InvalidTransition, match="The campaign's launch has not finished."):
        campaign_complete(campaign=campaign)
    campaign_launch_execute(run_id=run.pk)
    campaign_complete(campaign=campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.results["groups"]["treatment"]["recipients"] == 8
    assert campaign.results["groups"]["control"]["recipients"] == 2
    assert [a for a, _, _ in _entries(campaign)] == [
        AuditAction.CREATED,
        AuditAction.LAUNCHED,
        AuditAction.COMPLETED,
    ]


# -- admin and command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["campaign", "campaignrun", "campaignrecipient", "outboxmessage", "campaignauditentry"]
)
def test_admin_changelists_search_and_filter(shop, admin_client, model):
    campaign = campaign_create(user=None, data=_data(shop))
    run = campaign_launch(campaign=campaign, user=None)
    campaign_launch_execute(run_id=run.pk)
    url = f"/admin/campaigns/{model}/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "Spring"}).status_code == 200
    assert admin_client.get(f"/admin/campaigns/{model}/add/").status_code == 403


def test_admin_actions_launch_and_cancel_through_the_services(shop, admin_client, admin_user):
    first = campaign_create(user=None, data=_data(shop, name="First"))
    second = campaign_create(user=None, data=_data(shop, name="Second"))
    Campaign.objects.filter(pk=second.pk).update(status=CampaignStatus.CANCELLED)
    response = admin_client.post(
        "/admin/campaigns/campaign/",
        {"action": "launch", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "First: launch queued" in text
    assert "Second: A cancelled campaign cannot be launched." in text
    first.refresh_from_db()
    assert first.status == CampaignStatus.RUNNING
    assert _entries(first)[-1][:2] == ("launched", admin_user.username)
    admin_client.post(
        "/admin/campaigns/campaign/", {"action": "cancel", "_selected_action": [first.pk]}
    )
    first.refresh_from_db()
    assert first.status == CampaignStatus.CANCELLED


def test_the_command_runs_the_sweep(shop):
    from io import StringIO

    from django.core.management import call_command

    campaign = campaign_create(user=None, data=_data(shop))
    campaign_schedule(campaign=campaign, user=None, at=_soon())
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now())
    out = StringIO()
    call_command("campaigns_due", "--stale-seconds", "60", stdout=out)
    assert out.getvalue().strip() == (
        f"launched [{campaign.pk}], refused [], resumed [], completed []"
    )


def test_demo_consent_is_synthetic_seeded_and_never_overwrites(db):
    from ecomsite.management.commands.setup_demo import demo_consent_assign

    # given 2,000 customers without consent and one who consented to SMS for real
    Customer.objects.bulk_create(Customer(external_id=f"D{i:05d}") for i in range(2000))
    real = Customer.objects.create(external_id="REAL", sms_consent=True)
    # when the demo assigns consent (twice)
    assert demo_consent_assign(seed=6) == 2000
    assert demo_consent_assign(seed=6) == 0
    # then about 70% / 40% / 50% / 60% consent: exactly these counts for seed 6
    synthetic = Customer.objects.exclude(pk=real.pk)
    counts = {
        name: synthetic.filter(**{name: True}).count()
        for name in ("email_consent", "sms_consent", "push_consent", "ads_consent")
    }
    assert counts == {
        "email_consent": 1425,
        "sms_consent": 778,
        "push_consent": 1004,
        "ads_consent": 1176,
    }
    first = synthetic.order_by("pk").first()
    assert first is not None
    assert first.attributes == {"consent_source": "synthetic (setup_demo, seed 6)"}
    real.refresh_from_db()
    assert (real.email_consent, real.sms_consent, real.attributes) == (False, True, {})
