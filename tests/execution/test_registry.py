"""Who registers which executor: the sandbox its built-ins, approvals the configured connectors,
and a configured connector wins over a built-in for the same action type in either app order."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings

from approvals.connectors import HttpConnector
from execution import Executor, FunctionExecutor, Precedence, StepsExecutor, executor_for
from execution.registry import _REGISTRY, register_executor
from sandbox import executors as sandbox_executors
from tests.execution.swap import executors_swapped

CONNECTED = {"refund.issue": {"url": "http://127.0.0.1:9/refunds", "secret": "s3cret"}}


def get_ready(*app_labels: str) -> None:
    """Run the apps' `ready()` in this order, as Django would with this INSTALLED_APPS order."""
    for label in app_labels:
        apps.get_app_config(label).ready()


def connected_settings():
    return override_settings(COUNTERSIGN={**settings.COUNTERSIGN, "CONNECTORS": CONNECTED})


def test_the_sandbox_app_registers_its_built_in_executors_when_it_gets_ready():
    with executors_swapped(clear=True):
        get_ready("sandbox")

        registered = {key: (entry.precedence, entry.executor) for key, entry in _REGISTRY.items()}

    assert set(registered) == set(sandbox_executors.builtins())
    assert {precedence for precedence, _ in registered.values()} == {Precedence.BUILT_IN}
    assert isinstance(registered["order.cancel_and_refund"][1], StepsExecutor)
    assert registered["credentials.reset"][1].compensable is False


def test_the_running_project_executes_refunds_with_the_sandbox_built_in():
    executor = executor_for("refund.issue")

    assert isinstance(executor, FunctionExecutor)
    assert executor._execute is sandbox_executors.refund_issue


@pytest.mark.parametrize(
    "order", [("sandbox", "approvals"), ("approvals", "sandbox")], ids=["sandbox-first", "last"]
)
def test_a_configured_connector_wins_over_the_built_in_whatever_the_app_order(order):
    with executors_swapped(clear=True), connected_settings():
        get_ready(*order)

        refunds = executor_for("refund.issue")
        cancels = executor_for("order.cancel")

    assert isinstance(refunds, HttpConnector)
    assert isinstance(cancels, FunctionExecutor)  # a type without a connector keeps its built-in


def test_a_built_in_registered_after_a_connector_is_not_taken():
    with executors_swapped(clear=True), connected_settings():
        get_ready("approvals")

        taken = sandbox_executors.register_builtins()

        assert isinstance(executor_for("refund.issue"), HttpConnector)
    assert "refund.issue" not in taken
    assert "order.cancel" in taken


def test_between_equal_precedences_the_later_registration_wins():
    first, second = Executor(), Executor()
    with executors_swapped(clear=True):
        register_executor("x.y", first)
        replaced = register_executor("x.y", second)

        assert executor_for("x.y") is second
    assert replaced is True


def test_an_action_type_nobody_registered_fails_with_no_executor():
    with executors_swapped(clear=True):
        executor = executor_for("refund.issue")

    assert executor.compensable is False
    with pytest.raises(Exception) as raised:
        executor.execute(None)
    assert raised.value.code == "no_executor"
