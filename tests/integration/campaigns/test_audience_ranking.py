"""Campaign audiences ranked by predictive scores, and rule conditions on the scores, on the
core tests' small shop (K01..K20, monetary = 20 x i, Alpha = K01..K10, Beta = K06..K15, a
serving model for K01..K15) with a hand-made prediction run joined to its segmentation run.

Scores of the prediction run (K16..K20 bought nothing: no score at all):
  clv              (7 x i mod 16) x 10 for K01..K14 (all different), K15 none
                   → top five: K09 150, K02 140, K11 130, K04 120, K13 110
  churn_risk       i / 20 for K01..K15 → top five: K15, K14, K13, K12, K11
  p_alive          0.5 for K01..K08, 0.9 for K09..K15 → lowest five: K01..K05 (ties by id)
  expected_orders  K07 3.0, K03 2.0, nobody else → K07, K03, then the unscored by id: K01, K02,
                   K04
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from rest_framework.test import APIClient

from campaigns.models import (
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    RankBy,
    RecipientGroup,
)
from campaigns.selectors import (
    AudienceStep,
    campaign_audience,
    campaign_preview,
    control_split,
    top_by_score,
)
from campaigns.services.campaigns import campaign_create, campaign_launch, campaign_update
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import CleaningRun, RunStatus, Scope
from ecomsite.services.artifacts import frame_save
from segments.models import FeatureRun, PredictionRun, SegmentationRun
from segments.services.predictions import SCORE_FEATURES, SCORES_FILE
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 6, 10, 12, tzinfo=dt.UTC)
AS_OF = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
EVERYONE = {"feature": "frequency", "cmp": ">=", "value": 1}  # K01..K20
SCORED = range(1, 16)


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CAMPAIGN_DELIVERY_BACKENDS = {}


def _scores(i: int) -> dict[str, float]:
    return {
        "clv": float((7 * i) % 16) * 10 if i < 15 else np.nan,
        "churn_risk": i / 20,
        "p_alive": 0.5 if i <= 8 else 0.9,
        "expected_orders": {7: 3.0, 3: 2.0}.get(i, np.nan),
        "expected_order_value": 50.0,
        "next_order_days": 30.0,
    }


def _predictions(shop, folder, scores=_scores, **fields) -> PredictionRun:  # type: ignore[no-untyped-def]
    """A succeeded prediction run whose artifact holds `scores(i)` for K01..K15, joined to the
    shop's segmentation run."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        [scores(i) for i in SCORED],
        index=pd.Index([shop.pk(i) for i in SCORED], dtype="int64", name="customer"),
    )[list(SCORE_FEATURES)]
    frame_save(frame, folder / SCORES_FILE, index=True)
    values = {"sufficient": True, "horizon_days": 90, "as_of": AS_OF, **fields}
    return PredictionRun.objects.create(
        feature_run=shop.run.feature_run,
        status=RunStatus.SUCCEEDED,
        artifact_dir=str(folder),
        customers=len(SCORED),
        **values,
    )


@pytest.fixture
def shop(tmp_path):
    shop = build_core_shop(tmp_path / "shop")
    shop.run.prediction_run = _predictions(shop, tmp_path / "predictions")
    shop.run.save(update_fields=["prediction_run"])
    return shop


def _campaign(shop, **data) -> Campaign:  # type: ignore[no-untyped-def]
    values = {
        "name": "Best customers",
        "subject": "For you",
        "conditions": EVERYONE,
        "control_share": 0.2,
        "recipient_limit": 5,
        "rank_by": RankBy.CLV,
    }
    values.update(data)
    return campaign_create(user=None, data=values)


