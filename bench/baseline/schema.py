"""The baseline's two tables, created if missing before its server starts."""

import psycopg

TABLES = """
CREATE TABLE IF NOT EXISTS baseline_action (
    id bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS baseline_event (
    id bigserial PRIMARY KEY,
    action_id bigint NOT NULL REFERENCES baseline_action (id),
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def tables_ensure(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLES)
