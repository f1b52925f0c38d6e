"""Two-factor sign-in: senior supervisors, policy admins and staff prove a TOTP code after their
password before any page or API call; other people do not."""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from people.roles import Role
from tests.conftest import SUPERVISOR_PASSWORD


def signed_in_with_password(username: str) -> Client:
    """Signed in through the sign-in page, as a person does: the password only."""
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": username, "password": SUPERVISOR_PASSWORD}
    )
    assert response.status_code == 302
    return client


def code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def enrolled(client: Client, username: str) -> TOTPDevice:
    client.get("/accounts/two-factor/setup/")
    device = TOTPDevice.objects.get(user__username=username)
    assert client.post("/accounts/two-factor/setup/", {"token": code(device)}).status_code == 302
    device.refresh_from_db()
    return device


@pytest.mark.parametrize("role", [Role.SENIOR_SUPERVISOR, Role.POLICY_ADMIN])
def test_a_person_whose_role_needs_it_is_sent_to_enrol_before_any_page(make_supervisor, role):
    make_supervisor("sam", role=role)
    client = signed_in_with_password("sam")

    page = client.get("/?queue=Refunds")
    verify = client.get(page["Location"])

    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/two-factor/?next=")
    assert verify.status_code == 302
    assert verify["Location"].startswith("/accounts/two-factor/setup/")


def test_staff_must_prove_a_second_factor_too(db):
    get_user_model().objects.create_user("stu", password=SUPERVISOR_PASSWORD, is_staff=True)
    client = signed_in_with_password("stu")

    assert client.get("/admin/").status_code == 302


def test_a_plain_supervisor_is_not_asked_for_a_second_factor(supervisor):
    client = signed_in_with_password("alice")

    assert client.get("/").status_code == 200


def test_the_api_refuses_a_session_not_yet_verified_with_its_code(make_supervisor):
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    client = signed_in_with_password("sam")

    response = client.get("/api/v1/actions/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "second_factor_required"


def test_enrolment_shows_the_key_and_a_qr_code_then_a_code_from_the_app_opens_the_pages(
    make_supervisor,
):
    # Arrange
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    client = signed_in_with_password("sam")

    # Act
    setup = client.get("/accounts/two-factor/setup/")
    device = TOTPDevice.objects.get(user__username="sam")
    confirmed = client.post("/accounts/two-factor/setup/", {"token": code(device), "next": "/"})

    # Assert
    html = setup.content.decode()
    assert re.search(r'id="two-factor-secret"[^>]*>[A-Z2-7]{32}<', html)
    assert "<svg" in html and "otpauth://totp/Countersign%3Asam?" in html
    assert confirmed.status_code == 302 and confirmed["Location"] == "/"
    assert client.get("/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_a_wrong_code_does_not_confirm_the_enrolment(make_supervisor):
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    client = signed_in_with_password("sam")
    client.get("/accounts/two-factor/setup/")

    response = client.post("/accounts/two-factor/setup/", {"token": "000000x"})

    assert response.status_code == 400
    assert not TOTPDevice.objects.get(user__username="sam").confirmed
    assert client.get("/").status_code == 302


def test_once_enrolled_the_next_sign_in_asks_for_a_code_and_never_shows_the_key_again(
    make_supervisor,
):
    # Arrange
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    device = enrolled(signed_in_with_password("sam"), "sam")
    client = signed_in_with_password("sam")

    # Act
    setup = client.get("/accounts/two-factor/setup/")
    right = client.post("/accounts/two-factor/", {"token": code(device, steps_ahead=1)})

    # Assert
    assert setup.status_code == 302 and setup["Location"].startswith("/accounts/two-factor/?")
    assert right.status_code == 302
    assert client.get("/").status_code == 200
    assert TOTPDevice.objects.filter(user__username="sam").count() == 1


def test_a_wrong_code_at_sign_in_keeps_the_pages_closed(make_supervisor):
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    enrolled(signed_in_with_password("sam"), "sam")
    client = signed_in_with_password("sam")

    wrong = client.post("/accounts/two-factor/", {"token": "123456"})

    assert wrong.status_code == 400
    assert b"That code is not right" in wrong.content
    assert client.get("/").status_code == 302
