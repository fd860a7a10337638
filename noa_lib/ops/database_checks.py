"""The SQL behind :func:`noa_lib.ops.database.database_health` and how its rows are judged.

Each check is a query (a literal; its only input is a bound parameter) and a pure function from
its rows to a :class:`Finding` plus key figures, so the classification is testable without a
server. Rows are dicts as returned by :func:`noa_lib.clients.postgres.query`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.thresholds import Threshold, threshold

Rows = Sequence[Mapping[str, Any]]
Figures = dict[str, float | int | str | None]

LONG_QUERY_CRITICAL_FACTOR = 5.0
MIN_CACHE_BLOCKS = 10_000
"""Below this many block accesses since the stats reset, a hit ratio says nothing."""
BLOAT_MIN_ROWS = 1000
BLOAT = Threshold("table_bloat", 20.0, 50.0, "%")
REPLAY_LAG = Threshold("replication_lag", 30.0, 300.0, "s")
QUERY_TEXT_CHARS = 200

CONNECTIONS_SQL: LiteralString = """\
SELECT coalesce(datname, '') AS database, coalesce(state, 'unknown') AS state,
       count(*)::int AS connections,
       current_setting('max_connections')::int AS max_connections
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2"""

LONG_QUERIES_SQL: LiteralString = """\
SELECT pid, usename AS user, datname AS database, state,
       round(extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start
                                             ELSE xact_start END)::numeric, 1)::float8 AS seconds,
       coalesce(wait_event_type || ':' || wait_event, '') AS wait_event,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND pid <> pg_backend_pid()
  AND state IS NOT NULL AND state <> 'idle'
  AND CASE WHEN state = 'active' THEN query_start ELSE xact_start END
      < now() - make_interval(secs => %(seconds)s)
ORDER BY seconds DESC"""

CACHE_SQL: LiteralString = """\
SELECT datname AS database, blks_hit::float8 AS hits, blks_read::float8 AS reads, stats_reset
FROM pg_stat_database
WHERE datname = current_database()"""

BLOAT_SQL: LiteralString = """\
SELECT schemaname AS schema, relname AS table, format('%I.%I', schemaname, relname) AS qualified,
       n_live_tup::bigint AS live_tuples, n_dead_tup::bigint AS dead_tuples,
       round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 1)::float8 AS dead_pct,
       last_autovacuum
FROM pg_stat_user_tables
ORDER BY dead_pct DESC NULLS LAST, n_dead_tup DESC
LIMIT 20"""

REPLICATION_SQL: LiteralString = """\
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       coalesce(extract(epoch FROM replay_lag), 0)::float8 AS replay_lag_seconds,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END
         AS replay_lag_bytes
FROM pg_stat_replication
ORDER BY replay_lag_seconds DESC"""

ARCHIVER_SQL: LiteralString = """\
SELECT current_setting('archive_mode') AS archive_mode,
       archived_count, last_archived_wal, last_archived_time,
       failed_count, last_failed_wal, last_failed_time, stats_reset
