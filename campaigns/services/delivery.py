"""Delivery: messages handed to a pluggable backend, each sent at most once; ad audiences written
as CSV of hashed ids and emails.

Backends are chosen per channel by ``settings.CAMPAIGN_DELIVERY_BACKENDS`` ({channel: name or
dotted path}); a channel not listed uses the outbox.

* ``outbox`` (default): the OutboxMessage table is the delivery. Marking a message sent hands it
  over (to staff reading it in the admin, or a relay that reads sent rows); nothing leaves the
  database, so a whole batch is claimed and delivered in one transaction.
* ``email``: Django's email framework (SMTP with EMAIL_HOST, or whatever EMAIL_BACKEND says), to
  the customer's ``attributes["email"]``; messages without one fail with that reason.

Exactly-once is impossible with an outside system, so the guard is *at most once*: a message is
sent only by whoever moved it from queued to sent (a conditional UPDATE that matches once). An
external backend claims one message at a time and sends it after the claim commits, so a crash
between claim and send loses at most that one message and never sends one twice; a failed send
is marked failed with its error. Together with one OutboxMessage per recipient (a unique
constraint) a retried task, a redelivered one or two concurrent ones never send twice.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from campaigns.models import (
    Campaign,
    CampaignRecipient,
    Channel,
    OutboxMessage,
    OutboxStatus,
    RecipientGroup,
)
from campaigns.selectors import ID_CHUNK, normalised_email, sha256_hex

# Where a channel's address lives in Customer.attributes.
ADDRESS_ATTRIBUTE = {Channel.EMAIL: "email", Channel.SMS: "phone", Channel.PUSH: "push_token"}
AD_AUDIENCE_COLUMNS = ("external_id_sha256", "email_sha256")
MAX_LINE = 200


class DeliveryError(Exception):
    """One message could not be sent; the message says why (stored on the message)."""


class DeliveryBackend:
    """Sends one message. `external` backends reach outside the database (so each message is
    claimed and sent on its own); the others deliver by the claim itself."""

    name = ""
    external = True

    def open(self) -> None:
        """Called before a batch (e.g. open one SMTP connection for it)."""

    def close(self) -> None:
        """Called after a batch, also after an error."""

    def send(self, message: OutboxMessage) -> None:
        raise NotImplementedError


class OutboxBackend(DeliveryBackend):
    name = "outbox"
    external = False

    def send(self, message: OutboxMessage) -> None:
        """Nothing to do: the row marked sent is the delivery."""


class EmailBackend(DeliveryBackend):
    """Django's email framework: one connection per batch, one email per message."""

    name = "email"

    def __init__(self) -> None:
        self.connection: Any = None

    def open(self) -> None:
        self.connection = get_connection(fail_silently=False)
        self.connection.open()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, message: OutboxMessage) -> None:
        if not message.address:
            raise DeliveryError("The customer has no email address.")
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            connection=self.connection,
        )
        try:
            sent = email.send(fail_silently=False)
        except Exception as exc:  # SMTP errors, refused addresses, timeouts: all per message
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not sent:
            raise DeliveryError("The email backend accepted no message.")


BACKENDS: dict[str, type[DeliveryBackend]] = {"outbox": OutboxBackend, "email": EmailBackend}


def delivery_backend(channel: str) -> DeliveryBackend:
    """The configured backend of a channel (settings.CAMPAIGN_DELIVERY_BACKENDS)."""
    configured: Mapping[str, str] = getattr(settings, "CAMPAIGN_DELIVERY_BACKENDS", {})
    name = configured.get(str(channel), "outbox")
    backend = BACKENDS.get(name) or import_string(name)
    return backend()


# -- messages -----------------------------------------------------------------------------------


def message_address(channel: str, attributes: Mapping[str, Any] | None) -> str:
    key = ADDRESS_ATTRIBUTE.get(Channel(channel))
    value = (attributes or {}).get(key, "") if key else ""
    address = str(value or "").strip()
    return normalised_email(address) if channel == Channel.EMAIL else address


def message_render(campaign: Campaign, products: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(subject, body): the campaign's message, then each product with its reason."""
    subject = (campaign.subject or campaign.name)[:MAX_LINE]
    lines = [campaign.message.strip()] if campaign.message.strip() else []
    if products:
        if lines:
            lines.append("")
        for item in products:
            title = item.get("title") or item.get("product")
            reason = f" — {item['reason']}" if item.get("reason") else ""
            lines.append(f"• {title} ({item.get('product')}){reason}")
    return subject, "\n".join(lines)


def messages_queue(*, campaign: Campaign, recipient_ids: Sequence[int] | None = None) -> int:
    """Queue one message per treatment recipient that has none yet (all of the campaign's, or
    only `recipient_ids`). The OneToOne recipient column makes a repeat a no-op. Returns how many
    rows were new."""
    backend = delivery_backend(campaign.channel)
    recipients = CampaignRecipient.objects.filter(
        campaign=campaign, group=RecipientGroup.TREATMENT, message__isnull=True
    )
    if recipient_ids is not None:
        recipients = recipients.filter(pk__in=list(recipient_ids))
    made = 0
    last = 0
    while True:
        chunk = list(
            recipients.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "customer__attributes", "products")[:ID_CHUNK]
        )
        if not chunk:
            return made
        last = chunk[-1][0]
        messages = []
        for pk, attributes, products in chunk:
            subject, body = message_render(campaign, products or [])
            messages.append(
                OutboxMessage(
                    recipient_id=pk,
                    channel=campaign.channel,
                    backend=backend.name,
                    address=message_address(campaign.channel, attributes)[:254],
                    subject=subject,
                    body=body,
                )
            )
        queued = OutboxMessage.objects.filter(recipient_id__in=[m.recipient_id for m in messages])
        before = queued.count()  # 0 unless a concurrent attempt queued some meanwhile
        OutboxMessage.objects.bulk_create(messages, batch_size=ID_CHUNK, ignore_conflicts=True)
        made += queued.count() - before


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(self.sent + other.sent, self.failed + other.failed)


