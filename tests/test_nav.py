"""The top bar's links ask the rulebook, once per request for the person."""

from __future__ import annotations

import pytest
from django.test import Client

from approvals import rulebook
from config.errors import Forbidden


def page_for(user, url: str = "/notifications/") -> str:
    client = Client()
    client.force_login(user)
    return client.get(url).content.decode()


@pytest.mark.parametrize(("role", "shown"), [("policy_admin", True), ("supervisor", False),
                                             ("qa_lead", False)])  # fmt: skip
def test_the_policies_link_shows_for_whom_the_rulebook_lets_edit_policy(
    make_supervisor, role, shown
):
    user = make_supervisor("pat", role=role, queues=())

    html = page_for(user)

    assert ('id="nav-policies"' in html) is shown


def test_a_superuser_gets_the_policies_link(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="x" * 20)

    assert 'id="nav-policies"' in page_for(boss)


def test_the_policies_link_follows_the_rulebooks_answer(make_supervisor, monkeypatch):
    user = make_supervisor("pat", role="policy_admin", queues=())
    refusal = rulebook.Answer(Forbidden("Not today."))
    monkeypatch.setattr(rulebook, "may_edit_policy", lambda person: refusal)

    assert 'id="nav-policies"' not in page_for(user)
