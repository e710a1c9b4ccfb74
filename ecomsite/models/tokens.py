"""Partner API tokens. Only a hash of the secret is stored; scopes limit what a token may do."""

from django.conf import settings
from django.db import models

from .base import TimeStampedModel


class Scope(models.TextChoices):
    EVENTS_WRITE = "events:write", "Send events"
    EVENTS_READ = "events:read", "Read events"
    CATALOG_READ = "catalog:read", "Read customers and products"
    SEGMENTS_READ = "segments:read", "Read segments"
    RECOMMENDATIONS_READ = "recommendations:read", "Read recommendations"
    CAMPAIGNS_READ = "campaigns:read", "Read campaigns and audiences"
    PREDICTIONS_READ = "predictions:read", "Read predictive customer scores"


class PartnerToken(TimeStampedModel):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
