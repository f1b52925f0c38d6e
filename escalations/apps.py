from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"

    def ready(self) -> None:
        # approvals opens cases through this desk: it cannot import escalations (see .importlinter).
        from approvals import handoff
        from escalations.desk import DESK

        handoff.register(DESK)
