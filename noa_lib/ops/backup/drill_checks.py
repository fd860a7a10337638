"""Sanity checks on a restored dump, each one a :class:`~noa_lib.ops.findings.Finding`.

* ``tables`` — every table of the manifest exists in the restored database;
* ``row-counts`` — restored ``count(*)`` equals the count taken in the dump's snapshot (tables
  counted at backup time) or is within ``row_tolerance_pct`` of the planner's estimate;
* ``newest-data`` — the newest value of each key timestamp column equals the manifest's, and (with
  ``rpo_hours``) is no older than that: restoring this backup now loses at most ``rpo_hours``;
* ``large-objects`` — as many large objects as the dump's snapshot counted (they are not tables:
  the row counts do not see them);
* ``sequences`` — every sequence owned by a column has ``last_value >= max(column)`` so the first
  insert after a restore does not collide;
* ``assertion N`` — each configured SQL statement returns one row whose first column is true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients.postgres import Connection, query, sql
from noa_lib.errors import ClientError
from noa_lib.ops.backup.catalog import DumpBackup, parse_time
from noa_lib.ops.backup.snapshot import (
    COLUMN_KEYS_SQL,
    EXCLUDED_SCHEMAS,
    LARGE_OBJECTS_SQL,
    TABLES_SQL,
    timestamp_text,
)
from noa_lib.ops.findings import Finding, Status

# Sequences joined to their owning column by OID (pg_depend), never by a name cast to reg*;
# last_value as pg_sequences computes it (NULL when never used or not readable).
SEQUENCES_SQL = """
SELECT format('%I.%I', sn.nspname, c.relname) AS sequence,
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
            THEN pg_catalog.pg_sequence_last_value(c.oid) END AS last_value,
       s.seqincrement AS increment_by,
       tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column,
       format('%I.%I', tn.nspname, t.relname) AS table_key
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace sn ON sn.oid = c.relnamespace
JOIN pg_catalog.pg_depend d ON d.objid = c.oid
     AND d.classid = 'pg_catalog.pg_class'::regclass
     AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
ORDER BY sn.nspname, c.relname
"""
_LIST = 5  # offenders named in a message


@dataclass(frozen=True)
class TableCheck:
    """One table's row count: what the manifest expects, what was restored, how compared."""

    table: str
    expected: int | None
    restored: int | None
    basis: str  # exact | estimate | missing
    status: Status


@dataclass(frozen=True)
class RestoredChecks:
    """The findings of :func:`check_restored`, the per-table counts and the rows counted."""

    findings: list[Finding]
    tables: list[TableCheck]
    rows_checked: int


def check_restored(
    conn: Connection,
    backup: DumpBackup,
    *,
    row_tolerance_pct: float = 10.0,
    rpo_hours: float | None = None,
    assertions: Sequence[str] = (),
    now: datetime | None = None,
) -> RestoredChecks:
    """Run every check against ``conn`` (a session on the restored scratch database).

    Raises:
        Unavailable / Timeout: the server failed (other query errors become critical findings).
    """
    moment = now or datetime.now(UTC)
    restored = {
        str(r["key"]): (str(r["schema"]), str(r["name"]))
        for r in query(conn, TABLES_SQL, {"excluded": list(EXCLUDED_SCHEMAS)})
    }
    findings = [_tables_finding(backup, set(restored))]
    tables: list[TableCheck] = []
    rows_checked = 0
    if backup.kind == "full":
        tables = _count_tables(conn, backup, restored, row_tolerance_pct)
        rows_checked = sum(t.restored or 0 for t in tables)
        findings.append(_rows_finding(tables, row_tolerance_pct, rows_checked))
        findings.append(_newest_finding(conn, backup, rpo_hours, moment))
        findings.append(_large_objects_finding(conn, backup))
    else:
        reason = "schema-only dump: no rows to compare"
        findings.append(Finding("row-counts", Status.SKIPPED, reason))
        findings.append(Finding("newest-data", Status.SKIPPED, reason))
        findings.append(Finding("large-objects", Status.SKIPPED, reason))
    findings.append(_sequences_finding(conn))
    findings += [_assertion(conn, i, text) for i, text in enumerate(assertions, start=1)]
    return RestoredChecks(findings, tables, rows_checked)