# -- ranking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rank_by", "kept"),
    [
        (RankBy.CLV, [2, 4, 9, 11, 13]),
        (RankBy.CHURN_RISK, [11, 12, 13, 14, 15]),
        (RankBy.P_ALIVE, [1, 2, 3, 4, 5]),  # lowest first; ties by id
        (RankBy.EXPECTED_ORDERS, [1, 2, 3, 4, 7]),  # K07, K03, then the unscored by id
    ],
)
def test_the_limit_keeps_the_top_by_the_score_and_draws_the_control_among_them(shop, rank_by, kept):
    # given everyone (K01..K20) eligible, a limit of 5 and 20% control, ranked by a score
    campaign = _campaign(shop, rank_by=rank_by)
    # when the audience is computed
    audience = campaign_audience(campaign, as_of=NOW)
    # then the limit kept exactly the top five by the score, over both groups
    assert shop.numbers(audience.customer_ids) == kept
    assert (len(audience.treatment_ids), len(audience.control_ids)) == (4, 1)
    assert audience.ranked_by == rank_by
    # and the control is the seeded random draw among those five, as without a ranking
    treatment, control = control_split(
        np.array(sorted(shop.pks(kept)), dtype=np.int64), seed=campaign.control_seed, share=0.2
    )
    assert audience.control_ids == control.tolist()
    assert audience.treatment_ids == treatment.tolist()
    # the funnel: the ranked limit comes before the control draw
    assert [(s.size, s.removed) for s in audience.steps] == [
        (20, 0),
        (20, 0),
        (20, 0),
        (20, 0),
        (20, 0),
        (5, 15),  # both groups
        (4, 1),  # the treatment group
    ]


def test_the_steps_say_how_the_audience_was_ranked(shop):
    audience = campaign_audience(_campaign(shop), as_of=NOW)
    assert audience.steps[-2:] == [
        AudienceStep(
            label="Recipient limit 5, ranked by predicted revenue: the top 5 kept",
            size=5,
            removed=15,
        ),
        AudienceStep(label="Control group: 1 (20%) drawn at random among them", size=4, removed=1),
    ]


def test_the_ranking_is_deterministic_and_the_control_follows_the_seed(shop):
    # given the same ranked campaign twice, and a twin with the same seed
    campaign = _campaign(shop, recipient_limit=10, control_share=0.5)
    twin = _campaign(shop, recipient_limit=10, control_share=0.5)
    Campaign.objects.filter(pk=twin.pk).update(control_seed=campaign.control_seed)
    twin.refresh_from_db()
    first = campaign_audience(campaign, as_of=NOW)
    again = campaign_audience(campaign, as_of=NOW)
    copy = campaign_audience(twin, as_of=NOW)
    # then the same groups in the same order; the ten with the highest clv, five held out
    assert (first.treatment_ids, first.control_ids) == (again.treatment_ids, again.control_ids)
    assert (first.treatment_ids, first.control_ids) == (copy.treatment_ids, copy.control_ids)
    assert shop.numbers(first.customer_ids) == [1, 2, 3, 4, 6, 8, 9, 10, 11, 13]
    assert (len(first.treatment_ids), len(first.control_ids)) == (5, 5)
    # and another seed draws another control among the same ten
    Campaign.objects.filter(pk=twin.pk).update(control_seed=campaign.control_seed + 1)
    twin.refresh_from_db()
    other = campaign_audience(twin, as_of=NOW)
    assert sorted(other.customer_ids) == sorted(first.customer_ids)
    assert other.control_ids != first.control_ids


@pytest.mark.parametrize("limit", [None, 20, 50])
def test_without_a_cut_the_ranking_changes_nothing(shop, limit):
    # given the same campaign (same seed) ranked and not, with a limit that cuts nobody
    ranked = _campaign(shop, recipient_limit=limit)
    plain = _campaign(shop, recipient_limit=limit, rank_by="")
    Campaign.objects.filter(pk=plain.pk).update(control_seed=ranked.control_seed)
    plain.refresh_from_db()
    # when both audiences are computed
    with_ranking = campaign_audience(ranked, as_of=NOW)
    without = campaign_audience(plain, as_of=NOW)
    # then the same groups in the same order, with the unranked funnel
    assert with_ranking.treatment_ids == without.treatment_ids
    assert with_ranking.control_ids == without.control_ids
    assert with_ranking.steps == without.steps
    assert (with_ranking.ranked_by, with_ranking.size) == ("", 20)


