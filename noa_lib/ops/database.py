"""PostgreSQL health: connections, long queries, cache, bloat, replication, WAL archiving, size.

:func:`database_health` opens one read-only session (``default_transaction_read_only``) and runs a
few catalog queries; each finding carries the exact SQL in ``evidence["sql"]`` so an SRE can
re-run it in ``psql``. A check that cannot run (timeout, permission) becomes an ``unreachable``
finding; the others still run. Sessions of other roles show ``<insufficient privilege>`` as query
text unless the configured user has ``pg_read_all_stats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, LiteralString

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import database_checks as checks
from noa_lib.ops.findings import Finding, Status

if TYPE_CHECKING:
    from noa_lib.clients.postgres import Connection

Rows = list[dict[str, Any]]

LONG_QUERY_COLUMNS = ["pid", "user", "database", "state", "seconds", "wait_event", "query"]
BLOAT_COLUMNS = ["schema", "table", "live_tuples", "dead_tuples", "dead_pct", "last_autovacuum"]
BY_STATE_COLUMNS = ["database", "state", "connections"]


@dataclass(frozen=True)
class LongQuery:
    """A session running longer than the threshold (query text at most 200 characters)."""

    pid: int | None
    user: str | None
    database: str | None
    state: str | None
    seconds: float | None
    wait_event: str | None
    query: str | None


@dataclass(frozen=True)
class TableBloat:
    """A table among the top ones by dead-tuple ratio (``dead_pct`` in percent)."""

    schema: str | None
    table: str | None
    live_tuples: int | None
    dead_tuples: int | None
    dead_pct: float | None
    last_autovacuum: datetime | None


@dataclass(frozen=True)
class StateConnections:
    """How many connections one database has in one state."""

    database: str | None
    state: str | None
    connections: int | None


@dataclass(frozen=True, eq=False)
class DatabaseHealth:
    """What :func:`database_health` found.

    ``long_queries`` (:class:`LongQuery`), ``bloat`` (:class:`TableBloat`, top tables by
    dead-tuple ratio) and ``connections_by_state`` (:class:`StateConnections`) are tuples of
    typed rows, in the order PostgreSQL returned them (:mod:`noa_lib.show.database` builds the
    tables); ``figures`` holds JSON-ready key numbers for the record (``connections_pct``,
    ``cache_hit_pct``, ``longest_query_s``, ``worst_bloat_pct``, ``max_replay_lag_s``,
    ``archive_failed_count``, ``database_bytes``…).
    """

    findings: list[Finding]
    long_queries: tuple[LongQuery, ...] = ()
    bloat: tuple[TableBloat, ...] = ()
    connections_by_state: tuple[StateConnections, ...] = ()
    figures: dict[str, float | int | str | None] = field(default_factory=dict)


def database_health(target: Target, *, long_query_seconds: float = 60.0) -> DatabaseHealth:
    """Check the health of ``target``'s PostgreSQL, read-only.

    Findings, in order: connections vs ``max_connections`` (threshold ``db_connections``),
    queries running longer than ``long_query_seconds`` (warning; critical beyond 5×), cache hit
    ratio (threshold ``cache_hit_rate``), table bloat (dead tuples, warning ≥ 20 %, critical
    ≥ 50 % on tables over 1000 rows), replication lag, WAL archiving, database size.

    Returns:
        A :class:`DatabaseHealth`. When PostgreSQL is not configured the only finding is
        ``skipped``; when it cannot be reached it is ``unreachable`` and the tables are empty.

    Raises:
        ParameterError: ``long_query_seconds`` is not positive.
    """
    if not long_query_seconds > 0:
        raise ParameterError(
            f"long_query_seconds must be > 0, got {long_query_seconds!r}",
            name="long_query_seconds",
            accepted="a positive number of seconds",
        )
    if target.postgres is None:
        skipped = Finding(
            check="database health",
            status=Status.SKIPPED,
            message=f"PostgreSQL is not configured for target {target.name}",
        )
        return _result([skipped], {}, {})

    from noa_lib.clients import postgres

    try:
        conn = postgres.connect(target.postgres, read_only=True)
    except (ClientError, ConfigError) as exc:
        down = Finding(
            check="database health",
            status=Status.UNREACHABLE,
            message=str(exc),
            evidence={"endpoint": postgres.endpoint(target.postgres)},
        )
        return _result([down], {}, {})
    with conn:
        return _collect(conn, long_query_seconds)


def _collect(conn: Connection, long_query_seconds: float) -> DatabaseHealth:
    from noa_lib.clients import postgres

    Judge = Callable[[Rows], tuple[Finding, Mapping[str, Any]]]
    plan: list[tuple[str, LiteralString, Judge, Mapping[str, Any] | None, str | None]] = [
        (
            "db connections",
            checks.CONNECTIONS_SQL,
            checks.connections_finding,
            None,
            "connections_by_state",
        ),
        (
            "long-running queries",
            checks.LONG_QUERIES_SQL,
            lambda rows: checks.long_queries_finding(rows, long_query_seconds),
            {"seconds": float(long_query_seconds)},
            "long_queries",
        ),
        ("cache hit rate", checks.CACHE_SQL, checks.cache_finding, None, None),
        ("table bloat", checks.BLOAT_SQL, checks.bloat_finding, None, "bloat"),
        ("replication lag", checks.REPLICATION_SQL, checks.replication_finding, None, None),
        ("wal archiving", checks.ARCHIVER_SQL, checks.archiving_finding, None, None),
        ("database size", checks.SIZE_SQL, checks.size_finding, None, None),
    ]
    tables: dict[str, Rows] = {}
    figures: dict[str, float | int | str | None] = {}
    findings: list[Finding] = []
    for check, statement, judge, params, table in plan:
        try:
            rows = postgres.query(conn, statement, params)
        except ClientError as exc:
            evidence: dict[str, Any] = {"sql": statement}
            if params:
                evidence["params"] = dict(params)
            findings.append(
                Finding(check, Status.UNREACHABLE, f"not checked: {exc}", evidence=evidence)
            )
            continue
        finding, found = judge(rows)
        findings.append(finding)
        figures.update(found)
        if table is not None:
            tables[table] = rows
    return _result(findings, tables, figures)


def _result(
    findings: list[Finding],
    tables: Mapping[str, Rows],
    figures: dict[str, float | int | str | None],
) -> DatabaseHealth:
    def rows(name: str, columns: list[str]) -> list[dict[str, Any]]:
        return [{c: row.get(c) for c in columns} for row in tables.get(name, [])]

    return DatabaseHealth(
        findings=findings,
        long_queries=tuple(LongQuery(**r) for r in rows("long_queries", LONG_QUERY_COLUMNS)),
        bloat=tuple(TableBloat(**r) for r in rows("bloat", BLOAT_COLUMNS)),
        connections_by_state=tuple(
            StateConnections(**r) for r in rows("connections_by_state", BY_STATE_COLUMNS)
        ),
        figures=figures,
    )


__all__ = [
    "BLOAT_COLUMNS",
    "BY_STATE_COLUMNS",
    "LONG_QUERY_COLUMNS",
    "DatabaseHealth",
    "LongQuery",
    "StateConnections",
    "TableBloat",
    "database_health",
]
