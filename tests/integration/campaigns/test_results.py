"""Campaign results on a hand-made tiny campaign: every figure worked out by hand.

Window: launched 2024-03-01 00:00 UTC, 7 attribution days → [03-01 00:00, 03-08 00:00).
Products: P1 (recommended), P2 (recommended), P3, POST (postage: not merchandise).
Every recipient's recommended items: P1, P2.

Treatment (4 recipients)
  T1  03-02 buys 2 × P1 at 10 (recommended) and 1 × POST at 5 (left out)  → 2 items, 20.00
  T2  03-03 buys 1 × P3 at 6, 03-04 returns it                             → 0 items (not a buyer)
  T3  02-28 buys 1 × P3 (before the window), 03-02 returns 1 × P3 (of that earlier purchase:
      ignored); 03-06 buys 4 × P3 at 6, 03-07 returns 1 → 3 items, 24 × 3/4 = 18.00;
      03-08 00:00 buys P1 (the window's end: outside)
  T4  nothing
Control (3 recipients)
  K1  03-03 buys 1 × P2 at 4 (recommended)                                  → 1 item, 4.00
  K2  03-04 buys 1 × P3 at an unknown price                                 → 1 item, 0.00
  K3  nothing
A customer outside the campaign buys P1 on 03-02 (not counted).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.engine.stats import BOOTSTRAP, NEWCOMBE, WELCH, compare_means, compare_proportions
from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignRunKind,
    CampaignStatus,
    RecipientGroup,
)
from campaigns.selectors_results import campaign_results
from campaigns.services.results import (
    campaign_results_compute,
    campaign_results_measure,
    campaign_results_run_execute,
)
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import Customer, EventKind, RunStatus
from tests.factories import EventFactory, ProductFactory

pytestmark = pytest.mark.django_db

LAUNCH = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 3 if day > 0 else 2, day if day > 0 else 28, hour, tzinfo=dt.UTC)


@pytest.fixture
def shop():
    products = {
        "P1": ProductFactory(external_id="P1", price=Decimal("10")),
        "P2": ProductFactory(external_id="P2", price=Decimal("4")),
        "P3": ProductFactory(external_id="P3", price=Decimal("6")),
        "POST": ProductFactory(external_id="POST", category="", price=Decimal("5")),
    }
    people = {
        name: Customer.objects.create(external_id=name) for name in "T1 T2 T3 T4 K1 K2 K3 X".split()
    }
    campaign = Campaign.objects.create(
        name="Spring", status=CampaignStatus.RUNNING, launched_at=LAUNCH, attribution_days=7
    )
    listed = [{"product": "P1", "title": "", "score": 1.0, "reason": ""}, {"product": "P2"}]
    for name in "T1 T2 T3 T4 K1 K2 K3".split():
        group = RecipientGroup.TREATMENT if name[0] == "T" else RecipientGroup.CONTROL
        CampaignRecipient.objects.create(
            campaign=campaign, customer=people[name], group=group, products=listed
        )

    def buy(who, sku, quantity, when, price=None, kind=EventKind.PURCHASE):
        unit = products[sku].price if price is None else price
        EventFactory(
            customer=people[who],
            product=products[sku],
            kind=kind,
            quantity=quantity,
            unit_price=unit if price != "unknown" else None,
            occurred_at=when,
        )

    buy("T1", "P1", 2, at(2))
    buy("T1", "POST", 1, at(2))
    buy("T2", "P3", 1, at(3))
    buy("T2", "P3", -1, at(4), kind=EventKind.RETURN)
    buy("T3", "P3", 1, at(0))  # 02-28
    buy("T3", "P3", -1, at(2), kind=EventKind.RETURN)
    buy("T3", "P3", 4, at(6))
    buy("T3", "P3", -1, at(7), kind=EventKind.RETURN)
    buy("T3", "P1", 1, dt.datetime(2024, 3, 8, tzinfo=dt.UTC))
    buy("K1", "P2", 1, at(3))
    buy("K2", "P3", 1, at(4), price="unknown")
    buy("X", "P1", 1, at(2))
    return campaign


def test_groups_by_hand(shop):
    results = campaign_results_measure(shop)
    treatment, control = results["groups"]["treatment"], results["groups"]["control"]
    assert treatment == {
        "recipients": 4,
        "converters": 2,  # T1, T3
        "conversion_rate": 0.5,
        "revenue": pytest.approx(38.0),  # 20 + 18
        "revenue_per_recipient": pytest.approx(9.5),
        "items": 5,  # 2 + 3
        "items_per_recipient": 1.25,
        "purchases": 2,  # T1's P1 line, T3's in-window P3 line
        "recommended": {
            "purchases": 1,
            "units": 2,
            "revenue": pytest.approx(20.0),
            "buyers": 1,
            "revenue_share": pytest.approx(20 / 38),
        },
    }
    assert control == {
        "recipients": 3,
        "converters": 2,  # K1, K2
        "conversion_rate": pytest.approx(2 / 3),
        "revenue": pytest.approx(4.0),
        "revenue_per_recipient": pytest.approx(4 / 3),
        "items": 2,
        "items_per_recipient": pytest.approx(2 / 3),
        "purchases": 2,
        "recommended": {
            "purchases": 1,
            "units": 1,
            "revenue": pytest.approx(4.0),
            "buyers": 1,
            "revenue_share": pytest.approx(1.0),
        },
    }


def test_uplift_is_the_engines_comparison_of_the_per_recipient_figures(shop):
    results = campaign_results_measure(shop)
    uplift = results["uplift"]
    # per recipient: revenue T = [20, 0, 18, 0], C = [4, 0, 0];
    # items T = [2, 0, 3, 0], C = [1, 1, 0]
    conversion = compare_proportions(2, 4, 2, 3)
    assert uplift["conversion_rate"] == conversion.to_dict()
    assert uplift["conversion_rate"]["method"] == NEWCOMBE
    assert uplift["conversion_rate"]["difference"] == pytest.approx(0.5 - 2 / 3)
    revenue = compare_means([20, 0, 18, 0], [4, 0, 0], method=BOOTSTRAP)
    assert uplift["revenue_per_recipient"] == pytest.approx(revenue.to_dict())
    welch = compare_means([20, 0, 18, 0], [4, 0, 0], method=WELCH)
    assert uplift["revenue_per_recipient_welch"] == pytest.approx(welch.to_dict())
    assert uplift["revenue_per_recipient"]["difference"] == pytest.approx(9.5 - 4 / 3)
    items = compare_means([2, 0, 3, 0], [1, 1, 0], method=BOOTSTRAP)
    assert uplift["items_per_recipient"] == pytest.approx(items.to_dict())
    # incremental: the differences times the 4 treated recipients
    assert results["incremental"]["buyers"] == pytest.approx(
        [4 * conversion.difference, 4 * conversion.ci_low, 4 * conversion.ci_high]
    )
    assert results["incremental"]["revenue"][0] == pytest.approx(4 * (9.5 - 4 / 3))


def test_window_and_completeness(shop):
    results = campaign_results_measure(shop)
    assert results["window"] == {
        "start": "2024-03-01T00:00:00+00:00",
        "end": "2024-03-08T00:00:00+00:00",
        "days": 7,
        "as_of": "2024-03-08T00:00:00+00:00",
        "complete": True,
        "data_through": "2024-03-08T00:00:00+00:00",
    }


def test_an_open_window_counts_only_what_happened_so_far(shop):
    # On 03-05 12:00: T3's purchase on 03-06 has not happened; T2's return on 03-04 has.
    results = campaign_results_measure(shop, now=dt.datetime(2024, 3, 5, 12, tzinfo=dt.UTC))
    assert results["window"]["complete"] is False
    assert results["window"]["as_of"] == "2024-03-05T12:00:00+00:00"
    treatment = results["groups"]["treatment"]
    assert (treatment["converters"], treatment["items"], treatment["revenue"]) == (1, 2, 20.0)


def test_compute_stores_and_the_selector_reads_the_stored_figures(shop):
    stored = campaign_results_compute(campaign=shop)
    shop.refresh_from_db()
    assert shop.results == stored
    assert shop.results_computed_at is not None
    results = campaign_results(shop)
    assert results is not None
    assert results.stored and not results.provisional
    assert results.treatment.revenue == pytest.approx(38.0)
    assert results.control.recommended.units == 1
    assert results.conversion is not None and results.conversion.difference == pytest.approx(
        0.5 - 2 / 3
    )
    assert results.revenue is not None and results.revenue.method == BOOTSTRAP
    assert results.items is not None and results.items.method == BOOTSTRAP
    assert [key for key, _, _ in results.uplifts] == [
        "conversion_rate",
        "revenue_per_recipient",
        "items_per_recipient",
    ]
    assert results.incremental_buyers is not None
    assert results.as_dict()["provisional"] is False


def test_the_selector_measures_live_and_provisional_while_the_window_is_open(shop):
    shop.launched_at = timezone.now() - dt.timedelta(days=1)
    shop.results = {"stale": True}
    shop.save()
    results = campaign_results(shop)
    assert results is not None
    assert results.provisional and not results.stored
    assert results.treatment.recipients == 4 and results.treatment.converters == 0
    # the newest stored event (2024) is older than "now": imports lag behind the window
    assert results.data_incomplete


def test_no_results_before_launch(shop):
    shop.launched_at = None
    assert campaign_results(shop) is None
    with pytest.raises(ValidationFailed, match="not been launched"):
        campaign_results_measure(shop)


def test_no_uplift_without_a_control_group(shop):
    CampaignRecipient.objects.filter(campaign=shop, group=RecipientGroup.CONTROL).delete()
    results = campaign_results_measure(shop)
    assert results["groups"]["control"]["recipients"] == 0
    assert results["groups"]["control"]["conversion_rate"] is None
    assert results["uplift"]["conversion_rate"] is None
    assert results["incremental"] == {"buyers": None, "revenue": None}


def test_results_run(shop):
    run = CampaignRun.objects.create(campaign=shop, kind=CampaignRunKind.RESULTS)
    done = campaign_results_run_execute(run_id=run.pk, task_id="t-1")
    assert done is not None and done.status == RunStatus.SUCCEEDED
    assert done.metrics["recipients"] == 7 and done.metrics["complete"] is True
    assert done.metrics["conversion_difference"] == pytest.approx(0.5 - 2 / 3)
    shop.refresh_from_db()
    assert shop.results["groups"]["treatment"]["converters"] == 2
    # a finished run is not redone
    assert campaign_results_run_execute(run_id=run.pk, task_id="t-2") is None
