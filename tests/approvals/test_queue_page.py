"""The queue page: filters, sort orders, keyset pages, claims from a row, and a row on its own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from approvals import services
from approvals.models import Action, Priority, Status
from approvals.presenters import action_row_html, viewer_for
from approvals.selectors import QueueFilters, actions_awaiting_page

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def submit_refund(agent, *, amount=12000, order_id="ORD-1001", reason="damaged", by=None):
    return services.action_submit(
        agent=(by or agent).agent,
        action_type="refund.issue",
        params={"order_id": order_id, "amount": amount, "currency": "USD", "reason": reason},
    ).action


def submit_reset(agent, customer_id="CUS-001"):
    return services.action_submit(
        agent=agent.agent, action_type="credentials.reset", params={"customer_id": customer_id}
    ).action


def ids_in(html: str) -> list[str]:
    """Ids of the rows of the awaiting list, in page order."""
    awaiting = html.split('id="pending-rows"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr id="action-([0-9a-f-]+)"', awaiting)


def set_due(action, minutes: int, priority: int | None = None) -> None:
    fields = {"sla_due_at": timezone.now() + timedelta(minutes=minutes)}
    if priority is not None:
        fields["priority"] = priority
    Action.objects.filter(pk=action.pk).update(**fields)


@pytest.fixture
def browser(supervisor) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    client.get("/")
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, data or {}, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, **HTMX)


# ------------------------------------------------------------------------------------ sorting


def test_the_queue_lists_the_soonest_due_first_by_default(demo, agent, browser):
    late, soon, middle = (submit_refund(agent) for _ in range(3))
    set_due(late, 90)
    set_due(soon, -5)
    set_due(middle, 30)

    html = browser.get("/").content.decode()

    assert ids_in(html) == [str(soon.pk), str(middle.pk), str(late.pk)]


def test_sorting_by_priority_puts_the_most_urgent_first_then_the_soonest_due(demo, agent, browser):
    normal_soon, urgent_late, urgent_soon, low = (submit_refund(agent) for _ in range(4))
    set_due(normal_soon, 1, Priority.NORMAL)
    set_due(urgent_late, 60, Priority.URGENT)
    set_due(urgent_soon, 10, Priority.URGENT)
    set_due(low, -30, Priority.LOW)

    html = browser.get("/?sort=priority").content.decode()

    assert ids_in(html) == [str(a.pk) for a in (urgent_soon, urgent_late, normal_soon, low)]
    assert "Urgent priority" in html


# ------------------------------------------------------------------------------------ pages


@pytest.mark.parametrize("sort", ["sla", "priority"])
def test_keyset_pages_neither_overlap_nor_skip_when_due_times_tie(demo, agent, sort):
    actions = [submit_refund(agent) for _ in range(23)]
    due = timezone.now() + timedelta(hours=1)
    Action.objects.filter(pk__in=[a.pk for a in actions]).update(sla_due_at=due)
    Action.objects.filter(pk__in=[a.pk for a in actions[:9]]).update(priority=Priority.HIGH)

    seen, cursor, pages = [], "", 0
    while True:
        page = actions_awaiting_page(
            queues=None, filters=QueueFilters(sort=sort), cursor=cursor, limit=5
        )
        seen += [a.pk for a in page.actions]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    if sort == "priority":
        assert set(seen[:9]) == {a.pk for a in actions[:9]}


def test_the_page_holds_50_rows_and_links_the_next_page(demo, agent, browser):
    actions = [submit_refund(agent) for _ in range(53)]

    first = browser.get("/").content.decode()
    next_href = re.search(r'id="next-page" href="\?([^"]+)"', first).group(1)
    second = browser.get("/?" + next_href.replace("&amp;", "&")).content.decode()

    assert len(ids_in(first)) == 50
    assert len(ids_in(second)) == 3
    assert set(ids_in(first)) | set(ids_in(second)) == {str(a.pk) for a in actions}
    assert 'id="next-page"' not in second
    assert 'rel="first"' in second


def test_the_filters_stay_in_the_next_page_link(demo, agent, browser):
    for _ in range(51):
        submit_refund(agent)

    html = browser.get("/?sort=priority&queue=Refunds").content.decode()

    link = re.search(r'id="next-page" href="\?([^"]+)"', html).group(1)
    assert "sort=priority" in link and "queue=Refunds" in link and "after=" in link


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJzIjoic2xhIn0:1tampered:signature", "", "x" * 2000]
)
def test_a_bad_page_link_is_a_clear_400_showing_the_first_page(demo, agent, browser, cursor):
    action = submit_refund(agent)
    if not cursor:
        # A real cursor of the other sort order is not valid for this one.
        for _ in range(50):
            submit_refund(agent)
        page = actions_awaiting_page(queues=None, filters=QueueFilters(sort="priority"))
        cursor = page.next_cursor

    response = browser.get("/", {"after": cursor})

    assert response.status_code == 400
    html = response.content.decode()
    assert "That page link is not valid" in html
    assert str(action.pk) in html


def test_the_list_partial_answers_a_bad_cursor_with_a_400_too(demo, browser):
    response = browser.get("/queue/rows/", {"after": "nope"}, **HTMX)

    assert response.status_code == 400
    assert "That page link is not valid" in response.content.decode()


# ------------------------------------------------------------------------------------ filters


def test_filters_by_queue_type_agent_amount_and_status(demo, agent, make_agent, browser):
    other = make_agent("other-bot")
    small = submit_refund(agent, amount=6000)
    large = submit_refund(agent, amount=30000)
    by_other = submit_refund(agent, amount=9000, by=other)
    reset = submit_reset(agent)
    drafted = submit_refund(agent, amount=7000)
    Action.objects.filter(pk=drafted.pk).update(status=Status.DRAFTED)

    def listed(query: str) -> set[str]:
        response = browser.get("/?" + query)
        assert response.status_code == 200
        return set(ids_in(response.content.decode()))

    assert listed("queue=Account+security") == {str(reset.pk)}
    assert listed("type=credentials.reset") == {str(reset.pk)}
    assert listed("agent=other-bot") == {str(by_other.pk)}
    assert listed("min=60.00&max=90") == {str(small.pk), str(by_other.pk), str(drafted.pk)}
    assert listed("min=100") == {str(large.pk)}
    assert listed("status=drafted") == {str(drafted.pk)}
    assert listed("status=pending&max=65.5") == {str(small.pk)}


def test_search_finds_an_order_by_its_id_or_prefix_and_a_customer_by_id_or_name(
    demo, agent, browser
):
    first = submit_refund(agent, order_id="ORD-1001")
    second = submit_refund(agent, order_id="ORD-1002")
    twelfth = submit_refund(agent, order_id="ORD-1012")

    def listed(q: str) -> set[str]:
        return set(ids_in(browser.get("/", {"q": q}).content.decode()))

    assert listed("ORD-1002") == {str(second.pk)}
    assert listed("ORD-101") == {str(twelfth.pk)}
    assert listed("cus-001") == {str(first.pk)}
    assert listed("Demo Customer 12") == {str(twelfth.pk)}
    assert listed("nobody at all") == set()


def test_bad_filter_values_are_said_on_the_page_not_a_500(demo, agent, browser):
    action = submit_refund(agent)

    response = browser.get(
        "/",
        {"sort": "sideways", "min": "12.345", "max": "lots", "status": "approved",
         "type": "nope.nope", "agent": "ghost", "queue": "Secret"},
    )  # fmt: skip

    assert response.status_code == 200
    html = response.content.decode()
    for message in (
        "Unknown sort order",
        "The minimum amount must be a number like 12.50",
        "The maximum amount must be a number like 12.50",
        "Unknown status",
        "Unknown action type",
        "Unknown agent",
        "You do not work the queue",
    ):
        assert message in html
    assert ids_in(html) == [str(action.pk)]


@pytest.mark.parametrize("value", ["1e40", "-3", "NaN", "Infinity", "12,34.5.6"])
def test_an_amount_out_of_range_or_malformed_is_said_not_queried(demo, browser, value):
    response = browser.get("/", {"max": value})

    assert response.status_code == 200
    assert "The maximum amount must be a number like 12.50" in response.content.decode()


def test_a_minimum_above_the_maximum_is_refused_with_a_message(demo, agent, browser):
    submit_refund(agent)

    html = browser.get("/", {"min": "100", "max": "10"}).content.decode()

    assert "The minimum amount is above the maximum." in html


def test_another_queues_actions_never_appear_even_when_asked_for(
    demo, agent, make_supervisor, client
):
    refund = submit_refund(agent)
    reset = submit_reset(agent)
    client.force_login(make_supervisor("sec", queues=["Account security"]))

    everything = client.get("/").content.decode()
    asked = client.get("/", {"queue": "Refunds"}).content.decode()
    searched = client.get("/", {"q": "ORD-1001"}).content.decode()

    assert ids_in(everything) == [str(reset.pk)]
    assert str(refund.pk) not in everything + asked + searched
    assert "You do not work the queue &#x27;Refunds&#x27;" in asked


def test_the_page_makes_a_fixed_number_of_queries_with_filters_and_a_cursor(
    demo, agent, supervisor, browser, django_assert_num_queries
):
    for i in range(60):
        submit_refund(agent, order_id=f"ORD-{1001 + i % 15}")
    cursor = actions_awaiting_page(queues=None, filters=QueueFilters(sort="priority")).next_cursor
    query = {"sort": "priority", "q": "ORD-10", "min": "1", "after": cursor}

    # session, user, whether they must prove a second factor (their roles), the person (roles and
    # agents, queues), action types, agents, the page,
    # recent, decisions, orders, two for the counts per queue, breaker trips, reason codes,
    # escalation tiers (the top bar's links ask the rulebook about the person already read)
    with django_assert_num_queries(15):
        small = browser.get("/", query)
    for i in range(40):
        submit_refund(agent, order_id=f"ORD-{1001 + i % 15}")
    with django_assert_num_queries(15):
        large = browser.get("/", query)

    assert len(ids_in(small.content.decode())) == 10
    assert len(ids_in(large.content.decode())) == 50


# ------------------------------------------------------------------------------------ rows


def test_a_row_shows_its_sla_priority_and_marks_an_overdue_one(demo, agent, browser):
    overdue = submit_refund(agent)
    set_due(overdue, -7)
    fine = submit_refund(agent)
    set_due(fine, 42)

    html = browser.get("/").content.decode()

    row = html.split(f'id="action-{overdue.pk}"', 1)[1].split("</tr>", 1)[0]
    other = html.split(f'id="action-{fine.pk}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="action-row status-pending overdue"' in html
    assert "overdue by 7 min" in row and "Overdue</strong>" in row
    assert "due in 42 min" in other
    assert "Normal priority" in other
    assert f'href="/actions/{fine.pk}/"' in other


def test_claiming_from_the_row_answers_with_the_claimed_row(demo, agent, supervisor, browser):
    action = submit_refund(agent)

    response = post(browser, f"/actions/{action.pk}/claim/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-claimed-by="{supervisor.pk}"' in html
    assert "Being reviewed by alice" in html
    action.refresh_from_db()
    assert action.claimed_by == supervisor


def test_someone_elses_claim_refuses_a_claim_and_a_decision_in_the_flash(
    demo, agent, make_supervisor, browser
):
    action = submit_refund(agent)
    services.action_claim(action_id=action.pk, by=make_supervisor("bob"))

    claim = post(browser, f"/actions/{action.pk}/claim/")
    approve = post(browser, f"/actions/{action.pk}/approve/", {"expected_version": "1"})

    for response in (claim, approve):
        assert response.status_code == 409
        assert response["HX-Retarget"] == "#flash"
        assert 'data-code="claimed_by_other"' in response.content.decode()
        assert "bob is reviewing this action" in response.content.decode()


def test_releasing_from_the_row_frees_it(demo, agent, supervisor, browser):
    action = submit_refund(agent)
    services.action_claim(action_id=action.pk, by=supervisor)

    response = post(browser, f"/actions/{action.pk}/release/")

    assert response.status_code == 200
    assert "data-claimed-by" not in response.content.decode()
    action.refresh_from_db()
    assert action.claimed_by is None


def test_the_row_endpoint_answers_the_fresh_row_and_hides_other_queues(
    demo, agent, make_supervisor, browser
):
    refund = submit_refund(agent)
    reset = submit_reset(agent)
    outsider = Client()
    outsider.force_login(make_supervisor("ref", queues=["Refunds"]))

    mine = browser.get(f"/actions/{refund.pk}/row/", **HTMX)
    hidden = outsider.get(f"/actions/{reset.pk}/row/", **HTMX)

    assert mine.status_code == 200
    assert mine.content.decode().lstrip().startswith(f'<tr id="action-{refund.pk}"')
    assert hidden.status_code == 404
    assert str(reset.pk) not in hidden.content.decode()


def test_claim_and_release_refuse_get(demo, agent, browser):
    action = submit_refund(agent)

    assert browser.get(f"/actions/{action.pk}/claim/").status_code == 405
    assert browser.get(f"/actions/{action.pk}/release/").status_code == 405


def test_the_row_is_the_same_for_every_viewer(demo, agent, make_supervisor):
    action = submit_refund(agent)
    people = [make_supervisor("one"), make_supervisor("two", role="senior_supervisor")]
    services.action_claim(action_id=action.pk, by=people[0])

    html = {action_row_html(action_id=action.pk, viewer=viewer_for(p)) for p in people}

    assert len(html) == 1
