from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import connectors

        # After the built-in executors registered (importing connectors imports them): a
        # configured connector takes the place of the sandbox's executor for its action type.
        connectors.register_configured()
