"""Before and after a backup: checks, the plan an operator confirms, and the run's report.

* :func:`backup_preflight` — read-only checks: PostgreSQL reachable (version, size), a usable
  ``pg_dump``, the backup bucket, nobody else backing up the database, what is already stored.
* :func:`plan_full_backup` — the :class:`~noa_lib.ops.safety.Plan` of a backup: which objects it
  writes where, the estimated size, interrupted uploads it will clear. Applied with
  :func:`~noa_lib.ops.safety.apply_plan` (``dry_run=False``), it runs :func:`.dump.full_backup`.
* :func:`backup_report` — findings and figures of a run for its record (dry run or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from noa_lib.clients.pgdump import find_tools
from noa_lib.clients.postgres import connect, query
from noa_lib.clients.s3_objects import open_bucket
from noa_lib.config import Target
from noa_lib.errors import ClientError, PreconditionFailed
from noa_lib.ops.backup.catalog import (
    DUMP_NAME,
    MANIFEST_NAME,
    PREFIX,
    check_database_name,
    check_kind,
    require_s3,
    scan_dumps,
)
from noa_lib.ops.backup.dump import OPERATION, BackupResult, full_backup
from noa_lib.ops.backup.lock import lock_is_free, require_postgres
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Applied, Change, Plan

MiB = 1 << 20
_SIZE_SQL = """
SELECT split_part(current_setting('server_version'), ' ', 1) AS version,
       current_setting('server_version_num')::int / 10000 AS major,
       pg_database_size(current_database()) AS database_bytes,
       (SELECT coalesce(sum(c.relpages + coalesce(t.relpages, 0)), 0)::bigint
               * current_setting('block_size')::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%%') AS data_bytes,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%%') AS tables