def test_without_predictions_a_ranked_limit_is_refused(shop, tmp_path):
    # given a segmentation run without a prediction run
    SegmentationRun.objects.filter(pk=shop.run.pk).update(prediction_run=None)
    campaign = _campaign(shop)
    # then the audience cannot be computed, and says why
    with pytest.raises(ValidationFailed) as refused:
        campaign_audience(campaign, as_of=NOW)
    assert str(refused.value) == (
        f"Ranking by predicted revenue needs predictive scores, and segmentation "
        f"#{shop.run.pk} has none: run the pipeline (its predict step scores customers) or "
        "choose no ranking."
    )
    # without the ranking it can
    campaign_update(campaign=campaign, user=None, data={"rank_by": ""})
    assert campaign_audience(campaign, as_of=NOW).size == 5


def test_top_by_score_puts_missing_scores_last_and_breaks_ties_by_id():
    ids = np.array([3, 5, 8, 13, 21], dtype=np.int64)
    scores = pd.Series({3: 0.2, 5: np.nan, 8: 0.9, 13: 0.2, 99: 1.0})  # 21: not scored
    assert top_by_score(ids, scores, limit=2).tolist() == [3, 8]
    assert top_by_score(ids, scores, limit=3).tolist() == [3, 8, 13]
    assert top_by_score(ids, scores, limit=4, lowest_first=True).tolist() == [3, 5, 8, 13]
    assert top_by_score(ids, scores, limit=5).tolist() == [3, 5, 8, 13, 21]


# -- the launch, the preview, the API, the builder ----------------------------------------------


