"""campaign_audience and campaign_preview on the core shop (tests/integration/campaigns/
core_shop.py): overlapping include/exclude segments, rule conditions, consent per channel, the
frequency cap, the control split and the recipient limit, with every step's size."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Channel,
    RecipientGroup,
)
from campaigns.selectors import (
    AudienceStep,
    campaign_audience,
    campaign_preview,
    control_split,
)
from campaigns.services.campaigns import campaign_create
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import Customer, EventKind
from segments.models import SegmentationRun
from tests.factories import EventFactory
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 6, 10, 12, tzinfo=dt.UTC)
MONETARY_AT_LEAST_60 = {"feature": "monetary", "cmp": ">=", "value": 60}


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path)


def _campaign(shop, user=None, **data) -> Campaign:
    values = {
        "name": "Spring candles",
        "include_segments": shop.segment_ids("Alpha", "Beta"),
        "exclude_segments": shop.segment_ids("Excluded"),
        "conditions": MONETARY_AT_LEAST_60,
        "control_share": 0.5,
    }
    values.update(data)
    return campaign_create(user=user, data=values)


def _sent_before(shop, number: int, *, days: float, group=RecipientGroup.TREATMENT, sent=True):
    other = Campaign.objects.create(name=f"Earlier {number} {days}", status=CampaignStatus.RUNNING)
    CampaignRecipient.objects.create(
        campaign=other,
        customer=shop.customers[number],
        group=group,
        sent_at=NOW - dt.timedelta(days=days) if sent else None,
    )


def _opt_out(shop, number: int, field: str) -> None:
    Customer.objects.filter(pk=shop.pk(number)).update(**{field: False})


def test_every_step_with_overlapping_segments_consent_cap_control_and_limit(shop):
    # given Alpha (K01-10) + Beta (K06-15) minus Excluded (K09-12), monetary >= 60 (K03 on),
    # K04 and K14 opted out of email, K05 sent another campaign 2 days ago (cap 1 in 7 days),
    # K06 10 days ago (outside the window), K07 held out as control elsewhere (never sent)
    _opt_out(shop, 4, "email_consent")
    _opt_out(shop, 14, "email_consent")
    _sent_before(shop, 5, days=2)
    _sent_before(shop, 6, days=10)
    _sent_before(shop, 7, days=1, group=RecipientGroup.CONTROL, sent=False)
    campaign = _campaign(shop, frequency_cap=1, frequency_cap_days=7, recipient_limit=4)

    # when the audience is computed
    audience = campaign_audience(campaign, as_of=NOW)

    # then every step has its exact size, and removed = previous size - size
    assert [(s.size, s.removed) for s in audience.steps] == [
        (15, 0),  # K01-K15
        (11, 4),  # minus K09-K12
        (9, 2),  # minus K01, K02 (monetary 20, 40)
        (7, 2),  # minus K04, K14 (no email consent)
        (6, 1),  # minus K05 (at the cap)
        (3, 3),  # 3 of 6 held out as control
        (2, 1),  # limit 4 at 50%: 2 treated, 2 control
    ]
    assert audience.steps[0].label == "In Alpha, Beta"
    assert audience.steps[1].label == "Not in Excluded"
    assert audience.steps[3].label == "Consented to email"
    assert (len(audience.treatment_ids), len(audience.control_ids), audience.size) == (2, 2, 4)
    eligible = {3, 6, 7, 8, 13, 15}
    chosen = shop.numbers(audience.customer_ids)
    assert set(chosen) <= eligible and len(chosen) == 4
    assert not set(audience.treatment_ids) & set(audience.control_ids)
    # and the run is the one in use, the cap's reference time the one given
    assert (audience.run, audience.as_of) == (shop.run, NOW)


def test_the_limit_keeps_a_prefix_of_each_group_so_the_split_is_the_same(shop):
    # given the same campaign with and without a recipient limit
    campaign = _campaign(shop, exclude_segments=[], conditions={}, control_share=0.5)
    full = campaign_audience(campaign, as_of=NOW)
    campaign.recipient_limit = 6
    limited = campaign_audience(campaign, as_of=NOW)
    # then the limited groups are the first customers of the full ones (15 at 50%: 7 treated,
    # 8 control; limited to 6: 3 and 3)
    assert len(full.treatment_ids) + len(full.control_ids) == 15
    assert limited.control_ids == full.control_ids[:3]
    assert limited.treatment_ids == full.treatment_ids[:3]
    assert limited.steps[-1] == AudienceStep(
        label="Recipient limit 6 (control 3)", size=3, removed=4
    )


def test_the_control_split_is_deterministic_and_follows_the_seed(shop):
    # given a campaign, and a copy of it with the same seed and one with another seed
    campaign = _campaign(shop, exclude_segments=[], conditions={}, control_share=0.4)
    twin = _campaign(shop, exclude_segments=[], conditions={}, control_share=0.4)
    Campaign.objects.filter(pk=twin.pk).update(control_seed=campaign.control_seed)
    twin.refresh_from_db()
    # when the audiences are computed (twice for the first)
    first = campaign_audience(campaign, as_of=NOW)
    again = campaign_audience(campaign, as_of=NOW)
    copy = campaign_audience(twin, as_of=NOW)
    # then the same seed gives the same groups in the same order: 40% of 15 = 6 held out
    assert (first.treatment_ids, first.control_ids) == (again.treatment_ids, again.control_ids)
    assert (first.treatment_ids, first.control_ids) == (copy.treatment_ids, copy.control_ids)
    assert (len(first.treatment_ids), len(first.control_ids)) == (9, 6)


@pytest.mark.parametrize(
    ("n", "share", "control"),
    [(1000, 0.1, 100), (1000, 0.0, 0), (1000, 0.5, 500), (10, 0.25, 3), (5, 0.1, 1), (1, 0.5, 1)],
)
def test_control_split_sizes_round_half_up(n, share, control):
    ids = np.arange(1, n + 1, dtype=np.int64)
    treatment, held = control_split(ids, seed=7, share=share)
    assert (len(treatment), len(held)) == (n - control, control)
    assert sorted([*treatment.tolist(), *held.tolist()]) == list(range(1, n + 1))


def test_control_split_depends_on_the_seed_only():
    ids = np.arange(1, 1001, dtype=np.int64)
    a = control_split(ids, seed=1, share=0.1)[1]
    assert control_split(ids.copy(), seed=1, share=0.1)[1].tolist() == a.tolist()
    assert control_split(ids, seed=2, share=0.1)[1].tolist() != a.tolist()


@pytest.mark.parametrize(
    ("channel", "field"),
    [
        (Channel.EMAIL, "email_consent"),
        (Channel.SMS, "sms_consent"),
        (Channel.PUSH, "push_consent"),
        (Channel.AD_AUDIENCE, "ads_consent"),
    ],
)
def test_consent_is_per_channel(shop, channel, field):
    # given K03 opted out of this channel only, K05 out of every other channel
    _opt_out(shop, 3, field)
    for other in ("email_consent", "sms_consent", "push_consent", "ads_consent"):
        if other != field:
            _opt_out(shop, 5, other)
    campaign = _campaign(shop, channel=channel, exclude_segments=[], conditions={})
    # then only K03 is left out (15 in Alpha or Beta, 14 consent)
    audience = campaign_audience(campaign, as_of=NOW)
    assert audience.steps[3].size == 14
    assert shop.numbers(audience.customer_ids) == [n for n in range(1, 16) if n != 3]


def test_the_cap_counts_sends_in_the_window_only_from_other_campaigns(shop):
    # given K03 sent twice in the last 7 days, K05 once, K07 once 8 days ago; cap 2 in 7 days
    _sent_before(shop, 3, days=1)
    _sent_before(shop, 3, days=6.9)
    _sent_before(shop, 5, days=3)
    _sent_before(shop, 7, days=8)
    campaign = _campaign(
        shop, exclude_segments=[], conditions={}, frequency_cap=2, frequency_cap_days=7
    )
    # and a send of this very campaign to K06 (a resumed launch must not cap its own recipients)
    CampaignRecipient.objects.create(
        campaign=campaign, customer=shop.customers[6], group=RecipientGroup.TREATMENT, sent_at=NOW
    )
    # and a send after the reference time (to K08) does not count either
    _sent_before(shop, 8, days=-1)
    audience = campaign_audience(campaign, as_of=NOW)
    # then only K03 is capped
    assert audience.steps[4].removed == 1
    assert 3 not in shop.numbers(audience.customer_ids)
    assert audience.steps[4].label == "At most 2 campaign(s) in 7 days: those at the cap left out"


def test_no_include_segment_means_everyone_scored(shop):
    campaign = _campaign(shop, include_segments=[], exclude_segments=[], conditions={})
    audience = campaign_audience(campaign, as_of=NOW)
    assert audience.steps[0] == AudienceStep(
        label=f"Everyone scored in segmentation #{shop.run.pk}", size=20, removed=0
    )


def test_lookalike_base_comes_from_the_analytics_service(shop, monkeypatch):
    # given a lookalike of Champions growing it by two (the service is stubbed: its own tests
    # cover the maths), which returns K01-K05 then K16, K17
    from campaigns.services import audiences

    calls = []

    def lookalike(*, seed_segment, size, run):
        calls.append((seed_segment.name, size, run))
        return shop.pks([1, 2, 3, 4, 5, 16, 17])

    monkeypatch.setattr(audiences, "lookalike_customer_ids", lookalike)
    params = {"seed_segment": shop.segments["Champions"].pk, "size": 2}
    campaign = _campaign(
        shop, audience_source=AudienceSource.LOOKALIKE, audience_params=params, conditions={}
    )
    # when the audience is computed
    audience = campaign_audience(campaign, as_of=NOW)
    # then the base is the lookalike and the other steps still apply
    assert calls == [("Champions", 2, shop.run)]
    assert audience.steps[0] == AudienceStep(
        label="Lookalike: Champions and its 2 most similar customers", size=7, removed=0
    )
    assert audience.steps[1].size == 7  # nobody of them is in Excluded (K09-K12)
    assert shop.numbers(audience.customer_ids) == [1, 2, 3, 4, 5, 16, 17]


def test_propensity_base_comes_from_the_analytics_service(shop, monkeypatch):
    from campaigns.services import audiences

    monkeypatch.setattr(
        audiences,
        "propensity_customer_ids",
        lambda *, products, category, top_share: shop.pks([9, 10, 2]),
    )
    params = {"products": ["P1"], "category": "Mugs", "top_share": 0.15}
    campaign = _campaign(
        shop, audience_source=AudienceSource.PROPENSITY, audience_params=params, conditions={}
    )
    audience = campaign_audience(campaign, as_of=NOW)
    assert audience.steps[0] == AudienceStep(
        label="Most likely buyers of P1 and the category Mugs (top 15.0%)", size=3, removed=0
    )
    assert audience.steps[1].size == 1  # K09, K10 are in Excluded
    assert shop.numbers(audience.customer_ids) == [2]


def test_without_a_segmentation_run_the_audience_cannot_be_computed(shop):
    campaign = _campaign(shop)
    SegmentationRun.objects.update(status="failed")
    with pytest.raises(ValidationFailed, match="No segmentation has run yet"):
        campaign_audience(campaign)


def test_conditions_naming_an_unknown_feature_are_refused(shop):
    campaign = _campaign(shop, conditions={"feature": "shoe_size", "cmp": ">", "value": 40})
    with pytest.raises(ValidationFailed, match="The conditions are not valid: .*shoe_size"):
        campaign_audience(campaign)


# -- preview ------------------------------------------------------------------------------------


def test_preview_steps_overlap_samples_profile_and_power(shop):
    # given purchases in the shop's last 14 days by K03 and K06 (and by K07 long before)
    newest = timezone.now() - dt.timedelta(days=100)
    for number, days_before in ((3, 0), (6, 13), (7, 40)):
        EventFactory(
            customer=shop.customers[number],
            product=shop.products["P1"],
            kind=EventKind.PURCHASE,
            occurred_at=newest - dt.timedelta(days=days_before),
        )
    campaign = _campaign(shop, control_share=0.5, attribution_days=14)
    # and a running campaign whose recipients are K03 and K20, a scheduled one over Champions
    running = Campaign.objects.create(name="Running", status=CampaignStatus.RUNNING)
    for number in (3, 20):
        CampaignRecipient.objects.create(
            campaign=running, customer=shop.customers[number], group=RecipientGroup.TREATMENT
        )
    scheduled = campaign_create(
        user=None,
        data={"name": "Scheduled", "include_segments": shop.segment_ids("Champions")},
    )
    Campaign.objects.filter(pk=scheduled.pk).update(status=CampaignStatus.SCHEDULED)
    Campaign.objects.create(name="A draft over everyone")  # drafts never count as overlap

    # when previewed
    preview = campaign_preview(campaign, samples=2)

    # then: the audience is K03-K08, K13-K15 (9), 5 of them held out (50%, rounded up)
    assert [s.size for s in preview.steps] == [15, 11, 9, 9, 9, 4, 4]
    assert shop.numbers(preview.audience.customer_ids) == [3, 4, 5, 6, 7, 8, 13, 14, 15]
    # overlap: the scheduled Champions campaign (K01-K05: K03, K04, K05 shared), the running one
    # (K03)
    assert [(c.name, n) for c, n in preview.overlap] == [("Scheduled", 3), ("Running", 1)]
    # samples: the first two treated customers with their own model rows, 4 each
    assert [c.pk for c, _ in preview.samples] == preview.audience.treatment_ids[:2]
    for customer, items in preview.samples:
        number = shop.number(customer.pk)
        assert [i.reason for i in items] == [f"because K{number:02d}"] * 4
    # baseline: 2 of the 9 bought in the last 14 days of data (K03, K06)
    assert preview.baseline_rate == pytest.approx(2 / 9)
    assert preview.control.n_treatment == 4 and preview.control.n_control == 5
    assert preview.control.baseline_rate == pytest.approx(2 / 9)
    # 4 against 5 cannot show any uplift with 80% power, not even to a rate of 1
    assert preview.control.mde is None
    assert not preview.control.large_enough
    assert preview.profile is not None
    assert preview.content_error == ""


def test_preview_without_a_serving_model_says_so(tmp_path):
    shop = build_core_shop(tmp_path, model=False)
    campaign = _campaign(shop)
    preview = campaign_preview(campaign, samples=3)
    assert preview.content_error.startswith("No recommendation model serves yet")
    assert all(items == [] for _, items in preview.samples)
    assert len(preview.samples) == 3
