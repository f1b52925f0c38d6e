"""The business figures `/metrics` serves, computed from the database at scrape time: right across
every web, ASGI and Celery process, and nothing added to the paths that change state.

Gauges read what waits now through the partial indexes the queue page and the sweepers use (the
set of waiting actions, pending deliveries and open cases stays small). Event counters come from
the audit log, which is append-only and numbered without gaps: they are counted once, then only
the events appended since the last scrape (a primary-key range), the running totals kept in the
cache and checked against the hash of the event they stop at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count, Min, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from approvals.models import AWAITING_STATUSES, Action, CallbackDelivery, Queue, Status
from audit.models import ActorKind, AuditEvent
from config import clock
from escalations.models import CaseStatus, Escalation
from notifications.models import Delivery

# The audit verbs each counter counts, and the label value each one gets.
EXECUTION_OUTCOMES = {
    "action.succeeded": "succeeded",
    "action.failed": "failed",
    "action.needs_reconciliation": "unknown",
    "action.retry_scheduled": "retry",
}
ROLLBACK_OUTCOMES = {
    "action.rollback_requested": "requested",
    "action.rolled_back": "rolled_back",
    "action.rollback_failed": "failed",
}
# What the SLA sweep does when a clock runs out (its actor is the system's "sla").
SLA_OUTCOMES = {
    "action.expired": ("action", "expired"),
    "action.rejected": ("action", "rejected"),
    "action.escalated": ("action", "escalated"),
    "escalation.tier_moved": ("case", "next_tier"),
    "escalation.breached": ("case", "breached"),
}
FAILURE_VERBS = {"callback.failed": "callback", "notification.failed": "notification"}
SLA_ACTOR = "sla"
_CACHE_KEY = "metrics:audit-verb-counts:v1"

logger = logging.getLogger(__name__)


class BusinessCollector(Collector):
    def describe(self):
        return []  # not known without asking the database; registering must not ask it

    def collect(self) -> Iterator:
        # All or nothing: a database that fails halfway must not serve half the figures (and
        # the request histogram is still served when it is down).
        up = GaugeMetricFamily(
            "countersign_business_metrics_up",
            "1 when the business figures below could be read from the database, else 0.",
        )
        try:
            now = clock.now()
            families = [*_waiting(now), *_executing_and_cases(), *_deliveries(), *_audit_counters()]
        except DatabaseError as exc:
            logger.warning("business metrics unavailable: %s: %s", type(exc).__name__, exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _queue_name(queue: str) -> str:
    return queue or Queue.DEFAULT_NAME


def _waiting(now) -> Iterator:
    waiting = GaugeMetricFamily(
        "countersign_actions_waiting",
        "Actions waiting for a person, by queue and status (pending, recommended, drafted).",
        labels=["queue", "status"],
    )
    oldest = GaugeMetricFamily(
        "countersign_actions_oldest_waiting_age_seconds",
        "Age of the oldest action waiting for a person in the queue (0: none waits).",
        labels=["queue"],
    )
    overdue = GaugeMetricFamily(
        "countersign_actions_sla_overdue",
        "Waiting actions past their SLA that the SLA sweep has not handled yet.",
        labels=["queue"],
    )
    rows = (
        Action.objects.filter(status__in=AWAITING_STATUSES)
        .values("queue", "status")
        .annotate(n=Count("id"), first=Min("created_at"), late=Count("id", Q(sla_due_at__lt=now)))
        .order_by("queue", "status")
    )
    # Every queue reads 0 when nothing waits in it, so a drained queue does not vanish.
    queues = {name: {"n": {}, "first": None, "late": 0} for name in _known_queues()}
    for row in rows:
        queue = queues.setdefault(_queue_name(row["queue"]), {"n": {}, "first": None, "late": 0})
        queue["n"][row["status"]] = row["n"]
        queue["late"] += row["late"]
        if queue["first"] is None or row["first"] < queue["first"]:
            queue["first"] = row["first"]
    for name, queue in sorted(queues.items()):
        for status in AWAITING_STATUSES:
            waiting.add_metric([name, status], queue["n"].get(status, 0))
        age = (now - queue["first"]).total_seconds() if queue["first"] else 0.0
        oldest.add_metric([name], max(age, 0.0))
        overdue.add_metric([name], queue["late"])
    yield waiting
    yield oldest
    yield overdue


def _known_queues() -> list[str]:
    return [Queue.DEFAULT_NAME, *Queue.objects.order_by("name").values_list("name", flat=True)]


def _executing_and_cases() -> Iterator:
    executing = GaugeMetricFamily(
        "countersign_actions_executing", "Actions whose execution is running or backing off."
    )
    executing.add_metric([], Action.objects.filter(status=Status.EXECUTING).count())
    yield executing
    cases = GaugeMetricFamily(
        "countersign_escalations_unresolved",
        "Escalation cases not resolved yet, by tier, status and whether the last tier's SLA "
        "was breached.",
        labels=["tier", "status", "breached"],
    )
    rows = (
        Escalation.objects.exclude(status=CaseStatus.RESOLVED)
        .values("tier__key", "status")
        .annotate(n=Count("id"), breached=Count("id", Q(breached_at__isnull=False)))
        .order_by("tier__key", "status")
    )
    for row in rows:
        cases.add_metric([row["tier__key"], row["status"], "false"], row["n"] - row["breached"])
        cases.add_metric([row["tier__key"], row["status"], "true"], row["breached"])
    yield cases


def _deliveries() -> Iterator:
    callbacks = GaugeMetricFamily(
        "countersign_callback_deliveries",
        "Callbacks to agents, by outcome (pending, delivered, failed).",
        labels=["outcome"],
    )
    found = dict(
        CallbackDelivery.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    for state in CallbackDelivery.State.values:
        callbacks.add_metric([state], found.get(state, 0))
    yield callbacks
    notifications = GaugeMetricFamily(
        "countersign_notification_deliveries",
        "Notification messages, by channel and outcome (pending, sent, failed, digested).",
        labels=["channel", "outcome"],
    )
    rows = (
        Delivery.objects.values("subscription__channel", "status")
        .annotate(n=Count("id"))
        .order_by("subscription__channel", "status")
    )
    for row in rows:
        notifications.add_metric([row["subscription__channel"], row["status"]], row["n"])
    yield notifications


def _audit_counters() -> Iterator:
    # The sealed chain's head: events are numbered after commit, within about a second
    # (`audit.chain`), so the counters trail the log by at most that; unsealed rows have no seq.
    head = (
        AuditEvent.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    appends = CounterMetricFamily(
        "countersign_audit_appends", "Events sealed into the audit chain (its head's number)."
    )
    appends.add_metric([], head[0] if head else 0)
    yield appends
    counts = audit_verb_counts(head)
    executions = CounterMetricFamily(
        "countersign_executions",
        "Execution attempts' outcomes: succeeded, failed (for good), unknown (needs "
        "reconciliation), retry (a transient failure, tried again later).",
        labels=["outcome"],
    )
    for verb, outcome in EXECUTION_OUTCOMES.items():
        executions.add_metric([outcome], counts.get(f"{verb}|", 0) + counts.get(f"{verb}|sla", 0))
    yield executions
    rollbacks = CounterMetricFamily(
        "countersign_rollbacks", "Rollbacks: requested, rolled_back, failed.", labels=["outcome"]
    )
    for verb, outcome in ROLLBACK_OUTCOMES.items():
        rollbacks.add_metric([outcome], counts.get(f"{verb}|", 0) + counts.get(f"{verb}|sla", 0))
    yield rollbacks
    breaches = CounterMetricFamily(
        "countersign_sla_breaches",
        "SLA clocks that ran out: actions nobody decided in time (expired, rejected or escalated "
        "as their rule says), escalation cases moved to the next tier or breached at the last.",
        labels=["object", "outcome"],
    )
    for verb, (kind, outcome) in SLA_OUTCOMES.items():
        breaches.add_metric([kind, outcome], counts.get(f"{verb}|sla", 0))
    yield breaches
    failures = CounterMetricFamily(
        "countersign_delivery_failures",
        "Callbacks and notifications that failed for good (out of attempts).",
        labels=["channel"],
    )
    for verb, channel in FAILURE_VERBS.items():
        failures.add_metric([channel], counts.get(f"{verb}|", 0) + counts.get(f"{verb}|sla", 0))
    yield failures


def audit_verb_counts(head: tuple[int, str] | None) -> dict[str, int]:
    """Events per "verb|" (or "verb|sla" when the SLA sweep wrote them) up to `head`: the cached
    totals plus the events after them, or everything again when the cached totals stop at an
    event the log does not hold (another database, a test's rolled-back rows)."""
    if head is None:
        return {}
    state = cache.get(_CACHE_KEY)
    start, counts = 0, {}
    if state and state["seq"] <= head[0]:
        still_there = AuditEvent.objects.filter(seq=state["seq"], hash=state["hash"]).exists()
        if still_there:
            start, counts = state["seq"], dict(state["counts"])
    if start < head[0]:
        for key, n in _count_between(start, head[0]):
            counts[key] = counts.get(key, 0) + n
        cache.set(_CACHE_KEY, {"seq": head[0], "hash": head[1], "counts": counts}, timeout=None)
    return counts


def _count_between(after: int, upto: int) -> list[tuple[str, int]]:
    # A range of the chain's unique seq; the verb and actor come from the rows themselves.
    sql = f"""
        SELECT verb || '|' || CASE WHEN actor_kind = %s AND actor_id = %s THEN 'sla' ELSE '' END,
               count(*)
        FROM {AuditEvent._meta.db_table}
        WHERE seq > %s AND seq <= %s
        GROUP BY 1
        ORDER BY 1
    """  # noqa: S608 (the table name is ours; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ActorKind.SYSTEM, SLA_ACTOR, after, upto])
        return cursor.fetchall()
