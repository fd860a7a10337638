"""database_health against the sandbox's real PostgreSQL: baseline, long queries, bloat."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from noa_lib.clients import postgres
from noa_lib.config import Target
from noa_lib.errors import ClientError
from noa_lib.ops.database import DatabaseHealth, database_health
from noa_lib.ops.findings import Finding, Status
from noa_lib.show.database import show_bloat, show_connections_by_state, show_long_queries

pytestmark = pytest.mark.integration

CHECKS = [
    "db connections",
    "long-running queries",
    "cache hit rate",
    "table bloat",
    "replication lag",
    "wal archiving",
    "database size",
]


def _finding(health: DatabaseHealth, check: str) -> Finding:
    return next(f for f in health.findings if f.check == check)


def test_baseline(sandbox_target: Target) -> None:
    health = database_health(sandbox_target)
    assert [f.check for f in health.findings] == CHECKS
    for f in health.findings:
        assert f.status is not Status.UNREACHABLE, f.message
        assert f.evidence["sql"].lstrip().startswith("SELECT")

    connections = _finding(health, "db connections")
    assert connections.unit == "%" and isinstance(connections.value, float)
    assert health.figures["connections_used"] >= 1
    assert health.figures["max_connections"] >= 1
    assert health.connections_by_state and health.connections_by_state[0].connections
    by_state = show_connections_by_state(health)
    assert not by_state.empty
    assert list(by_state.columns) == ["database", "state", "connections"]

    assert _finding(health, "replication lag").message.startswith("no replicas")
    assert health.figures["database_bytes"] > 0
    assert _finding(health, "wal archiving").status is not Status.CRITICAL
    assert "seconds" in show_long_queries(health).columns  # empty or not, the columns are there


def test_runs_read_only(sandbox_target: Target) -> None:
    assert sandbox_target.postgres is not None
    with postgres.connect(sandbox_target.postgres, read_only=True) as conn:
        with pytest.raises(ClientError, match="read-only"):
            postgres.query(conn, "CREATE TABLE noa_should_not_exist (id int)")
        rows = postgres.query(
            conn,
            "SELECT current_setting('application_name') AS app,"
            " current_setting('statement_timeout') AS st",
        )
    assert rows[0]["app"] == postgres.APPLICATION_NAME
    assert rows[0]["st"] != "0"


def test_unreachable_server_is_a_finding(sandbox_target: Target) -> None:
    assert sandbox_target.postgres is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    pg = dataclasses.replace(sandbox_target.postgres, port=port)
    health = database_health(dataclasses.replace(sandbox_target, postgres=pg))
    assert [f.status for f in health.findings] == [Status.UNREACHABLE]
    assert "connection refused" in health.findings[0].message
    assert health.long_queries == () and health.bloat == ()
    assert show_long_queries(health).empty and show_bloat(health).empty
    assert list(show_bloat(health).columns)[:2] == ["schema", "table"]


@pytest.fixture
def sleeping_backend(sandbox_target: Target) -> Iterator[int]:
    """A second session running ``pg_sleep(60)``; yields its pid, cancels it afterwards."""
    assert sandbox_target.postgres is not None
    conn = postgres.connect(sandbox_target.postgres, statement_timeout_ms=90_000)
    pid = int(postgres.query(conn, "SELECT pg_backend_pid() AS pid")[0]["pid"])

    def sleep() -> None:
        try:
            postgres.query(conn, "SELECT pg_sleep(60)")
        except ClientError:
            pass  # cancelled at teardown

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    try:
        yield pid
    finally:
        with postgres.connect(sandbox_target.postgres) as admin:
            postgres.query(admin, "SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(timeout=10)
        conn.close()


def test_long_running_query_reported(sandbox_target: Target, sleeping_backend: int) -> None:
    time.sleep(1.6)
    health = database_health(sandbox_target, long_query_seconds=1.0)
    finding = _finding(health, "long-running queries")
    assert finding.status is Status.WARNING, finding.message  # ~1.6 s: over 1 s, under 5 s
    listed = {q["pid"]: q for q in finding.evidence["queries"]}
    assert sleeping_backend in listed
    assert listed[sleeping_backend]["state"] == "active"
    assert "pg_sleep" in listed[sleeping_backend]["query"]
    assert sleeping_backend in {q.pid for q in health.long_queries}
    assert sleeping_backend in set(show_long_queries(health)["pid"])
    assert health.figures["long_queries"] >= 1

    critical = database_health(sandbox_target, long_query_seconds=0.3)
    long_queries = _finding(critical, "long-running queries")
    assert long_queries.status is Status.CRITICAL  # > 5 x 0.3 s
    own = {q["query"] for q in long_queries.evidence["queries"]}
    assert not any("pg_stat_activity" in q for q in own)  # our own session is excluded


@pytest.fixture
def bloated_table(sandbox_target: Target) -> Iterator[str]:
    """A scratch table (autovacuum off) with 5000 rows of which 2500 were updated: 1/3 dead."""
    assert sandbox_target.postgres is not None
    name = f"noa_test_bloat_{uuid.uuid4().hex[:8]}"
    table = postgres.sql.Identifier(name)
    with postgres.connect(sandbox_target.postgres) as conn:
        postgres.query(
            conn,
            postgres.sql.SQL(
                "CREATE TABLE {} (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false)"
            ).format(table),
        )
        try:
            postgres.query(
                conn,
                postgres.sql.SQL(
                    "INSERT INTO {} SELECT g, 0 FROM generate_series(1, 5000) g"
                ).format(table),
            )
            postgres.query(
                conn, postgres.sql.SQL("UPDATE {} SET v = 1 WHERE id <= 2500").format(table)
            )
            postgres.query(conn, "SELECT pg_stat_force_next_flush()")
            postgres.query(conn, "SELECT 1")
            yield name
        finally:
            postgres.query(conn, postgres.sql.SQL("DROP TABLE IF EXISTS {}").format(table))


def test_dead_tuples_reported_as_bloat(sandbox_target: Target, bloated_table: str) -> None:
    deadline = time.monotonic() + 15
    while True:  # table statistics reach the shared stats a moment after the writer's commit
        health = database_health(sandbox_target)
        bloat = show_bloat(health)
        row = bloat[bloat["table"] == bloated_table]
        if not row.empty and int(row["dead_tuples"].iloc[0]) >= 2500:
            break
        assert time.monotonic() < deadline, "dead tuples never showed in pg_stat_user_tables"
        time.sleep(0.5)
    assert float(row["dead_pct"].iloc[0]) == pytest.approx(33.3, abs=0.1)
    finding = _finding(health, "table bloat")
    assert finding.status in (Status.WARNING, Status.CRITICAL)
    assert any(bloated_table in t for t in finding.evidence["tables"])
    assert health.figures["worst_bloat_pct"] >= 33.3
