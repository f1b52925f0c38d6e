"""Escalation tiers in Django's admin, to read: they change through the tier pages under
/policies/tiers/, whose service checks them and writes the audit event (the admin would do
neither)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from policies.models import Tier


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = (
        "key", "name", "handler_group", "handler_queue", "ack_sla_seconds", "resolve_sla_seconds",
        "next_tier", "time_zone", "is_default",
    )  # fmt: skip
    list_select_related = ("next_tier",)
    ordering = ("key",)
    search_fields = ("key", "name", "handler_group", "handler_queue")
    readonly_fields = ("where_to_change",)

    @admin.display(description="Change it")
    def where_to_change(self, tier: Tier) -> str:
        url = reverse("policies:tier-edit", args=[tier.key])
        return format_html('<a href="{}">Edit this tier on the policy pages</a>', url)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