"""


@dataclass(frozen=True)
class Preflight:
    """Read-only facts and checks before a backup."""

    target: Target
    database: str
    kind: str
    findings: tuple[Finding, ...]
    figures: dict[str, Any] = field(default_factory=dict)
    pending_uploads: tuple[tuple[str, str], ...] = ()

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.status in (Status.CRITICAL, Status.UNREACHABLE)]


def backup_preflight(
    target: Target, *, database: str | None = None, kind: str = "full"
) -> Preflight:
    """Check that a backup of ``database`` can run now, without changing anything.

    Returns:
        A :class:`Preflight`; its findings are ``critical`` for what would make the backup fail.

    Raises:
        ParameterError: invalid ``database`` or ``kind``.
        ConfigError: the target lacks a postgres or s3 section.
    """
    pg = require_postgres(target)
    s3 = require_s3(target)
    db = check_database_name(database or pg.dbname)
    dump_kind = check_kind(kind)
    findings: list[Finding] = []
    figures: dict[str, Any] = {"database": db, "kind": dump_kind}
    major: int | None = None
    try:
        with connect(pg, dbname=db, read_only=True) as conn:
            row = query(conn, _SIZE_SQL)[0]
        major = int(row["major"])
        figures.update(
            server_version=str(row["version"]),
            database_bytes=int(row["database_bytes"]),
            data_bytes=int(row["data_bytes"]),
            tables=int(row["tables"]),
        )
        findings.append(
            Finding(
                "postgres",
                Status.OK,
                f"{db} on PostgreSQL {row['version']}: {int(row['tables'])} tables, "
                f"{int(row['data_bytes']) / MiB:.1f} MiB of table data "
                f"({int(row['database_bytes']) / MiB:.1f} MiB with indexes)",
                value=int(row["database_bytes"]),
                unit="bytes",
            )
        )
    except ClientError as exc:
        findings.append(Finding("postgres", Status.UNREACHABLE, str(exc)))
    try:
        tools = find_tools(major)
        figures["pg_dump_version"] = tools.version
        findings.append(
            Finding("pg_dump", Status.OK, f"pg_dump {tools.version} in {tools.bindir}",
                    value=tools.version)
        )
    except PreconditionFailed as exc:
        findings.append(Finding("pg_dump", Status.CRITICAL, str(exc)))
    pending: list[tuple[str, str]] = []
    try:
        with open_bucket(s3) as bucket:
            if not bucket.exists():
                raise PreconditionFailed(f"bucket {bucket.where} does not exist")
            pending = [(u.key, u.upload_id) for u in bucket.pending_uploads(f"{PREFIX}{db}/")]
        inventory = scan_dumps(target, db)
        newest = inventory.backups[0] if inventory.backups else None
        figures["backups"] = len(inventory.backups)
        age = f", newest {newest.prefix} ({newest.age_hours():.1f} h old)" if newest else ""
        extra = ""
        if inventory.orphans or pending:
            extra = (
                f"; {len(inventory.orphans)} dump(s) without a valid manifest, "
                f"{len(pending)} interrupted upload(s) (cleared by the backup)"
            )
        findings.append(
            Finding(
                "bucket",
                Status.OK,
                f"s3://{s3.backup_bucket} holds {len(inventory.backups)} backup(s) of {db}"
                f"{age}{extra}",
                value=len(inventory.backups),
            )
        )
    except PreconditionFailed as exc:
        findings.append(Finding("bucket", Status.CRITICAL, str(exc)))
    except ClientError as exc:
        findings.append(Finding("bucket", Status.UNREACHABLE, str(exc)))
    if major is not None:
        holder = lock_is_free(target, OPERATION, db)
        if holder is None:
            findings.append(Finding("lock", Status.OK, f"no other {OPERATION} of {db} is running"))
        else:
            findings.append(
                Finding(
                    "lock",
                    Status.CRITICAL,
                    f"another {OPERATION} of {db} on {target.name} is running "
                    f"({holder.describe()})",
                )
            )
    return Preflight(target, db, dump_kind, tuple(findings), figures, tuple(pending))


def plan_full_backup(
    target: Target,
    *,
    database: str | None = None,
    kind: str = "full",
    preflight: Preflight | None = None,
    **options: Any,
) -> Plan:
    """The plan of a backup; ``options`` go to :func:`.dump.full_backup` when it is applied.

    Raises:
        PreconditionFailed: the preflight found something that would make the backup fail
            (the message lists the checks).
    """
    pre = preflight or backup_preflight(target, database=database, kind=kind)
    if pre.blocking:
        raise PreconditionFailed(
            f"cannot back up {pre.database} on {target.name}: "
            + "; ".join(f"{f.check}: {f.message}" for f in pre.blocking)
        )
    s3 = require_s3(target)
    where = f"s3://{s3.backup_bucket}/{PREFIX}{pre.database}/<UTC start time>-{pre.kind}/"
    size = int(pre.figures.get("data_bytes", 0))
    what = "schema only" if pre.kind == "schema-only" else f"≤ {size / MiB:.1f} MiB of table data"
    changes = [
        Change(where + DUMP_NAME, "object", None, f"pg_dump -Fc of {pre.database} ({what})"),
        Change(where + MANIFEST_NAME, "object", None, "manifest (sha256, rows), written last"),
    ]
    changes += [
        Change(f"s3://{s3.backup_bucket}/{key}", "multipart upload", upload_id, "aborted")
        for key, upload_id in pre.pending_uploads
    ]
    db, kind_ = pre.database, pre.kind
    return Plan(
        action=f"{OPERATION} ({kind_}) of {db}",
        target=target,
        changes=tuple(changes),
        perform=lambda: full_backup(target, database=db, kind=kind_, **options),
        rollback=(
            "nothing in the database changes; to undo, delete the two new objects (the manifest "
            "first)"
        ),
    )


@dataclass(frozen=True)
class BackupReport:
    """Findings and figures of a backup run for its record."""

    findings: tuple[Finding, ...]
    figures: dict[str, Any]


def backup_report(applied: Applied, preflight: Preflight | None = None) -> BackupReport:
    """What a (dry) run of :func:`plan_full_backup` did, as findings and record figures."""
    findings = list(preflight.findings) if preflight else []
    figures: dict[str, Any] = {"dry_run": applied.dry_run}
    if preflight is not None:
        figures.update(
            database=preflight.database,
            database_bytes=preflight.figures.get("database_bytes"),
        )
    result = applied.result
    if isinstance(result, BackupResult):
        b = result.backup
        figures.update(result.figures())
        bucket = require_s3(applied.plan.target).backup_bucket
        findings.append(
            Finding(
                "backup",
                Status.OK,
                f"stored {b.size_bytes / MiB:.1f} MiB at s3://{bucket}/{b.object_key} in "
                f"{result.seconds:.1f} s ({result.mb_per_s:.1f} MiB/s), encryption "
                f"{b.sse or 'none'}, manifest written last",
                value=b.size_bytes,
                unit="bytes",
                evidence={"manifest": b.manifest_key, "sha256": b.sha256},
            )
        )
    else:
        findings.append(
            Finding(
                "backup",
                Status.SKIPPED,
                "dry run: nothing was written (re-run with dry_run=False to take the backup)",
            )
        )
    return BackupReport(tuple(findings), figures)


__all__ = [
    "BackupReport",
    "Preflight",
    "backup_preflight",
    "backup_report",
    "plan_full_backup",
]
