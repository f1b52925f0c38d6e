"""QA pages: a reviewer's assignments and reviews, plans and samples, disputes, calibration and the
scorecards."""

from django.urls import path

from qa.views import plans, scorecards, suggestions

app_name = "qa"

urlpatterns: list = [
    # assignments and reviews (qa.views.reviews), plans and samples (qa.views.plans), disputes
    # and calibration (qa.views.disputes, qa.views.calibration), scorecards (qa.views.scorecards)
    path("suggestions/", suggestions.suggestion_list, name="suggestions"),
    path("suggestions/draft/", suggestions.suggestion_open, name="suggestion-draft"),
    path("scorecards/", scorecards.scorecards, name="scorecards"),
    path("scorecards/actions/", scorecards.scorecard_actions, name="scorecard-actions"),
    # assignments and reviews (qa.views.reviews), disputes and calibration (qa.views.disputes,
    # qa.views.calibration), scorecards (qa.views.scorecards)
    # plans, samples and scorecard setup, for QA leads (qa.views.plans)
    path("plans/", plans.plan_list, name="plans"),
    path("plans/new/", plans.plan_new, name="plan-new"),
    path("plans/<slug:slug>/", plans.plan_edit, name="plan"),
    path("samples/<int:sample_id>/", plans.sample, name="sample"),
    path(
        "samples/<int:sample_id>/assignments/<int:assignment_id>/reassign/",
        plans.assignment_reassign,
        name="assignment-reassign",
    ),
    path(
        "samples/<int:sample_id>/assignments/<int:assignment_id>/remove/",
        plans.assignment_remove,
        name="assignment-remove",
    ),
    path("scorecards-setup/", plans.scorecard_setup, name="scorecard-setup"),
]
