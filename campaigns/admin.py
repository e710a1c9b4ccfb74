"""Campaigns in the admin: everything readable, nothing edited by hand. Campaigns change through
the builder (services write the audit log); launch and cancel are admin actions calling the same
services. Runs, recipients, messages and audit entries are read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns.models import (
    Campaign,
    CampaignAuditEntry,
    CampaignRecipient,
    CampaignRun,
    OutboxMessage,
)
from campaigns.services.campaigns import campaign_cancel, campaign_launch
from ecomsite.admin import ReadOnlyAdminMixin
from ecomsite.exceptions import DomainError


def _each(
    request: HttpRequest,
    queryset: QuerySet[Campaign],
    action: Callable[[Campaign], Any],
    done: str,
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
) -> None:
    for campaign in queryset:
        try:
            action(campaign)
        except DomainError as exc:
            model_admin.message_user(request, f"{campaign}: {exc}", messages.ERROR)
        else:
            model_admin.message_user(request, f"{campaign}: {done}", messages.SUCCESS)


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "channel",
        "status",
        "audience_source",
        "control_share",
        "scheduled_at",
        "launched_at",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "channel", "audience_source"]
    search_fields = ["name", "goal", "subject"]
    readonly_fields = tuple(f.name for f in Campaign._meta.fields)
    date_hierarchy = "created_at"
    actions = ["launch", "cancel"]

    @admin.action(description="Launch the selected campaigns now", permissions=["launch"])
    def launch(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(
            request,
            queryset,
            lambda c: campaign_launch(campaign=c, user=request.user),
            "launch queued",
            self,
        )

    @admin.action(description="Cancel the selected campaigns", permissions=["launch"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        _each(
            request,
            queryset,
            lambda c: campaign_cancel(campaign=c, user=request.user),
            "cancelled",
            self,
        )

    def has_launch_permission(self, request: HttpRequest) -> bool:
        """Launching and cancelling are for those who may change campaigns (the form is still
        read-only: the actions go through the services)."""
        return bool(request.user.has_perm("campaigns.change_campaign"))


@admin.register(CampaignRun)
class CampaignRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "campaign",
        "kind",
        "status",
        "progress",
        "progress_message",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["campaign__name", "error", "task_id"]
    readonly_fields = tuple(f.name for f in CampaignRun._meta.fields)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["campaign", "customer", "group", "sent_at"]
    list_filter = ["group"]
    search_fields = ["customer__external_id", "campaign__name"]
    raw_id_fields = ["campaign", "customer"]
    show_full_result_count = False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["recipient", "channel", "backend", "address", "status", "sent_at"]
    list_filter = ["status", "channel", "backend"]
    search_fields = ["address", "subject", "recipient__customer__external_id"]
    raw_id_fields = ["recipient"]
    show_full_result_count = False


@admin.register(CampaignAuditEntry)
class CampaignAuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "campaign", "actor_label", "action"]
    list_filter = ["action"]
    search_fields = ["campaign__name", "actor_label"]
    readonly_fields = tuple(f.name for f in CampaignAuditEntry._meta.fields)
