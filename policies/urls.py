"""Routes of the policy pages (under /policies/)."""

from django.urls import path

from policies import views, views_simulation, views_tiers

app_name = "policies"
urlpatterns = [
    path("", views.index, name="index"),
    path("drafts/", views.draft_create, name="draft-create"),
    path("check-condition/", views.condition_check, name="check-condition"),
    path("tiers/", views_tiers.tier_list, name="tiers"),
    path("tiers/save/", views_tiers.tier_save, name="tier-save"),
    path("tiers/<slug:key>/", views_tiers.tier_edit, name="tier-edit"),
    path("tiers/<slug:key>/delete/", views_tiers.tier_delete, name="tier-delete"),
    path("v<int:number>/", views.version_detail, name="version"),
    path("v<int:number>/diff/", views.version_diff, name="diff"),
    path("v<int:number>/simulate/", views_simulation.version_simulate, name="simulate"),
    path(
        "v<int:number>/simulations/<slug:run_id>/",
        views_simulation.simulation_progress,
        name="simulation",
    ),
    path("v<int:number>/export/", views.version_export, name="export"),
    path("v<int:number>/publish/", views.version_publish, name="publish"),
    path("v<int:number>/activate/", views.version_activate, name="activate"),
    path("v<int:number>/discard/", views.draft_discard, name="discard"),
    path(
        "v<int:number>/publication/<int:publication_id>/confirm/",
        views.publication_confirm,
        name="publication-confirm",
    ),
    path(
        "v<int:number>/publication/<int:publication_id>/withdraw/",
        views.publication_withdraw,
        name="publication-withdraw",
    ),
    path("v<int:number>/rules/new/", views.rule_form, name="rule-new"),
    path("v<int:number>/rules/add/", views.rule_add, name="rule-add"),
    path("v<int:number>/rules/<int:rule_id>/", views.rule_form, name="rule-edit"),
    path("v<int:number>/rules/<int:rule_id>/update/", views.rule_update, name="rule-update"),
    path("v<int:number>/rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path("v<int:number>/rules/<int:rule_id>/move/", views.rule_move, name="rule-move"),
]
