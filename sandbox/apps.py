from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"

    def ready(self) -> None:
        from sandbox import executors

        # The sandbox provides these action types' effects: approvals runs them through the
        # execution registry without importing the sandbox.
        executors.register_builtins()
