"""Which executor takes effect for each action type, and which registration wins over which.

The app that provides an executor registers it from its `AppConfig.ready()`: the sandbox its
built-ins, approvals the HTTP connectors configured for the deployment. Apps get ready in
`INSTALLED_APPS` order, which nobody should have to keep in mind, so a registration never replaces
one of higher precedence: a configured connector wins over a built-in for the same action type
whichever registers first. Between equal precedences the later registration wins.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Any, NamedTuple

from config.errors import Code
from execution.executors import ExecutionFailed, Executor

logger = logging.getLogger(__name__)


class Precedence(IntEnum):
    BUILT_IN = 0  # an app's own executor for its action types (the sandbox's)
    CONFIGURED = 10  # configured for this deployment (an HTTP connector): replaces a built-in


class Registered(NamedTuple):
    executor: Executor
    precedence: Precedence


_REGISTRY: dict[str, Registered] = {}


def register_executor(
    action_type: str, executor: Executor, *, precedence: Precedence = Precedence.BUILT_IN
) -> bool:
    """Make `executor` take effect for `action_type`; False when one of higher precedence stays."""
    current = _REGISTRY.get(action_type)
    if current is not None and current.precedence > precedence:
        logger.info(
            "%s keeps its %s executor; a %s one is not registered over it",
            action_type, current.precedence.name, Precedence(precedence).name,
        )  # fmt: skip
        return False
    _REGISTRY[action_type] = Registered(executor, Precedence(precedence))
    return True


def executor_for(action_type: str) -> Executor:
    registered = _REGISTRY.get(action_type)
    if registered is None:
        return _Missing(action_type)
    return registered.executor


class _Missing(Executor):
    compensable = False

    def __init__(self, action_type: str) -> None:
        self.action_type = action_type

    def execute(self, action) -> dict[str, Any]:
        raise ExecutionFailed(
            f"No executor is configured for {self.action_type}.", code=Code.NO_EXECUTOR
        )
