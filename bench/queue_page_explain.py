"""EXPLAIN the queue page's keyset queries on 100,000 awaiting actions (no test, figures only).

    .venv/bin/python bench/queue_page_explain.py [--rows 100000] [--database countersign_explain]

Creates the database afresh, migrates it, loads the demo, inserts N awaiting actions spread over
the demo queues with many ties of SLA due time, ANALYZEs, then prints the plan and timing of the
first page and of a deep page for each sort order, for all queues, for a member of three queues
and for one queue. Every plan should be an index scan of an `action_*` partial index, no Sort.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", default="countersign_explain")
    args = parser.parse_args()
    url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", args.database],
                   check=True)  # fmt: skip
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database], check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    explain(args.rows)


def explain(rows: int) -> None:
    from django.db import connection

    from agents.services import agent_create
    from approvals.demo import demo_load
    from approvals.selectors import SORT_PRIORITY, SORT_SLA, QueueFilters
    from policies.models import ActionType

    demo_load()
    agent = agent_create(name="bench-bot").agent
    refund = ActionType.objects.get(key="refund.issue")
    with connection.cursor() as cursor:
        # 600 distinct due times for 100k rows: heavy ties, which the id must break.
        cursor.execute(
            """
            INSERT INTO approvals_action (id, agent_id, action_type_id, status, version, params,
                context, intent, callback_url, amount, currency, order_ref, request_hash, mode,
                rule_name, explanation, approvals_required, approver_role, queue, priority,
                sla_due_at, attempts, created_at, updated_at)
            SELECT gen_random_uuid(), %s, %s,
                (ARRAY['pending','pending','pending','recommended','drafted'])[1 + i %% 5],
                1, '{}'::jsonb, '{}'::jsonb, 'execute', '', (i * 37) %% 100000, 'USD',
                'ORD-' || (1000 + i %% 15), '', 'execute_gated', 'bench', 'bench', 1,
                'supervisor', (ARRAY['Refunds','Account security','Escalations','',
                                    'Other 1','Other 2','Other 3','Other 4'])[1 + i %% 8],
                (ARRAY[10,20,20,30,40])[1 + i %% 5],
                now() + make_interval(secs => (i %% 600) * 60), 0, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [agent.pk, refund.pk, rows],
        )
        cursor.execute("ANALYZE approvals_action")
    cases = {
        "all queues": None,
        "member of 3 queues": frozenset({"Refunds", "Account security", "General"}),
    }
    for sort in (SORT_SLA, SORT_PRIORITY):
        for label, queues in cases.items():
            _explain_pages(f"{sort}, {label}", queues, QueueFilters(sort=sort))
        _explain_pages(
            f"{sort}, one queue (Refunds)",
            None,
            QueueFilters(sort=sort, queues=frozenset({"Refunds"})),
        )


def _explain_pages(label, queues, filters) -> None:
    from approvals import selectors

    page = selectors.actions_awaiting_page(queues=queues, filters=filters)
    cursor = page.next_cursor
    for _ in range(400):  # ~20,000 rows deep
        page = selectors.actions_awaiting_page(queues=queues, filters=filters, cursor=cursor)
        cursor = page.next_cursor or cursor
    for name, c in (("first page", ""), ("page ~400", cursor)):
        qs = _queryset(queues, filters, c)
        print(f"--- {label}: {name}")
        print(qs.explain(analyze=True))


def _queryset(queues, filters, cursor):
    # The same query the selector runs, as a queryset to EXPLAIN.
    from approvals import selectors

    captured = {}
    original = selectors._with_relations

    def capture(qs):
        captured["qs"] = original(qs)
        return captured["qs"]

    selectors._with_relations = capture
    try:
        selectors.actions_awaiting_page(queues=queues, filters=filters, cursor=cursor)
    finally:
        selectors._with_relations = original
    order = ("rank", "sla_due_at", "id") if filters.sort == "priority" else ("sla_due_at", "id")
    return captured["qs"].order_by(*order)[:51]


if __name__ == "__main__":
    main()
