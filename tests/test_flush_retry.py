"""The test suite's own flush after a transactional test survives a deadlock with a background
read (see `tests/conftest.py`)."""

from __future__ import annotations

import threading

import pytest
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import TransactionTestCase

from tests import conftest
from tests.conftest import _flush_retrying_a_deadlock


@pytest.fixture(autouse=True)
def _no_worker_to_wait_for(monkeypatch):
    # The session's Celery worker may run (tests before these started it): these flushes are
    # stand-ins with nothing for it to finish.
    monkeypatch.setattr(conftest, "_worker_running", threading.Event())


def failing(times: int, message: str):
    calls = []

    def flush(self):
        calls.append(1)
        if len(calls) <= times:
            raise CommandError("Database couldn't be flushed.") from OperationalError(message)
        return "flushed"

    return flush, calls


def test_a_flush_that_loses_a_deadlock_is_run_again():
    flush, calls = failing(2, "deadlock detected")

    assert _flush_retrying_a_deadlock(flush)(None) == "flushed"
    assert len(calls) == 3


def test_any_other_flush_error_is_raised_at_once():
    flush, calls = failing(1, "relation does not exist")

    with pytest.raises(CommandError):
        _flush_retrying_a_deadlock(flush)(None)
    assert len(calls) == 1


def test_the_suite_flushes_through_the_retry():
    assert TransactionTestCase._fixture_teardown.__qualname__.startswith(
        "_flush_retrying_a_deadlock"
    )
