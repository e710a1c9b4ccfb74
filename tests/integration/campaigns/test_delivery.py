"""Delivery backends (campaigns/services/delivery.py): the outbox, Django email, the claim that
sends each message at most once, message text, the ad-audience CSV."""

from __future__ import annotations

import hashlib

import pytest
from django.core import mail

from campaigns.models import (
    Campaign,
    CampaignRecipient,
    Channel,
    OutboxMessage,
    OutboxStatus,
    RecipientGroup,
)
from campaigns.services.campaigns import campaign_create, campaign_launch
from campaigns.services.delivery import (
    DeliveryBackend,
    EmailBackend,
    OutboxBackend,
    ad_audience_write,
    delivery_backend,
    message_address,
    message_render,
    messages_deliver,
    messages_queue,
)
from campaigns.services.launch import campaign_launch_execute
from ecomsite.models import RunStatus
from tests.integration.campaigns.core_shop import build_core_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CAMPAIGN_DELIVERY_BACKENDS = {}


@pytest.fixture
def shop(tmp_path):
    return build_core_shop(tmp_path)


def _recipients(shop, numbers, *, channel=Channel.EMAIL) -> Campaign:
    """A running campaign whose treatment recipients are these customers (no launch run)."""
    campaign = Campaign.objects.create(
        name="Hand-made", channel=channel, subject="Hi", message="Look:", status="running"
    )
    for number in numbers:
        CampaignRecipient.objects.create(
            campaign=campaign,
            customer=shop.customers[number],
            group=RecipientGroup.TREATMENT,
            products=[{"product": "P1", "title": "Product 1", "reason": "you like it"}],
        )
    return campaign


def _ids(campaign) -> list[int]:
    return list(
        OutboxMessage.objects.filter(recipient__campaign=campaign)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def test_backends_follow_the_setting(settings):
    assert isinstance(delivery_backend(Channel.EMAIL), OutboxBackend)
    settings.CAMPAIGN_DELIVERY_BACKENDS = {
        "email": "email",
        "sms": "tests.integration.campaigns.test_delivery.RecordingBackend",
    }
    assert isinstance(delivery_backend(Channel.EMAIL), EmailBackend)
    assert isinstance(delivery_backend(Channel.SMS), RecordingBackend)
    assert isinstance(delivery_backend(Channel.PUSH), OutboxBackend)


def test_outbox_delivers_queued_messages_once(shop):
    # given three treated recipients with queued messages
    campaign = _recipients(shop, [1, 2, 3])
    assert messages_queue(campaign=campaign) == 3
    assert messages_queue(campaign=campaign) == 0  # one message per recipient
    ids = _ids(campaign)
    # when delivered, then delivered again
    first = messages_deliver(message_ids=ids, backend=OutboxBackend())
    second = messages_deliver(message_ids=ids, backend=OutboxBackend())
    # then sent once, with the recipients' sent_at set to the messages' time
    assert (first.sent, first.failed, second.sent) == (3, 0, 0)
    for message in OutboxMessage.objects.select_related("recipient"):
        assert message.status == OutboxStatus.SENT
        assert message.recipient.sent_at == message.sent_at is not None


def test_email_goes_through_django_mail_to_the_normalised_address(shop, settings):
    # given the email backend (Django's test runner swaps in its in-memory mail outbox)
    settings.CAMPAIGN_DELIVERY_BACKENDS = {"email": "email"}
    settings.DEFAULT_FROM_EMAIL = "shop@example.com"
    campaign = _recipients(shop, [3, 20])  # K20 has no email address
    messages_queue(campaign=campaign)
    # when delivered twice
    report = messages_deliver(message_ids=_ids(campaign), backend=EmailBackend())
    again = messages_deliver(message_ids=_ids(campaign), backend=EmailBackend())
    # then K03 got one email, K20's message failed with the reason; nothing was sent twice
    assert (report.sent, report.failed, again.sent, again.failed) == (1, 1, 0, 0)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert (email.to, email.from_email, email.subject) == (
        ["k03@example.com"],
        "shop@example.com",
        "Hi",
    )
    assert email.body == "Look:\n\n• Product 1 (P1) — you like it"
    failed = OutboxMessage.objects.get(recipient__customer=shop.customers[20])
    assert (failed.status, failed.error, failed.backend) == (
        OutboxStatus.FAILED,
        "The customer has no email address.",
        "email",
    )
    assert failed.recipient.sent_at is None and failed.sent_at is None


class RecordingBackend(DeliveryBackend):
    """An external backend that records what it sends and fails for one address."""

    name = "recording"
    sent: list[str] = []

    def send(self, message: OutboxMessage) -> None:
        if message.address == "k02@example.com":
            raise ConnectionError("gateway down")
        RecordingBackend.sent.append(message.address)


def test_an_external_backend_sends_only_what_it_claimed(shop):
    # given messages for K01, K02, K03, of which K03's was already sent by another attempt
    RecordingBackend.sent = []
    campaign = _recipients(shop, [1, 2, 3])
    messages_queue(campaign=campaign)
    OutboxMessage.objects.filter(recipient__customer=shop.customers[3]).update(
        status=OutboxStatus.SENT
    )
    # when this attempt delivers all three
    report = messages_deliver(message_ids=_ids(campaign), backend=RecordingBackend())
    # then K01 was sent, K02 failed with the backend's error, K03 was not sent again
    assert (report.sent, report.failed) == (1, 1)
    assert RecordingBackend.sent == ["k01@example.com"]
    failed = OutboxMessage.objects.get(status=OutboxStatus.FAILED)
    assert (failed.recipient.customer.external_id, failed.error) == (
        "K02",
        "ConnectionError: gateway down",
    )


def test_a_failing_send_is_marked_failed_and_never_retried(shop):
    # given a backend whose errors are DeliveryErrors (the email backend wraps SMTP errors)
    from campaigns.services.delivery import DeliveryError

    class Flaky(DeliveryBackend):
        name = "flaky"
        sent: list[str] = []

        def send(self, message: OutboxMessage) -> None:
            if message.address == "k02@example.com":
                raise DeliveryError("550 mailbox unavailable")
            self.sent.append(message.address)

    campaign = _recipients(shop, [1, 2, 3])
    messages_queue(campaign=campaign)
    backend = Flaky()
    report = messages_deliver(message_ids=_ids(campaign), backend=backend)
    again = messages_deliver(message_ids=_ids(campaign), backend=backend)
    assert (report.sent, report.failed, again.sent, again.failed) == (2, 1, 0, 0)
    assert backend.sent == ["k01@example.com", "k03@example.com"]
    statuses = dict(OutboxMessage.objects.values_list("recipient__customer__external_id", "status"))
    assert statuses == {"K01": "sent", "K02": "failed", "K03": "sent"}
    assert OutboxMessage.objects.get(status="failed").error == "550 mailbox unavailable"


def test_a_whole_launch_by_email(shop, settings):
    # given an email campaign over Alpha (K01-K10), no control group, email configured
    settings.CAMPAIGN_DELIVERY_BACKENDS = {"email": "email"}
    campaign = campaign_create(
        user=None,
        data={
            "name": "Email",
            "subject": "Spring",
            "include_segments": shop.segment_ids("Alpha"),
            "control_share": 0,
        },
    )
    run = campaign_launch(campaign=campaign, user=None)
    campaign_launch_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(m.to[0] for m in mail.outbox) == [f"k{i:02d}@example.com" for i in range(1, 11)]
    assert run.metrics["backend"] == "email" and run.metrics["sent"] == 10
    # and running it again sends nothing more
    from campaigns.models import CampaignRun

    CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.PENDING)
    campaign_launch_execute(run_id=run.pk)
    assert len(mail.outbox) == 10


