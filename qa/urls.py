"""QA pages: a reviewer's assignments and reviews, plans and samples, disputes, calibration, the
scorecards and the rule changes they suggest."""

from django.urls import path

from qa.views import calibration, disputes, home, plans, reviews, scorecards, suggestions

app_name = "qa"

urlpatterns = [
    # a reviewer's assignments and reviews; the reviews an action's page shows, and disputes
    path("", home.home, name="home"),
    path("reviews/<str:assignment_id>/", reviews.review, name="review"),
    path("actions/<uuid:action_id>/reviews/", reviews.action_reviews, name="action-reviews"),
    path(
        "actions/<uuid:action_id>/reviews/<str:review_id>/dispute/",
        reviews.dispute,
        name="action-review-dispute",
    ),
    path("disputes/", disputes.disputes, name="disputes"),
    path("disputes/<str:dispute_id>/decide/", disputes.decide, name="dispute-decide"),
    path("calibration/", calibration.sessions, name="calibrations"),
    path("calibration/<str:session_id>/", calibration.session, name="calibration"),
    path("calibration/<str:session_id>/reveal/", calibration.reveal, name="calibration-reveal"),
    # plans, samples and scorecard setup, for QA leads
    path("plans/", plans.plan_list, name="plans"),
    path("plans/new/", plans.plan_new, name="plan-new"),
    path("plans/<slug:slug>/", plans.plan_edit, name="plan"),
    path("samples/<int:sample_id>/", plans.sample, name="sample"),
    path(
        "samples/<int:sample_id>/items/<int:item_id>/assign/",
        plans.item_assign,
        name="item-assign",
    ),
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
    # the scorecards, the actions behind each figure, and the rule changes they suggest
    path("scorecards/", scorecards.scorecards, name="scorecards"),
    path("scorecards/actions/", scorecards.scorecard_actions, name="scorecard-actions"),
    path("suggestions/", suggestions.suggestion_list, name="suggestions"),
    path("suggestions/draft/", suggestions.suggestion_open, name="suggestion-draft"),
]
