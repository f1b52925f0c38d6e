from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import connectors

        # A configured connector takes the place of a built-in executor (the sandbox's) for its
        # action type whether the sandbox registered first or not: see execution.registry.
        connectors.register_configured()