def test_the_launch_records_the_ranking_and_a_later_run_does_not_change_it(
    shop, tmp_path, django_capture_on_commit_callbacks
):
    # given a ranked campaign, launched
    campaign = _campaign(shop)
    before = campaign_audience(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        run = campaign_launch(campaign=campaign, user=None)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    # then the recipients are the top five by clv, the control one of them
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert shop.numbers(recipients.values_list("customer_id", flat=True)) == [2, 4, 9, 11, 13]
    control = recipients.filter(group=RecipientGroup.CONTROL).values_list("customer_id", flat=True)
    assert list(control) == before.control_ids
    # and the launch recorded the ranking and the scores it used
    params = CampaignRun.objects.get(pk=run.pk).params
    assert (params["rank_by"], params["ranked"]) == ("clv", True)
    assert params["prediction_run"] == shop.run.prediction_run_id
    assert params["steps"][-2] == [
        "Recipient limit 5, ranked by predicted revenue: the top 5 kept",
        5,
        15,
    ]
    launched = CampaignAuditEntry.objects.get(campaign=campaign, action=AuditAction.LAUNCHED)
    assert launched.changes["ranked_by"] == "clv"

    # when a newer segmentation run with other scores (clv reversed) comes into use
    cleaning = CleaningRun.objects.create(status=RunStatus.SUCCEEDED)
    features = FeatureRun.objects.create(
        cleaning_run=cleaning,
        status=RunStatus.SUCCEEDED,
        artifact_dir=shop.run.feature_run.artifact_dir,
    )
    reversed_scores = _predictions(
        shop, tmp_path / "reversed", scores=lambda i: {**_scores(i), "clv": float(100 - i)}
    )
    SegmentationRun.objects.create(
        feature_run=features,
        prediction_run=reversed_scores,
        status=RunStatus.SUCCEEDED,
        finished_at=shop.run.finished_at + dt.timedelta(hours=1),
    )
    # then the launched campaign's audience is still computed on its own run's scores
    campaign.refresh_from_db()
    again = campaign_audience(campaign)
    assert (again.treatment_ids, again.control_ids) == (before.treatment_ids, before.control_ids)
    # while a new draft ranks on the new scores (K01..K05 have the highest clv there)
    fresh = campaign_audience(_campaign(shop, name="Later"), as_of=NOW)
    assert shop.numbers(fresh.customer_ids) == [1, 2, 3, 4, 5]


def test_the_preview_says_ranked_by_predicted_revenue(shop):
    preview = campaign_preview(_campaign(shop))
    assert (len(preview.audience.treatment_ids), len(preview.audience.control_ids)) == (4, 1)
    assert "Ranked by predicted revenue: the limit keeps the top 5 customers" in preview.notes[-2]
    predictions = shop.run.prediction_run_id
    assert preview.notes[-1] == (
        f"Scores of predictions #{predictions}: the next 90 days from 01 Jun 2024."
    )
    # untrusted predictions are called so; a ranking with nothing to cut says so
    PredictionRun.objects.filter(pk=shop.run.prediction_run_id).update(
        sufficient=False, metrics={"fit": {"reasons": ["fewer than 30 repeat buyers (9)"]}}
    )
    shop.run.refresh_from_db()
    untrusted = campaign_preview(_campaign(shop, name="Again"))
    assert untrusted.notes[-1] == (
        "These predictions are not trusted (fewer than 30 repeat buyers (9)): the ranking may be "
        "little better than a random sample."
    )
    unlimited = campaign_preview(_campaign(shop, name="All", recipient_limit=None))
    assert unlimited.notes[-1] == (
        "Ranked by predicted revenue, but there is no recipient limit: the whole audience is kept."
    )


def test_the_api_sets_shows_and_audits_the_ranking(shop, editor_user, api_client):
    editor = APIClient()
    editor.force_login(editor_user)
    created = editor.post(
        "/api/v1/campaigns/",
        {"name": "Win back", "conditions": EVERYONE, "recipient_limit": 5, "rank_by": "p_alive"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["rank_by"] == "p_alive"
    changed = editor.patch(f"/api/v1/campaigns/{pk}/", {"rank_by": "churn_risk"}, format="json")
    assert changed.json()["rank_by"] == "churn_risk"
    entry = CampaignAuditEntry.objects.filter(campaign_id=pk, action=AuditAction.CHANGED).get()
    assert entry.changes == {"rank_by": ["p_alive", "churn_risk"]}
    refused = editor.patch(f"/api/v1/campaigns/{pk}/", {"rank_by": "monetary"}, format="json")
    assert refused.status_code == 400
    # the preview ranks; partners read the ranking with the campaign
    preview = editor.get(f"/api/v1/campaigns/{pk}/preview/").json()
    assert preview["steps"][-2]["label"] == (
        "Recipient limit 5, ranked by churn risk: the top 5 kept"
    )
    detail = api_client([Scope.CAMPAIGNS_READ]).get(f"/api/v1/campaigns/{pk}/").json()
    assert detail["rank_by"] == "churn_risk"


def test_the_builder_saves_and_previews_the_ranking(shop, editor_user, client):
    client.force_login(editor_user)
    campaign = _campaign(shop, rank_by="")
    page = client.get(f"/campaigns/{campaign.pk}/audience/").content.decode()
    assert 'name="rank_by"' in page and "Predicted revenue (highest first)" in page
    fields = {
        "step": "audience",
        "audience_source": "segments",
        "conditions": '{"feature": "frequency", "cmp": ">=", "value": 1}',
        "top_share": "5",
        "rank_by": "clv",
    }
    live = client.post(f"/campaigns/{campaign.pk}/preview.json", fields).json()
    assert live["steps"][-2]["label"] == (
        "Recipient limit 5, ranked by predicted revenue: the top 5 kept"
    )
    assert (live["treatment"], live["control"]) == (4, 1)
    response = client.post(f"/campaigns/{campaign.pk}/audience/", fields)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.rank_by == "clv"
    detail = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Predicted revenue (highest first): the limit keeps the top 5" in detail


# -- rule conditions on the scores --------------------------------------------------------------


def test_conditions_on_the_scores_select_the_right_customers(shop):
    # given "churn risk > 0.6 AND monetary > 220": churn i/20 > 0.6 → K13..K15 (K16..K20 have
    # no score: no match), monetary 20 x i > 220 → K12 on
    conditions = {
        "op": "and",
        "children": [
            {"feature": "churn_risk", "cmp": ">", "value": 0.6},
            {"feature": "monetary", "cmp": ">", "value": 220},
        ],
    }
    campaign = _campaign(
        shop, conditions=conditions, recipient_limit=None, rank_by="", control_share=0
    )
    # when the audience is computed
    audience = campaign_audience(campaign, as_of=NOW)
    # then exactly K13, K14, K15 match
    assert shop.numbers(audience.customer_ids) == [13, 14, 15]
    assert audience.steps[2] == AudienceStep(
        label="Matching churn_risk > 0.6 AND monetary > 220", size=3, removed=17
    )
