"""Take a logical backup: ``pg_dump -Fc`` streamed straight into a multipart upload, manifest last.

:func:`full_backup` runs, under the ``full_backup`` lock of the database (:mod:`.lock`):

1. abort multipart uploads that earlier, interrupted runs left under ``dumps/<database>/`` (no
   other backup of that database can be running: we hold its lock);
2. export a snapshot and measure it (:mod:`.snapshot`): table estimates, exact counts of tables up
   to ``exact_count_max_rows`` rows, newest key timestamps;
3. start ``pg_dump --format=custom --snapshot=…`` and stream its stdout into
   :func:`~noa_lib.clients.s3_stream.upload_stream` — no temporary file, memory bounded by the
   part size whatever the database size — hashing the stored bytes on the way;
4. complete the upload only if ``pg_dump`` exited 0 (otherwise abort it);
5. write ``manifest.json`` **last**. Until then the object is not a backup (:mod:`.catalog`).

Any failure leaves no manifest and no incomplete upload, and raises.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients.pgdump import find_tools, start_dump
from noa_lib.clients.s3_objects import Bucket, open_bucket
from noa_lib.clients.s3_stream import DEFAULT_PART_SIZE, UploadResult, upload_stream
from noa_lib.config import Target
from noa_lib.errors import ClientError, Conflict
from noa_lib.ops.backup.catalog import (
    DUMP_NAME,
    MANIFEST_NAME,
    MANIFEST_SCHEMA,
    DumpBackup,
    Kind,
    check_database_name,
    check_kind,
    dump_prefix,
    iso,
    parse_manifest,
    require_s3,
)
from noa_lib.ops.backup.lock import operation_lock, require_postgres
from noa_lib.ops.backup.snapshot import SnapshotFigures, exported_snapshot

OPERATION = "full_backup"
MiB = 1 << 20


@dataclass(frozen=True)
class BackupResult:
    """A stored backup and how the run went."""

    backup: DumpBackup
    seconds: float
    upload_seconds: float
    parts: int
    part_size: int
    stale_uploads_aborted: int
    database_bytes: int

    @property
    def mb_per_s(self) -> float:
        """Stored megabytes (MiB) per second of dump + upload."""
        return self.backup.size_bytes / MiB / self.upload_seconds if self.upload_seconds else 0.0

    def figures(self) -> dict[str, Any]:
        """Key figures for the record (JSON scalars)."""
        return {
            "backup_key": self.backup.prefix,
            "database": self.backup.database,
            "kind": self.backup.kind,
            "size_bytes": self.backup.size_bytes,
            "database_bytes": self.database_bytes,
            "duration_s": round(self.seconds, 2),
            "mb_per_s": round(self.mb_per_s, 2),
            "sha256": self.backup.sha256,
            "sse": self.backup.sse,
            "tables": len(self.backup.tables),
            "stale_uploads_aborted": self.stale_uploads_aborted,
        }


def full_backup(
    target: Target,
    *,
    database: str | None = None,
    kind: str = "full",
    compress: int | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    workers: int = 2,
    timestamp_columns: Sequence[str] = (),
    exact_count_max_rows: int = 1_000_000,
) -> BackupResult:
    """Dump ``database`` (default: the target's) to the target's backup bucket.

    ``kind`` is ``full`` or ``schema-only``; ``compress`` is pg_dump's ``--compress`` (0–9);
    ``timestamp_columns`` adds ``schema.table.column`` to the newest-timestamp figures.

    Returns:
        A :class:`BackupResult` whose ``backup`` is the manifest as stored.

    Raises:
        ParameterError: invalid ``database``, ``kind`` or column.
        ConfigError: the target lacks a postgres or s3 section.
        PreconditionFailed: another full_backup of this database runs; pg_dump missing/too old.
        Unavailable / Timeout: PostgreSQL or S3 failed during the run (upload aborted).
        ClientError: pg_dump or the store failed otherwise (upload aborted).
    """
    pg = require_postgres(target)
    s3 = require_s3(target)
    db = check_database_name(database or pg.dbname)
    dump_kind = check_kind(kind)
    started_clock = time.monotonic()
    try:
        with operation_lock(target, OPERATION, db), open_bucket(s3) as bucket:
            stale = 0
            for pending in bucket.pending_uploads(f"dumps/{db}/"):
                bucket.abort_upload(pending.key, pending.upload_id)
                stale += 1
            with exported_snapshot(
                pg,
                db,
                measure_rows=dump_kind == "full",
                exact_count_max_rows=exact_count_max_rows,
                timestamp_columns=timestamp_columns,
            ) as snap:
                tools = find_tools(snap.server_major)
                started, prefix = _free_prefix(bucket, db, dump_kind)
                with start_dump(
                    tools,
                    pg,
                    dbname=db,
                    schema_only=dump_kind == "schema-only",
                    snapshot=snap.snapshot,
                    compress=compress,
                ) as dump:
                    upload = upload_stream(
                        bucket,
                        prefix + DUMP_NAME,
                        dump.stdout,
                        part_size=part_size,
                        expected_bytes=snap.database_bytes,
                        workers=workers,
                        before_complete=lambda _size, _sha: dump.finish(),
                    )
            ended = datetime.now(UTC)
            manifest = build_manifest(
                target, db, dump_kind, prefix, snap, upload, started, ended, tools.versions()
            )
            backup = parse_manifest(manifest, manifest_key=prefix + MANIFEST_NAME)
            # Last: only now does the dump become a backup.
            bucket.put_bytes(
                prefix + MANIFEST_NAME,
                json.dumps(manifest, indent=2, sort_keys=True).encode(),
                content_type="application/json",
            )
    except ClientError as exc:
        raise type(exc)(
            f"{OPERATION} of {db} on {target.name} failed, no backup was recorded: {exc}",
            backend=exc.backend,
        ) from None
    return BackupResult(
        backup=backup,
        seconds=time.monotonic() - started_clock,
        upload_seconds=upload.seconds,
        parts=upload.parts,
        part_size=upload.part_size,
        stale_uploads_aborted=stale,
        database_bytes=snap.database_bytes,
    )


def _free_prefix(bucket: Bucket, database: str, kind: Kind) -> tuple[datetime, str]:
    """The start time and a key prefix nothing is stored under yet (keys have 1 s resolution:
    a second run within the same second waits for the next one instead of overwriting)."""
    for _ in range(5):
        started = datetime.now(UTC)
        prefix = dump_prefix(database, started, kind)
        if not bucket.list(prefix):
            return started, prefix
        time.sleep(1.05 - started.microsecond / 1e6)
    raise Conflict(f"{bucket.where}: {prefix} keeps being taken", backend="S3")


def build_manifest(
    target: Target,
    database: str,
    kind: str,
    prefix: str,
    snap: SnapshotFigures,
    upload: UploadResult,
    started: datetime,
    ended: datetime,
    tools: dict[str, str],
) -> dict[str, Any]:
    """The manifest JSON of a finished dump (schema 1, see :mod:`.catalog`)."""
    versions = dict(tools)
    versions["python"] = platform.python_version()
    for name, package in (("noa_lib", "noa-runbooks"), ("boto3", "boto3"), ("psycopg", "psycopg")):
        try:
            versions[name] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    tables = {
        name: {"row_estimate": figures.row_estimate, "rows": figures.rows}
        for name, figures in snap.tables.items()
    }
    return {
        "schema": MANIFEST_SCHEMA,
        "kind": kind,
        "database": database,
        "object_key": prefix + DUMP_NAME,
        "server_version": snap.server_version,
        "pg_dump_version": tools.get("pg_dump", ""),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": round((ended - started).total_seconds(), 3),
        "size_bytes": upload.size_bytes,
        "sha256": upload.sha256,
        "tables": tables,
        "max_timestamps": dict(snap.max_timestamps),
        "large_objects": snap.large_objects,
        "tool_versions": versions,
        "sse": upload.sse,
        "target": target.name,
        "database_bytes": snap.database_bytes,
        "upload": {"parts": upload.parts, "part_size": upload.part_size},
        "host": socket.gethostname(),
    }


__all__ = ["OPERATION", "BackupResult", "build_manifest", "full_backup"]
