"""The catalogue of logical dumps in a target's backup bucket: list, get, validate manifests.

Layout (shared by every backup runbook)::

    dumps/<database>/<YYYYMMDDTHHMMSSZ>-<kind>/dump.pgdump     the pg_dump -Fc archive
    dumps/<database>/<YYYYMMDDTHHMMSSZ>-<kind>/manifest.json   written last, after the upload

A dump is a **backup** only when its manifest is complete and parseable (:func:`parse_manifest`)
and names a stored object of the size it records. Everything else under ``dumps/`` — a dump
without a manifest, a broken manifest, a manifest without its object — is an :class:`Orphan`,
reported separately so retention and the checks can flag it; it is never restored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from noa_lib.clients.s3_objects import Bucket, ObjectInfo, open_bucket
from noa_lib.config import S3Settings, Target
from noa_lib.errors import ConfigError, NotFound, ParameterError, PreconditionFailed
from noa_lib.ops.backup.manifest_fields import check_sha256, parse_time, require_fields, time_span

Kind = Literal["full", "schema-only"]
KINDS: tuple[Kind, ...] = ("full", "schema-only")
PREFIX = "dumps/"
DUMP_NAME = "dump.pgdump"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_DIR_RE = re.compile(r"^(\d{8}T\d{6}Z)-(full|schema-only)$")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "kind": str,
    "database": str,
    "object_key": str,
    "server_version": str,
    "pg_dump_version": str,
    "started_at": str,
    "ended_at": str,
    "duration_s": (int, float),
    "size_bytes": int,
    "sha256": str,
    "tables": dict,
    "max_timestamps": dict,
    "tool_versions": dict,
    "target": str,
}


@dataclass(frozen=True)
class TableFigures:
    """What the manifest knows about one table: the planner's estimate and, when it was counted
    in the dump's snapshot, the exact number of rows."""

    row_estimate: int
    rows: int | None = None


@dataclass(frozen=True)
class DumpBackup:
    """One complete dump: where it is and what its manifest says."""

    database: str
    kind: Kind
    prefix: str
    object_key: str
    manifest_key: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    size_bytes: int
    sha256: str
    server_version: str
    pg_dump_version: str
    target: str
    sse: str | None
    tables: Mapping[str, TableFigures] = field(default_factory=dict)
    max_timestamps: Mapping[str, str] = field(default_factory=dict)
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    large_objects: int | None = None  # absent from manifests written before it was counted

    @property
    def keys(self) -> tuple[str, str]:
        """The objects that make up the backup, manifest first (safe deletion order)."""
        return (self.manifest_key, self.object_key)

    def age_hours(self, now: datetime | None = None) -> float:
        """Hours since the dump started (its recovery point)."""
        moment = now or datetime.now(UTC)
        return (moment - self.started_at).total_seconds() / 3600


@dataclass(frozen=True)
class Orphan:
    """Objects under ``dumps/`` that do not form a backup, and why.

    ``manifest`` is set when the manifest itself is valid but its dump object is missing or of
    another size: a *damaged* backup (truncated or replaced), which the restore drill reports as
    an integrity failure rather than skipping it.
    """

    prefix: str
    keys: tuple[str, ...]
    size_bytes: int
    last_modified: datetime
    reason: str
    manifest: DumpBackup | None = None

    @property
    def damaged(self) -> bool:
        return self.manifest is not None


@dataclass(frozen=True)
class DumpInventory:
    """Everything under ``dumps/``: complete backups (newest first) and orphans."""

    backups: tuple[DumpBackup, ...]
    orphans: tuple[Orphan, ...]


def dump_prefix(database: str, started: datetime, kind: Kind) -> str:
    """``dumps/<database>/<YYYYMMDDTHHMMSSZ>-<kind>/`` for a dump started at ``started``."""
    return f"{PREFIX}{database}/{started.astimezone(UTC).strftime(STAMP_FORMAT)}-{kind}/"


def check_database_name(name: str) -> str:
    """``name`` if it is a valid database name for keys and tools.

    Raises:
        ParameterError: not 1–63 characters of letters, digits, ``_``, ``$``, ``-`` starting with a
            letter or ``_``.
    """
    if not DATABASE_RE.match(name):
        raise ParameterError(
            f"database {name!r} is not valid: 1-63 letters, digits, '_', '$' or '-', "
            "starting with a letter or '_'",
            name="database",
            accepted="a PostgreSQL database name like noa",
        )
    return name