@pytest.mark.parametrize(
    ("channel", "attributes", "address"),
    [
        (Channel.EMAIL, {"email": "  A.B@Example.COM "}, "a.b@example.com"),
        (Channel.SMS, {"phone": " +44 20 7946 0000 "}, "+44 20 7946 0000"),
        (Channel.PUSH, {"push_token": "tok-1"}, "tok-1"),
        (Channel.EMAIL, {}, ""),
        (Channel.AD_AUDIENCE, {"email": "x@y.z"}, ""),
    ],
)
def test_message_address(channel, attributes, address):
    assert message_address(channel, attributes) == address


def test_message_render_without_a_subject_uses_the_name():
    campaign = Campaign(name="Spring", subject="", message="")
    subject, body = message_render(
        campaign, [{"product": "P1", "title": "Candle"}, {"product": "P2", "reason": "new"}]
    )
    assert subject == "Spring"
    assert body == "• Candle (P1)\n• P2 (P2) — new"


def test_ad_audience_csv_holds_treated_hashes_only(shop, tmp_path):
    # given treated K01 and K20 (no email), and K02 held out as control
    campaign = _recipients(shop, [1, 20], channel=Channel.AD_AUDIENCE)
    CampaignRecipient.objects.create(
        campaign=campaign, customer=shop.customers[2], group=RecipientGroup.CONTROL
    )
    path = tmp_path / "out" / "audience.csv"
    path.parent.mkdir()
    path.write_text("stale file from an earlier attempt\n")
    # when written
    count = ad_audience_write(campaign=campaign, path=path)

    # then the file is replaced with the two treated customers' hashes
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    assert count == 2
    assert path.read_text().splitlines() == [
        "external_id_sha256,email_sha256",
        f"{sha('K01')},{sha('k01@example.com')}",
        f"{sha('K20')},",
    ]
    assert [p.name for p in path.parent.iterdir()] == ["audience.csv"]
