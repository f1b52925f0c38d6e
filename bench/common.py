"""What the benchmarks share: their own throwaway databases, and percentiles."""

from __future__ import annotations

import statistics

import psycopg


def fresh_database(server: str, name: str) -> None:
    """Drop and create database `name` on `server` (a postgresql:// URL without a database)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pct(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method); a single value is every percentile."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
