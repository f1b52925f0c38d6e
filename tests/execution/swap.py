"""Swapping executors for one block of a test, whatever the block registers meanwhile."""

from __future__ import annotations

from unittest import mock

from execution import Executor, Precedence
from execution.registry import _REGISTRY, Registered


def executors_swapped(executors: dict[str, Executor] | None = None, *, clear: bool = False):
    """A context manager: `executors` take effect (over any connector), the registry is restored
    after; `clear=True` empties it first, so every other action type has no executor."""
    entries = {key: Registered(e, Precedence.CONFIGURED) for key, e in (executors or {}).items()}
    return mock.patch.dict(_REGISTRY, entries, clear=clear)
