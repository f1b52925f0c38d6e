"""The reviewer's pages: the inbox, the review form and the review it leaves, the action page's
reviews for supervisors, disputes and calibration pages, and where `/` sends QA people."""

from __future__ import annotations

import pytest
from django.test import Client

from approvals.models import DecisionKind
from qa.models import Assignment, CalibrationSession, Dispute, Review
from tests.qa.reviewing import assign, submit

FORM = {
    "score-decision": "4", "score-policy": "3", "score-reason": "na", "score-amount": "4",
    "verdict": "right", "policy_followed": "yes", "reason_code_accurate": "na",
    "amount_right": "yes", "problem_solved": "no", "root_causes": ["policy_gap", "other"],
    "note": "Solid, but the policy is vague.",
}  # fmt: skip


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(make_supervisor):
    return make_supervisor("alice")  # works every demo queue, decided the refund


@pytest.fixture
def rita(make_qa_person):
    return make_qa_person("rita")


@pytest.fixture
def decided(resolution, alice):
    return resolution(decisions=[(DecisionKind.APPROVE, alice, 60)])


def test_a_reviewer_sees_their_inbox_open_first(decided, resolution, rita, scorecard):
    done = assign(resolution(amount=4500), rita, scorecard)
    submit(done)
    todo = assign(decided, rita, scorecard)

    page = signed_in(rita).get("/qa/").content.decode()

    assert f'id="assignment-{todo.pk}"' in page
    assert page.index(f"assignment-{todo.pk}") < page.index(f"assignment-{done.pk}")
    assert "120.00 USD" in page and "support-bot" in page
    assert 'id="nav-qa"' in page
    assert 'id="link-plans"' not in page  # leads only


def test_a_reviewer_submits_the_form_and_sees_the_review(decided, rita, scorecard):
    # Arrange
    assignment = assign(decided, rita, scorecard)
    client = signed_in(rita)
    page = client.get(f"/qa/reviews/{assignment.pk}/").content.decode()
    assert 'id="review-form"' in page and 'id="action-params"' in page
    assert 'id="action-decisions"' in page and "alice" in page

    # Act
    response = client.post(f"/qa/reviews/{assignment.pk}/", FORM)

    # Assert
    assert (response.status_code, response["Location"]) == (302, f"/qa/reviews/{assignment.pk}/")
    review = Review.objects.get()
    assert (str(review.score), review.verdict, review.problem_solved) == ("91.67", "right", False)
    assert review.root_causes == ["policy_gap", "other"]
    shown = client.get(f"/qa/reviews/{assignment.pk}/").content.decode()
    assert 'id="current-review"' in shown and "91.67" in shown
    assert 'id="amend-form"' in shown and 'id="review-form"' not in shown


def test_an_amendment_from_the_page_is_a_new_version_listed_with_the_first(
    decided, rita, scorecard
):
    assignment = assign(decided, rita, scorecard)
    client = signed_in(rita)
    client.post(f"/qa/reviews/{assignment.pk}/", FORM)

    client.post(f"/qa/reviews/{assignment.pk}/",
                {**FORM, "verdict": "should_edit", "note": "Amount was off."})  # fmt: skip

    assert list(Review.objects.order_by("version").values_list("version", "verdict")) == [
        (1, "right"), (2, "should_edit"),
    ]  # fmt: skip
    shown = client.get(f"/qa/reviews/{assignment.pk}/").content.decode()
    assert 'id="version-1"' in shown and 'id="version-2"' in shown


def test_a_bad_form_answers_400_with_the_reason_and_keeps_what_was_typed(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)

    response = signed_in(rita).post(f"/qa/reviews/{assignment.pk}/",
                                    {**FORM, "score-policy": "na"})  # fmt: skip

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="review-error"' in page and "cannot be N/A" in page
    assert "Solid, but the policy is vague." in page
    assert not Review.objects.exists()


def test_someone_elses_review_page_is_not_found(decided, rita, make_qa_person, scorecard):
    assignment = assign(decided, rita, scorecard)

    client = signed_in(make_qa_person("sam"))

    assert client.get(f"/qa/reviews/{assignment.pk}/").status_code == 404
    assert client.post(f"/qa/reviews/{assignment.pk}/", FORM).status_code == 404
    assert not Review.objects.exists()


def test_a_supervisor_without_qa_gets_no_qa_pages(alice):
    assert signed_in(alice).get("/qa/").status_code == 403


# ---------------------------------------------------------------------------------------------
# the action page


def test_the_action_page_loads_its_reviews_into_a_container(decided, alice):
    page = signed_in(alice).get(f"/actions/{decided.pk}/").content.decode()

    assert f'id="qa-reviews" hx-get="/qa/actions/{decided.pk}/reviews/"' in page


def test_the_fragment_shows_reviews_to_a_supervisor_of_the_queue(
    decided, rita, make_supervisor, scorecard
):
    review = submit(assign(decided, rita, scorecard), verdict="should_reject",
                    root_causes=["rubber_stamp"], note="Read too fast.")  # fmt: skip
    bob = make_supervisor("bob", queues=("Refunds",))

    fragment = signed_in(bob).get(f"/qa/actions/{decided.pk}/reviews/").content.decode()

    assert f'id="qa-review-{review.pk}"' in fragment
    assert "Should have been rejected" in fragment and "rubber_stamp" in fragment
    assert "Read too fast." in fragment and "rita" in fragment
    assert 'id="qa-dispute-' not in fragment  # bob did not decide it


