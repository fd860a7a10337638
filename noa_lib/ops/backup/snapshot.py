"""What a dump contains, measured in the very snapshot ``pg_dump`` reads.

:func:`exported_snapshot` opens a ``REPEATABLE READ`` read-only transaction, exports its snapshot
(``pg_export_snapshot()``) for ``pg_dump --snapshot`` and measures, in that same snapshot, every
table's planner estimate, the exact row count of tables up to ``exact_count_max_rows`` rows, the
newest value of key timestamp columns and the number of large objects. Because the dump reads the
same snapshot, the restore drill can demand exact equality for counted tables, the newest
timestamps and the large objects.

Key timestamp columns are ``timestamp``/``timestamptz`` columns named like :data:`TIME_COLUMNS`
that lead a btree index (``max()`` is then an index lookup) or belong to a counted table, plus any
given explicitly as ``schema.table.column`` (or ``table.column`` in ``public``; parts quoted as in
SQL when they need it).

Tables and columns are keyed by their qualified name quoted by the server
(``format('%I.%I', schema, table)``: ``public.users``, ``"Über Schema"."select"``), so a key is
unambiguous for every name PostgreSQL accepts; statements use the catalog's parts as
``sql.Identifier``, never the key split apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients.postgres import Connection, connect, query, sql
from noa_lib.config import PostgresSettings
from noa_lib.errors import NoaError, NotFound, ParameterError
from noa_lib.ops.backup.catalog import TableFigures, iso
from noa_lib.ops.sqlnames import parse_qualified

TIME_COLUMNS = ("created_at", "updated_at", "inserted_at", "applied_at", "modified_at")
EXCLUDED_SCHEMAS = ("pg_catalog", "information_schema")

TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, format('%%I.%%I', n.nspname, c.relname) AS key,
       c.reltuples::bigint AS estimate,
       (c.relpages + coalesce(t.relpages, 0))::bigint
         * current_setting('block_size')::bigint AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  AND n.nspname <> ALL(%(excluded)s) AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

TIME_COLUMNS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, a.attname AS column,
       format('%%I.%%I.%%I', n.nspname, c.relname, a.attname) AS key,
       EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_am am ON am.oid = ic.relam
               WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND am.amname = 'btree'
                 AND i.indpred IS NULL AND i.indisvalid) AS indexed
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND a.atttypid IN ('pg_catalog.timestamptz'::regtype, 'pg_catalog.timestamp'::regtype)
  AND a.attname = ANY(%(names)s)
  AND n.nspname <> ALL(%(excluded)s) AND n.nspname NOT LIKE 'pg\\_%%'
ORDER BY 1, 2, 3
"""

LARGE_OBJECTS_SQL = "SELECT count(*) AS n FROM pg_catalog.pg_largeobject_metadata"

COLUMN_KEYS_SQL = """
SELECT n.nspname AS schema, c.relname AS name, a.attname AS column,
       format('%%I.%%I.%%I', n.nspname, c.relname, a.attname) AS key
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND format('%%I.%%I.%%I', n.nspname, c.relname, a.attname) = ANY(%(keys)s)
"""

COLUMN_SQL = """
SELECT format('%%I.%%I.%%I', n.nspname, c.relname, a.attname) AS key
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND a.attname = %(column)s
  AND a.attnum > 0 AND NOT a.attisdropped
"""


@dataclass(frozen=True)
class SnapshotFigures:
    """The server and the data as of the exported snapshot."""

    snapshot: str
    server_version: str
    server_major: int
    database_bytes: int
    data_bytes: int
    tables: dict[str, TableFigures] = field(default_factory=dict)
    max_timestamps: dict[str, str] = field(default_factory=dict)
    large_objects: int | None = None  # counted for full dumps


