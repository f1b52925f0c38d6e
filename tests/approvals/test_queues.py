"""Queues: a person sees and decides only the actions of the queues they work, everywhere."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from approvals.demo import DEMO_QUEUES, demo_load
from approvals.models import Action, Decision, Queue, Status
from tests.approvals.test_api import assert_error

pytestmark = pytest.mark.django_db

CREDENTIALS = {"customer_id": "CUS-1001", "channel": "email"}


@pytest.fixture
def refund(submit) -> Action:
    """A refund of 120.00 USD, pending in the Refunds queue."""
    return submit(12000)


@pytest.fixture
def security_only(make_supervisor):
    """A supervisor who works Account security only."""
    return make_supervisor("sec", queues=["Account security"])


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def page_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")
    return client


# ------------------------------------------------------------------------------------- the page


def test_the_queue_page_lists_only_the_actions_of_the_users_queues(submit, refund, security_only):
    reset = submit(action_type="credentials.reset", params=CREDENTIALS)

    html = page_client(security_only).get("/").content.decode()

    assert f'id="action-{reset.pk}"' in html
    assert f'id="action-{refund.pk}"' not in html


def test_the_queue_page_counts_the_pending_actions_of_each_queue_the_user_works(
    submit, make_supervisor
):
    submit(12000)
    submit(9000)
    submit(action_type="credentials.reset", params=CREDENTIALS)
    both = make_supervisor("pat", queues=["Refunds", "Account security"])

    html = page_client(both).get("/queue/rows/").content.decode()

    assert '<li data-queue="Account security">Account security <span class="count">1</span>' in html
    assert '<li data-queue="Refunds">Refunds <span class="count">2</span>' in html
    assert 'data-queue="Escalations"' not in html


def test_a_count_stops_at_the_cap_and_says_there_are_more(submit, make_supervisor, monkeypatch):
    from approvals import selectors

    monkeypatch.setattr(selectors, "PENDING_COUNT_CAP", 2)
    for amount in (12000, 9000, 8000):
        submit(amount)
    pat = make_supervisor("pat", queues=["Refunds"])

    html = page_client(pat).get("/queue/rows/").content.decode()

    assert '<li data-queue="Refunds" data-capped>Refunds <span class="count">2+</span>' in html


def test_the_general_count_includes_actions_whose_rule_named_no_queue(submit, make_supervisor):
    from approvals import selectors
    from approvals.models import Action

    action = submit(12000)
    Action.objects.filter(pk=action.pk).update(queue="")
    submit(9000)

    counts = selectors.queue_pending_counts(queues=frozenset({"General", "Refunds"}))

    assert [(c.name, c.count, c.capped) for c in counts] == [
        ("General", 1, False),
        ("Refunds", 1, False),
    ]


def test_an_action_whose_rule_names_no_queue_belongs_to_the_general_queue(submit, make_supervisor):
    # No demo rule matches a cancellation without a failed payment: the type's default applies.
    cancel = submit(action_type="order.cancel", params={"order_id": "ORD-1002", "reason": "r"})
    general = make_supervisor("gen", queues=[Queue.DEFAULT_NAME])
    refunds = make_supervisor("ref", queues=["Refunds"])

    assert (cancel.status, cancel.queue) == (Status.PENDING, "")
    assert f'id="action-{cancel.pk}"' in page_client(general).get("/").content.decode()
    assert f'id="action-{cancel.pk}"' not in page_client(refunds).get("/").content.decode()


def test_a_member_of_a_team_of_the_queue_sees_its_actions(refund, make_supervisor):
    person = make_supervisor("tim", queues=[])
    team = Group.objects.create(name="refund-team")
    person.groups.add(team)
    Queue.objects.get(name="Refunds").teams.add(team)

    response = api_client(person).get(f"/api/v1/actions/{refund.pk}/")

    assert response.status_code == 200


# ------------------------------------------------------------------------------------------ API


def test_reading_an_action_of_another_queue_through_the_api_is_404(refund, security_only):
    response = api_client(security_only).get(f"/api/v1/actions/{refund.pk}/")

    assert_error(response, 404, "action_not_found")


@pytest.mark.parametrize(
    ("verb", "body"),
    [("approve", {}), ("reject", {"reason_code": "outside-policy"})],
)
def test_deciding_an_action_of_another_queue_through_the_api_is_404_and_changes_nothing(
    refund, security_only, verb, body
):
    response = api_client(security_only).post(
        f"/api/v1/actions/{refund.pk}/{verb}/", body, format="json"
    )

    assert_error(response, 404, "action_not_found")
    refund.refresh_from_db()
    assert (refund.status, refund.version) == (Status.PENDING, 1)
    assert not Decision.objects.filter(action=refund).exists()


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("adopt", {}),
        ("dismiss", {"reason_code": "not-needed"}),
        ("edit", {"params": CREDENTIALS, "reason_code": "wrong-target"}),
    ],
)
def test_adopting_dismissing_or_editing_a_draft_of_another_queue_is_404(
    submit, make_supervisor, verb, body
):
    draft = submit(action_type="credentials.reset", params=CREDENTIALS)
    Action.objects.filter(pk=draft.pk).update(status=Status.DRAFTED, mode="draft_only")
    refunds_only = make_supervisor("ref", queues=["Refunds"])

    response = api_client(refunds_only).post(
        f"/api/v1/actions/{draft.pk}/{verb}/", body, format="json"
    )

    assert_error(response, 404, "action_not_found")
    draft.refresh_from_db()
    assert (draft.status, draft.final_params) == (Status.DRAFTED, None)


def test_a_superuser_reads_and_decides_an_action_of_any_queue(refund):
    root = get_user_model().objects.create_superuser("root", password="x-long-enough-pass")
    client = api_client(root)

    read = client.get(f"/api/v1/actions/{refund.pk}/")
    approve = client.post(f"/api/v1/actions/{refund.pk}/approve/", {}, format="json")

    assert read.status_code == 200
    assert (approve.status_code, approve.json()["status"]) == (200, "approved")


# ------------------------------------------------------------------------------ HTML decisions


def test_deciding_an_action_of_another_queue_from_the_page_is_404_and_changes_nothing(
    refund, security_only
):
    client = page_client(security_only)

    response = client.post(
        f"/actions/{refund.pk}/approve/",
        {"expected_version": "1"},
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 404
    assert response["HX-Retarget"] == "#flash"
    assert "No such action." in response.content.decode()
    refund.refresh_from_db()
    assert refund.status == Status.PENDING


# ---------------------------------------------------------------- two people for a credential reset


def test_a_credentials_reset_needs_two_approvals_from_different_people(
    demo, agent, make_supervisor
):
    alice = api_client(make_supervisor("alice", queues=["Account security"]))
    bob = api_client(make_supervisor("bob", queues=["Account security"]))
    submitted = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "credentials.reset", "params": CREDENTIALS},
        format="json",
    )
    action_id = submitted.json()["id"]
    url = f"/api/v1/actions/{action_id}/approve/"

    confirmed = {"reason_code": "verified-eligible", "confirm_irreversible": True}
    unconfirmed = bob.post(url, {"reason_code": "verified-eligible"}, format="json")
    first = alice.post(url, confirmed, format="json")
    again = alice.post(url, {"confirm_irreversible": True}, format="json")
    second = bob.post(url, confirmed, format="json")

    assert submitted.json()["decision"]["mode"] == "execute_gated"
    # Nothing undoes a credentials reset: an approval must say the approver knows it.
    assert_error(unconfirmed, 400, "confirmation_required")
    assert (first.status_code, first.json()["status"]) == (200, "pending")
    assert_error(again, 409, "already_approved")
    assert (second.status_code, second.json()["status"]) == (200, "approved")
    assert [a["by"] for a in second.json()["approvals"]] == ["alice", "bob"]


# ------------------------------------------------------------------------------------- commands


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def password_in_environment(monkeypatch):
    monkeypatch.setenv("CREATE_SUPERVISOR_PASSWORD", "a-long-enough-pass")


def test_create_supervisor_puts_the_person_in_the_named_queues_and_role(
    demo, password_in_environment
):
    out = run(
        "create_supervisor", "carol",
        "--role", "senior_supervisor", "--queues", "Refunds, Account security",
    )  # fmt: skip

    carol = get_user_model().objects.get(username="carol")
    assert "created senior_supervisor carol in Refunds, Account security" in out
    assert list(carol.groups.values_list("name", flat=True)) == ["senior_supervisor"]
    assert sorted(carol.approval_queues.values_list("name", flat=True)) == [
        "Account security",
        "Refunds",
    ]


def test_create_supervisor_refuses_an_unknown_queue_and_lists_the_known_ones(
    demo, password_in_environment
):
    with pytest.raises(CommandError) as refused:
        run("create_supervisor", "dave", "--queues", "Refundz")

    message = str(refused.value)
    assert "Unknown queue(s): Refundz" in message
    assert "known queues: Account security, Escalations, General, Refunds" in message
    assert not get_user_model().objects.filter(username="dave").exists()


def test_create_supervisor_refuses_an_unknown_role(demo, password_in_environment):
    with pytest.raises(CommandError, match="invalid choice: 'boss'"):
        run("create_supervisor", "erin", "--role", "boss")

    assert not get_user_model().objects.filter(username="erin").exists()


def test_create_supervisor_without_queues_creates_a_person_who_sees_no_action(
    demo, password_in_environment
):
    out = run("create_supervisor", "fred")

    fred = get_user_model().objects.get(username="fred")
    assert "in no queue yet" in out
    assert not fred.approval_queues.exists()


def test_create_supervisor_asks_for_the_password_in_a_terminal(demo, monkeypatch):
    monkeypatch.delenv("CREATE_SUPERVISOR_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "a-long-enough-pass")

    run("create_supervisor", "gina")

    assert get_user_model().objects.get(username="gina").check_password("a-long-enough-pass")


def test_create_supervisor_takes_no_password_on_the_command_line(demo, password_in_environment):
    with pytest.raises(CommandError, match="unrecognized arguments: --password"):
        run("create_supervisor", "hank", "--password", "on-the-command-line")

    assert not get_user_model().objects.filter(username="hank").exists()


def test_create_supervisor_without_a_terminal_or_the_variable_refuses(demo, monkeypatch):
    monkeypatch.delenv("CREATE_SUPERVISOR_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    with pytest.raises(CommandError, match="Set CREATE_SUPERVISOR_PASSWORD"):
        run("create_supervisor", "ivy")


def test_load_demo_creates_the_demo_queues_once(db):
    first = demo_load()
    second = demo_load()

    assert (first["queues_created"], second["queues_created"]) == (len(DEMO_QUEUES), 0)
    assert sorted(Queue.objects.values_list("name", "slug")) == [
        ("Account security", "account-security"),
        ("Escalations", "escalations"),
        ("General", "general"),
        ("Refunds", "refunds"),
    ]