def check_kind(kind: str) -> Kind:
    """``kind`` if it is one of :data:`KINDS`.

    Raises:
        ParameterError: another value.
    """
    for known in KINDS:
        if kind == known:
            return known
    raise ParameterError(
        f"kind {kind!r} is not valid; accepted: {', '.join(KINDS)}",
        name="kind",
        accepted=", ".join(KINDS),
    )


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with a ``Z`` suffix (seconds and microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_manifest(data: Any, *, manifest_key: str) -> DumpBackup:
    """A :class:`DumpBackup` from a manifest's JSON, checked field by field.

    Raises:
        ValueError: a field is missing, of the wrong type, or inconsistent with the key (the
            message names it).
    """
    data = require_fields(data, _REQUIRED)
    if data["schema"] != MANIFEST_SCHEMA:
        raise ValueError(f"schema {data['schema']} is not supported (expected {MANIFEST_SCHEMA})")
    kind = check_kind_value(data["kind"])
    prefix = manifest_key[: -len(MANIFEST_NAME)]
    if not manifest_key.endswith("/" + MANIFEST_NAME):
        raise ValueError(f"{manifest_key} is not a manifest key")
    parts = prefix.rstrip("/").split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX or not _DIR_RE.match(parts[2]):
        raise ValueError(f"{prefix} does not follow dumps/<database>/<time>-<kind>/")
    if data["database"] != parts[1]:
        raise ValueError(f"database {data['database']!r} does not match the key ({parts[1]!r})")
    if not parts[2].endswith("-" + kind):
        raise ValueError(f"kind {kind!r} does not match the key ({parts[2]})")
    if data["object_key"] != prefix + DUMP_NAME:
        raise ValueError(f"object_key {data['object_key']!r} is not {prefix + DUMP_NAME!r}")
    check_sha256(data["sha256"])
    if data["size_bytes"] < 0:
        raise ValueError("size_bytes is negative")
    sse = data.get("sse")
    if sse is not None and not isinstance(sse, str):
        raise ValueError("sse must be a string or null")
    large_objects = data.get("large_objects")
    if large_objects is not None and (
        isinstance(large_objects, bool) or not isinstance(large_objects, int) or large_objects < 0
    ):
        raise ValueError("large_objects must be a whole number >= 0 or null")
    started, ended = time_span(data)
    tables: dict[str, TableFigures] = {}
    for name, figures in data["tables"].items():
        if not isinstance(figures, dict) or not isinstance(figures.get("row_estimate"), int):
            raise ValueError(f"tables[{name!r}] has no integer row_estimate")
        rows = figures.get("rows")
        if rows is not None and not isinstance(rows, int):
            raise ValueError(f"tables[{name!r}].rows is not an integer")
        tables[str(name)] = TableFigures(int(figures["row_estimate"]), rows)
    return DumpBackup(
        database=data["database"],
        kind=kind,
        prefix=prefix,
        object_key=data["object_key"],
        manifest_key=manifest_key,
        started_at=started,
        ended_at=ended,
        duration_s=float(data["duration_s"]),
        size_bytes=int(data["size_bytes"]),
        sha256=data["sha256"],
        server_version=data["server_version"],
        pg_dump_version=data["pg_dump_version"],
        target=data["target"],
        sse=sse,
        tables=tables,
        max_timestamps={str(k): str(v) for k, v in data["max_timestamps"].items()},
        tool_versions={str(k): str(v) for k, v in data["tool_versions"].items()},
        large_objects=large_objects,
    )


def check_kind_value(value: str) -> Kind:
    """``value`` as a :data:`Kind`; ``ValueError`` otherwise (manifest parsing)."""
    try:
        return check_kind(value)
    except ParameterError:
        raise ValueError(f"kind {value!r} is not one of {', '.join(KINDS)}") from None


def scan_dumps(target: Target, database: str | None = None) -> DumpInventory:
    """Every dump of ``target`` (of one ``database`` or all): backups and orphans.

    Reads the listing under ``dumps/`` and every manifest (one small GET each).

    Returns:
        A :class:`DumpInventory`, backups newest first.

    Raises:
        ConfigError: the target has no S3 section.
        NotFound: the backup bucket does not exist.
        Unavailable / Timeout / ClientError: the store failed.
    """
    settings = require_s3(target)
    prefix = PREFIX if database is None else f"{PREFIX}{check_database_name(database)}/"
    with open_bucket(settings) as bucket:
        return _inventory(bucket, bucket.list(prefix))


def list_dumps(
    target: Target, database: str | None = None, kind: str | None = None
) -> list[DumpBackup]:
    """The complete backups of ``target``, newest first (optionally one database / kind).

    Raises:
        ParameterError: unknown ``kind`` or invalid ``database``.
        ConfigError, NotFound, Unavailable, Timeout, ClientError: as :func:`scan_dumps`.
    """
    wanted = check_kind(kind) if kind is not None else None
    backups = scan_dumps(target, database).backups
    return [b for b in backups if wanted is None or b.kind == wanted]


def get_dump(target: Target, key: str) -> DumpBackup:
    """The backup named by ``key``: its prefix, its ``manifest.json`` or its ``dump.pgdump``.

    Raises:
        NotFound: nothing is stored under that key.
        PreconditionFailed: something is stored but it is not a complete backup (the message
            says why: no manifest, broken manifest, object missing or of another size).
    """
    settings = require_s3(target)
    prefix = key
    for suffix in (MANIFEST_NAME, DUMP_NAME):
        if prefix.endswith("/" + suffix):
            prefix = prefix[: -len(suffix)]
    if not prefix.endswith("/"):
        prefix += "/"
    with open_bucket(settings) as bucket:
        listing = [o for o in bucket.list(prefix) if o.key.rsplit("/", 1)[0] + "/" == prefix]
        if not listing:
            raise NotFound(f"no dump is stored under {prefix} in {bucket.where}", backend="S3")
        inventory = _inventory(bucket, listing)
    if inventory.backups:
        return inventory.backups[0]
    reason = inventory.orphans[0].reason if inventory.orphans else "unknown layout"
    raise PreconditionFailed(f"{prefix} in s3://{settings.backup_bucket} is not a backup: {reason}")


def read_manifest(bucket: Bucket, manifest_key: str) -> DumpBackup:
    """Fetch and parse one manifest.

    Raises:
        NotFound: no such object.
        ValueError: not valid JSON or not a valid manifest (the message says why).
    """
    raw = bucket.get_bytes(manifest_key)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the manifest is not valid JSON ({exc})") from None
    return parse_manifest(data, manifest_key=manifest_key)


def require_s3(target: Target) -> S3Settings:
    """The target's S3 settings.

    Raises:
        ConfigError: the target has no ``s3`` section.
    """
    if target.s3 is None:
        raise ConfigError(
            f"target {target.name!r} has no [targets.{target.name}.s3] section; "
            "backups need an S3 bucket"
        )
    return target.s3


def _inventory(bucket: Bucket, objects: list[ObjectInfo]) -> DumpInventory:
    groups: dict[str, list[ObjectInfo]] = {}
    for obj in objects:
        directory = obj.key.rsplit("/", 1)[0] + "/" if "/" in obj.key else obj.key
        groups.setdefault(directory, []).append(obj)
    backups: list[DumpBackup] = []
    orphans: list[Orphan] = []
    for prefix, group in sorted(groups.items()):
        by_name = {o.key[len(prefix) :]: o for o in group}
        problem = _problem(bucket, prefix, by_name)
        if isinstance(problem, DumpBackup):
            backups.append(problem)
            continue
        reason, manifest = problem
        orphans.append(
            Orphan(
                prefix=prefix,
                keys=tuple(sorted(o.key for o in group)),
                size_bytes=sum(o.size for o in group),
                last_modified=max(o.last_modified for o in group),
                reason=reason,
                manifest=manifest,
            )
        )
    backups.sort(key=lambda b: (b.started_at, b.prefix), reverse=True)
    return DumpInventory(tuple(backups), tuple(orphans))


def _problem(
    bucket: Bucket, prefix: str, by_name: dict[str, ObjectInfo]
) -> DumpBackup | tuple[str, DumpBackup | None]:
    """The backup stored under ``prefix``, or why it is not one (with its manifest if damaged)."""
    manifest = by_name.get(MANIFEST_NAME)
    dump = by_name.get(DUMP_NAME)
    if manifest is None:
        return "no manifest (an interrupted upload or a foreign object)", None
    try:
        backup = read_manifest(bucket, manifest.key)
    except NotFound:
        return "the manifest disappeared while listing", None
    except ValueError as exc:
        return f"manifest invalid: {exc}", None
    if dump is None:
        return f"the manifest names {DUMP_NAME}, which is missing", backup
    if dump.size != backup.size_bytes:
        reason = (
            f"{DUMP_NAME} is {dump.size} bytes but the manifest says {backup.size_bytes} "
            "(truncated or replaced)"
        )
        return reason, backup
    return backup


__all__ = [
    "DUMP_NAME",
    "KINDS",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "PREFIX",
    "DumpBackup",
    "DumpInventory",
    "Kind",
    "Orphan",
    "TableFigures",
    "check_database_name",
    "check_kind",
    "dump_prefix",
    "get_dump",
    "iso",
    "list_dumps",
    "parse_manifest",
    "parse_time",
    "read_manifest",
    "require_s3",
    "scan_dumps",
]
