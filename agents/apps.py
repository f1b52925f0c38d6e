from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agents import schema  # noqa: F401 - registers the OpenAPI extension