def test_the_fragment_is_empty_for_others(decided, rita, make_supervisor, make_qa_person,
                                          scorecard):  # fmt: skip
    submit(assign(decided, rita, scorecard))
    elsewhere = make_supervisor("olga", queues=("Account security",))

    for user in (elsewhere, make_qa_person("sam")):
        response = signed_in(user).get(f"/qa/actions/{decided.pk}/reviews/")
        assert (response.status_code, response.content) == (200, b"")
    assert Client().get(f"/qa/actions/{decided.pk}/reviews/").content == b""


def test_the_decider_disputes_from_the_fragment(decided, alice, rita, scorecard):
    review = submit(assign(decided, rita, scorecard), verdict="should_reject")
    client = signed_in(alice)
    assert (
        f'id="qa-dispute-{review.pk}"'
        in client.get(f"/qa/actions/{decided.pk}/reviews/").content.decode()
    )

    response = client.post(f"/qa/actions/{decided.pk}/reviews/{review.pk}/dispute/",
                           {"reason": "The rule allows it."}, HTTP_HX_REQUEST="true")  # fmt: skip

    assert response.status_code == 200
    assert Dispute.objects.get().raised_by_id == alice.pk
    assert "open: raised by alice" in response.content.decode()
    assert f'id="qa-dispute-{review.pk}"' not in response.content.decode()


# ---------------------------------------------------------------------------------------------
# disputes and calibration pages


def test_a_lead_overturns_a_dispute_from_the_page_and_an_auditor_only_reads(
    decided, alice, rita, make_qa_person, scorecard
):
    review = submit(assign(decided, rita, scorecard), verdict="should_reject")
    dispute = Dispute.objects.create(review=review, raised_by=alice, reason="No.",
                                     created_at=review.created_at)  # fmt: skip
    lea, audrey = make_qa_person("lea", "qa_lead"), make_qa_person("audrey", "auditor")
    assert 'class="dispute-decide"' not in signed_in(audrey).get("/qa/disputes/").content.decode()
    assert signed_in(rita).get("/qa/disputes/").status_code == 403

    response = signed_in(lea).post(
        f"/qa/disputes/{dispute.pk}/decide/", {"outcome": "overturned", "note": "Rule allows it."}
    )

    assert response.status_code == 302
    assert Dispute.objects.get().state == "overturned"
    assert "overturned" in signed_in(audrey).get("/qa/disputes/").content.decode()


def test_a_lead_opens_and_reveals_a_calibration_session_from_the_pages(
    resolution, make_qa_person, scorecard
):
    # Arrange
    lea, sam = make_qa_person("lea", "qa_lead"), make_qa_person("sam")
    rita = make_qa_person("rita")
    actions = [resolution(), resolution()]
    client = signed_in(lea)

    # Act: open
    response = client.post("/qa/calibration/", {
        "name": "June", "scorecard": scorecard.slug,
        "actions": "\n".join(str(a.pk) for a in actions), "reviewers": ["rita", "sam"],
    })  # fmt: skip

    # Assert
    session = CalibrationSession.objects.get()
    assert response["Location"] == f"/qa/calibration/{session.pk}/"
    assert Assignment.objects.filter(session=session).count() == 4
    submit(Assignment.objects.filter(session=session, reviewer=rita).first())
    blind = signed_in(sam).get(f"/qa/calibration/{session.pk}/").content.decode()
    assert "91.67" not in blind and 'id="calibration-reveal"' not in blind

    # Act: reveal
    client.post(f"/qa/calibration/{session.pk}/reveal/")

    # Assert
    assert "91.67" in signed_in(sam).get(f"/qa/calibration/{session.pk}/").content.decode()


def test_calibration_refuses_an_involved_reviewer_on_the_page(
    resolution, make_qa_person, scorecard
):
    lea, dana = make_qa_person("lea", "qa_lead"), make_qa_person("dana")
    make_qa_person("rita")
    action = resolution(decisions=[(DecisionKind.APPROVE, dana, 30)])

    response = signed_in(lea).post("/qa/calibration/", {
        "name": "June", "scorecard": scorecard.slug, "actions": str(action.pk),
        "reviewers": ["rita", "dana"],
    })  # fmt: skip

    assert response.status_code == 400
    assert "dana on" in response.content.decode()
    assert not CalibrationSession.objects.exists()


# ---------------------------------------------------------------------------------------------
# where `/` sends people


@pytest.mark.parametrize("role", ["qa_reviewer", "qa_lead", "auditor"])
def test_the_queue_sends_qa_people_to_qa(make_qa_person, role):
    response = signed_in(make_qa_person("quinn", role)).get("/")

    assert (response.status_code, response["Location"]) == (302, "/qa/")


def test_the_queue_still_serves_supervisors_and_refuses_others(alice, make_supervisor):
    nobody = make_supervisor("nora", role="policy_admin", queues=())

    assert signed_in(alice).get("/").status_code == 200
    assert signed_in(nobody).get("/").status_code == 403
