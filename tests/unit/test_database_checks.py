"""How database_health judges catalog rows (no server needed: the judges are pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from noa_lib.ops import database_checks as checks
from noa_lib.ops.findings import Status


def test_connections_percent_of_max() -> None:
    rows = [
        {"database": "noa", "state": "idle", "connections": 60, "max_connections": 100},
        {"database": "noa", "state": "active", "connections": 11, "max_connections": 100},
    ]
    finding, figures = checks.connections_finding(rows)
    assert finding.status is Status.WARNING
    assert finding.value == 71.0
    assert figures == {"connections_used": 71, "max_connections": 100, "connections_pct": 71.0}
    assert finding.evidence["sql"] == checks.CONNECTIONS_SQL
    assert "71 of 100" in finding.message


def test_connections_critical_at_90_percent() -> None:
    rows = [{"database": "noa", "state": "active", "connections": 90, "max_connections": 100}]
    assert checks.connections_finding(rows)[0].status is Status.CRITICAL


def _query(pid: int, seconds: float) -> dict[str, object]:
    return {"pid": pid, "state": "active", "seconds": seconds, "query": "SELECT " + "x" * 500}


def test_long_queries_warning_then_critical_beyond_five_times() -> None:
    none, figures = checks.long_queries_finding([], 60.0)
    assert none.status is Status.OK and figures["long_queries"] == 0

    warn, _ = checks.long_queries_finding([_query(7, 300.0)], 60.0)
    assert warn.status is Status.WARNING  # exactly 5x is not beyond 5x

    crit, figures = checks.long_queries_finding([_query(8, 301.0), _query(7, 61.0)], 60.0)
    assert crit.status is Status.CRITICAL
    assert figures == {"long_queries": 2, "longest_query_s": 301.0}
    listed = crit.evidence["queries"]
    assert [q["pid"] for q in listed] == [8, 7]
    assert all(len(q["query"]) <= 200 for q in listed)


def test_cache_hit_rate_needs_enough_blocks() -> None:
    few, _ = checks.cache_finding([{"hits": 10.0, "reads": 90.0}])
    assert few.status is Status.OK
    assert "too few" in few.message

    low, figures = checks.cache_finding([{"hits": 35_000.0, "reads": 65_000.0}])
    assert low.status is Status.CRITICAL
    assert figures["cache_hit_pct"] == 35.0

    good, _ = checks.cache_finding([{"hits": 99_000.0, "reads": 1_000.0}])
    assert good.status is Status.OK and good.value == 99.0


def _table(name: str, live: int, dead: int, schema: str = "public") -> dict[str, object]:
    pct = round(100.0 * dead / (live + dead), 1) if live + dead else None

    def quote(part: str) -> str:
        plain = part.isidentifier() and part.islower() and part.isascii()
        return part if plain else '"' + part.replace('"', '""') + '"'

    return {
        "schema": schema,
        "table": name,
        "qualified": f"{quote(schema)}.{quote(name)}",  # what format('%I.%I') returns
        "live_tuples": live,
        "dead_tuples": dead,
        "dead_pct": pct,
        "last_autovacuum": None,
    }


def test_bloat_ignores_small_tables_and_classifies_ratio() -> None:
    small = [_table("tiny", 10, 90)]
    assert checks.bloat_finding(small)[0].status is Status.OK

    warn = [_table("users", 7_000, 3_000), _table("tiny", 10, 90)]
    finding, figures = checks.bloat_finding(warn)
    assert finding.status is Status.WARNING
    assert figures["worst_bloat_pct"] == 30.0
    assert "public.users" in finding.message

    crit = [_table("events", 4_000, 6_000)]
    assert checks.bloat_finding(crit)[0].status is Status.CRITICAL


def test_bloat_names_tables_as_sql_can_use_them() -> None:
    """The message names an awkward table quoted, so ``VACUUM <name>`` can be pasted."""
    rows = [_table('quote"inside', 7_000, 3_000, schema="Über Schema")]
    finding, _ = checks.bloat_finding(rows)
    assert '"Über Schema"."quote""inside" (30 %)' in finding.message
    assert "VACUUM" in finding.message


def test_replication_none_and_lagging() -> None:
    none, figures = checks.replication_finding([])
    assert none.status is Status.OK and figures["replicas"] == 0
    row = {
        "application_name": "replica1",
        "client_addr": "10.0.0.2",
        "state": "streaming",
        "sync_state": "async",
        "replay_lag_seconds": 45.0,
        "replay_lag_bytes": 1e6,
    }
    assert checks.replication_finding([row])[0].status is Status.WARNING
    assert checks.replication_finding([{**row, "replay_lag_seconds": 400.0}])[0].status is (
        Status.CRITICAL
    )
    catching_up = {**row, "replay_lag_seconds": 0.0, "state": "catchup"}
    assert checks.replication_finding([catching_up])[0].status is Status.WARNING


def _archiver(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "archive_mode": "on",
        "archived_count": 12,
        "last_archived_wal": "000000010000000000000012",
        "last_archived_time": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "failed_count": 0,
        "last_failed_wal": None,
        "last_failed_time": None,
        "stats_reset": datetime(2026, 11, 1, tzinfo=UTC),
    }
    row.update(overrides)
    return row


def test_archiving_failing_recovered_and_off() -> None:
    ok, _ = checks.archiving_finding([_archiver()])
    assert ok.status is Status.OK

    last_ok = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    failing, figures = checks.archiving_finding(
        [_archiver(failed_count=3, last_failed_time=last_ok + timedelta(minutes=5))]
    )
    assert failing.status is Status.CRITICAL
    assert figures["archive_failed_count"] == 3

    recovered, _ = checks.archiving_finding(
        [_archiver(failed_count=1, last_failed_time=last_ok - timedelta(minutes=5))]
    )
    assert recovered.status is Status.WARNING

    off, _ = checks.archiving_finding([_archiver(archive_mode="off")])
    assert off.status is Status.WARNING


def test_every_check_query_is_read_only() -> None:
    for sql in (
        checks.CONNECTIONS_SQL,
        checks.LONG_QUERIES_SQL,
        checks.CACHE_SQL,
        checks.BLOAT_SQL,
        checks.REPLICATION_SQL,
        checks.ARCHIVER_SQL,
        checks.SIZE_SQL,
    ):
        assert sql.lstrip().upper().startswith("SELECT")
