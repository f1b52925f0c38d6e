"""QA in Django's admin: scorecards and sampling plans, read only (leads change them through the
QA pages, whose services check and audit every change)."""

from django.contrib import admin

from qa.models import SamplingPlan, Scorecard


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Scorecard)
class ScorecardAdmin(ReadOnlyAdmin):
    list_display = ("slug", "name", "scale", "is_active", "created_at")
    search_fields = ("slug", "name")


@admin.register(SamplingPlan)
class SamplingPlanAdmin(ReadOnlyAdmin):
    list_display = (
        "slug", "name", "period", "size_count", "size_percent", "scorecard", "is_active",
        "starts_at",
    )  # fmt: skip
    list_filter = ("period", "is_active")
    search_fields = ("slug", "name")