FROM pg_stat_archiver"""

SIZE_SQL: LiteralString = """\
SELECT current_database() AS database, pg_database_size(current_database())::bigint AS bytes"""


def connections_finding(rows: Rows) -> tuple[Finding, Figures]:
    """Connections in use as a percentage of ``max_connections`` (threshold ``db_connections``)."""
    used = sum(int(r["connections"]) for r in rows)
    maximum = int(rows[0]["max_connections"]) if rows else 0
    pct = round(100.0 * used / maximum, 1) if maximum else 0.0
    bound = threshold("db_connections")
    status = bound.classify(pct)
    top = max(rows, key=lambda r: int(r["connections"]), default=None)
    detail = f"; most are {top['state']} on {top['database'] or '(none)'}" if top else ""
    finding = Finding(
        check="db connections",
        status=status,
        message=f"{used} of {maximum} connections in use ({pct:g} %){detail}",
        value=pct,
        threshold=bound.describe(),
        unit="%",
        evidence={"sql": CONNECTIONS_SQL, "used": used, "max_connections": maximum},
    )
    return finding, {"connections_used": used, "max_connections": maximum, "connections_pct": pct}


def long_queries_finding(rows: Rows, limit_s: float) -> tuple[Finding, Figures]:
    """Sessions busy for longer than ``limit_s``: warning if any, critical beyond 5×."""
    critical_s = LONG_QUERY_CRITICAL_FACTOR * limit_s
    longest = max((float(r["seconds"]) for r in rows), default=0.0)
    listed = [
        {
            "pid": r["pid"],
            "seconds": r["seconds"],
            "state": r["state"],
            "query": str(r["query"] or "")[:QUERY_TEXT_CHARS],
        }
        for r in rows
    ]
    if not rows:
        status, message = Status.OK, f"no query has been running longer than {limit_s:g} s"
    else:
        status = Status.CRITICAL if longest > critical_s else Status.WARNING
        first = rows[0]
        message = (
            f"{len(rows)} session(s) busy longer than {limit_s:g} s; longest {longest:g} s "
            f"(pid {first['pid']}, {first['state']})"
        )
    finding = Finding(
        check="long-running queries",
        status=status,
        message=message,
        value=longest,
        threshold=f"warning > {limit_s:g}s, critical > {critical_s:g}s",
        unit="s",
        evidence={"sql": LONG_QUERIES_SQL, "params": {"seconds": limit_s}, "queries": listed},
    )
    return finding, {"long_queries": len(rows), "longest_query_s": longest}


def cache_finding(rows: Rows) -> tuple[Finding, Figures]:
    """Buffer cache hit ratio of the current database (threshold ``cache_hit_rate``)."""
    hits = float(rows[0]["hits"]) if rows else 0.0
    reads = float(rows[0]["reads"]) if rows else 0.0
    total = hits + reads
    bound = threshold("cache_hit_rate")
    evidence = {"sql": CACHE_SQL, "blocks_hit": hits, "blocks_read": reads}
    if total < MIN_CACHE_BLOCKS:
        pct = round(100.0 * hits / total, 1) if total else None
        finding = Finding(
            check="cache hit rate",
            status=Status.OK,
            message=(
                f"only {total:,.0f} block accesses since the statistics reset: "
                f"too few for a meaningful hit ratio (needs {MIN_CACHE_BLOCKS:,})"
            ),
            value=pct,
            threshold=bound.describe(),
            unit="%",
            evidence=evidence,
        )
        return finding, {"cache_hit_pct": pct}
    pct = round(100.0 * hits / total, 2)
    finding = Finding(
        check="cache hit rate",
        status=bound.classify(pct),
        message=f"{pct:g} % of {total:,.0f} block accesses served from shared buffers",
        value=pct,
        threshold=bound.describe(),
        unit="%",
        evidence=evidence,
    )
    return finding, {"cache_hit_pct": pct}


def bloat_finding(rows: Rows) -> tuple[Finding, Figures]:
    """Worst dead-tuple ratio among tables with more than :data:`BLOAT_MIN_ROWS` rows."""
    judged = [
        r
        for r in rows
        if int(r["live_tuples"]) + int(r["dead_tuples"]) > BLOAT_MIN_ROWS
        and r["dead_pct"] is not None
    ]
    worst_row = max(judged, key=lambda r: float(r["dead_pct"]), default=None)
    worst_pct = float(worst_row["dead_pct"]) if worst_row else 0.0
    status = BLOAT.classify(worst_pct)
    offenders = [
        f"{r['qualified']} ({float(r['dead_pct']):g} %)"
        for r in judged
        if BLOAT.classify(float(r["dead_pct"])) is not Status.OK
    ]
    if worst_row is None:
        message = f"no table has more than {BLOAT_MIN_ROWS} rows yet"
    elif offenders:
        message = "dead tuples high in " + ", ".join(offenders[:5]) + "; VACUUM them"
    else:
        message = (
            f"worst dead-tuple ratio {worst_pct:g} % ({worst_row['qualified']})"
        )
    finding = Finding(
        check="table bloat",
        status=status,
        message=message,
        value=worst_pct,
        threshold=BLOAT.describe() + f" on tables > {BLOAT_MIN_ROWS} rows",
        unit="%",
        evidence={"sql": BLOAT_SQL, "tables": offenders},
    )
    return finding, {"worst_bloat_pct": worst_pct}


def replication_finding(rows: Rows) -> tuple[Finding, Figures]:
    """Replay lag of every connected replica (warning ≥ 30 s, critical ≥ 300 s)."""
    if not rows:
        finding = Finding(
            check="replication lag",
            status=Status.OK,
            message="no replicas connected: nothing to lag",
            value=None,
            threshold=REPLAY_LAG.describe(),
            unit="s",
            evidence={"sql": REPLICATION_SQL, "replicas": []},
        )
        return finding, {"replicas": 0, "max_replay_lag_s": None}
    lag = max(float(r["replay_lag_seconds"] or 0.0) for r in rows)
    not_streaming = [str(r["application_name"]) for r in rows if r["state"] != "streaming"]
    status = REPLAY_LAG.classify(lag)
    message = f"{len(rows)} replica(s); worst replay lag {lag:g} s"
    if not_streaming:
        status = max(status, Status.WARNING, key=lambda s: s.severity)
        message += "; not streaming: " + ", ".join(not_streaming)
    replicas = [
        {
            k: r[k]
            for k in (
                "application_name",
                "client_addr",
                "state",
                "sync_state",
                "replay_lag_seconds",
                "replay_lag_bytes",
            )
        }
        for r in rows
    ]
    finding = Finding(
        check="replication lag",
        status=status,
        message=message,
        value=lag,
        threshold=REPLAY_LAG.describe(),
        unit="s",
        evidence={"sql": REPLICATION_SQL, "replicas": replicas},
    )
    return finding, {"replicas": len(rows), "max_replay_lag_s": lag}


def archiving_finding(rows: Rows) -> tuple[Finding, Figures]:
    """WAL archiving: failing now (critical), failed earlier but recovered (warning), or fine."""
    r = rows[0]
    failed = int(r["failed_count"] or 0)
    last_ok, last_bad = r["last_archived_time"], r["last_failed_time"]
    evidence = {
        "sql": ARCHIVER_SQL,
        "archive_mode": r["archive_mode"],
        "archived_count": r["archived_count"],
        "last_archived_wal": r["last_archived_wal"],
        "last_archived_time": _iso(last_ok),
        "failed_count": failed,
        "last_failed_wal": r["last_failed_wal"],
        "last_failed_time": _iso(last_bad),
    }
    if r["archive_mode"] == "off":
        status = Status.WARNING
        message = "WAL archiving is off: point-in-time recovery is not possible"
    elif last_bad is not None and (last_ok is None or last_bad > last_ok):
        status = Status.CRITICAL
        message = (
            f"WAL archiving is failing: {r['last_failed_wal']} failed at {_iso(last_bad)}; "
            f"last success {_iso(last_ok) or 'never'}"
        )
    elif failed:
        status = Status.WARNING
        message = (
            f"{failed} archive failure(s) since {_iso(r['stats_reset'])}, last at "
            f"{_iso(last_bad)}; archiving has succeeded since ({r['last_archived_wal']})"
        )
    else:
        status = Status.OK
        message = (
            f"{r['archived_count']} WAL segment(s) archived, last {r['last_archived_wal']} "
            f"at {_iso(last_ok)}"
            if last_ok is not None
            else "no WAL segment archived yet, no failures"
        )
    finding = Finding(
        check="wal archiving",
        status=status,
        message=message,
        value=failed,
        threshold="failures after the last success: critical",
        unit="failures",
        evidence=evidence,
    )
    return finding, {
        "archive_failed_count": failed,
        "archived_count": int(r["archived_count"] or 0),
    }


def size_finding(rows: Rows) -> tuple[Finding, Figures]:
    """Size of the current database (information only)."""
    r = rows[0]
    size = int(r["bytes"])
    mib = round(size / 2**20, 1)
    finding = Finding(
        check="database size",
        status=Status.OK,
        message=f"database {r['database']} uses {mib:g} MiB",
        value=mib,
        unit="MiB",
        evidence={"sql": SIZE_SQL, "bytes": size},
    )
    return finding, {"database_bytes": size}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.isoformat()) if hasattr(value, "isoformat") else str(value)


__all__ = [
    "ARCHIVER_SQL",
    "BLOAT",
    "BLOAT_SQL",
    "CACHE_SQL",
    "CONNECTIONS_SQL",
    "LONG_QUERIES_SQL",
    "REPLAY_LAG",
    "REPLICATION_SQL",
    "SIZE_SQL",
    "archiving_finding",
    "bloat_finding",
    "cache_finding",
    "connections_finding",
    "long_queries_finding",
    "replication_finding",
    "size_finding",
]
