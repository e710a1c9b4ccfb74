"""The shop's data: customers, products and their behaviour events, as imported (raw)."""

from django.db import models

from ecomsite.engine import columns as col

from .base import TimeStampedModel


class Customer(TimeStampedModel):
    external_id = models.CharField(max_length=col.MAX_ID_LENGTH, unique=True)
    country = models.CharField(max_length=col.MAX_COUNTRY_LENGTH, blank=True, db_index=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Consent per campaign channel (campaigns never target a customer without it).
    email_consent = models.BooleanField(default=False)
    sms_consent = models.BooleanField(default=False)
    push_consent = models.BooleanField(default=False)
    ads_consent = models.BooleanField(default=False)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.external_id


class Product(TimeStampedModel):
    external_id = models.CharField("SKU", max_length=col.MAX_ID_LENGTH, unique=True)
    title = models.CharField(max_length=col.MAX_TITLE_LENGTH, blank=True)
    category = models.CharField(max_length=col.MAX_CATEGORY_LENGTH, blank=True, db_index=True)
    price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__isnull=True) | models.Q(price__gte=0),
                name="product_price_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.title}".strip()


class EventKind(models.TextChoices):
    VIEW = col.VIEW, "View"
    CART = col.CART, "Add to cart"
    PURCHASE = col.PURCHASE, "Purchase"
    RETURN = col.RETURN, "Return"


class Event(TimeStampedModel):
    """One behaviour event exactly as received. Never rewritten: cleaning works beside it.

    `quantity` is signed as in the source (Online Retail cancellations are negative);
    `idempotency_key` makes every import and API call safe to repeat.
    """

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    quantity = models.IntegerField(default=1)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    occurred_at = models.DateTimeField()
    order_id = models.CharField(max_length=col.MAX_ID_LENGTH, blank=True)
    session_id = models.CharField(max_length=col.MAX_ID_LENGTH, blank=True)
    source = models.CharField(max_length=col.MAX_SOURCE_LENGTH, blank=True)
    idempotency_key = models.CharField(max_length=col.MAX_KEY_LENGTH, unique=True)
    import_batch = models.ForeignKey(
        "ecomsite.ImportBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # Feature extraction and recency: one customer's history in time order.
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time"),
            # Product features, item popularity and trends.
            models.Index(fields=["product", "occurred_at"], name="event_product_time"),
            # Temporal splits and "new data since the last run".
            models.Index(fields=["occurred_at"], name="event_time"),
            # Matching cancellations to their purchases.
            models.Index(fields=["order_id"], name="event_order"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[c.value for c in EventKind]), name="event_kind_valid"
            )
        ]

    def __str__(self) -> str:
        who = self.customer_id or "anonymous"
        return f"{self.kind} {self.product_id} by {who} at {self.occurred_at:%Y-%m-%d %H:%M}"
