"""The pipeline clean → features → segment (→ train) on the Online Retail sample."""

from io import StringIO

import pytest
from django.core.management import call_command

from ecomsite.engine.cleaning import RULES
from ecomsite.models import CleaningRun, RunStatus
from ecomsite.services.imports import import_file
from segments.models import (
    PipelineRun,
    PipelineTrigger,
    Segment,
    SegmentationRun,
    SegmentKind,
    SegmentMembership,
)
from segments.services.pipeline import pipeline_start
from segments.services.segmentation import segmentation_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def sample(sample_path):
    return import_file(path=sample_path, format="online-retail")


def test_sync_pipeline_runs_every_step(sample):
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 1.0
    cleaning = run.cleaning_run
    assert cleaning.events_seen == 76
    assert cleaning.report["before"]["rows"] == 76
    assert [rule["name"] for rule in cleaning.report["rules"]] == list(RULES)
    # 12583, 17850 and 17908 bought merchandise; 15311 only returned something (frequency 0);
    # the other three known customers have fee/discount lines only, which are not usable
    assert run.feature_run.customers == 4
    segmentation = run.segmentation_run
    assert segmentation.status == RunStatus.SUCCEEDED
    rfm_members = SegmentMembership.objects.filter(run=segmentation, segment__kind=SegmentKind.RFM)
    assert rfm_members.values("customer").distinct().count() == rfm_members.count()
    assert Segment.objects.filter(kind=SegmentKind.CLUSTER).exists()


def test_a_run_without_new_events_is_skipped(sample):
    first = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    second = pipeline_start(trigger=PipelineTrigger.SCHEDULE, sync=True)
    assert (second.skipped, second.status) == (True, RunStatus.SUCCEEDED)
    assert f"no new events since pipeline #{first.pk}" in second.progress_message
    assert CleaningRun.objects.count() == 1


@pytest.mark.parametrize("sync", [True, False])
def test_until_stops_after_the_named_step(sample, sync, django_capture_on_commit_callbacks):
    # given new events; when the pipeline runs only up to segmentation (no retraining)
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_start(trigger=PipelineTrigger.CLI, sync=sync, until="segment")
    run.refresh_from_db()
    # then it succeeds after the segment step and no training round was made
    assert (run.status, run.progress) == (RunStatus.SUCCEEDED, 1.0), run.error
    assert run.params["steps"] == ["clean", "features", "predict", "segment"]
    assert run.segmentation_run is not None
    # the segmentation joins the scores of the prediction step (rule segments may use them)
    assert run.prediction_run is not None
    assert run.segmentation_run.prediction_run == run.prediction_run
    assert run.training_run is None


def test_until_refuses_an_unknown_step(sample):
    with pytest.raises(ValueError, match="unknown pipeline step 'promote'"):
        pipeline_start(trigger=PipelineTrigger.CLI, sync=True, until="promote")
    assert not PipelineRun.objects.exists()


def test_cli_until_segment(sample):
    out = StringIO()
    call_command("run_pipeline", "--sync", "--until", "segment", stdout=out)
    assert "Training" not in out.getvalue()
    assert "succeeded" in out.getvalue()


def test_async_pipeline_goes_through_the_celery_chain(sample, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_start(trigger=PipelineTrigger.API)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.segmentation_run is not None


def test_a_failed_step_keeps_the_previous_results(sample, monkeypatch, sample_path, tmp_path):
    good = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    # new data arrives, then the features step breaks
    extra = tmp_path / "more.csv"
    extra.write_text(
        "customer_id,product_id,kind,quantity,unit_price,timestamp,order_id\n"
        "17850,85123A,purchase,2,2.55,2011-01-05T10:00:00Z,X1\n"
    )
    import_file(path=extra, format="csv")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("segments.services.features.customer_features", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    failed = PipelineRun.objects.latest("pk")
    assert failed.status == RunStatus.FAILED
    assert "features step failed: disk full" in failed.error
    assert failed.feature_run.status == RunStatus.FAILED
    # the last good segmentation is still the newest succeeded one, with its members
    newest = SegmentationRun.objects.filter(status=RunStatus.SUCCEEDED).latest("pk")
    assert newest == good.segmentation_run
    assert SegmentMembership.objects.filter(run=newest).exists()


def test_redoing_a_segmentation_step_does_not_double_members(sample):
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    segmentation = run.segmentation_run
    before = SegmentMembership.objects.filter(run=segmentation).count()
    SegmentationRun.objects.filter(pk=segmentation.pk).update(
        status=RunStatus.RUNNING, task_id="t-redo"
    )
    assert segmentation_run_execute(run_id=segmentation.pk, task_id="t-redo") is not None
    assert SegmentMembership.objects.filter(run=segmentation).count() == before


def test_run_pipeline_command(sample):
    out = StringIO()
    call_command("run_pipeline", "--sync", stdout=out)
    assert "succeeded" in out.getvalue()
    out = StringIO()
    call_command("run_pipeline", "--sync", stdout=out)
    assert "Skipped: no new events" in out.getvalue()


def test_rule_segments_are_evaluated(sample, staff_user):
    Segment.objects.create(
        kind=SegmentKind.RULE,
        name="Big French spenders",
        definition={"feature": "monetary", "cmp": ">", "value": 200},
        created_by=staff_user,
    )
    run = pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    members = SegmentMembership.objects.filter(
        run=run.segmentation_run, segment__name="Big French spenders"
    ).values_list("customer__external_id", flat=True)
    assert "12583" in set(members)  # the French customer spent £225 on merchandise