def _tables_finding(backup: DumpBackup, restored: set[str]) -> Finding:
    expected = set(backup.tables)
    missing = sorted(expected - restored)
    evidence = {"missing": missing, "expected": len(expected), "restored": len(restored)}
    if missing:
        shown = ", ".join(missing[:_LIST]) + (" …" if len(missing) > _LIST else "")
        return Finding(
            "tables",
            Status.CRITICAL,
            f"{len(missing)} of {len(expected)} tables of the dump are missing after the "
            f"restore: {shown}",
            value=len(expected) - len(missing),
            threshold=len(expected),
            evidence=evidence,
        )
    return Finding(
        "tables",
        Status.OK,
        f"all {len(expected)} tables of the dump are present",
        value=len(expected),
        threshold=len(expected),
        evidence=evidence,
    )


def _count_tables(
    conn: Connection,
    backup: DumpBackup,
    restored: dict[str, tuple[str, str]],
    tolerance_pct: float,
) -> list[TableCheck]:
    checks: list[TableCheck] = []
    for name, figures in sorted(backup.tables.items()):
        if name not in restored:
            checks.append(TableCheck(name, figures.rows, None, "missing", Status.CRITICAL))
            continue
        schema, table = restored[name]
        statement = sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        count = int(query(conn, statement)[0]["n"])
        if figures.rows is not None:
            ok = count == figures.rows
            checks.append(TableCheck(name, figures.rows, count, "exact", _status(ok)))
        else:
            bound = tolerance_pct / 100 * max(figures.row_estimate, 1)
            ok = abs(count - figures.row_estimate) <= bound
            checks.append(TableCheck(name, figures.row_estimate, count, "estimate", _status(ok)))
    return checks


def _rows_finding(tables: list[TableCheck], tolerance_pct: float, rows: int) -> Finding:
    bad = [t for t in tables if t.status is Status.CRITICAL and t.basis != "missing"]
    evidence = {
        "tables": {t.table: {"expected": t.expected, "restored": t.restored, "basis": t.basis}
                   for t in tables}
    }
    if bad:
        shown = "; ".join(
            f"{t.table}: {t.restored} restored vs {t.expected} "
            f"({'exact count at backup' if t.basis == 'exact' else 'estimate'})"
            for t in bad[:_LIST]
        )
        return Finding(
            "row-counts",
            Status.CRITICAL,
            f"{len(bad)} table(s) restored with the wrong number of rows: {shown}",
            value=len(bad),
            threshold=0,
            evidence=evidence,
        )
    exact = sum(1 for t in tables if t.basis == "exact")
    return Finding(
        "row-counts",
        Status.OK,
        f"{rows} rows in {len(tables)} tables match the dump ({exact} exact counts, "
        f"{len(tables) - exact} within {tolerance_pct:g} % of the estimate)",
        value=rows,
        evidence=evidence,
    )


def _newest_finding(
    conn: Connection, backup: DumpBackup, rpo_hours: float | None, now: datetime
) -> Finding:
    if not backup.max_timestamps:
        return Finding(
            "newest-data",
            Status.SKIPPED,
            "the manifest names no key timestamp columns (no created_at-like column found)",
        )
    wrong: list[str] = []
    ages: dict[str, float] = {}
    keys = sorted(backup.max_timestamps)
    found = {
        str(r["key"]): (str(r["schema"]), str(r["name"]), str(r["column"]))
        for r in query(conn, COLUMN_KEYS_SQL, {"keys": keys})
    }
    for spec in keys:
        expected = backup.max_timestamps[spec]
        if spec not in found:
            wrong.append(f"{spec}: the column is missing after the restore")
            continue
        schema, table, column = found[spec]
        statement = sql.SQL("SELECT max({}) AS v FROM {}.{}").format(
            sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table)
        )
        try:
            value = timestamp_text(query(conn, statement)[0]["v"])
        except ClientError as exc:
            wrong.append(f"{spec}: {exc}")
            continue
        if value != expected:
            wrong.append(f"{spec}: newest {value} restored, {expected} at backup")
            continue
        ages[spec] = (now - parse_time(expected)).total_seconds() / 3600
    evidence: dict[str, Any] = {"expected": dict(backup.max_timestamps), "age_hours": ages}
    if wrong:
        return Finding(
            "newest-data",
            Status.CRITICAL,
            "the newest rows differ from the dump's snapshot: " + "; ".join(wrong[:_LIST]),
            value=len(wrong),
            threshold=0,
            evidence=evidence,
        )
    newest = min(ages.values()) if ages else None
    freshest = min(ages, key=lambda k: ages[k]) if ages else ""
    if rpo_hours is not None and newest is not None and newest > rpo_hours:
        return Finding(
            "newest-data",
            Status.CRITICAL,
            f"the newest restored row ({freshest}) is {newest:.1f} h old, beyond the RPO of "
            f"{rpo_hours:g} h: restoring this backup would lose more than allowed",
            value=round(newest, 2),
            threshold=rpo_hours,
            unit="h",
            evidence=evidence,
        )
    limit = f" (RPO {rpo_hours:g} h)" if rpo_hours is not None else " (no rpo_hours set)"
    return Finding(
        "newest-data",
        Status.OK,
        f"newest rows of {len(ages)} key column(s) restored as dumped; the newest "
        f"({freshest}) is {newest or 0:.1f} h old{limit}",
        value=round(newest, 2) if newest is not None else None,
        threshold=rpo_hours,
        unit="h",
        evidence=evidence,
    )


