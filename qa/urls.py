"""QA pages: a reviewer's assignments and reviews, plans and samples, disputes, calibration and the
scorecards."""

from django.urls import path

from qa.views import scorecards, suggestions

app_name = "qa"

urlpatterns: list = [
    # assignments and reviews (qa.views.reviews), plans and samples (qa.views.plans), disputes
    # and calibration (qa.views.disputes, qa.views.calibration), scorecards (qa.views.scorecards)
    path("suggestions/", suggestions.suggestion_list, name="suggestions"),
    path("suggestions/draft/", suggestions.suggestion_open, name="suggestion-draft"),
    path("scorecards/", scorecards.scorecards, name="scorecards"),
    path("scorecards/actions/", scorecards.scorecard_actions, name="scorecard-actions"),
]