def messages_deliver(*, message_ids: Sequence[int], backend: DeliveryBackend) -> DeliveryReport:
    """Send the queued messages among `message_ids` with `backend`, each at most once (module
    docstring); the recipients of sent messages get their sent_at."""
    if not message_ids:
        return DeliveryReport()
    if not backend.external:
        return _deliver_by_claim(message_ids)
    sent = failed = 0
    backend.open()
    try:
        queued = OutboxMessage.objects.filter(pk__in=list(message_ids), status=OutboxStatus.QUEUED)
        for message in queued.order_by("pk"):
            now = timezone.now()
            with transaction.atomic():
                claimed = OutboxMessage.objects.filter(
                    pk=message.pk, status=OutboxStatus.QUEUED
                ).update(status=OutboxStatus.SENT, sent_at=now, updated_at=now)
                if claimed:
                    CampaignRecipient.objects.filter(pk=message.recipient_id).update(
                        sent_at=now, updated_at=now
                    )
            if not claimed:  # someone else sent it (a concurrent or earlier attempt)
                continue
            try:
                backend.send(message)
                sent += 1
            except DeliveryError as exc:
                _mark_failed(message, str(exc))
                failed += 1
            except Exception as exc:  # a backend's own bug or outage: this message failed
                _mark_failed(message, f"{type(exc).__name__}: {exc}")
                failed += 1
    finally:
        backend.close()
    return DeliveryReport(sent=sent, failed=failed)


def _deliver_by_claim(message_ids: Sequence[int]) -> DeliveryReport:
    now = timezone.now()
    with transaction.atomic():
        # Locked rows are being claimed by a concurrent attempt: skip them (PostgreSQL; SQLite
        # runs one writing transaction at a time, so there are none).
        claim = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(message_ids), status=OutboxStatus.QUEUED)
            .values_list("pk", "recipient_id")
        )
        rows = list(claim)
        if not rows:
            return DeliveryReport()
        pks = [pk for pk, _ in rows]
        sent = OutboxMessage.objects.filter(pk__in=pks, status=OutboxStatus.QUEUED).update(
            status=OutboxStatus.SENT, sent_at=now, updated_at=now
        )
        CampaignRecipient.objects.filter(pk__in=[r for _, r in rows]).update(
            sent_at=now, updated_at=now
        )
    return DeliveryReport(sent=sent)


def _mark_failed(message: OutboxMessage, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxStatus.FAILED, sent_at=None, error=error[:2000], updated_at=now
        )
        CampaignRecipient.objects.filter(pk=message.recipient_id).update(
            sent_at=None, updated_at=now
        )


def recipients_sent_at_repair(*, campaign: Campaign) -> int:
    """Recipients whose message was sent but who lack sent_at (none unless a database error cut
    a delivery transaction short): copy the message's time. Returns how many."""
    fixed = 0
    stale = OutboxMessage.objects.filter(
        recipient__campaign=campaign,
        status=OutboxStatus.SENT,
        recipient__sent_at__isnull=True,
    ).values_list("recipient_id", "sent_at")
    for recipient_id, sent_at in list(stale):
        fixed += CampaignRecipient.objects.filter(pk=recipient_id).update(sent_at=sent_at)
    return fixed


# -- ad audiences -------------------------------------------------------------------------------


def ad_audience_rows(campaign: Campaign) -> Iterable[tuple[str, str]]:
    """(SHA-256 of the external id, SHA-256 of the normalised email or "") per treatment
    recipient, in pk order. Control recipients are held out of the ad audience too."""
    rows = (
        CampaignRecipient.objects.filter(campaign=campaign, group=RecipientGroup.TREATMENT)
        .order_by("pk")
        .values_list("customer__external_id", "customer__attributes")
        .iterator(chunk_size=ID_CHUNK)
    )
    for external_id, attributes in rows:
        email = normalised_email((attributes or {}).get("email"))
        yield sha256_hex(str(external_id).strip()), sha256_hex(email)


def ad_audience_write(*, campaign: Campaign, path: Path) -> int:
    """Write the campaign's ad audience as CSV (header AD_AUDIENCE_COLUMNS) to `path`, replacing
    any earlier file atomically (a retried launch rewrites it whole). Returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    count = 0
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(AD_AUDIENCE_COLUMNS)
        for row in ad_audience_rows(campaign):
            writer.writerow(row)
            count += 1
    os.replace(partial, path)
    return count


def ad_audience_path(campaign: Campaign) -> Path:
    return Path(settings.ARTIFACTS_DIR) / "campaigns" / f"campaign-{campaign.pk}-ad-audience.csv"
