"""Django's admin: superusers only, switched off by ADMIN_ENABLED=false, and every role change
made there audited (groups read-only)."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import clear_url_caches

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="x-y-z-1234-root")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_who_are_not_superusers_are_kept_out(demo, make_supervisor):
    staff = make_supervisor("stan", role="senior_supervisor")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])

    response = signed_in(staff).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_superusers_get_in(superuser):
    assert signed_in(superuser).get("/admin/").status_code == 200


def test_admin_enabled_false_removes_the_admin(settings, superuser):
    import config.urls

    settings.ADMIN_ENABLED = False
    try:
        importlib.reload(config.urls)
        clear_url_caches()
        response = signed_in(superuser).get("/admin/")
    finally:
        settings.ADMIN_ENABLED = True
        importlib.reload(config.urls)
        clear_url_caches()

    assert response.status_code == 404


def test_a_role_given_and_taken_on_the_admin_user_page_is_audited(demo, superuser, make_supervisor):
    alice = make_supervisor("alice")
    reviewer = Group.objects.get(name="qa_reviewer")
    page = f"/admin/auth/user/{alice.pk}/change/"
    form = {
        "username": "alice", "is_active": "on", "groups": [reviewer.pk],
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }  # fmt: skip

    response = signed_in(superuser).post(page, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(alice.groups.values_list("name", flat=True)) == ["qa_reviewer"]
    events = AuditEvent.objects.filter(object_id=str(alice.pk), verb__startswith="user.role")
    assert list(events.order_by("id").values_list("verb", "data__role", "actor_id")) == [
        ("user.role_added", "qa_reviewer", str(superuser.pk)),
        ("user.role_removed", "supervisor", str(superuser.pk)),
    ]


def test_groups_are_read_only_in_the_admin(demo, superuser):
    group = Group.objects.get(name="supervisor")

    response = signed_in(superuser).post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "qa_reviewer_2"}
    )

    assert response.status_code == 403
    group.refresh_from_db()
    assert group.name == "supervisor"
