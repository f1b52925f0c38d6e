"""Telling people: deliveries written in the caller's transaction, sent by workers on commit."""

from __future__ import annotations

from typing import Any

from notifications.events import Event


def notify(
    *, event: Event, subject: str, text: str, path: str, queue: str = "", tier: str = "",
    amount: int | None = None, currency: str = "", action_id: Any = None, case_id: Any = None,
    buttons: bool = False,
) -> int:  # fmt: skip
    """Write one delivery per matching subscription inside the caller's transaction and send
    them on commit; how many were written. (Filled in by the notifications work.)"""
    return 0
