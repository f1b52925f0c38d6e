"""The desk that approvals opens cases through (registered in `EscalationsConfig.ready`)."""

from escalations.services.opening import Desk

DESK = Desk()
