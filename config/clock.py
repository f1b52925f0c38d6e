"""The one clock: services and selectors ask it the time, and tests freeze or move it.

Everything that records or compares a moment (claims, SLAs, leases, rollback windows, breaker
windows) reads `now()`, so a test that freezes time (time-machine) governs all of it at once.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return timezone.now()