def timestamp_text(value: Any) -> str | None:
    """A timestamp as ISO UTC with ``Z`` (naive values are taken as UTC); ``None`` stays."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    return str(value)


def split_column(spec: str) -> tuple[str, str, str]:
    """``schema.table.column`` (or ``table.column`` in ``public``) as three names.

    Parts are read as SQL reads them: ``"Über Schema"."Events".created_at`` keeps the quoted
    spellings, unquoted parts are folded to lower case.

    Raises:
        ParameterError: not two or three names.
    """
    accepted = "schema.table.column or table.column"
    parts = parse_qualified(spec, name="timestamp column", accepted=accepted)
    if len(parts) == 2:
        parts = ("public", *parts)
    if len(parts) != 3:
        raise ParameterError(
            f"timestamp column {spec!r} is not valid; accepted: {accepted}",
            name="timestamp_columns",
            accepted="schema.table.column",
        )
    return parts[0], parts[1], parts[2]


@contextlib.contextmanager
def exported_snapshot(
    settings: PostgresSettings,
    database: str,
    *,
    measure_rows: bool = True,
    exact_count_max_rows: int = 1_000_000,
    timestamp_columns: Sequence[str] = (),
    statement_timeout_ms: int = 600_000,
    lock_timeout_ms: int = 60_000,
) -> Iterator[SnapshotFigures]:
    """Export a snapshot of ``database`` and measure it; the snapshot lives for the block.

    ``measure_rows=False`` (schema-only dumps) skips counts and timestamps. Sizes come from the
    catalog (``relpages``), so only counts and ``max()`` touch the tables; a table locked
    exclusively for longer than ``lock_timeout_ms`` fails the backup instead of hanging it.

    Raises:
        ParameterError: an explicit timestamp column is malformed.
        NotFound: the database or an explicit column does not exist.
        Unavailable / Timeout / ClientError: the server failed.
    """
    explicit = [split_column(spec) for spec in timestamp_columns]
    conn = connect(
        settings,
        dbname=database,
        statement_timeout_ms=max(statement_timeout_ms, settings.statement_timeout_ms),
    )
    try:
        # pg_dump may stream for hours: this idle transaction must not be cut short; and like
        # pg_dump (--lock-wait-timeout) never queue forever behind an exclusive lock.
        query(
            conn,
            "SELECT set_config('idle_in_transaction_session_timeout', '0', false),"
            " set_config('lock_timeout', %s, false)",
            (str(int(lock_timeout_ms)),),
        )
        query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = str(query(conn, "SELECT pg_export_snapshot() AS s")[0]["s"])
        yield _measure(conn, snapshot, measure_rows, exact_count_max_rows, explicit)
    finally:
        with contextlib.suppress(NoaError):
            query(conn, "COMMIT")
        with contextlib.suppress(Exception):
            conn.close()


def _measure(
    conn: Connection,
    snapshot: str,
    measure_rows: bool,
    exact_count_max_rows: int,
    explicit: list[tuple[str, str, str]],
) -> SnapshotFigures:
    info = query(
        conn,
        "SELECT split_part(current_setting('server_version'), ' ', 1) AS version,"
        " current_setting('server_version_num')::int / 10000 AS major,"
        " pg_database_size(current_database()) AS bytes",
    )[0]
    excluded = list(EXCLUDED_SCHEMAS)
    tables: dict[str, TableFigures] = {}
    counted: set[tuple[str, str]] = set()
    data_bytes = 0
    for row in query(conn, TABLES_SQL, {"excluded": excluded}):
        name = str(row["key"])
        estimate = max(0, int(row["estimate"]))
        data_bytes += int(row["bytes"] or 0)
        rows: int | None = None
        if measure_rows and (int(row["estimate"]) < 0 or estimate <= exact_count_max_rows):
            statement = sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
                sql.Identifier(row["schema"]), sql.Identifier(row["name"])
            )
            rows = int(query(conn, statement)[0]["n"])
            counted.add((row["schema"], row["name"]))
        tables[name] = TableFigures(row_estimate=estimate, rows=rows)
    stamps: dict[str, str] = {}
    large_objects: int | None = None
    if measure_rows:
        large_objects = int(query(conn, LARGE_OBJECTS_SQL)[0]["n"])
        candidates = query(
            conn, TIME_COLUMNS_SQL, {"names": list(TIME_COLUMNS), "excluded": excluded}
        )
        columns = [
            (str(r["key"]), (r["schema"], r["name"], r["column"]))
            for r in candidates
            if r["indexed"] or (r["schema"], r["name"]) in counted
        ]
        columns += [(_column_key(conn, parts), parts) for parts in explicit]
        for key, (schema, table, column) in dict(columns).items():
            statement = sql.SQL("SELECT max({}) AS v FROM {}.{}").format(
                sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table)
            )
            value = timestamp_text(query(conn, statement)[0]["v"])
            if value is not None:
                stamps[key] = value
    return SnapshotFigures(
        snapshot=snapshot,
        server_version=str(info["version"]),
        server_major=int(info["major"]),
        database_bytes=int(info["bytes"]),
        data_bytes=data_bytes,
        tables=tables,
        max_timestamps=stamps,
        large_objects=large_objects,
    )


def _column_key(conn: Connection, parts: tuple[str, str, str]) -> str:
    """The key of an explicitly named column, looked up by its parts.

    Raises:
        NotFound: no such column.
    """
    schema, table, column = parts
    rows = query(conn, COLUMN_SQL, {"schema": schema, "table": table, "column": column})
    if not rows:
        raise NotFound(f"timestamp column {column!r} of table {schema!r}.{table!r} does not exist")
    return str(rows[0]["key"])


__all__ = [
    "COLUMN_KEYS_SQL",
    "LARGE_OBJECTS_SQL",
    "TIME_COLUMNS",
    "SnapshotFigures",
    "exported_snapshot",
    "split_column",
    "timestamp_text",
]
