"""The launch (campaigns/services/launch.py) on the core shop: recipients and their products,
messages to the treatment group only, the ad-audience CSV; idempotence under a retried task, a
crash mid-batch, a double click and two concurrent launches, with the unique constraints as the
proof; cancellation and the periodic sweep."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import threading
from collections import Counter

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.models import (
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    CampaignRunKind,
    CampaignStatus,
    Channel,
    OutboxMessage,
    OutboxStatus,
    RecipientGroup,
)
from campaigns.selectors import ContentReader, campaign_audience
from campaigns.services import campaigns as campaigns_service
from campaigns.services import launch
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_schedule,
)
from campaigns.services.launch import (
    campaign_launch_execute,
    campaigns_due_process,
    launch_runs_resume_stalled,
)
from campaigns.tasks import campaign_launch_task
from ecomsite.models import Customer, Product, RunStatus
from recommendations.selectors import customer_recommendations
from tests.integration.campaigns.core_shop import build_core_shop
from tests.integration.recommendations.serving_data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CAMPAIGN_DELIVERY_BACKENDS = {}


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path)


def _campaign(shop, **data) -> Campaign:
    values = {
        "name": "Spring candles",
        "subject": "New for spring",
        "message": "Hello!",
        "include_segments": shop.segment_ids("Alpha", "Beta"),
        "exclude_segments": shop.segment_ids("Excluded"),
        "control_share": 0.2,
        "content_k": 3,
    }
    values.update(data)
    return campaign_create(user=None, data=values)


def _launch_queued(campaign, user=None) -> CampaignRun:
    """campaign_launch without running the task (the commit callbacks are not executed)."""
    return campaign_launch(campaign=campaign, user=user)


def _state(campaign) -> dict[str, object]:
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    messages = OutboxMessage.objects.filter(recipient__campaign=campaign)
    return {
        "treatment": recipients.filter(group=RecipientGroup.TREATMENT).count(),
        "control": recipients.filter(group=RecipientGroup.CONTROL).count(),
        "messages": messages.count(),
        "sent": messages.filter(status=OutboxStatus.SENT).count(),
        "control_messages": messages.filter(recipient__group=RecipientGroup.CONTROL).count(),
        "sent_recipients": recipients.filter(sent_at__isnull=False).count(),
    }


def _no_duplicates(campaign) -> None:
    recipients = (
        CampaignRecipient.objects.filter(campaign=campaign)
        .values("customer")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    messages = (
        OutboxMessage.objects.filter(recipient__campaign=campaign)
        .values("recipient")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert (recipients.count(), messages.count()) == (0, 0)


# -- a launch -----------------------------------------------------------------------------------


def test_launch_materialises_recipients_with_products_and_sends_to_treatment_only(
    shop, django_capture_on_commit_callbacks
):
    # given a campaign over Alpha + Beta minus Excluded (11 customers), 20% control
    campaign = _campaign(shop)
    audience = campaign_audience(campaign)
    # when launched (the task runs when the transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        run = campaign_launch(campaign=campaign, user=None)
    run.refresh_from_db()
    campaign.refresh_from_db()
    # then the run succeeded and the campaign is running until its results complete it
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert campaign.status == CampaignStatus.RUNNING
    assert (campaign.segmentation_run, campaign.model_run) == (shop.run, shop.model)
    # 11 recipients: round(2.2) = 2 control, 9 treated and sent one message each
    assert _state(campaign) == {
        "treatment": 9,
        "control": 2,
        "messages": 9,
        "sent": 9,
        "control_messages": 0,
        "sent_recipients": 9,
    }
    groups = dict(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "group")
    )
    assert {pk for pk, g in groups.items() if g == "control"} == set(audience.control_ids)
    assert {pk for pk, g in groups.items() if g == "treatment"} == set(audience.treatment_ids)
    # each recipient has their first 3 model rows with the model's reasons: for K<i> the ranks
    # 1-3 are P((i + rank - 1) mod 6 + 1) (core_shop.py), e.g. K03: P4, P5, P6
    for recipient in CampaignRecipient.objects.filter(campaign=campaign):
        i = shop.number(recipient.customer_id)
        skus = [f"P{(i + rank - 1) % 6 + 1}" for rank in (1, 2, 3)]
        assert recipient.products == [
            {
                "product": sku,
                "title": f"Product {sku[1]}",
                "score": score,
                "reason": f"because K{i:02d}",
                "source": "model",
            }  # fmt: skip
            for sku, score in zip(skus, (0.9, 0.8, 0.7), strict=True)
        ]
    # the message of the first treated customer: address, subject, message and products
    i = shop.number(audience.treatment_ids[0])
    message = OutboxMessage.objects.get(recipient__customer_id=shop.pk(i))
    assert (message.backend, message.address, message.subject) == (
        "outbox",
        f"k{i:02d}@example.com",
        "New for spring",
    )
    skus = [f"P{(i + rank - 1) % 6 + 1}" for rank in (1, 2, 3)]
    assert message.body == "Hello!\n\n" + "\n".join(
        f"• Product {sku[1]} ({sku}) — because K{i:02d}" for sku in skus
    )
    assert run.metrics["recipients"] == 11 and run.metrics["sent"] == 9
    assert run.metrics["audience"] == 11 and run.metrics["already_there"] == 0
    assert run.progress == 1.0


def test_the_task_takes_the_run_id(shop):
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    campaign_launch_task.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.task_id  # the eager task's id, recorded when it claimed the run
    assert _state(campaign)["sent"] == 9


# -- idempotence --------------------------------------------------------------------------------


def test_a_retried_task_changes_nothing(shop):
    # given a launch executed once
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    campaign_launch_execute(run_id=run.pk, task_id="t-1")
    sent_at = dict(OutboxMessage.objects.values_list("pk", "sent_at"))
    # when the same task is delivered again, and when the run is forced to run again
    assert campaign_launch_execute(run_id=run.pk, task_id="t-1") is None  # finished: returns
    CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.PENDING)
    again = campaign_launch_execute(run_id=run.pk, task_id="t-2")
    # then nothing new: the same recipients, the same messages sent at the same times
    assert again is not None and again.status == RunStatus.SUCCEEDED
    assert again.metrics["already_there"] == 11 and again.metrics["materialised_now"] == 0
    assert again.metrics["sent_now"] == 0
    assert dict(OutboxMessage.objects.values_list("pk", "sent_at")) == sent_at
    assert _state(campaign)["messages"] == 9
    _no_duplicates(campaign)


def test_a_crash_mid_batch_then_a_rerun_completes_without_duplicates(shop, monkeypatch):
    # given batches of 3 and a worker that dies delivering the second batch
    monkeypatch.setattr(launch, "BATCH_SIZE", 3)
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    real = launch.messages_deliver
    calls = []

    def dying(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: nothing catches it
        return real(**kwargs)

    monkeypatch.setattr(launch, "messages_deliver", dying)
    with pytest.raises(SystemExit):
        campaign_launch_execute(run_id=run.pk, task_id="t-1")
    # then 6 recipients exist, the first batch's treated sent, the second's queued, not sent
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # nobody recorded the crash
    half = _state(campaign)
    assert half["treatment"] + half["control"] == 6
    assert half["sent"] < half["messages"]
    first_sent = dict(
        OutboxMessage.objects.filter(status=OutboxStatus.SENT).values_list("pk", "sent_at")
    )
    # when the task is redelivered (same task id, late acks) and runs to the end
    monkeypatch.setattr(launch, "messages_deliver", real)
    campaign_launch_execute(run_id=run.pk, task_id="t-1")
    run.refresh_from_db()
    # then the audience is complete, every treated customer sent exactly once
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert _state(campaign) == {
        "treatment": 9,
        "control": 2,
        "messages": 9,
        "sent": 9,
        "control_messages": 0,
        "sent_recipients": 9,
    }
    assert run.metrics["already_there"] == 6
    for pk, at in first_sent.items():  # the first batch was not sent again
        assert OutboxMessage.objects.get(pk=pk).sent_at == at
    _no_duplicates(campaign)


def test_a_crash_while_materialising_then_a_relaunch_resumes(shop, monkeypatch):
    # given a content read that fails on the third batch (an error this time: the run fails)
    monkeypatch.setattr(launch, "BATCH_SIZE", 4)
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    real = ContentReader.read
    calls = []

    def failing(self, customers):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("database went away")
        return real(self, customers)

    monkeypatch.setattr(ContentReader, "read", failing)
    with pytest.raises(RuntimeError):
        campaign_launch_execute(run_id=run.pk, task_id="t-1")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "database went away" in run.error
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 8
    # when staff launch again (the run is resumed, not duplicated)
    monkeypatch.setattr(ContentReader, "read", real)
    again = campaign_launch(campaign=campaign, user=None)
    assert again.pk == run.pk and again.status == RunStatus.PENDING
    campaign_launch_execute(run_id=run.pk, task_id="t-2")
    run.refresh_from_db()
    # then it completes from where it stopped
    assert run.status == RunStatus.SUCCEEDED
    assert run.metrics["already_there"] == 8 and run.metrics["materialised_now"] == 3
    assert _state(campaign)["messages"] == 9 and _state(campaign)["sent"] == 9
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    entries = CampaignAuditEntry.objects.filter(campaign=campaign, action=AuditAction.LAUNCHED)
    assert [e.changes.get("resumed", False) for e in entries.order_by("pk")] == [False, True]
    _no_duplicates(campaign)


def test_a_double_click_gives_the_same_run(shop):
    campaign = _campaign(shop)
    first = campaign_launch(campaign=campaign, user=None)
    second = campaign_launch(campaign=campaign, user=None)
    assert first.pk == second.pk
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert CampaignAuditEntry.objects.filter(action=AuditAction.LAUNCHED).count() == 1


def test_the_unique_constraints_refuse_a_second_recipient_message_or_launch_run(shop):
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    campaign_launch_execute(run_id=run.pk)
    recipient = CampaignRecipient.objects.filter(
        campaign=campaign, group=RecipientGroup.TREATMENT
    ).first()
    assert recipient is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.create(
            campaign=campaign, customer=recipient.customer, group=RecipientGroup.CONTROL
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboxMessage.objects.create(recipient=recipient, channel=Channel.EMAIL, backend="outbox")
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRun.objects.create(campaign=campaign, kind=CampaignRunKind.LAUNCH)


def test_two_launches_racing_make_one_run(shop, monkeypatch):
    # given a second click that gets in while the first is between reading and writing (after
    # computing the audience, before moving the campaign)
    campaign = _campaign(shop)
    real = campaigns_service.campaign_audience
    second: list[CampaignRun] = []
    raced: list[bool] = []

    def racing(*args, **kwargs):
        audience = real(*args, **kwargs)
        if not raced:
            raced.append(True)
            second.append(campaign_launch(campaign=Campaign.objects.get(pk=campaign.pk), user=None))
        return audience

    monkeypatch.setattr(campaigns_service, "campaign_audience", racing)
    # when the first click goes on
    first = campaign_launch(campaign=campaign, user=None)
    # then its conditional update matched nothing, and it answers with the second's run
    assert first.pk == second[0].pk
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert CampaignAuditEntry.objects.filter(action=AuditAction.LAUNCHED).count() == 1


def test_two_executions_overlapping_insert_nothing_twice(shop, monkeypatch):
    # given a second copy of the task (same id: a redelivery while the first worker still
    # runs) that runs to the end between the first's content read and its insert
    monkeypatch.setattr(launch, "BATCH_SIZE", 4)
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    real = ContentReader.read
    nested: list[object] = []

    def overlapping(self, customers):
        answer = real(self, customers)
        if not nested:
            nested.append(True)
            campaign_launch_execute(run_id=run.pk, task_id="same")
        return answer

    monkeypatch.setattr(ContentReader, "read", overlapping)
    # when the first goes on: its insert of the same 4 recipients meets the unique constraint
    campaign_launch_execute(run_id=run.pk, task_id="same")
    # then everything exists once, each treated customer was sent once
    assert _state(campaign) == {
        "treatment": 9,
        "control": 2,
        "messages": 9,
        "sent": 9,
        "control_messages": 0,
        "sent_recipients": 9,
    }
    assert CampaignRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    _no_duplicates(campaign)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_launches_in_threads_make_one_of_everything(tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        # The in-memory SQLite test database refuses concurrent connections ("table is
        # locked") where the WAL file of a real one waits; the two tests above replay the same
        # races on one connection.
        pytest.skip("needs a server database: threads write at the same time")
    # given a campaign (batches of 2, so the two executions interleave)
    shop = build_core_shop(tmp_path)
    monkeypatch.setattr(launch, "BATCH_SIZE", 2)
    # the launch's own task would run inline at commit here (eager Celery): keep it out, the
    # test runs the executions itself
    monkeypatch.setattr(campaigns_service, "_enqueue", lambda run: None)
    campaign = _campaign(shop)
    barrier = threading.Barrier(2)
    runs: list[int] = []
    errors: list[BaseException] = []

    def click() -> None:
        try:
            barrier.wait(timeout=10)
            runs.append(
                campaign_launch(campaign=Campaign.objects.get(pk=campaign.pk), user=None).pk
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when two staff members press Launch at the same moment
    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then both get the one launch run
    assert errors == []
    assert len(runs) == 2 and runs[0] == runs[1]
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert CampaignAuditEntry.objects.filter(action=AuditAction.LAUNCHED).count() == 1

    # when the task is delivered twice and both copies run at once (a redelivery while the first
    # worker is still alive: same task id, so both may claim the run)
    def execute() -> None:
        try:
            barrier.wait(timeout=10)
            campaign_launch_execute(run_id=runs[0], task_id="same-task")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then one recipient per customer, one message per treated recipient, each sent once
    assert errors == []
    assert CampaignRun.objects.get(pk=runs[0]).status == RunStatus.SUCCEEDED
    assert _state(campaign) == {
        "treatment": 9,
        "control": 2,
        "messages": 9,
        "sent": 9,
        "control_messages": 0,
        "sent_recipients": 9,
    }
    _no_duplicates(campaign)


# -- content ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 4, 6])
@pytest.mark.parametrize("category", ["", "Candles", "Mugs", "Home"])
def test_batched_content_equals_the_serving_selector(k, category):
    # given the serving tests' shop (model rows, an inactive product, every fallback list)
    shop = build_shop()
    customers = [(c.pk, c.country) for c in shop.customers.values()]
    reader = ContentReader(
        model_id=shop.model.pk,
        k=k,
        category=category,
        segmentation_run_id=shop.champions.memberships.first().run_id,
    )
    # when read in one batch
    batch = reader.read(customers)
    # then each list is exactly what the serving selector answers for the customer
    for customer in shop.customers.values():
        expected = customer_recommendations(customer.external_id, k=k, category=category).items
        assert batch[customer.pk] == expected, customer.external_id


def test_content_limited_to_staff_products_fills_from_their_list(shop):
    # given content limited to P2 and P6 (K03's rows are P4, P5, P6, P1: only P6 is one of them)
    campaign = _campaign(shop, content_products=["P6", "P2"], content_k=2)
    reader = launch.content_reader(
        campaign, model_id=shop.model.pk, segmentation_run_id=shop.run.pk
    )
    items = reader.read([(shop.pk(3), "United Kingdom")])[shop.pk(3)]
    # then P6 from the model, P2 from K03's RFM segment's list (Champions: P2, P3)
    assert [(i.product_id, i.reason, i.source) for i in items] == [
        ("P6", "because K03", "model"),
        ("P2", "popular in your segment (Champions)", "fallback: segment"),
    ]
    # and a product no list has comes from staff's own list
    Product.objects.create(external_id="P9", title="Product 9", category="Mugs")
    campaign = _campaign(shop, content_products=["P9", "P6"], content_k=2)
    reader = launch.content_reader(campaign, model_id=shop.model.pk, segmentation_run_id=None)
    items = reader.read([(shop.pk(3), "United Kingdom")])[shop.pk(3)]
    assert [(i.product_id, i.source) for i in items] == [("P6", "model"), ("P9", "campaign")]


def test_new_customers_get_the_fallbacks_in_the_serving_order(shop):
    # K16 (France, new to the model, in no RFM segment): France's list, then trending
    reader = ContentReader(model_id=shop.model.pk, k=4, segmentation_run_id=shop.run.pk)
    items = reader.read([(shop.pk(16), "France")])[shop.pk(16)]
    assert [(i.product_id, i.source) for i in items] == [
        ("P6", "fallback: country"),
        ("P5", "fallback: country"),
        ("P4", "fallback: trending"),
        ("P1", "fallback: popular"),
    ]


# -- ad audiences -------------------------------------------------------------------------------


def test_an_ad_audience_is_written_as_hashed_csv_without_messages(shop):
    # given an ad-audience campaign (K20 has no email: its email hash is empty)
    campaign = _campaign(shop, channel=Channel.AD_AUDIENCE, include_segments=[], conditions={
        "feature": "frequency", "cmp": ">=", "value": 17})  # fmt: skip
    run = _launch_queued(campaign)
    campaign_launch_execute(run_id=run.pk)
    run.refresh_from_db()
    # then a CSV of the treatment group, no message at all
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert OutboxMessage.objects.count() == 0
    treated = CampaignRecipient.objects.filter(campaign=campaign, group=RecipientGroup.TREATMENT)
    assert treated.count() == 3 and treated.filter(sent_at__isnull=True).count() == 0
    with open(run.artifact, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["external_id_sha256", "email_sha256"]

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest() if text else ""

    expected = []
    for recipient in treated.select_related("customer").order_by("pk"):
        customer = recipient.customer
        email = f"k{customer.external_id[1:]}@example.com" if customer.external_id != "K20" else ""
        expected.append([sha(customer.external_id), sha(email)])
    assert rows[1:] == expected
    assert run.metrics["backend"] == "ad_audience_csv"


# -- cancelling and superseding -----------------------------------------------------------------


def test_cancelling_during_the_launch_stops_it_at_the_next_batch(shop, monkeypatch):
    monkeypatch.setattr(launch, "BATCH_SIZE", 4)
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    real = launch._materialise
    calls = []

    def then_cancel(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            campaign_cancel(campaign=Campaign.objects.get(pk=campaign.pk), user=None)

    monkeypatch.setattr(launch, "_materialise", then_cancel)
    campaign_launch_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "The campaign was cancelled during its launch."
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 4


def test_an_attempt_that_lost_its_run_stops_quietly(shop, monkeypatch):
    monkeypatch.setattr(launch, "BATCH_SIZE", 4)
    campaign = _campaign(shop)
    run = _launch_queued(campaign)
    real = launch._materialise

    def taken_over(*args, **kwargs):
        real(*args, **kwargs)
        CampaignRun.objects.filter(pk=run.pk).update(task_id="another")

    monkeypatch.setattr(launch, "_materialise", taken_over)
    campaign_launch_execute(run_id=run.pk, task_id="mine")
    run.refresh_from_db()
    assert (run.status, run.task_id) == (RunStatus.RUNNING, "another")
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 4


# -- the periodic sweep -------------------------------------------------------------------------


def test_the_sweep_launches_due_campaigns_and_refuses_empty_ones(shop, monkeypatch):
    # given two scheduled campaigns due now; the second's audience has emptied since
    due = _campaign(shop)
    empty = _campaign(shop, include_segments=shop.segment_ids("Excluded"), exclude_segments=[])
    later = _campaign(shop)
    for campaign in (due, empty, later):
        campaign_schedule(campaign=campaign, user=None, at=timezone.now() + dt.timedelta(minutes=5))
    Customer.objects.filter(pk__in=shop.pks(range(9, 13))).update(email_consent=False)
    # when the sweep runs 10 minutes later (later's time is in an hour)
    Campaign.objects.filter(pk=later.pk).update(scheduled_at=timezone.now() + dt.timedelta(hours=1))
    report = campaigns_due_process(now=timezone.now() + dt.timedelta(minutes=10))
    # then the due one is running, the empty one back to draft with the reason in the audit log
    assert (report.launched, report.refused) == ([due.pk], [empty.pk])
    statuses = dict(Campaign.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "running", empty.pk: "draft", later.pk: "scheduled"}
    entry = CampaignAuditEntry.objects.filter(campaign=empty).first()
    assert entry is not None and entry.actor_label == "system"
    assert entry.changes["status"] == ["scheduled", "draft"]
    assert entry.changes["reason"].startswith("Not launched: The audience is empty")


def test_the_sweep_queues_stalled_launches_again(shop, settings):
    settings.CAMPAIGN_LAUNCH_STALE_SECONDS = 60
    campaign = _campaign(shop)
    run = _launch_queued(campaign)  # its task never ran (a lost message)
    CampaignRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        task_id="dead-worker",
        updated_at=timezone.now() - dt.timedelta(minutes=5),
    )
    # a fresh running run is left alone
    assert (
        launch_runs_resume_stalled(now=timezone.now() - dt.timedelta(minutes=4, seconds=30)) == []
    )
    # a stale one is queued again (its task is sent when the transaction commits)
    resumed = launch_runs_resume_stalled()
    assert resumed == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING and run.task_id == ""
    campaign_launch_execute(run_id=run.pk, task_id="new")
    assert _state(campaign)["sent"] == 9


def test_the_sweep_completes_campaigns_after_their_attribution_window(shop):
    campaign = _campaign(shop, attribution_days=7)
    run = _launch_queued(campaign)
    campaign_launch_execute(run_id=run.pk)
    # within the window nothing happens; after it the results are computed and stored
    assert campaigns_due_process(now=timezone.now() + dt.timedelta(days=6)).completed == []
    report = campaigns_due_process(now=timezone.now() + dt.timedelta(days=7, minutes=1))
    assert report.completed == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED and campaign.completed_at is not None
    assert campaign.results["groups"]["treatment"]["recipients"] == 9
    assert campaign.results_computed_at is not None
    actions = Counter(
        CampaignAuditEntry.objects.filter(campaign=campaign).values_list("action", flat=True)
    )
    assert actions == {"created": 1, "launched": 1, "completed": 1}
