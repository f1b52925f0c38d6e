"""QA pages: a reviewer's assignments and reviews, plans and samples, disputes, calibration and the
scorecards."""

from django.urls import path

from qa.views import calibration, disputes, home, reviews

app_name = "qa"

urlpatterns: list = [
    # assignments and reviews (qa.views.reviews), plans and samples (qa.views.plans), disputes
    # and calibration (qa.views.disputes, qa.views.calibration), scorecards (qa.views.scorecards)
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
]