def _large_objects_finding(conn: Connection, backup: DumpBackup) -> Finding:
    expected = backup.large_objects
    if expected is None:
        return Finding(
            "large-objects", Status.SKIPPED, "the manifest has no large-object count (older dump)"
        )
    restored = int(query(conn, LARGE_OBJECTS_SQL)[0]["n"])
    evidence = {"sql": LARGE_OBJECTS_SQL, "expected": expected, "restored": restored}
    if restored != expected:
        return Finding(
            "large-objects",
            Status.CRITICAL,
            f"{restored} large object(s) restored, {expected} at backup",
            value=restored,
            threshold=expected,
            evidence=evidence,
        )
    return Finding(
        "large-objects",
        Status.OK,
        f"all {expected} large object(s) of the dump are present",
        value=restored,
        threshold=expected,
        evidence=evidence,
    )


def _sequences_finding(conn: Connection) -> Finding:
    rows = query(conn, SEQUENCES_SQL)
    behind: list[str] = []
    for row in rows:
        statement = sql.SQL("SELECT max({}) AS v FROM {}.{}").format(
            sql.Identifier(row["column"]),
            sql.Identifier(row["table_schema"]),
            sql.Identifier(row["table_name"]),
        )
        highest = query(conn, statement)[0]["v"]
        if highest is None or int(row["increment_by"]) < 0:
            continue
        last = row["last_value"]
        if last is None or int(last) < int(highest):
            behind.append(
                f"{row['sequence']} at {last} < max({row['table_key']}.{row['column']}) = "
                f"{highest}"
            )
    evidence = {"sql": SEQUENCES_SQL.strip(), "behind": behind}
    if behind:
        return Finding(
            "sequences",
            Status.CRITICAL,
            f"{len(behind)} sequence(s) behind their column (inserts would collide): "
            + "; ".join(behind[:_LIST]),
            value=len(behind),
            threshold=0,
            evidence=evidence,
        )
    return Finding(
        "sequences",
        Status.OK,
        f"all {len(rows)} column sequences are at or beyond their column's maximum",
        value=len(rows),
        evidence=evidence,
    )


def _assertion(conn: Connection, number: int, text: str) -> Finding:
    check = f"assertion {number}"
    evidence = {"sql": text}
    try:
        rows = query(conn, text.encode())
    except ClientError as exc:
        return Finding(check, Status.CRITICAL, f"failed to run: {exc}", evidence=evidence)
    first = next(iter(rows[0].values()), None) if rows else None
    if first is True:
        return Finding(check, Status.OK, f"holds: {_short(text)}", value="true", evidence=evidence)
    got = "no rows" if not rows else repr(first)
    return Finding(
        check,
        Status.CRITICAL,
        f"does not hold (returned {got}, expected true): {_short(text)}",
        value=got,
        threshold="true",
        evidence=evidence,
    )


def _short(text: str, limit: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _status(ok: bool) -> Status:
    return Status.OK if ok else Status.CRITICAL


__all__ = ["RestoredChecks", "TableCheck", "check_restored"]
