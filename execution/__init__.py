"""How approved actions take effect: the executor contract and the registry apps fill.

No models and no app imports: the apps that provide executors (the sandbox, approvals' HTTP
connector) and the one that runs them (approvals) all depend on this package, never on each other.
"""

from execution.executors import (
    ExecutionFailed,
    Executor,
    FunctionExecutor,
    NotCompensable,
    OutcomeUnknown,
    StepsExecutor,
)
from execution.registry import Precedence, executor_for, register_executor

__all__ = [
    "ExecutionFailed",
    "Executor",
    "FunctionExecutor",
    "NotCompensable",
    "OutcomeUnknown",
    "Precedence",
    "StepsExecutor",
    "executor_for",
    "register_executor",
]
