"""Admin pages: team channels and any subscription, Slack links, and the delivery log (read-only).

Saving and deleting go through the services, so every change is checked and audited as it is from
the person's own page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from audit.services import Actor
from config.errors import InvalidInput
from notifications import services
from notifications.events import Event
from notifications.models import Delivery, SlackLink, Subscription


class SubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=Event.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = Subscription
        fields = [
            "user", "scope", "scope_key", "events", "min_amount", "channel", "target", "digest",
            "is_active",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Subscription(
            pk=self.instance.pk, **{name: cleaned.get(name) for name in self.Meta.fields}
        )
        candidate.user_id = cleaned["user"].pk if cleaned.get("user") else None
        candidate.target = cleaned.get("target") or ""
        try:
            services.subscription_check(candidate)
        except InvalidInput as exc:
            raise ValidationError(
                {name: message for name, message in exc.details.items() if name in self.fields}
                or exc.message
            ) from exc
        return cleaned


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = [
        "id", "user", "scope", "scope_key", "channel", "events", "min_amount", "digest",
        "is_active",
    ]  # fmt: skip
    list_filter = ["channel", "scope", "is_active", "digest"]
    search_fields = ["scope_key", "user__username", "target"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        services.subscription_save(subscription=obj, actor=Actor.user(request.user.pk))

    def delete_model(self, request, obj):
        services.subscription_delete(subscription=obj, actor=Actor.user(request.user.pk))

    def delete_queryset(self, request, queryset):
        for subscription in queryset.order_by("pk"):
            self.delete_model(request, subscription)


@admin.register(SlackLink)
class SlackLinkAdmin(admin.ModelAdmin):
    list_display = ["slack_team_id", "slack_user_id", "user", "created_at"]
    search_fields = ["slack_team_id", "slack_user_id", "user__username"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        services.slack_link_save(link=obj, actor=Actor.user(request.user.pk))

    def delete_model(self, request, obj):
        services.slack_link_delete(link=obj, actor=Actor.user(request.user.pk))

    def delete_queryset(self, request, queryset):
        for link in queryset.order_by("pk"):
            self.delete_model(request, link)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The log of what was sent: read it, never change it."""

    list_display = [
        "id", "event", "subscription", "status", "attempts", "created_at", "sent_at", "last_error",
    ]  # fmt: skip
    list_filter = ["status", "event", "subscription__channel"]
    list_select_related = ["subscription", "subscription__user"]
    ordering = ["-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
